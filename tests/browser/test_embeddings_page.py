"""The embeddings view in real headless Chromium: one-hot vs dense, PCA by layer, the apple preset."""

from __future__ import annotations


import httpx
import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_embeddings(page, query: str = "") -> None:
    page.goto(page.base + "/?view=embeddings" + query)
    page.wait_for_function("() => document.getElementById('emb-pca')?.data?.length === 1 && "
                           "document.getElementById('emb-sim-chart')?.data?.length === 1", timeout=60_000)


def data(page, el: str, key: str):
    return page.evaluate(f"() => document.getElementById('{el}').data[0].{key}")


def title(page, el: str) -> str:
    return page.evaluate(f"() => document.getElementById('{el}').layout.title.text")


def test_apple_preset_draws_the_cosine_per_layer_of_the_api(page):
    open_embeddings(page)
    page.click("#emb-preset-bank")
    page.wait_for_function("() => document.getElementById('emb-sim-chart').layout.title.text.includes('bank')")
    page.click("#emb-preset-apple")
    page.wait_for_function("() => document.getElementById('emb-sim-chart').layout.title.text.includes('apple')")
    y = data(page, "emb-sim-chart", "y")
    x = data(page, "emb-sim-chart", "x")
    api = httpx.post(page.base + "/api/similarity", timeout=60, json={
        "model": "minilm", "a": {"text": "My favorite fruit is apple", "word": "apple"},
        "b": {"text": "My favorite brand is apple", "word": "apple"}}).json()
    assert x == api["layers"] == list(range(7))  # L + 1 points: embedding output, then 6 layers
    np.testing.assert_allclose(y, api["cosine"], atol=1e-12)
    assert y[0] == pytest.approx(1.0, abs=1e-6) and y[-1] < 0.9
    assert "sa=My+favorite+fruit+is+apple" in page.url and "wb=apple" in page.url
    within = page.evaluate("() => document.getElementById('emb-within').data.map(t => t.z.length)")
    assert within == [7, 7]
    assert page.errors == []
    page.wait_for_timeout(400)
    shot(page, "embeddings.png", full_page=True)


def test_pca_layer_slider_moves_the_points(page):
    open_embeddings(page)
    text = page.input_value("#emb-text")
    api = httpx.post(page.base + "/api/embeddings", json={"model": "minilm", "text": text}, timeout=60).json()
    pts = np.array(api["pca"]["points"])  # (7, T, 2)
    assert data(page, "emb-pca", "text") == api["tokens"]
    np.testing.assert_allclose(data(page, "emb-pca", "x"), pts[0, :, 0], atol=1e-9)
    page.focus("#emb-layer")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#emb-layer-val').textContent === '1'")
    x1, y1 = data(page, "emb-pca", "x"), data(page, "emb-pca", "y")
    np.testing.assert_allclose(x1, pts[1, :, 0], atol=1e-9)
    np.testing.assert_allclose(y1, pts[1, :, 1], atol=1e-9)
    assert np.abs(np.array(x1) - pts[0, :, 0]).max() > 0.1  # the points moved
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('#emb-layer-val').textContent === '6'")
    np.testing.assert_allclose(data(page, "emb-pca", "x"), pts[6, :, 0], atol=1e-9)
    assert title(page, "emb-pca").startswith("Layer 6 of 6")
    assert "hlayer=6" in page.url
    assert page.errors == []


def test_one_hot_next_to_dense_embeddings(page):
    open_embeddings(page)
    page.fill("#emb-text", "the cat and the dog")
    page.click("#emb-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#emb-status').textContent.includes('7 tokens')", timeout=60_000)
    onehot = np.array(data(page, "emb-onehot", "z"))
    assert onehot.shape == (7, 6)  # [CLS] the cat and the dog [SEP]: 'the' twice -> 6 distinct ids
    assert (onehot.sum(1) == 1).all() and (onehot[1] == onehot[4]).all()
    assert "30,522 entries" in page.text_content("#emb-onehot-cap")
    dense = np.array(data(page, "emb-heatmap", "z"))
    assert dense.shape == (7, 384)
    assert page.evaluate("() => document.getElementById('emb-heatmap').layout.xaxis.showticklabels") is False
    page.select_option("#emb-matrix", "position")
    page.wait_for_function("() => document.getElementById('emb-heatmap').layout.title.text.startsWith('Position')")
    assert "matrix=position" in page.url
    assert page.errors == []


def test_html_in_a_sentence_stays_text(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_embeddings(page)
    page.fill("#emb-text", "<img src=x onerror=alert(1)> <b>bold</b>")
    page.click("#emb-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('emb-pca').data[0].text.includes('bold')", timeout=60_000)
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("() => document.querySelectorAll('main img, main b').length") == 0
    labels = page.eval_on_selector_all("#emb-pca .textpoint text", "els => els.map(e => e.textContent)")
    assert len(labels) == len(data(page, "emb-pca", "text")) == 26  # every token has its label
    assert "<" in labels and ">" in labels
    page.fill("#emb-sim-wa", "zebra")
    page.click("#emb-sim-form button[type=submit]")
    page.wait_for_selector("#emb-sim-error:not([hidden])")
    assert "sentence a has no token 'zebra'" in page.text_content("#emb-sim-error")
    assert all("status of 422" in e for e in page.errors)  # only the browser's note of the refused request
