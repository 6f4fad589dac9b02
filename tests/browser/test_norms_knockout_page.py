"""Value-weighted norms and attention knockout in the Attention and Heads views (issue 26), in real Chromium."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from tests.browser.test_generate_page import wait_loaded
from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TEXT = "The animal didn't cross the street because it was too tired"
LAYER, HEAD = 5, 11  # 0-based: MiniLM's layer 6 head 12, the README's it -> animal head


def url(page, view: str, model: str, **extra) -> str:
    q = "&".join(f"{k}={quote(str(v))}" for k, v in {"view": view, "model": model, "text": TEXT, **extra}.items())
    return f"{page.base}/?{q}"


def post(page, path: str, body: dict, status: int = 200) -> dict:
    r = httpx.post(page.base + path, json=body, timeout=120)
    assert r.status_code == status, r.text[:500]
    return r.json()


def index(tokens: list[str], word: str) -> int:
    return next(i for i, t in enumerate(tokens) if t.replace("Ġ", "").replace("▁", "").strip().lower() == word)


def wait_title(page, part: str) -> None:
    page.wait_for_function("t => document.querySelector('#heatmap .gtitle')?.textContent.includes(t)", arg=part,
                           timeout=90_000)


def page_errors(page) -> list[str]:
    """Script errors and console errors, less the browser's own line for each 422 answer the test asked for."""
    return [e for e in page.errors if "status of 422" not in e]


def shown_z(page) -> np.ndarray:
    return np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))


def cell_position(page, x: int, y: int) -> list[float]:
    """Page coordinates of the heatmap cell (key x, query y)."""
    return page.evaluate("""([x, y]) => {
        const el = document.getElementById('heatmap'), xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
        el.scrollIntoView({ block: 'center' });
        const box = el.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
    }""", [x, y])


def test_norm_mode_draws_the_apis_norm_shares_and_the_url_keeps_it(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url(page, "attention", "minilm", layer=LAYER, head=HEAD))
    wait_title(page, f"head {HEAD + 1}")
    api = post(page, "/api/norms", {"model": "minilm", "text": TEXT, "layer": LAYER})
    norm = np.array(api["norms_normalised"])[HEAD]
    i, j = index(api["query_tokens"], "it"), index(api["key_tokens"], "animal")
    assert page.is_hidden("#measure-caption")

    with page.expect_request(lambda r: r.url.endswith("/api/norms")) as req:
        page.click("label:has(input[name=measure][value=norm])")
    assert req.value.post_data_json["format"] == "f16" and req.value.post_data_json["layer"] == LAYER
    wait_title(page, "norm share")
    np.testing.assert_allclose(shown_z(page), norm, atol=1e-3)  # float16 on the wire
    assert "measure=norm" in page.url
    caption = page.text_content("#measure-caption")
    assert "‖α·f(x)‖" in caption and "Kobayashi" in caption and "not the head's effect" in caption.lower()

    # the read-out of the selected cell, and the hover of the same cell: the norm share and the weight
    page.select_option("#ko-query", str(i))
    page.select_option("#ko-key", str(j))
    readout = page.locator("#cell-readout")
    assert abs(float(readout.get_attribute("data-share")) - norm[i, j]) < 1e-3
    assert abs(float(readout.get_attribute("data-weight")) - np.array(api["weights"])[HEAD, i, j]) < 3e-3  # u8 weights
    shown = float(re.search(r"norm share (\d\.\d{3})", readout.text_content()).group(1))
    assert abs(shown - norm[i, j]) < 1.5e-3  # f16, then 3 decimals
    assert page.text_content("#ko-block") == "Block “it” → “animal” in every layer"
    page.mouse.move(*cell_position(page, j, i))
    page.wait_for_selector("#heatmap .hovertext")
    hover = page.text_content("#heatmap .hovertext")
    assert "it → animal" in hover and "norm share" in hover and "weight" in hover
    assert abs(float(readout.get_attribute("data-share")) - norm[i, j]) < 1e-3
    page.mouse.move(5, 5)
    shot(page, "norms-attention.png", full_page=True)

    page.reload()
    wait_title(page, "norm share")
    assert page.is_checked("input[name=measure][value=norm]")
    np.testing.assert_allclose(shown_z(page), norm, atol=1e-3)

    # through W_O: the other field, from the same cached layer (no second request)
    calls = []
    page.on("request", lambda r: calls.append(r.url) if r.url.endswith("/api/norms") else None)
    page.click("label:has(input[name=measure][value=norm_wo])")
    wait_title(page, "norm share through W_O")
    np.testing.assert_allclose(shown_z(page), np.array(api["norms_with_wo_normalised"])[HEAD], atol=1e-3)
    assert calls == [] and "measure=norm_wo" in page.url
    page.click("label:has(input[name=measure][value=weight])")
    page.wait_for_function("() => !document.querySelector('#heatmap .gtitle').textContent.includes('norm')")
    assert "measure=" not in page.url and page.is_hidden("#measure-caption")
    np.testing.assert_allclose(shown_z(page), np.array(api["weights"])[HEAD], atol=3e-3)
    assert page_errors(page) == []


def test_a_model_without_norms_falls_back_to_the_weights(page):
    detail = "value-weighted norms are not available for minilm (bert): its output projection W_O is not known"
    page.route("**/api/norms", lambda route: route.fulfill(status=422, content_type="application/json",
                                                          body=json.dumps({"detail": detail})))
    page.goto(url(page, "attention", "minilm", layer=LAYER, head=HEAD, measure="norm"))
    page.wait_for_selector("#measure-error:not([hidden])", timeout=90_000)
    assert detail in page.text_content("#measure-error")
    wait_title(page, f"head {HEAD + 1}")
    assert "norm" not in page.text_content("#heatmap .gtitle")
    assert page.is_checked("input[name=measure][value=weight]") and "measure=" not in page.url
    # the page keeps working
    page.select_option("#head", "3")
    wait_title(page, "head 4")
    page.goto(url(page, "heads", "minilm"))
    page.wait_for_selector("#hd-sink-note:not([hidden])", timeout=90_000)
    assert detail in page.text_content("#hd-sink-note")
    assert page.text_content(".hd-sink") == "n/a" and detail in page.get_attribute(".hd-sink", "title")
    assert page_errors(page) == []


def test_heads_table_has_the_sink_by_weight_and_by_norm(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url(page, "heads", "minilm"))
    page.wait_for_selector("#hd-table-body tr", timeout=90_000)
    cell = f'.hd-sink[data-layer="{LAYER}"][data-head="{HEAD}"]'
    page.wait_for_selector(f"{cell}[data-norm]", timeout=90_000)
    fk = post(page, "/api/norms", {"model": "minilm", "text": TEXT, "layer": LAYER})["first_key"]
    assert float(page.get_attribute(cell, "data-weight")) == pytest.approx(fk["weight"][HEAD], abs=1e-6)
    assert float(page.get_attribute(cell, "data-norm")) == pytest.approx(fk["norm"][HEAD], abs=1e-6)
    assert page.text_content(cell) == f"{fk['weight'][HEAD]:.3f} → {fk['norm'][HEAD]:.3f}"
    header = page.locator('#hd-table-head th[data-key="sink"] button')
    assert "first token" in header.get_attribute("title") and "norm" in header.get_attribute("title")
    page.wait_for_function("() => [...document.querySelectorAll('.hd-sink')].every(s => s.dataset.norm)", timeout=180_000)
    header.click()  # sorts by the norm share, largest first
    norms = [float(x) for x in page.eval_on_selector_all(".hd-sink", "els => els.map(e => e.dataset.norm)")]
    assert norms == sorted(norms, reverse=True)
    page.locator("#hd-table").scroll_into_view_if_needed()
    shot(page, "norms-heads-column.png")
    assert page_errors(page) == []


def test_blocking_it_animal_on_smollm2_shows_the_apis_before_and_after(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    wait_loaded(page.base, "smollm2")
    page.goto(url(page, "attention", "smollm2", layer=0, head=0))
    wait_title(page, "smollm2")
    att = post(page, "/api/norms", {"model": "smollm2", "text": TEXT, "layer": 0})
    i, j = index(att["query_tokens"], "it"), index(att["key_tokens"], "animal")
    page.select_option("#ko-query", str(i))
    page.select_option("#ko-key", str(j))
    page.click("#ko-block")
    page.wait_for_selector(".ko-big[data-prob-before]", timeout=90_000)
    want = post(page, "/api/knockout", {"model": "smollm2", "text": TEXT,
                                        "edges": {"from_passage": [i, i + 1], "to_passage": [j, j + 1]}})
    big = page.locator(".ko-big")
    assert float(big.get_attribute("data-prob-before")) == pytest.approx(want["top_token"]["prob_before"], abs=1e-9)
    assert float(big.get_attribute("data-prob-after")) == pytest.approx(want["top_token"]["prob_after"], abs=1e-9)
    assert float(big.get_attribute("data-kl")) == pytest.approx(want["kl"], abs=1e-9)
    t = want["top_token"]
    assert page.text_content(".ko-before") == f"{100 * t['prob_before']:.1f}%"
    assert page.text_content(".ko-after") == f"{100 * t['prob_after']:.1f}%"
    assert page.locator(".ko-bars").count() == 2 and page.locator(".ko-bars").nth(0).locator("li").count() == 5
    assert "every layer" in page.text_content(".ko-caption") and "renormalise" in page.text_content(".ko-caption")
    page.locator("#ko-panel").scroll_into_view_if_needed()
    shot(page, "knockout-panel.png", full_page=True)

    # the only key of a causal row cannot be blocked: the API's detail is shown
    page.select_option("#ko-query", "0")
    page.select_option("#ko-key", "0")
    page.click("#ko-block")
    page.wait_for_selector("#ko-error:not([hidden])", timeout=60_000)
    err = post(page, "/api/knockout", {"model": "smollm2", "text": TEXT,
                                       "edges": {"from_passage": [0, 1], "to_passage": [0, 1]}}, status=422)
    assert page.text_content("#ko-error") == err["detail"]
    assert page.locator(".ko-big").count() == 0
    assert page_errors(page) == []


def test_shift_click_blocks_a_cell_on_an_encoder(page):
    page.goto(url(page, "attention", "minilm", layer=LAYER, head=HEAD))
    wait_title(page, f"head {HEAD + 1}")
    tokens = page.evaluate("() => [...document.querySelectorAll('#ko-key option')].map(o => o.textContent)")
    words = [t.split(": ", 1)[1] for t in tokens]
    i, j = index(words, "it"), index(words, "animal")
    page.keyboard.down("Shift")
    page.mouse.click(*cell_position(page, j, i))
    page.keyboard.up("Shift")
    page.wait_for_selector(".ko-big[data-cosine]", timeout=90_000)
    assert "view=attention" in page.url  # a shift-click blocks; it does not open the steps
    want = post(page, "/api/knockout", {"model": "minilm", "text": TEXT,
                                        "edges": {"from_passage": [i, i + 1], "to_passage": [j, j + 1]}})
    q = want["queries"][0]
    assert q["query"] == i and float(page.get_attribute(".ko-big", "data-cosine")) == pytest.approx(q["cosine"])
    assert page.text_content(".ko-cosine") == f"{q['cosine']:.4f}"
    assert page.input_value("#ko-query") == str(i) and page.input_value("#ko-key") == str(j)
    assert page_errors(page) == []
