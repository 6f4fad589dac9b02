"""Model view thumbnails keep a head's structure at 32 and 510 tokens, and the view draws layer by layer."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PATTERNS = ("identity", "previous", "sink", "uniform")


def synthetic_heads(t: int) -> np.ndarray:
    """(12, t, t): identity, previous-token, first-token sink and uniform heads, three times over."""
    eye = np.eye(t)
    prev = np.eye(t, k=-1)
    prev[0, 0] = 1
    sink = np.zeros((t, t))
    sink[:, 0] = 1
    uniform = np.full((t, t), 1 / t)
    return np.stack([eye, prev, sink, uniform] * 3).astype(np.float32)


def fake_attention(t: int):
    """A route handler answering /api/attention (one layer, f16, as the API does) with the synthetic heads."""
    heads = synthetic_heads(t)
    tokens = ["[CLS]"] + [f"w{i}" for i in range(t - 2)] + ["[SEP]"]

    body = json.dumps({  # one answer for every layer (the view reads only the shape, tokens and weights)
        "model": "minilm", "text": f"synthetic {t}", "block": "encoder", "layer": 0,
        "tokens": tokens, "query_tokens": tokens, "key_tokens": tokens, "query_special": [False] * t,
        "key_special": [False] * t, "shape": list(heads.shape), "format": "f16",
        "weights": base64.b64encode(heads.astype("<f2").tobytes()).decode(),
    })

    def handle(route):
        route.fulfill(status=200, content_type="application/json", body=body)
    return handle


def thumbnails(page) -> np.ndarray:
    """The pixels of every drawn thumbnail: (72, R, C, 3) uint8, as the page drew them (sent back as base64)."""
    size, b64 = page.evaluate("""() => {
        const cs = [...document.querySelectorAll('#mv-fig canvas')], w = cs[0].width, h = cs[0].height;
        const out = new Uint8Array(cs.length * w * h * 3);
        cs.forEach((c, n) => { const d = c.getContext('2d').getImageData(0, 0, w, h).data;
          for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) out[(n * w * h + i) * 3 + k] = d[4 * i + k]; });
        let s = ''; for (let i = 0; i < out.length; i += 8192) s += String.fromCharCode(...out.subarray(i, i + 8192));
        return [[cs.length, h, w], btoa(s)]; }""")
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(*size, 3)


@pytest.mark.parametrize("t", [32, 510])
def test_synthetic_heads_stay_apart_in_the_thumbnails(page, t):
    page.route("**/api/attention", fake_attention(t))
    page.goto(f"{page.base}/?view=model&model=minilm&text=synthetic+{t}")
    page.wait_for_selector("#mv-fig[data-drawn='72']", timeout=60_000)
    px = thumbnails(page).astype(np.int32)
    assert px.shape[0] == 72
    n = px.shape[1]
    shot(page, f"model-view-synthetic-{t}.png", full_page=True)
    # each pattern draws the same picture in every head that has it, and a different one from every other pattern:
    # at least a whole line of thumbnail pixels (one per row) differs by a visible step of colour
    for a in range(4):
        for b in range(4):
            visible = (np.abs(px[a] - px[b]).max(-1) > 40).sum()
            assert (visible == 0) if a == b else (visible >= n - 1), (PATTERNS[a], PATTERNS[b], visible, n)
        assert all(np.array_equal(px[a], px[a + 4 * k]) for k in range(1, 18))
    lum = px[..., 1]  # (72, n, n): viridis' green channel rises monotonically with the colour level
    identity, previous, sink, uniform = lum[0], lum[1], lum[2], lum[3]
    diag, below = np.arange(n), np.arange(1, n)
    # identity: a bright diagonal on a dark ground, nothing just below it
    assert identity[diag, diag].min() > 180 and identity[below, below - 1].max() < 90
    # previous-token: its own line just below the diagonal, visible where identity has none
    assert previous[below, below - 1].mean() > identity[below, below - 1].mean() + 40
    # first-token sink: the first column bright, the rest dark
    assert sink[:, 0].min() > 180 and sink[:, 1:].max() < 90
    # uniform: one flat colour, fainter than any peak but not the empty colour (sqrt scale keeps 1/t visible)
    assert uniform.max() - uniform.min() < 2 and sink[:, 1:].max() < uniform.min() < identity.max()
    assert page.errors == []


def test_510_tokens_of_minilm_draw_layer_by_layer(page):
    words = " ".join(("the cat sat on the mat and looked at the dog " * 60).split()[:508])
    # watch data-drawn from before the page's first script runs: a fast server draws before a later observer
    page.add_init_script("""window.seen = [];
        new MutationObserver((records) => records.forEach((r) => r.target.id === 'mv-fig'
            && window.seen.push([+r.target.dataset.drawn, performance.now()])))
          .observe(document, {attributes: true, subtree: true, attributeFilter: ['data-drawn']});""")
    page.goto(f"{page.base}/?view=model&model=minilm&text=" + words.replace(" ", "+"))
    page.wait_for_selector("#mv-fig[data-drawn='72']", timeout=120_000)
    page.wait_for_function("() => document.getElementById('mv-fig').dataset.ms")
    assert "510 × 510 tokens" in page.text_content("#mv-status")
    seen = page.evaluate("window.seen")
    first_layer = next(ts for d, ts in seen if d >= 12)
    last = next(ts for d, ts in seen if d == 72)
    ms = int(page.evaluate("document.getElementById('mv-fig').dataset.ms"))
    print(f"model view at 510 tokens: all 72 heads {ms} ms after the request; first layer {last - first_layer:.0f} ms "
          "before the last")
    assert first_layer < last  # progressive: the first layer was on screen before the rest
    lum = thumbnails(page)[..., 1].astype(float)
    assert (lum.std(axis=(1, 2)) > 1).sum() >= 60  # structure, not the flat dark squares of block averaging
    shot(page, "model-view-510.png", full_page=True)
    assert page.errors == []


def test_model_view_exports_png_svg_csv_json(page, tmp_path):
    import xml.etree.ElementTree as ET

    page.goto(f"{page.base}/?view=model&model=minilm&text=The+animal+didn%27t+cross+the+street")
    page.wait_for_selector("#mv-fig[data-drawn='72']", timeout=60_000)
    files = {}
    for kind in ("png", "svg", "csv", "json"):
        with page.expect_download() as dl:
            page.click(f"#mv-fig + .export-bar button[data-export={kind}]")
        files[kind] = tmp_path / dl.value.suggested_filename
        dl.value.save_as(files[kind])
        assert dl.value.suggested_filename.startswith("attnscope_minilm_encoder_all_heads")
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files["png"].stat().st_size > 5000
    assert ET.fromstring(files["svg"].read_text()).tag.endswith("svg")
    lines = files["csv"].read_text().splitlines()
    assert lines[0] == "layer,head,query_index,query,key_index,key,weight" and len(lines) == 1 + 72 * 10 * 10
    data = json.loads(files["json"].read_text())
    w = np.array(data["weights"])
    assert data["shape"] == [6, 12, 10, 10] and w.shape == (6, 12, 10, 10)
    np.testing.assert_allclose(w.sum(-1), 1, atol=5e-3)
    assert page.errors == []
