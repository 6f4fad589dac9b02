"""attnscope's standalone files in Chromium, offline: 512 tokens open quickly, thumbnails pick heads."""

from __future__ import annotations

import time

import pytest

import attnscope
from tests.screens import shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def offline_page(browser):
    """A page that aborts every request not to file:, data: or blob: and records it."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.blocked, pg.errors = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)

    def local_only(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            pg.blocked.append(route.request.url)
            route.abort()

    pg.route("**/*", local_only)
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def user_model(minilm_dir):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(minilm_dir, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(minilm_dir)


def caption_has(page, text: str) -> None:
    """Wait (up to 5 s) until the figure's caption names ``text``; redraws finish after a yield to the browser."""
    page.wait_for_function("t => document.querySelector('.attnscope-output p').textContent.includes(t)", arg=text,
                           timeout=5000)


def test_512_tokens_open_without_stalling(user_model, offline_page, tmp_path):
    model, tok = user_model
    text = " ".join(("the cat sat on the mat and looked at the dog " * 60).split()[:510])
    t = attnscope.trace(model, tok, text)
    assert t.to_numpy().shape == (6, 12, 512, 512)
    path = t.save_html(tmp_path / "minilm512.html")
    size = path.stat().st_size
    t0 = time.monotonic()
    offline_page.goto(path.as_uri())
    offline_page.wait_for_selector(".attnscope-output[data-ready]", timeout=30_000)
    seconds = time.monotonic() - t0
    print(f"512 tokens: {size} bytes, all 72 thumbnails and one 512 x 512 heatmap drawn in {seconds:.2f} s")
    assert size < 5_000_000  # bertviz: 868 MB for this input
    assert offline_page.get_attribute(".attnscope-output", "data-drawn") == "72"
    assert offline_page.evaluate("() => 1 + 1") == 2  # the tab still answers
    shot(offline_page, "notebook-512.png", full_page=True)
    assert offline_page.blocked == [] and offline_page.errors == []


def test_thumbnails_and_selects_pick_the_head(user_model, offline_page, tmp_path):
    model, tok = user_model
    t = attnscope.trace(model, tok, "The animal didn't cross the street because it was too tired")
    offline_page.goto(t.save_html(tmp_path / "heads.html", view="heads", layer=3).as_uri())
    offline_page.wait_for_selector(".attnscope-output[data-ready]")
    assert offline_page.locator(".attnscope-output canvas[data-head]").count() == 12
    offline_page.click(".attnscope-output canvas[data-head='7']")
    caption_has(offline_page, "layer 4 · head 8")
    offline_page.goto(t.save_html(tmp_path / "model.html", view="model").as_uri())
    offline_page.wait_for_selector(".attnscope-output[data-ready]")
    before = offline_page.locator("canvas.attnscope-heatmap").evaluate("c => c.toDataURL()")
    offline_page.click(".attnscope-output canvas[data-layer='4'][data-head='2']")
    caption_has(offline_page, "layer 5 · head 3")
    assert offline_page.locator("canvas.attnscope-heatmap").evaluate("c => c.toDataURL()") != before
    offline_page.goto(t.save_html(tmp_path / "one.html", view="attention").as_uri())
    offline_page.wait_for_selector(".attnscope-output[data-ready]")
    offline_page.select_option(".attnscope-output select >> nth=1", index=5)  # the head select: the sixth head
    caption_has(offline_page, "layer 1 · head 6")
    assert offline_page.blocked == [] and offline_page.errors == []
