"""Benchmark: bytes and time to first paint of the attention view in headless Chromium.

For MiniLM at 32, 128, 256 and 512 tokens: the bytes of the page's one-layer (u8) request, the bytes
the same attention costs as plain nested JSON lists of all layers (what bertviz sends), and the
time from pressing "Show attention" to the heatmap painted (timed in the page; targets: <= 200 ms at
32 tokens, <= 800 ms at 512); then a cold load: a first visit with an empty cache to a 32-token link, from
navigation start to the heatmap painted (target <= 1.2 s). Starts its own server on 127.0.0.1.

Run: ``.venv/bin/python bench/first_paint.py``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import httpx
from _server import CHROMIUM_ARGS as ARGS, serving
from playwright.sync_api import sync_playwright

WORDS = "students watched the attention heads move across a very long sentence about rivers and banks".split()


def text_of(n_tokens: int, base: str, salt: int) -> str:
    """About ``n_tokens`` MiniLM tokens (each word here is one token; 2 specials)."""
    words = [f"{WORDS[(i + salt) % len(WORDS)]}" for i in range(n_tokens - 2)]
    return " ".join(words)


def main() -> None:
    with serving() as (base, _server):
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; Chromium headless")
        print(f"{'tokens':>6} {'page layer bytes':>16} {'nested JSON all layers':>22} {'ratio':>7} {'first paint ms':>14}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/?view=attention&model=minilm&text=hello")
            page.wait_for_selector("#heatmap .xtick text", timeout=120_000)
            for n in (32, 128, 256, 512):
                times, f16_bytes = [], 0
                for salt in range(3):
                    text = text_of(n, "", salt)
                    page.fill("#text", text)
                    with page.expect_response(lambda r: r.url.endswith("/api/attention")) as resp:
                        # timed inside the page: the press, the model run, the decode, the heatmap
                        # drawn and one frame presented (the page's "attention:painted" event)
                        ms = page.evaluate("""() => new Promise((resolve) => {
                            const t0 = performance.now();
                            document.addEventListener("attention:painted",
                                () => resolve(performance.now() - t0), { once: true });
                            document.querySelector("button[type=submit]").click();
                        })""")
                    f16_bytes = len(resp.value.body())
                    times.append(ms)
                nested = len(httpx.post(base + "/api/attention", json={"model": "minilm", "text": text},
                                        timeout=300).content)
                print(f"{n:>6} {f16_bytes:>16,} {nested:>22,} {nested / f16_bytes:>7.0f} {statistics.median(times):>14.0f}")
            cold_load(browser, base)
            browser.close()


def cold_load(browser, base: str, trials: int = 5) -> None:
    """A first visit: a new browser context (empty cache) opening a 32-token sentence's link, from navigation
    start to the heatmap painted (target <= 1.2 s), and the bytes the page fetched (scripts gzipped)."""
    times, wire = [], []
    for salt in range(trials):
        ctx = browser.new_context(viewport={"width": 1366, "height": 768})
        ctx.add_init_script("""document.addEventListener("attention:painted",
            () => { window.__painted = performance.now(); }, { once: true });""")
        page = ctx.new_page()
        got = []
        page.on("response", lambda r: got.append(int(r.headers.get("content-length") or 0)))
        text = text_of(32, "", 100 + salt)
        page.goto(base + "/?view=attention&model=minilm&layer=0&head=0&text=" + text.replace(" ", "+"))
        page.wait_for_function("() => window.__painted !== undefined", timeout=60_000)
        times.append(page.evaluate("window.__painted"))
        wire.append(sum(got))
        ctx.close()
    print(f"cold load (new context, no cache) to first heatmap, 32 tokens: median {statistics.median(times):.0f} ms "
          f"over {trials} (min {min(times):.0f}, max {max(times):.0f}); target <= 1200 ms; "
          f"~{statistics.median(wire) / 1e6:.2f} MB over the wire (content-length of compressed answers)")


if __name__ == "__main__":
    main()
