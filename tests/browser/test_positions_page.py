"""The positions view in real headless Chromium: heatmap, the "I am a Robot" table, sliders, URL state."""

from __future__ import annotations


import httpx
import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROBOT_ROWS = [
    ["I", "0", "0.00", "1.00", "0.00", "1.00"],
    ["am", "1", "0.84", "0.54", "0.10", "1.00"],
    ["a", "2", "0.91", "-0.42", "0.20", "0.98"],
    ["Robot", "3", "0.14", "-0.99", "0.30", "0.96"],
]


def open_positions(page, query: str = "") -> None:
    page.goto(page.base + "/?view=positions" + query)
    page.wait_for_function("() => document.getElementById('pos-heatmap')?.data?.length === 1", timeout=60_000)


def heatmap_z(page, el: str = "pos-heatmap") -> np.ndarray:
    return np.array(page.evaluate(f"() => document.getElementById('{el}').data[0].z"))


def table_rows(page, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))")


def test_positions_view_draws_the_encoding_and_its_similarity(page):
    open_positions(page)
    z = heatmap_z(page)
    assert z.shape == (50, 64)
    api = httpx.get(page.base + "/api/positional", params={"kind": "sinusoidal", "d": 64, "n": 10000, "positions": 50}).json()
    np.testing.assert_allclose(z, api["values"], atol=1e-6)
    np.testing.assert_allclose(heatmap_z(page, "pos-sim"), api["similarity"], atol=1e-6)
    assert "50 positions × 64 dimensions" in page.text_content("#pos-status")
    page.wait_for_function("() => document.getElementById('pos-kinds')?.data?.length === 5", timeout=30_000)
    names = page.eval_on_selector_all("#pos-kinds .annotation-text", "els => els.map(e => e.textContent)")
    assert names == ["sinusoidal", "integer", "binary", "rotary", "learned (minilm)"]
    page.wait_for_function("() => document.querySelector('#pos-check').textContent.includes('over 50 positions')")
    assert page.evaluate("() => document.getElementById('pos-curves').data.length") >= 2
    assert page.errors == []


def test_i_am_a_robot_preset_shows_the_lectures_numbers(page):
    open_positions(page)
    page.click("#pos-robot")
    page.wait_for_function("() => document.querySelector('#pos-table-title').textContent.includes('I am a Robot')")
    assert table_rows(page, "pos-table") == ROBOT_ROWS
    heads = page.eval_on_selector_all("#pos-table thead th", "els => els.map(e => e.textContent)")
    assert heads == ["token", "k", "sin, i=0", "cos, i=0", "sin, i=1", "cos, i=1"]
    assert np.round(heatmap_z(page), 2).tolist() == [[float(v) for v in row[2:]] for row in ROBOT_ROWS]
    ticks = page.eval_on_selector_all("#pos-heatmap .ytick text", "els => els.map(e => e.textContent)")
    assert ticks == ["I (0)", "am (1)", "a (2)", "Robot (3)"]
    for part in ("d=4", "n=100", "positions=4", "kind=sinusoidal", "preset=robot"):
        assert part in page.url
    # the rotation demo: PE(0 + 1) from the formula equals PE(0) · M_1, cell by cell
    page.wait_for_function("() => document.querySelector('#pos-check').textContent.includes('over 4 positions')")
    rot = table_rows(page, "pos-rot-table")
    assert len(rot) == 4 and all(r[2] == r[3] for r in rot)
    assert [r[2] for r in rot] == ["0.8415", "0.5403", "0.0998", "0.9950"]  # = the 'am' row of the table
    assert page.errors == []
    page.wait_for_timeout(300)
    shot(page, "positions.png", full_page=True)


def test_moving_the_d_slider_changes_the_heatmaps_columns(page):
    open_positions(page)
    assert heatmap_z(page).shape[1] == 64
    page.focus("#pos-d")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.getElementById('pos-heatmap').data[0].z[0].length === 67")
    assert page.text_content("#pos-d-val") == "67"
    page.wait_for_function("() => location.search.includes('d=67')")
    # an odd d has no rotation: the demo says why instead of failing silently
    page.wait_for_selector("#pos-rot-error:not([hidden])")
    assert "odd" in page.text_content("#pos-rot-error")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.getElementById('pos-heatmap').data[0].z[0].length === 66")
    page.wait_for_selector("#pos-rot-error", state="hidden")
    assert page.errors == []


def test_url_state_restores_the_view(page):
    open_positions(page, "&kind=binary&d=8&positions=16&k=2")
    page.wait_for_function("() => document.getElementById('pos-heatmap').data[0].z.length === 16")
    assert page.input_value("#pos-kind") == "binary"
    z = heatmap_z(page)
    assert z.shape == (16, 8) and z[5].tolist() == [0, 0, 0, 0, 0, 1, 0, 1]
    assert page.text_content("#pos-positions-val") == "16"
    assert page.is_disabled("#pos-n")  # binary has no base
    page.select_option("#pos-kind", "learned")
    page.wait_for_function("() => document.getElementById('pos-heatmap').data[0].z[0].length === 384")
    assert "kind=learned" in page.url and "model=minilm" in page.url
    assert page.is_visible("#pos-model")
    page.go_back()
    page.wait_for_function("() => document.getElementById('pos-heatmap').data[0].z[0].length === 8")
    assert page.input_value("#pos-kind") == "binary"
    assert page.errors == []
