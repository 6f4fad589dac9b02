"""The Logit lens view (issue 26) in real Chromium: the page's cells are the API's numbers, its errors the API's."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import numpy as np
import pytest

from tests.browser.test_generate_page import wait_loaded
from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CAPITAL = "The capital of France is"


def url(page, **state) -> str:
    return f"{page.base}/?" + "&".join(f"{k}={quote(str(v))}" for k, v in {"view": "lens", **state}.items())


def lens_api(page, body: dict, status: int = 200) -> dict:
    r = httpx.post(page.base + "/api/lens", json=body, timeout=120)
    assert r.status_code == status, r.text[:500]
    return r.json()


def errors(page) -> list[str]:
    """Script and console errors, less the browser's own line for a 422 the test asked for."""
    return [e for e in page.errors if "status of 422" not in e]


def wait_figure(page, rows: int, cols: int) -> None:
    page.wait_for_function("""([r, c]) => {
        const d = document.getElementById('lens-plot').data;
        return d && d[0].z.length === r && d[0].z[0].length === c
            && !document.getElementById('lens-plot').classList.contains('lens-stale');
    }""", arg=[rows, cols], timeout=120_000)


def trace(page, field: str):
    return page.evaluate(f"() => document.getElementById('lens-plot').data[0].{field}")


def plot_box(page) -> dict:
    return page.evaluate("() => { const b = document.getElementById('lens-plot').getBoundingClientRect();"
                         " return {top: b.top, bottom: b.bottom, left: b.left, right: b.right, height: b.height,"
                         " vh: innerHeight, vw: innerWidth}; }")


def cell_position(page, col: int, row: int) -> list[float]:
    return page.evaluate("""([x, y]) => {
        const el = document.getElementById('lens-plot'), xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
        const box = el.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
    }""", [col, row])


def shown(token: str) -> str:
    return token.replace(" ", "␣").replace("\n", "↵")


def test_capital_of_france_cells_are_the_apis_and_the_state_survives_a_reload(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    wait_loaded(page.base, "smollm2")
    api = lens_api(page, {"model": "smollm2", "text": CAPITAL, "k": 5})
    rows, cols = len(api["layers"]), len(api["tokens"])
    assert rows == 31 and api["layers"][0] == "emb" and cols == 5
    with page.expect_request(lambda r: r.url.endswith("/api/lens")) as req:
        page.goto(url(page, model="smollm2", text=CAPITAL))
    assert req.value.post_data_json == {"model": "smollm2", "text": CAPITAL, "k": 5}
    wait_figure(page, rows, cols)

    # (layers + 1) x tokens cells; row 0 (the bottom) is emb, the top row the last layer
    z = np.array(trace(page, "z"))
    custom = trace(page, "customdata")
    assert z.shape == (rows, cols)
    assert page.evaluate("() => document.getElementById('lens-plot').layout.yaxis.ticktext[0]") == "emb"
    top = api["top"]
    np.testing.assert_allclose(z, [[c[0]["prob"] for c in row] for row in top], atol=1e-6)
    last = top[-1][-1][0]
    assert custom[-1][-1][0] == last["token"] == api["final_tokens"][-1]
    assert abs(custom[-1][-1][1] - last["prob"]) < 1e-6
    label = trace(page, "text")[-1][-1]  # the cell's label: its top-1 token, cut to ~6 characters
    assert label == shown(last["token"]) or (label.endswith("…") and shown(last["token"]).startswith(label[:-1]))
    assert page.get_attribute("#lens-plot", "data-labelled") == "1"
    assert api["final_rank"][-1] == [0] * cols and [c[2] for c in custom[-1]] == [0] * cols
    ticks = page.evaluate("() => document.getElementById('lens-plot').layout.xaxis.ticktext")
    assert ticks == [shown(t) for t in api["tokens"]]

    # the hover of the last layer at the last position: its top-k and the final prediction's rank
    page.mouse.move(*cell_position(page, cols - 1, rows - 1))
    page.wait_for_selector("#lens-plot .hovertext")
    hover = page.text_content("#lens-plot .hovertext")
    assert f"layer {rows - 2}" in hover and f"1. {shown(last['token'])}  {last['prob']:.4f}" in hover
    assert "rank 0" in hover and f"position {cols - 1}" in hover
    shot(page, "lens-hover.png")
    page.mouse.move(2, 2)
    final = page.text_content("#lens-final")
    assert f"After “{api['tokens'][-1]}” the model predicts “{last['token']}” ({last['prob']:.2f})" in final
    assert "colour: probability of the top token, 0–1" in page.text_content("#lens-scale-note").lower()
    caption = page.text_content(".lens-figure figcaption")
    assert "final norm and unembedding" in caption and "not what a head" in caption
    shot(page, "lens-capital.png")
    shot(page, "lens-capital-full.png", full_page=True)
    box = plot_box(page)
    # above the fold: the figure's top, with the input tokens along it; the whole figure fits the window
    assert 0 < box["top"] < box["vh"] * 0.5 and box["height"] <= box["vh"], box
    labels = page.evaluate("() => [...document.querySelectorAll('#lens-plot .xtick text')]"
                           ".map(t => t.getBoundingClientRect().bottom)")
    assert len(labels) == cols and max(labels) < box["vh"]

    # colour by rank (log scale): the last row is rank 0; the URL keeps it and the text
    page.click("label:has(input[name=lens-colour][value=rank])")
    page.wait_for_function("() => document.getElementById('lens-plot').data[0].reversescale === true")
    z = np.array(trace(page, "z"))
    np.testing.assert_allclose(z, np.log10(1 + np.array(api["final_rank"])), atol=1e-9)
    assert "log scale" in page.text_content("#lens-scale-note")
    shot(page, "lens-rank.png")
    assert "colour=rank" in page.url and "model=smollm2" in page.url
    page.fill("#lens-k", "3")
    with page.expect_request(lambda r: r.url.endswith("/api/lens")) as req:
        page.press("#lens-k", "Enter")
    assert req.value.post_data_json["k"] == 3
    page.wait_for_function("() => /topk=3/.test(location.search)")
    page.reload()
    wait_figure(page, rows, cols)
    assert page.is_checked("input[name=lens-colour][value=rank]")
    assert page.input_value("#lens-text") == CAPITAL and page.input_value("#lens-k") == "3"
    assert page.input_value("#lens-model") == "smollm2"
    assert len(page.evaluate("() => document.getElementById('lens-plot').data[0].hovertext[0][0]")
               .split("<br>")) == 3 + 4  # name, position, "top 3:", 3 tokens, the final prediction

    # a state arriving as a live class delivers it (the URL changed, then popstate): redrawn, not fetched again
    calls = []
    page.on("request", lambda r: calls.append(r.url) if r.url.endswith("/api/lens") else None)
    page.evaluate("() => { history.replaceState(null, '', location.search.replace('&colour=rank', ''));"
                  " dispatchEvent(new PopStateEvent('popstate')); }")
    page.wait_for_function("() => document.getElementById('lens-plot').data[0].reversescale === false")
    assert page.is_checked("input[name=lens-colour][value=prob]") and calls == []

    # presentation mode: the figure is re-fitted, non-empty and inside the viewport
    page.keyboard.press("p")
    page.wait_for_function("() => document.body.classList.contains('presenting')")
    page.wait_for_timeout(600)
    box = plot_box(page)
    assert box["height"] > 200 and box["top"] >= 0 and box["bottom"] <= box["vh"] and box["right"] <= box["vw"], box
    w = page.evaluate("() => document.getElementById('lens-plot')._fullLayout.width")
    assert abs(w - (box["right"] - box["left"])) < 2
    shot(page, "lens-capital-present.png")
    page.keyboard.press("p")
    assert errors(page) == []


def test_an_encoder_shows_the_apis_422_and_the_page_recovers(page):
    wait_loaded(page.base, "smollm2")
    detail = lens_api(page, {"model": "minilm", "text": CAPITAL}, status=422)["detail"]
    page.goto(url(page, model="minilm", text=CAPITAL))
    page.wait_for_selector("#lens-error:not([hidden])", timeout=90_000)
    assert page.text_content("#lens-error") == detail
    assert page.evaluate("() => !document.getElementById('lens-plot').data")
    assert page.input_value("#lens-model") == "minilm"
    assert page.text_content("#lens-final") == "No figure: see the message above."
    page.wait_for_selector("#lens-use-default:visible")
    shot(page, "lens-encoder-error.png")
    # one click to a model that has an LM head; then user text goes in as text
    page.click("#lens-use-default")
    page.wait_for_function("() => document.getElementById('lens-plot').data", timeout=120_000)
    assert page.input_value("#lens-model") == "smollm2" and "model=smollm2" in page.url
    assert page.is_hidden("#lens-error") and page.is_hidden("#lens-error-fix")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.fill("#lens-text", "<b>x</b> <img src=x onerror=alert(1)>")
    page.click("#lens-run")
    page.wait_for_function("() => document.getElementById('lens-plot').layout.xaxis.ticktext[0] === '&lt;'",
                           timeout=120_000)
    assert page.is_hidden("#lens-error")
    assert page.locator("#lens-plot img, #lens-plot b, #lens-final *").count() == 0 and dialogs == []
    ticks = page.evaluate("() => [...document.querySelectorAll('#lens-plot .xtick text')].map(t => t.textContent)")
    assert any("<" in t for t in ticks), ticks  # the token "<" drawn as text
    assert errors(page) == []


def test_a_long_input_reads_its_last_64_positions_with_at_most_5_tokens(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    wait_loaded(page.base, "smollm2")
    text = " ".join(f"word{i}" for i in range(60))
    n = len(httpx.post(page.base + "/api/tokenize", json={"text": text, "models": ["smollm2"]},
                       timeout=60).json()["tokenizers"][0]["ids"])
    assert n > 64
    with page.expect_request(lambda r: r.url.endswith("/api/lens")) as req:
        page.goto(url(page, model="smollm2", text=text, topk=12))
    body = req.value.post_data_json
    assert body["positions"] == list(range(n - 64, n)) and body["k"] == 5
    wait_figure(page, 31, 64)
    note = page.text_content("#lens-positions-note")
    assert f"{n} tokens" in note and "last 64" in note and "top 5" in note
    # 64 columns at 1366 px: ~17 px cells, too small to label; the note says to hover
    assert page.get_attribute("#lens-plot", "data-labelled") == "0"
    assert "hover for tokens" in page.text_content("#lens-scale-note")
    assert trace(page, "texttemplate") == ""

    # the CSV: one row per cell, layer,position,token,rank1_token,prob
    with page.expect_download() as dl:
        page.click(".lens-figure [data-export=csv]")
    lines = open(dl.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0] == "layer,position,token,rank1_token,prob" and len(lines) == 1 + 31 * 64
    assert lines[1].startswith(f"emb,{n - 64},")
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "lens-long.png")
    assert errors(page) == []


def test_on_a_phone_the_view_does_not_scroll_sideways(page):
    page.set_viewport_size({"width": 390, "height": 844})
    wait_loaded(page.base, "smollm2")
    page.goto(url(page, model="smollm2", text=CAPITAL))
    wait_figure(page, 31, 5)
    page.wait_for_timeout(300)
    wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    shot(page, "lens-phone.png", full_page=True)
    assert wide <= 1
    box = plot_box(page)
    assert box["right"] <= box["vw"] and box["height"] > 200
    assert errors(page) == []
