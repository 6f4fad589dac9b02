"""The long-context page in headless Chromium against a live server, with the real MiniLM and SmolLM2.

A run streams a progress bar to its last layer and paints the overview; the wheel zooms to the exact level,
where a clicked cell's row (as the page shows it) is /api/long/{id}/row; the passages matrix rows sum to 1;
an encoder-decoder shows the server's 422 reason; Cancel stops a run; a trace gone from the server says so.
Screenshots at 1366 × 768 (a projector's size) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROJECTOR = {"width": 1366, "height": 768}
SUBJECTS = ["The river", "An old map", "The village council", "A young engineer", "The night train", "Our neighbour",
            "The museum", "A storm from the west", "The bakery on the corner", "The harbour master"]
VERBS = ["changed", "surprised", "followed", "explained", "remembered", "carried", "described", "ignored"]
OBJECTS = ["the plans for the new bridge", "a letter written long ago", "the price of bread in winter",
           "the names of every street", "a song about the sea", "the quiet hours before dawn",
           "the rules of the market", "a list of forgotten recipes"]


def long_text(paragraphs: int, sentences: int) -> str:
    """Paragraphs of varied sentences separated by blank lines (MiniLM: 5 × 8 ≈ 415 tokens; SmolLM2: 8 × 14 ≈ 1,170)."""
    out = []
    for p in range(paragraphs):
        words = []
        for i in range(sentences):
            n = p * sentences + i
            words.append(f"{SUBJECTS[n % 10]} {VERBS[(n * 3 + p) % 8]} {OBJECTS[(n * 5 + 2 * p) % 8]}.")
        out.append(" ".join(words))
    return "\n\n".join(out)


MINILM_TEXT = long_text(5, 8)
SMOLLM_TEXT = long_text(8, 14)


def wait_loaded(base: str, model: str) -> None:
    """The live server preloads only MiniLM: wait until /api/models lists `model` loaded."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        models = {m["id"]: m for m in httpx.get(base + "/api/models", timeout=60).json()["models"]}
        if models[model]["status"] == "loaded":
            return
        assert models[model]["status"] in ("loading", "converting", "not loaded"), models[model]
        time.sleep(1)
    raise AssertionError(f"{model} did not load")


def open_view(page, model: str) -> None:
    wait_loaded(page.base, model)
    page.set_viewport_size(PROJECTOR)
    # every value the progress bar takes, from before the page's first script runs
    page.add_init_script("""window.progressSeen = [];
        new MutationObserver((rs) => rs.forEach((r) => r.target.id === 'lc-progress'
            && window.progressSeen.push([+r.target.value, +r.target.max])))
          .observe(document, {attributes: true, subtree: true, attributeFilter: ['value', 'max']});""")
    page.goto(f"{page.base}/?view=long&model={model}")
    page.wait_for_function("m => document.querySelector('#lc-model').value === m", arg=model, timeout=60_000)


def run(page, text: str) -> dict:
    """Run `text`, wait for the bar to finish and the heatmap to paint; the run's header (the page keeps it)."""
    page.fill("#lc-text", text)
    page.click("#lc-run")
    page.wait_for_selector("#lc-progress[data-state=done]", state="attached", timeout=180_000)
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    header = page.evaluate("() => JSON.parse(sessionStorage.getItem('attnscope.long.header'))")
    assert page.evaluate("() => new URLSearchParams(location.search).get('trace')") == header["trace_id"]
    return header


def url_state(page) -> dict:
    return page.evaluate("() => Object.fromEntries(new URLSearchParams(location.search))")


PINCH = """() => { const c = document.getElementById('lc-canvas'), b = c.getBoundingClientRect();
    const x = b.left + b.width * 0.45, y = b.top + b.height * 0.6;
    const ev = (type, id, dx) => c.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: 'touch',
        isPrimary: id === 1, bubbles: true, clientX: x + dx, clientY: y}));
    ev('pointerdown', 1, -20); ev('pointerdown', 2, 20);
    for (let i = 1; i <= 4; i++) ev('pointermove', 2, 20 + 10 * i);
    ev('pointerup', 2, 60); ev('pointerup', 1, -20); }"""


def distinct_colours(page, selector: str) -> int:
    """How many different colours the canvas holds (a blank or flat canvas has one or two)."""
    return page.evaluate("""(sel) => { const c = document.querySelector(sel), d = c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size; }""", selector)


def zoom_to_finest(page, levels: int, at=(0.45, 0.6), min_zoom: float = 1.0) -> dict:
    """Wheel in over the heatmap until the view is at the exact level (and at least `min_zoom`)."""
    page.evaluate("() => document.querySelector('.lc-explore').scrollIntoView()")
    box = page.locator("#lc-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * at[0], box["y"] + box["height"] * at[1])
    for _ in range(12):
        state = url_state(page)
        if page.get_attribute("#lc-canvas", "data-z") == str(levels - 1) and float(state.get("zoom", 1)) >= min_zoom:
            break
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(350)
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    page.wait_for_timeout(300)  # the URL is saved 250 ms after a draw
    state = url_state(page)
    assert page.get_attribute("#lc-canvas", "data-z") == state["z"] == str(levels - 1)
    assert float(state["zoom"]) >= min_zoom
    return box


def click_and_compare_row(page, header: dict, box: dict) -> tuple[int, int]:
    """Click the cell (q, q - 2) of the middle row (or the middle cell); the exact row the page shows must be /row
    fetched directly, and the clicked cell's drawn weight (a u8 tile) that row's weight."""
    g = json.loads(page.get_attribute("#lc-canvas", "data-geometry"))
    q = int(g["q0"] + g["ph"] / (2 * g["s"]))
    k = q - 2 if g["k0"] + 1 <= q - 2 < g["k0"] + g["pw"] / g["s"] - 1 else int(g["k0"] + g["pw"] / (2 * g["s"]))
    page.evaluate("() => { const d = document.getElementById('lc-row'); delete d.dataset.query; }")
    page.mouse.click(box["x"] + g["px0"] + (k - g["k0"] + 0.5) * g["s"], box["y"] + g["mt"] + (q - g["q0"] + 0.5) * g["s"])
    page.wait_for_selector("#lc-row[data-query]", state="attached", timeout=30_000)
    shown = page.evaluate("() => { const d = document.getElementById('lc-row'); return {q: +d.dataset.query, "
                          "k: d.dataset.key, cell: d.dataset.cell, y: Array.from(d.data[0].y)}; }")
    state = url_state(page)
    r = httpx.get(f"{page.base}/api/long/{header['trace_id']}/row",
                  params={"layer": state["layer"], "head": state["head"], "query": shown["q"]}, timeout=60)
    assert r.status_code == 200, r.text
    row = np.array(r.json()["weights"])
    assert (shown["q"], int(shown["k"])) == (q, k)
    assert len(shown["y"]) == len(header["tokens"]) == len(row)
    np.testing.assert_allclose(shown["y"], row, rtol=0, atol=1e-9)
    assert abs(row.sum() - 1) < 2e-3
    assert shown["cell"] != "", "the click was not at the exact level"
    assert abs(float(shown["cell"]) - row[k]) <= 0.5 / 255 + 2e-3 * row[k] + 1e-6  # the u8 tile vs the exact row
    top = page.text_content("#lc-row-top")
    assert f"Clicked key {k}" in top
    return shown["q"], k


def test_minilm_runs_zooms_and_shows_exact_rows_and_passages(page, tmp_path):
    open_view(page, "minilm")
    header = run(page, MINILM_TEXT)
    T, L, H = len(header["tokens"]), header["layers"], header["heads"]
    assert 380 <= T <= 460 and len(header["passages"]) == 5
    seen = page.evaluate("window.progressSeen")
    assert [v for v, m in seen if m == L][-1] == L and page.text_content("#lc-progress-text") == f"layer {L} of {L}"
    assert f"{T:,} tokens" in page.text_content("#lc-status")
    assert distinct_colours(page, "#lc-canvas") > 30 and distinct_colours(page, "#lc-minimap") > 20
    page.wait_for_selector(f"#lc-thumbs[data-drawn='{L * (H + 1)}']", state="attached", timeout=60_000)
    page.evaluate("() => document.querySelector('.lc-explore').scrollIntoView()")
    print(shot(page, "long-minilm-overview.png"))
    # the passages matrix as shown: rows sum to 1, and it is the API's
    page.wait_for_function("() => document.getElementById('lc-passages-fig').data", timeout=30_000)
    mass = np.array(page.evaluate("() => document.getElementById('lc-passages-fig').data[0].z"))
    assert mass.shape == (5, 5)
    np.testing.assert_allclose(mass.sum(1), 1, atol=1e-3)
    api = httpx.get(f"{page.base}/api/long/{header['trace_id']}/passages", params={"layer": 0, "head": 0}).json()
    np.testing.assert_allclose(mass, api["mass"], atol=1e-9)
    bars = page.evaluate("() => document.getElementById('lc-distance-fig').data[0].y.length")
    assert bars == len(httpx.get(f"{page.base}/api/long/{header['trace_id']}/distance",
                                 params={"layer": 0, "head": 0}).json()["bins"])
    # another head (a thumbnail click), then zoom until single tokens are labelled and compare a clicked row
    page.click(f"#lc-thumbs canvas >> nth={2 * (H + 1) + 5}")  # layer 3, head 6
    page.wait_for_function("() => new URLSearchParams(location.search).get('layer') === '2' "
                           "&& new URLSearchParams(location.search).get('head') === '5'")
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    # two fingers spread from 40 to 80 px apart: twice the zoom, and no click
    page.evaluate("() => document.querySelector('.lc-explore').scrollIntoView()")
    zoom0 = float(url_state(page)["zoom"])
    page.evaluate(PINCH)
    page.wait_for_timeout(500)
    assert float(url_state(page)["zoom"]) == pytest.approx(2 * zoom0, rel=0.05)
    assert page.get_attribute("#lc-row", "data-query") is None
    # a click on the minimap's lower right moves the view there
    mini = page.locator("#lc-minimap").bounding_box()
    page.mouse.click(mini["x"] + mini["width"] * 0.8, mini["y"] + mini["height"] * 0.8)
    page.wait_for_timeout(500)
    assert float(url_state(page)["cx"]) > T / 2 and float(url_state(page)["cy"]) > T / 2
    box = zoom_to_finest(page, header["zoom_levels"], min_zoom=14)
    q, k = click_and_compare_row(page, header, box)
    page.wait_for_timeout(400)
    print(shot(page, "long-minilm-zoomed.png"))
    # a row label (the query's own row, no key)
    page.mouse.click(box["x"] + 40, box["y"] + box["height"] * 0.6)
    page.wait_for_function("() => document.getElementById('lc-row').dataset.key === ''", timeout=30_000)
    # exports of the visible heatmap
    files = {}
    for kind in ("png", "csv", "json"):
        with page.expect_download() as dl:
            page.click(f"#lc-canvas + .export-bar button[data-export={kind}]")
        files[kind] = tmp_path / dl.value.suggested_filename
        dl.value.save_as(files[kind])
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(files["json"].read_text())
    assert data["z"] == header["zoom_levels"] - 1 and data["layer"] == 2 and data["head"] == 5
    assert len(data["weights"]) == len(data["query_labels"]) and len(data["weights"][0]) == len(data["key_labels"])
    assert files["csv"].read_text().splitlines()[0].startswith(",")
    print(shot(page, "long-minilm-full.png", full_page=True))
    assert page.errors == []


def test_smollm2_1200_tokens_deep_zoom(page):
    open_view(page, "smollm2")
    header = run(page, SMOLLM_TEXT)
    T, L, H, Z = len(header["tokens"]), header["layers"], header["heads"], header["zoom_levels"]
    assert 1100 <= T <= 1300 and Z == 4 and L == 30
    assert page.evaluate("document.getElementById('lc-progress').value") == L
    assert int(page.get_attribute("#lc-canvas", "data-z")) < Z - 1  # the overview is pooled
    assert distinct_colours(page, "#lc-canvas") > 30
    page.evaluate("() => document.querySelector('.lc-explore').scrollIntoView()")
    print(shot(page, "long-smollm2-overview.png"))
    page.select_option("#lc-layer", "5")
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    box = zoom_to_finest(page, Z, min_zoom=10)  # ≥ 4 px a token: a click hits the cell it aims at
    before = page.evaluate("() => +new URLSearchParams(location.search).get('cx')")
    # drag right: the view pans to earlier keys (its centre moves left), towards the diagonal
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y, steps=6)
    page.mouse.up()
    page.wait_for_timeout(400)
    assert page.evaluate("() => +new URLSearchParams(location.search).get('cx')") < before
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    click_and_compare_row(page, header, box)
    page.wait_for_timeout(300)
    print(shot(page, "long-smollm2-zoomed.png"))
    page.check("input[name=lc-reduce][value=sum]")
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    page.wait_for_function("() => new URLSearchParams(location.search).get('reduce') === 'sum'")
    page.click("#lc-fit")
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    page.wait_for_selector(f"#lc-thumbs[data-drawn='{L * (H + 1)}']", state="attached", timeout=120_000)
    page.click(f"#lc-thumbs canvas >> nth={3 * (H + 1) + H}")  # layer 4, the mean of the heads
    page.wait_for_function("() => new URLSearchParams(location.search).get('head') === 'mean'")
    assert page.input_value("#lc-head") == "mean" and page.input_value("#lc-layer") == "3"
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    mass = np.array(page.evaluate("() => document.getElementById('lc-passages-fig').data[0].z"))
    np.testing.assert_allclose(mass.sum(1), 1, atol=1e-3)
    print(shot(page, "long-smollm2-full.png", full_page=True))
    assert page.errors == []


def test_cancel_stops_the_run_and_marks_the_old_results_stale(page):
    open_view(page, "smollm2")
    header = run(page, MINILM_TEXT)  # a short first run, to have results that go stale
    page.fill("#lc-text", SMOLLM_TEXT)
    page.click("#lc-run")
    page.wait_for_function("() => document.getElementById('lc-progress').value >= 2", timeout=120_000)
    page.click("#lc-cancel")
    page.wait_for_selector("#lc-progress[data-state=cancelled]", state="attached", timeout=10_000)
    stopped = page.evaluate("document.getElementById('lc-progress').value")
    page.wait_for_timeout(2500)
    assert page.evaluate("document.getElementById('lc-progress').value") == stopped < 30
    assert "Cancelled" in page.text_content("#lc-status") and "server stopped" in page.text_content("#lc-status")
    assert page.is_visible("#lc-stale") and "cancelled" in page.text_content("#lc-stale")
    assert page.evaluate("() => new URLSearchParams(location.search).get('trace')") == header["trace_id"]
    assert page.is_enabled("#lc-run") and not page.is_enabled("#lc-cancel")
    page.evaluate("window.scrollTo(0, 0)")
    print(shot(page, "long-cancelled.png"))
    # the server is free again: the next run goes through
    run(page, MINILM_TEXT)
    assert not page.is_visible("#lc-stale")
    assert page.errors == []


def test_an_encoder_decoder_shows_the_servers_reason(page):
    open_view(page, "minilm")
    page.select_option("#lc-model", "textbook")
    page.fill("#lc-text", "le chat est noir")
    page.click("#lc-run")
    page.wait_for_selector("#lc-error:not([hidden])")
    err = page.text_content("#lc-error")
    assert "encoder-decoder" in err and "32 tokens" in err, err
    assert page.get_attribute("#lc-progress", "data-state") == "failed" and page.is_enabled("#lc-run")
    print(shot(page, "long-422.png"))
    # the browser itself logs the failed request; nothing else may fail
    assert [e for e in page.errors if "status of 422" not in e] == []


def test_a_trace_gone_from_the_server_says_so_and_offers_to_run_again(page):
    wait_loaded(page.base, "minilm")
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{page.base}/?view=long&model=minilm&trace=0123456789abcdef&layer=1&head=2&z=1")
    page.wait_for_selector("#lc-gone:not([hidden])", timeout=30_000)
    assert "no longer on the server" in page.text_content("#lc-gone-text")
    assert page.is_hidden("#lc-results")
    print(shot(page, "long-gone.png"))
    page.click("#lc-again")
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=120_000)
    assert page.is_hidden("#lc-gone")
    assert [e for e in page.errors if "status of 404" not in e] == []
