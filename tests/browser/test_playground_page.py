"""The matrix playground in real headless Chromium: lecture presets, live recomputation, errors, safe labels."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_playground(page, query: str = "") -> None:
    page.goto(page.base + "/?view=playground" + query)
    page.wait_for_function("() => document.querySelector('#pg-chain').textContent.includes('softmax')", timeout=60_000)


def chain(page) -> str:
    return page.text_content("#pg-chain")


def cell_text(page, fig: str) -> list[list[str]]:
    return page.evaluate(f"() => document.getElementById('pg-fig-{fig}').data[0].text")


def wait_chain(page, needle: str) -> None:
    page.wait_for_function("t => document.querySelector('#pg-chain').textContent.includes(t)", arg=needle)


def test_thinking_machines_shows_112_96_then_14_12_then_088_012(page):
    open_playground(page)
    page.click("#pg-presets button[data-preset=thinking_machines]")
    wait_chain(page, "Row “Thinking”")
    text = chain(page)
    assert "112, 96" in text and "14, 12" in text and "0.88, 0.12" in text and "÷ √64 = 8" in text
    assert cell_text(page, "scores")[0] == ["112", "96"]
    assert cell_text(page, "scaled")[0] == ["14", "12"]
    assert cell_text(page, "weights")[0] == ["0.88", "0.12"]
    svg = page.eval_on_selector_all("#pg-fig-weights text", "els => els.map(e => e.textContent)")
    assert "0.88" in svg and "0.12" in svg
    assert "112" in page.text_content("#pg-note") and page.is_visible("#pg-note")
    assert parse_qs(urlparse(page.url).query)["preset"] == ["thinking_machines"]
    assert page.errors == []
    page.wait_for_timeout(200)
    shot(page, "playground.png", full_page=True)


def test_the_cat_sat_here_shapes_and_memory_table(page):
    open_playground(page, "&preset=the_cat_sat_here_x")
    wait_chain(page, "Row “The”")
    rows = page.eval_on_selector_all("#pg-shapes-body tr", "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
    assert rows[0] == ["X", "4 × 6", "24", "96"]
    assert ["W_Q", "6 × 4", "24", "96"] in rows and ["Q", "4 × 4", "16", "64"] in rows
    assert [r[0] for r in rows] == ["X", "W_Q", "W_K", "W_V", "Q", "K", "V", "scores", "weights", "output"]
    assert page.text_content("#pg-total-floats") == "192" and page.text_content("#pg-total-bytes") == "768"
    assert page.is_visible("#pg-fig-q") and page.input_value("#pg-input") == "x"
    assert page.errors == []


def test_i_am_a_student_masks_the_future(page):
    open_playground(page, "&preset=i_am_a_student")
    wait_chain(page, "mask")
    minus_inf = page.eval_on_selector_all("#pg-fig-scaled .annotation-text", "els => els.map(e => e.textContent)")
    assert minus_inf == ["−∞"] * 6  # above the diagonal of a 4 x 4
    weights = cell_text(page, "weights")
    assert weights[0] == ["1", "0", "0", "0"] and weights[1][:2] == ["0.38", "0.62"]
    assert weights[2][:3] == ["0.26", "0.32", "0.43"]
    page.select_option("#pg-row", "1")
    wait_chain(page, "Row “am”")
    assert "0.38, 0.62, 0, 0" in chain(page)
    assert page.errors == []


def test_bad_matrices_show_the_error_and_the_page_keeps_working(page):
    open_playground(page, "&preset=thinking_machines")
    wait_chain(page, "112, 96")
    page.fill("#pg-m-k", "8 6 7\n6 5 7 6")
    page.wait_for_selector("#pg-error:not([hidden])")
    assert "k row 2 has 4 numbers but row 1 has 3" in page.text_content("#pg-error")
    page.fill("#pg-m-k", "8 6 7\n6 5 7")
    page.wait_for_function("() => document.querySelector('#pg-error').textContent.includes('q has width 4 but k has width 3')")
    page.fill("#pg-m-k", "8 6 7 NaN\n6 5 7 6")
    page.wait_for_function("() => document.querySelector('#pg-error').textContent.includes(\"'NaN'\")")
    assert page.is_visible("#pg-m-k") and "112, 96" in chain(page)  # the last good result stays on screen
    page.fill("#pg-m-k", "8 6 7 7\n6 5 7 6")
    page.wait_for_selector("#pg-error", state="hidden")
    wait_chain(page, "0.88, 0.12")
    page.fill("#pg-dk", "16")  # live recomputation: 112 / 4, 96 / 4
    wait_chain(page, "28, 24")
    assert "pg=" in page.url and "preset=" not in page.url
    page.select_option("#pg-mask", "causal")
    page.wait_for_function("() => document.querySelectorAll('#pg-fig-scaled .annotation-text').length === 1")
    assert [e for e in page.errors if "status of 422" not in e] == []


def test_edited_matrices_come_back_from_the_url(page):
    open_playground(page, "&preset=thinking_machines")
    page.fill("#pg-m-q", "1 0 0 0\n0 1 0 0")
    wait_chain(page, "8, 6")
    url = page.url
    page.goto(page.base + "/")
    page.goto(url)
    page.wait_for_function("() => document.querySelector('#pg-m-q')?.value.startsWith('1  0  0  0')", timeout=60_000)
    wait_chain(page, "8, 6")
    assert page.input_value("#pg-tokens") == "Thinking Machines"
    assert page.errors == []


def test_labels_are_text_not_html(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_playground(page, "&preset=thinking_machines")
    page.fill("#pg-tokens", "<b>bold</b> <img/src=x/onerror=alert(1)>")
    wait_chain(page, "Row “<b>bold</b>”")
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("() => document.querySelectorAll('main b, main img').length") == 0
    ticks = page.eval_on_selector_all("#pg-fig-weights .ytick text", "els => els.map(e => e.textContent)")
    assert ticks == ["<b>bold</b>", "<img/src=x/onerror=alert(1)>"]
    assert page.errors == []
