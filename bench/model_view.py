"""Benchmark: the model view of MiniLM at 510 tokens, from pressing the button to all 72 heads drawn.

Starts its own server on 127.0.0.1 and drives headless Chromium. The model view marks its grid with
``data-drawn="<heads drawn>"`` once the thumbnails are on screen; this bench waits for
``[data-drawn="72"]`` (6 layers × 12 heads), timed inside the page (target: <= 1.5 s at 510 tokens).
Also prints the bytes of the model view's request.

Run: ``.venv/bin/python bench/model_view.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

from _server import CHROMIUM_ARGS as ARGS, serving
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

WORDS = "students watched the attention heads move across a very long sentence about rivers and banks".split()
HEADS = 72  # MiniLM: 6 layers x 12 heads


def text_of(n_tokens: int, salt: int) -> str:
    """``n_tokens`` MiniLM tokens (each word here is one token; 2 specials)."""
    return " ".join(WORDS[(i + salt) % len(WORDS)] for i in range(n_tokens - 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=510)
    args = ap.parse_args()
    with serving() as (base, _server):
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; Chromium headless; MiniLM, {args.tokens} tokens")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/?view=model&model=minilm&text=hello")
            try:
                page.wait_for_selector(f'[data-drawn="{HEADS}"]', timeout=120_000)
            except PlaywrightTimeout:
                print("the model view never marked data-drawn: this checkout predates the canvas thumbnails "
                      "(issue 14, item 3); nothing measured")
                return
            times, size = [], 0
            for salt in range(args.repeats):
                page.fill("#mv-text", text_of(args.tokens, salt))
                page.evaluate("() => document.querySelectorAll('[data-drawn]').forEach((e) => e.removeAttribute('data-drawn'))")
                with page.expect_response(lambda r: r.url.endswith("/api/attention")) as resp:
                    ms = page.evaluate("""(heads) => new Promise((resolve) => {
                        const t0 = performance.now();
                        const done = () => document.querySelector(`[data-drawn="${heads}"]`);
                        new MutationObserver((_, obs) => {
                            if (done()) { obs.disconnect(); resolve(performance.now() - t0); }
                        }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ["data-drawn"] });
                        document.querySelector("#mv-form button[type=submit]").click();
                    })""", HEADS)
                size = len(resp.value.body())
                times.append(ms)
            print(f"press -> all {HEADS} heads drawn: median {statistics.median(times):.0f} ms "
                  f"({', '.join(f'{t:.0f}' for t in times)}); request bytes {size:,}; target <= 1500 ms")
            browser.close()


if __name__ == "__main__":
    main()
