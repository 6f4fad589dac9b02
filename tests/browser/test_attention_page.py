"""The attention page in real headless Chromium against a live server."""

from __future__ import annotations

from urllib.parse import urlparse

import numpy as np
import pytest
import torch

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def show(page, text: str) -> None:
    page.fill("#text", text)
    page.click("button[type=submit]")
    page.wait_for_function(
        "t => document.querySelector('#status').textContent.includes(t)", arg="tokens", timeout=60_000)


def tick_texts(page, axis: str) -> list[str]:
    return page.eval_on_selector_all(f"#heatmap .{axis}tick text", "els => els.map(e => e.textContent)")


def test_sentence_shows_its_tokens_and_the_models_numbers(page, minilm):
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    text = "Alice is wearing a jacket and she is freezing"
    show(page, text)
    page.select_option("#layer", "2")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('layer 3')")
    page.select_option("#head", "5")
    ticks = tick_texts(page, "x")
    assert ticks == ["[CLS]", "alice", "is", "wearing", "a", "jacket", "and", "she", "is", "freezing", "[SEP]"]
    assert tick_texts(page, "y") == ticks
    shown = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        own = minilm.model(**enc, output_attentions=True).attentions[2][0, 5].numpy()
    np.testing.assert_allclose(shown, own, atol=2e-3)  # float16 on the wire
    assert page.errors == []
    page.fill("#text", "The animal didn't cross the street because it was too tired")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 15")
    page.wait_for_timeout(300)
    shot(page, "attention.png", full_page=True)


def test_clicking_a_head_thumbnail_opens_it(page):
    page.goto(page.base + "/")
    page.wait_for_selector("#heads .nsewdrag", timeout=60_000)
    box = page.locator("#heads .nsewdrag").nth(6).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelector('#head').value === '6'")
    title = page.text_content("#heatmap .gtitle")
    assert "head 7" in title


def test_html_in_a_sentence_is_text_and_runs_nothing(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    evil = "<img src=x onerror=alert(1)> <b>bold</b>"
    show(page, evil)
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.evaluate("() => document.querySelectorAll('img, b').length") == 0
    ticks = tick_texts(page, "x")
    assert ticks[1:4] == ["<", "im", "##g"] and ">" in ticks
    # no request for the injected "x"
    assert not any(urlparse(u).path.endswith("/x") for u in page.requests)


def test_errors_show_next_to_the_input_and_the_page_keeps_working(page):
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    page.fill("#text", "   ")
    page.click("button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "empty" in page.text_content("#error")
    page.fill("#text", "word " * 600)
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('602 tokens')")
    show(page, "it still works")
    assert page.is_hidden("#error")
    assert tick_texts(page, "x") == ["[CLS]", "it", "still", "works", "[SEP]"]


def test_page_loads_nothing_from_another_host(page):
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    page.goto(page.base + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    hosts = {urlparse(u).netloc for u in page.requests if urlparse(u).scheme in ("http", "https")}
    assert hosts == {urlparse(page.base).netloc}
    assert page.errors == []


def test_url_holds_the_view_state_and_restores_it(page):
    page.goto(page.base + "/?view=attention&model=minilm&text=hello+brave+world&layer=4&head=7")
    page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 5", timeout=60_000)
    assert page.input_value("#layer") == "4" and page.input_value("#head") == "7"
    assert "layer 5 · head 8" in page.text_content("#heatmap .gtitle")
    page.select_option("#head", "2")
    assert "head=2" in page.url
    page.fill("#text", "a new sentence")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 5 && "
                           "document.querySelector('#heatmap .xtick text').textContent === '[CLS]' && "
                           "[...document.querySelectorAll('#heatmap .xtick text')].some(e => e.textContent === 'new')")
    page.go_back()
    page.wait_for_function("() => [...document.querySelectorAll('#heatmap .xtick text')].some(e => e.textContent === 'brave')")
    assert page.input_value("#text") == "hello brave world"


def test_mean_of_heads_equals_the_average_of_the_models_heads(page, minilm):
    text = "Thinking Machines"
    page.goto(page.base + f"/?view=attention&model=minilm&text={text}&layer=5&head=mean")
    page.wait_for_function("() => document.querySelector('#heatmap .gtitle')?.textContent.includes('mean of 12 heads')",
                           timeout=60_000)
    shown = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        own = minilm.model(**enc, output_attentions=True).attentions[5][0].numpy().mean(0)
    np.testing.assert_allclose(shown, own, atol=2e-3)


def test_textbook_cross_attention_shows_source_against_produced_words(page):
    page.goto(page.base + "/?view=attention&model=textbook&text=je+suis+%C3%A9tudiant&block=cross&layer=1&head=mean")
    page.wait_for_function("() => document.querySelector('#heatmap .gtitle')?.textContent.includes('cross')",
                           timeout=60_000)
    assert tick_texts(page, "x") == ["je", "suis", "étudiant"]
    rows = tick_texts(page, "y")
    assert rows[3] == "a → student"
    z = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))
    assert int(z[3].argmax()) == 2  # "student" is produced looking at "étudiant"
    assert page.is_visible("#block") and page.input_value("#block") == "cross"
    shot(page, "textbook-cross.png", full_page=True)
    page.select_option("#block", "decoder")
    page.wait_for_function("() => document.querySelector('#heatmap .gtitle')?.textContent.includes('decoder')")
    z = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"))
    assert np.all(z[np.triu_indices(len(z), 1)] == 0)
    assert page.errors == []


def test_the_page_asks_for_u8_and_draws_the_dequantised_weights(page, minilm):
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    text = "My favorite fruit is apple"
    with page.expect_response(lambda r: r.url.endswith("/api/attention")) as resp:
        show(page, text)
    req = resp.value.request
    assert req.post_data_json["format"] == "u8" and req.headers["accept"] == "application/octet-stream"
    assert resp.value.headers["content-type"] == "application/octet-stream"  # binary: no base64
    page.select_option("#layer", "4")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('layer 5')")
    page.select_option("#head", "9")
    shown = np.array(page.evaluate("() => document.getElementById('heatmap').data[0].z"), dtype=np.float32)
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        own = minilm.model(**enc, output_attentions=True).attentions[4][0, 9].float().numpy()
    assert shown.shape == own.shape
    assert np.abs(shown - own).max() <= 0.002
    # the decoder itself: bytes 0, 1, 128 and 255 are 0, 1/255, 128/255 and 1
    got = page.evaluate("""async () => {
        const { decodeU8 } = await import('/static/js/api.js');
        return Array.from(decodeU8(btoa(String.fromCharCode(0, 1, 128, 255))));
    }""")
    np.testing.assert_allclose(got, [0, 1 / 255, 128 / 255, 1], atol=1e-7)
    # the binary decoder, for both dtypes: a header padded to 4 bytes, then the raw array
    got = page.evaluate("""async () => {
        const { decodeBinary } = await import('/static/js/api.js');
        const pack = (fmt, bytes) => {
          let head = JSON.stringify({ format: fmt, shape: [1, 2, 2] });
          while ((4 + head.length) % 4) head += " ";
          const buf = new Uint8Array(4 + head.length + bytes.length);
          new DataView(buf.buffer).setUint32(0, head.length, true);
          buf.set(new TextEncoder().encode(head), 4);
          buf.set(bytes, 4 + head.length);
          return buf.buffer;
        };
        const u8 = decodeBinary(pack("u8", [0, 51, 204, 255]));
        // float16 little-endian: 0, 0.5 (0x3800), 0.25 (0x3400), 1 (0x3C00)
        const f16 = decodeBinary(pack("f16", [0, 0, 0x00, 0x38, 0x00, 0x34, 0x00, 0x3C]));
        return [Array.from(u8.values), Array.from(f16.values), u8.shape];
    }""")
    np.testing.assert_allclose(got[0], [0, 0.2, 0.8, 1], atol=1e-7)
    np.testing.assert_allclose(got[1], [0, 0.5, 0.25, 1], atol=0)
    assert got[2] == [1, 2, 2]
    page.wait_for_selector("#heads .nsewdrag")  # the grid of all heads follows the first paint
    assert page.locator("#heads .nsewdrag").count() == 12
    assert page.errors == []
    shot(page, "attention_u8.png", full_page=True)


def test_head_thumbnails_of_long_inputs_keep_each_blocks_peak(page):
    page.goto(page.base + "/")
    page.wait_for_selector("#heatmap .xtick text", timeout=60_000)
    got = page.evaluate("""async () => {
        const { downsample } = await import('/static/js/plot.js');
        const n = 300;
        const eye = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
        const prev = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (j === i - 1 ? 1 : 0)));
        const peak = downsample(eye), mean = downsample(eye, 96, "mean"), p = downsample(prev);
        return { rows: peak.length, cols: peak[0].length, diag: peak.map((r, i) => r[i]),
                 off: peak.map((r, i) => r.filter((_, j) => Math.abs(i - j) > 1)).flat(),
                 meanDiag: mean.map((r, i) => r[i]), prevDiag: p.map((r, i) => Math.max(r[i], i ? r[i - 1] : 0)) };
    }""")
    assert got["rows"] == got["cols"] == 75  # 300 tokens in blocks of 4
    assert all(v == 1 for v in got["diag"])  # a one-token-wide diagonal keeps full colour
    assert all(v == 0 for v in got["off"])
    assert all(v == 0.25 for v in got["meanDiag"])  # what block-averaging did: a quarter of the colour
    assert all(v == 1 for v in got["prevDiag"][1:])
