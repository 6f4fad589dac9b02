"""Classroom readiness in real Chromium: keyboard, presentation mode, export, predict-then-reveal."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
URL = "/?view=attention&model=minilm&text=The+animal+didn%27t+cross+the+street&layer=1&head=3"


def ready(page):
    page.goto(page.base + URL)
    page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 10", timeout=60_000)


def test_keyboard_moves_layer_and_head_and_help_lists_keys(page):
    ready(page)
    page.locator("body").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#head').value === '4'")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('layer 3')")
    assert "head=4" in page.url and "layer=2" in page.url
    assert "layer 3 · head 5" in page.text_content("#heatmap .gtitle")
    page.keyboard.press("?")
    page.wait_for_selector("#help[open]")
    keys_text = page.text_content("#help-keys")
    assert "Next head" in keys_text and "Presentation mode" in keys_text
    page.keyboard.press("Escape")
    page.wait_for_selector("#help:not([open])", state="attached")


def test_presentation_mode_is_large_and_survives_a_reload(page):
    ready(page)
    base = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    page.locator("body").focus()
    page.keyboard.press("p")
    page.wait_for_function("() => document.body.classList.contains('presenting')")
    big = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert big >= base * 1.3
    assert page.is_hidden(".foot")
    assert "present=1" in page.url
    page.wait_for_timeout(600)  # Plotly's responsive resize runs after the resize event
    for fig in ("#heatmap", "#heads"):
        assert page.locator(fig).bounding_box()["height"] > 200, fig
    page.reload()
    page.wait_for_function("() => document.body.classList.contains('presenting')", timeout=60_000)
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    shot(page, "presentation.png")
    assert page.errors == []


def test_export_png_svg_csv_json(page, tmp_path, client):
    ready(page)
    files = {}
    for kind in ("png", "svg", "csv", "json"):
        with page.expect_download() as dl:
            page.click(f"#heatmap + .export-bar button[data-export={kind}]")
        d = dl.value
        path = tmp_path / d.suggested_filename
        d.save_as(path)
        files[kind] = path
        assert path.stat().st_size > 100, kind
        assert d.suggested_filename.startswith("attnscope_minilm_encoder_L2_H4"), d.suggested_filename
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.fromstring(files["svg"].read_text())
    assert root.tag.endswith("svg")
    rows = list(csv.reader(io.StringIO(files["csv"].read_text())))
    body = client.post("/api/attention", json={"model": "minilm", "text": "The animal didn't cross the street",
                                               "layer": 1}).json()
    assert rows[0][1:] == body["key_tokens"] and [r[0] for r in rows[1:]] == body["query_tokens"]
    np.testing.assert_allclose(np.array([[float(x) for x in r[1:]] for r in rows[1:]]),
                               np.array(body["weights"][3]), atol=2e-3)
    data = json.loads(files["json"].read_text())
    assert data["layer"] == 1 and data["head"] == 3 and data["query_tokens"] == body["query_tokens"]


def test_quiz_hides_the_weights_then_reveals_the_rank(page, client):
    ready(page)
    page.check("#quiz")
    page.select_option("#quiz-query", "4")  # "'" ... pick a row
    z = page.evaluate("() => document.getElementById('heatmap').data[0].z")
    assert all(v == 0 for row in z for v in row)  # hidden
    body = client.post("/api/attention", json={"model": "minilm", "text": "The animal didn't cross the street",
                                               "layer": 1}).json()
    row = np.array(body["weights"][3][4])
    guess = int(np.argsort(row)[-3])  # the third most attended key
    box = page.locator("#heatmap .nsewdrag").first.bounding_box()
    t = len(row)
    page.mouse.click(box["x"] + (guess + 0.5) * box["width"] / t, box["y"] + 4.5 * box["height"] / t)
    page.wait_for_function("() => document.querySelector('#quiz-result').textContent.length > 0")
    result = page.text_content("#quiz-result")
    assert "rank 3 of 10" in result, result
    shown = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))
    np.testing.assert_allclose(shown[4], row, atol=2e-3)


def test_a_512_token_input_stays_responsive_with_thinned_labels(page):
    text = " ".join(["students watched the attention heads move across a very long sentence"] * 46)
    text += " and three more words"  # 512 tokens with [CLS] and [SEP]: MiniLM's whole max_tokens
    ready(page)
    page.fill("#text", text)
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('512 × 512')",
                           timeout=120_000)
    page.hover("#heatmap .nsewdrag")  # the tab still answers input (a frozen tab would time out here)
    page.wait_for_selector("#heatmap .hoverlayer .hovertext", timeout=30_000)
    ticks = page.eval_on_selector_all("#heatmap .xtick text", "els => els.length")
    assert 8 <= ticks <= 60  # thinned, not 512 overlapping labels
    z = page.evaluate("() => document.getElementById('heatmap').data[0].z")
    assert len(z) == 512 and len(z[0]) == 512
    grid = page.evaluate("() => document.getElementById('heads').data[0].z.length")
    assert grid <= 96  # thumbnails are block averages
    page.check("#fit")
    zmax = page.evaluate("() => document.getElementById('heatmap').data[0].zmax")
    assert zmax == pytest.approx(max(max(r) for r in z))
    assert page.errors == []
