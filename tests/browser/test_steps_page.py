"""The step-by-step view in real headless Chromium: reached from the heatmap, keyboard stepping, the model's numbers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SENTENCE = "The animal didn't cross the street because it was too tired"  # "it" is token 10 (from 0)
STEPS_URL = "/?view=steps&model=minilm&text=The+animal+didn%27t+cross+the+street+because+it+was+too+tired&layer=2&head=5"


def url_state(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_query(page, token: str) -> None:
    page.wait_for_function("t => document.querySelector('#steps-status').textContent.includes(t)",
                           arg=f"query “{token}”", timeout=60_000)


def wait_step(page, n: int) -> None:
    page.wait_for_function("t => document.querySelector('#steps-indicator').textContent === t", arg=f"Step {n} of 14")


def test_clicking_a_heatmap_row_opens_the_steps_of_that_token(page):
    page.goto(page.base + "/?view=attention&model=minilm&text=The+animal+didn%27t+cross+the+street+because+it+was+too+tired"
              "&layer=2&head=5")
    page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 15", timeout=60_000)
    box = page.locator("#heatmap .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 10.5 / 15)
    wait_query(page, "it")
    assert page.is_visible("section[data-view=steps]") and page.is_hidden("section[data-view=attention]")
    s = url_state(page)
    assert (s["view"], s["query"], s["step"], s["layer"], s["head"], s["model"]) == ("steps", "10", "0", "2", "5", "minilm")
    assert s["text"] == SENTENCE
    assert page.input_value("#steps-query") == "10" and page.input_value("#steps-layer") == "2"
    assert page.input_value("#steps-head") == "5" and page.input_value("#steps-text") == SENTENCE
    assert page.text_content("#steps-indicator") == "Step 1 of 14"
    assert page.text_content("#steps-formula").startswith("x = X[11]")
    assert page.errors == []


def test_arrow_keys_step_and_change_the_query_and_softmax_shows_the_models_weights(page):
    page.goto(page.base + STEPS_URL + "&query=10&step=0")
    wait_query(page, "it")
    page.locator("#steps-next").focus()
    for n in range(2, 7):
        page.keyboard.press("ArrowRight")
        wait_step(page, n)
    assert url_state(page)["step"] == "5"
    assert page.text_content("#steps-title") == "6. Softmax"
    api = httpx.post(page.base + "/api/steps", json={"model": "minilm", "text": SENTENCE, "layer": 2, "head": 5,
                                                     "query": 10}, timeout=60).json()
    shown = page.evaluate("() => document.getElementById('steps-fig-a').data[0].y")
    np.testing.assert_allclose(shown, api["weights"], atol=1e-7)
    labels = page.eval_on_selector_all("#steps-fig-a text.bartext", "els => els.map(e => e.textContent)")
    assert labels == [f"{w:.3f}".rstrip("0").rstrip(".") if w >= 0.0005 else "0" for w in api["weights"]]
    ticks = page.eval_on_selector_all("#steps-fig-a .xtick text", "els => els.map(e => e.textContent)")
    assert ticks == api["key_tokens"]
    shot(page, "steps.png", full_page=True)

    page.keyboard.press("ArrowDown")
    wait_query(page, "was")
    assert url_state(page)["query"] == "11" and page.input_value("#steps-query") == "11"
    assert page.text_content("#steps-indicator") == "Step 6 of 14"  # the step stays
    page.keyboard.press("ArrowUp")
    wait_query(page, "it")
    page.keyboard.press("ArrowUp")
    wait_query(page, "because")
    assert url_state(page)["query"] == "9"
    page.keyboard.press("ArrowLeft")
    wait_step(page, 5)
    assert url_state(page)["step"] == "4"
    page.keyboard.press("End")
    wait_step(page, 14)
    assert page.is_disabled("#steps-next")
    page.keyboard.press("ArrowRight")  # no step 15
    page.wait_for_timeout(100)
    assert page.text_content("#steps-indicator") == "Step 14 of 14"
    assert page.errors == []


def test_every_step_draws_without_errors_and_arrows_in_a_text_box_stay_there(page):
    page.goto(page.base + STEPS_URL + "&query=3&step=0")
    wait_query(page, "didn")
    titles = []
    for n in range(1, 15):  # 1-9 attention, 10-14 residual, norm, feed-forward, block output, BN vs LN
        page.click(f"#steps-list button[data-step='{n - 1}']")
        wait_step(page, n)
        page.wait_for_function("() => document.querySelectorAll('#steps-fig-a .main-svg').length > 0 && "
                               "!document.getElementById('steps-fig-a').closest('figure').hidden", timeout=60_000)
        titles.append(page.text_content("#steps-title"))
        assert page.text_content("#steps-formula").strip()
    assert titles[2] == "3. Dot products q · k" and titles[8] == "9. Output projection W_O"
    assert titles[10] == "11. Add & Norm: layer normalisation"
    page.focus("#steps-text")
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(100)
    assert page.text_content("#steps-indicator") == "Step 14 of 14"
    assert page.errors == []


def test_a_bad_query_shows_the_error_and_the_page_keeps_working(page):
    page.goto(page.base + STEPS_URL + "&query=99&step=2")
    page.wait_for_selector("#steps-error:not([hidden])", timeout=60_000)
    assert "query 99 is out of range: the sentence has 15 tokens (0 to 14)" in page.text_content("#steps-error")
    page.fill("#steps-text", "hello brave world")
    page.click("#steps-form button[type=submit]")
    wait_query(page, "hello")  # the first ordinary token after [CLS]
    assert page.is_hidden("#steps-error")
    assert url_state(page)["query"] == "1" and page.text_content("#steps-indicator") == "Step 3 of 14"
    assert [e for e in page.errors if "status of 422" not in e] == []
