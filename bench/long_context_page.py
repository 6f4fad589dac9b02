"""The Long context view in headless Chromium (1366 × 768): a long run's overview, then wheel zoom to the exact level.

Used by ``bench/long_context.py`` against its own server. Two timings, both taken inside the page:

* the first overview: from the moment the page receives the stream's final ``{"trace": ...}`` line (a wrapper
  of ``window.fetch`` passes the /api/long/stream body through and notes when that line's newline arrives) to
  the first paint of the heatmap (target ≤ 1 s). The view's canvas gets ``data-drawn`` on every draw ("1":
  every tile of the level it shows is drawn, "0": some are still loading) and ``data-z`` (the level); the
  minimap gets ``data-drawn="1"`` once the z = 0 overview tile is drawn. Both the first draw that shows the
  overview tile and the first complete draw are reported;
* each wheel step that needs tiles not yet loaded (its first draw is ``data-drawn="0"``): from the wheel event
  to the draw with ``data-drawn="1"`` (target ≤ 150 ms); the median and the max over the steps.

A "paint" is the draw plus one frame: the time is taken at the next animation frame after the draw (as
bench/first_paint.py does). Before zooming the bench waits (bounded) for the layer × head thumbnails, whose
z = 0 tiles would otherwise share the page's six tile requests with the zoom's.
"""

from __future__ import annotations

import json
import statistics

from bench._server import CHROMIUM_ARGS

VIEWPORT = {"width": 1366, "height": 768}
WHEEL = -240  # one wheel step: the view zooms by exp(240 × 0.0025) ≈ 1.8×

# Installed before the page's own scripts: the hooks the timings read (window.__lc).
HOOKS = """(() => {
  const lc = window.__lc = { traceAt: null, draws: [], wheels: [] };
  const orig = window.fetch;
  window.fetch = async function (input, init) {
    const res = await orig.apply(this, arguments);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.includes("/api/long/stream") || !res.ok || !res.body) return res;
    const dec = new TextDecoder();
    let head = "";  // the first characters of the line being received
    const tap = new TransformStream({
      transform(chunk, ctl) {
        const text = dec.decode(chunk, { stream: true });
        for (let i = 0; ;) {
          const nl = text.indexOf("\\n", i), part = nl < 0 ? text.slice(i) : text.slice(i, nl);
          if (head.length < 12) head += part.slice(0, 12 - head.length);
          if (nl < 0) break;
          if (head.trimStart().startsWith('{"trace"')) lc.traceAt = performance.now();
          head = "";
          i = nl + 1;
        }
        ctl.enqueue(chunk);
      },
      flush() { if (lc.traceAt === null && head.trimStart().startsWith('{"trace"')) lc.traceAt = performance.now(); },
    });
    return new Response(res.body.pipeThrough(tap),
      { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id !== "lc-canvas") continue;
      const c = r.target, d = { t: performance.now(), drawn: c.dataset.drawn, z: Number(c.dataset.z),
        heat: document.getElementById("lc-minimap")?.dataset.drawn === "1" };
      lc.draws.push(d);
      requestAnimationFrame(() => { d.painted = performance.now(); });  // the frame after the draw
    }
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-drawn"] });
  window.addEventListener("wheel", () => lc.wheels.push(performance.now()), { capture: true, passive: true });
})();"""

# After wheel event nw: a draw (from draw nd on) with every tile of its level, one frame later.
STEP_PAINTED = """([nw, nd]) => { const lc = window.__lc;
  return lc.wheels.length > nw
    && lc.draws.slice(nd).some((d) => d.t >= lc.wheels[nw] && d.drawn === "1" && d.painted !== undefined); }"""


def measure(base: str, model: str, text: str, run_timeout_s: float) -> dict:
    """Open /?view=long, paste ``text``, press Run, time the overview, then wheel in step by step to the exact level.

    Every wait has a timeout; the browser is closed whatever happens. Returns the timings (ms) and what was seen.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=120_000)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(60_000)
            page.add_init_script(HOOKS)
            page.goto(f"{base}/?view=long&model={model}", timeout=120_000)
            page.wait_for_function("m => document.querySelector('#lc-model').value === m", arg=model,
                                   timeout=120_000)
            page.fill("#lc-text", text)
            page.click("#lc-run")
            page.wait_for_function("() => window.__lc.traceAt !== null || ['failed', 'cancelled']"
                                   ".includes(document.getElementById('lc-progress').dataset.state)",
                                   timeout=run_timeout_s * 1000, polling=100)
            if page.evaluate("window.__lc.traceAt") is None:
                raise RuntimeError(f"the page's run failed: {page.text_content('#lc-error')}")
            page.wait_for_function("() => window.__lc.draws.some((d) => d.t >= window.__lc.traceAt && d.drawn === '1' "
                                   "&& d.painted !== undefined)", timeout=60_000, polling=50)
            lc = page.evaluate("window.__lc")
            after = [d for d in lc["draws"] if d["t"] >= lc["traceAt"] and d.get("painted") is not None]
            first = next(d for d in after if d["heat"])
            complete = next(d for d in after if d["drawn"] == "1")
            header = page.evaluate("() => JSON.parse(sessionStorage.getItem('attnscope.long.header'))")
            L, H, Z, T = header["layers"], header["heads"], header["zoom_levels"], len(header["tokens"])
            out = {"tokens": T, "levels": Z, "overview_first_ms": first["painted"] - lc["traceAt"],
                   "overview_ms": complete["painted"] - lc["traceAt"], "overview_z": complete["z"]}

            try:  # the thumbnails' z = 0 tiles: let them finish so that the zoom's tiles do not queue behind them
                page.wait_for_selector(f"#lc-thumbs[data-drawn='{L * (H + 1)}']", state="attached", timeout=180_000)
                out["thumbs_done"] = True
            except PlaywrightTimeout:
                out["thumbs_done"] = False
            page.evaluate("() => document.querySelector('.lc-explore').scrollIntoView()")
            page.wait_for_timeout(300)
            box = page.locator("#lc-canvas").bounding_box()
            g = json.loads(page.get_attribute("#lc-canvas", "data-geometry"))
            q, k = 0.7 * T, 0.3 * T  # below the diagonal: weights, not a decoder's masked half
            page.mouse.move(box["x"] + g["px0"] + (k - g["k0"]) * g["s"], box["y"] + g["mt"] + (q - g["q0"]) * g["s"])
            page.wait_for_timeout(200)
            steps = []
            for _ in range(24):
                z0 = int(page.get_attribute("#lc-canvas", "data-z"))
                if z0 == Z - 1:
                    break
                nw, nd = page.evaluate("[window.__lc.wheels.length, window.__lc.draws.length]")
                page.mouse.wheel(0, WHEEL)
                page.wait_for_function(STEP_PAINTED, arg=[nw, nd], timeout=60_000, polling=20)
                lc = page.evaluate("window.__lc")
                t0 = lc["wheels"][nw]
                draws = [d for d in lc["draws"][nd:] if d["t"] >= t0 and d.get("painted") is not None]
                done = next(d for d in draws if d["drawn"] == "1")
                steps.append({"from_z": z0, "to_z": done["z"], "needed": draws[0]["drawn"] == "0",
                              "ms": done["painted"] - t0})
                page.wait_for_timeout(250)  # settle: the next step starts from a quiet page
            out["steps"] = steps
            out["finest"] = int(page.get_attribute("#lc-canvas", "data-z")) == Z - 1
            return out
        finally:
            browser.close()


def report(r: dict) -> list[str]:
    """The bench's lines for the page timings (numbers with their targets)."""
    level = f"level {r['overview_z'] + 1} of {r['levels']}"
    lines = [f"  overview painted (page)  {r['overview_first_ms']:8.0f} ms from the trace line to the first heatmap "
             f"(complete at {level}: {r['overview_ms']:.0f} ms) (target <= 1000 ms)"]
    tiles = [s["ms"] for s in r["steps"] if s["needed"]]
    n = len(r["steps"])
    of = f"of {n} to level {r['levels']}" if r["finest"] else f"of {n}, the exact level not reached"
    of += "" if r["thumbs_done"] else "; thumbnails still loading"
    if tiles:
        lines.append(f"  new tile on zoom (page)  {statistics.median(tiles):8.0f} ms median of {len(tiles)} wheel "
                     f"steps needing tiles ({of}), max {max(tiles):.0f} ms (target <= 150 ms)")
    else:
        lines.append(f"  new tile on zoom (page)  {'n/a':>8}    no wheel step needed a tile ({of})")
    return lines
