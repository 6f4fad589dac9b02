"""Presentation mode (`p`) as a layout, in real headless Chromium: every view, after its figure is drawn.

For each view: draw its figure, press `p`, let the layout settle, then measure. No figure has zero size,
no two text boxes overlap (tick labels, axis titles, annotations, figure titles and cell texts inside each
Plotly figure; chips, headings and captions in the view), no figure overlaps another or a caption, the nav
is one row, the main figure starts above the fold, chips are visible; `p` again leaves the figures drawn.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECTOR = {"width": 1366, "height": 768}
FULL_HD = {"width": 1920, "height": 1080}
SENTENCE = "The animal didn't cross the street because it was too tired"

# What the page measures: the visible view's figures, the text boxes inside each Plotly figure (as the
# rotated quadrilaterals they are on screen, from getBBox and getScreenCTM), the view's own labels, the nav.
MEASURE = r"""(mainSel) => {
  const section = document.querySelector("main > section[data-view]:not([hidden])");
  const shown = (el) => {
    if (!el.isConnected) return false;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || +cs.opacity === 0) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0.5 && r.height > 0.5 && !el.closest("[hidden]");
  };
  const rect = (el) => { const r = el.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; };
  const quad = (t) => {  // the four screen corners of an SVG text's box (rotated labels stay rotated)
    const b = t.getBBox(), m = t.getScreenCTM();
    if (!m || b.width === 0 || b.height === 0) return null;
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const boxQuad = (r) => [[r.x, r.y], [r.x + r.w, r.y], [r.x + r.w, r.y + r.h], [r.x, r.y + r.h]];
  // the depth two convex quads overlap by (separating axes); <= 0 when they are apart
  const depth = (a, b) => {
    let best = Infinity;
    for (const poly of [a, b]) {
      for (let i = 0; i < 4; i++) {
        const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
        let nx = y1 - y2, ny = x2 - x1; const len = Math.hypot(nx, ny) || 1; nx /= len; ny /= len;
        const pa = a.map(([x, y]) => x * nx + y * ny), pb = b.map(([x, y]) => x * nx + y * ny);
        const o = Math.min(Math.max(...pa), Math.max(...pb)) - Math.max(Math.min(...pa), Math.min(...pb));
        best = Math.min(best, o);
      }
    }
    return best;
  };
  const label = (el) => `${el.id ? "#" + el.id : el.className?.baseVal ?? el.className} “${(el.textContent || "").trim().slice(0, 30)}”`;
  // labels the layout places (not a scatter's point labels: where the points fall is the data's doing)
  const TEXT = ".xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .annotation-text, .gtitle, "
    + ".barlayer .textpoint text, .hm text, .colorbar .cbaxis text, .cbtitle text, .legendtext";
  const out = { figures: [], overlaps: [], outside: [], navTops: [], header: rect(document.querySelector("header.top")),
    view: section?.dataset.view, scrollW: document.documentElement.scrollWidth, innerW: innerWidth, innerH: innerHeight };
  if (!section) return out;
  const plots = [...section.querySelectorAll(".js-plotly-plot")].filter(shown);
  const canvases = [...section.querySelectorAll("canvas")].filter((c) => shown(c) && c.closest(".js-plotly-plot") === null);
  const boxes = [];  // [name, quad, element] of whole figures, to check against each other and the labels
  for (const p of plots) {
    const svg = p.querySelector(".main-svg");
    const r = rect(p), s = svg ? rect(svg) : r;
    out.figures.push({ name: label(p), kind: "plotly", x: r.x, y: r.y, w: r.w, h: r.h, svgW: s.w, svgH: s.h,
      fits: Math.abs(s.w - r.w) <= 2 && Math.abs(s.h - r.h) <= 2 });
    boxes.push([label(p), boxQuad({ x: Math.min(r.x, s.x), y: Math.min(r.y, s.y),
      w: Math.max(r.x + r.w, s.x + s.w) - Math.min(r.x, s.x), h: Math.max(r.y + r.h, s.y + s.h) - Math.min(r.y, s.y) }), p]);
    const texts = [...p.querySelectorAll(TEXT)].filter((t) => shown(t) && (t.textContent || "").trim())
      .map((t) => [t, quad(t)]).filter(([, q]) => q);
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const d = depth(texts[i][1], texts[j][1]);
        if (d > 1) out.overlaps.push(`${label(p)}: ${label(texts[i][0])} × ${label(texts[j][0])} by ${d.toFixed(1)} px`);
      }
      const q = texts[i][1], xs = q.map((c) => c[0]), ys = q.map((c) => c[1]);
      const cut = Math.max(s.x - Math.min(...xs), Math.max(...xs) - s.x - s.w, s.y - Math.min(...ys), Math.max(...ys) - s.y - s.h);
      if (cut > 2) out.outside.push(`${label(p)}: ${label(texts[i][0])} is cut by the figure's edge by ${cut.toFixed(1)} px`);
    }
  }
  for (const c of canvases) {
    const r = rect(c);
    out.figures.push({ name: label(c), kind: "canvas", x: r.x, y: r.y, w: r.w, h: r.h });
    if (!c.closest(".lc-mini, .at-foot")) boxes.push([label(c), boxQuad(r), c]);
  }
  // the view's own labels: chips, headings, captions, notes, against each other and against the figures
  const labels = [...section.querySelectorAll(".chips .chip, h3, h4, figcaption, .big-label, .steps-title, .hd-note, .gen-note")]
    .filter(shown).map((el) => [label(el), boxQuad(rect(el)), el]);
  const all = [...boxes, ...labels];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const [na, qa, ea] = all[i], [nb, qb, eb] = all[j];
      if (ea.contains(eb) || eb.contains(ea)) continue;
      const d = depth(qa, qb);
      if (d > 1) out.overlaps.push(`${na} × ${nb} by ${d.toFixed(1)} px`);
    }
  }
  out.navTops = [...document.querySelectorAll("header.top nav a")].map((a) => Math.round(a.getBoundingClientRect().top));
  const main = mainSel && section.querySelector(mainSel);
  out.main = main && shown(main) ? rect(main) : null;
  return out;
}"""

CHIPS = r"""(sel) => [...document.querySelectorAll(sel)].filter((el) => {
  const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && cs.display !== "none" && cs.visibility !== "hidden";
}).length"""


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


def _goto(page, query: str, ready: str, timeout: int = 90_000) -> None:
    page.goto(page.base + "/?" + query)
    page.wait_for_function(ready, timeout=timeout)


def draw_generate(page) -> None:
    wait_loaded(page.base, "smollm2")
    _goto(page, "view=generate&model=smollm2", "() => document.querySelector('#gen-model').value === 'smollm2'")
    page.fill("#gen-text", "The animal didn't cross the street because")
    page.fill("#gen-max", "4")
    page.click("#gen-run")
    page.wait_for_function("() => document.querySelectorAll('#gen-tokens .chip').length >= 4 && !document.querySelector('#gen-run').disabled"
                           " && document.getElementById('gen-causal').data", timeout=120_000)


def draw_long(page) -> None:
    _goto(page, "view=long&model=minilm", "() => document.querySelector('#lc-model').value === 'minilm'")
    text = "\n\n".join(f"Paragraph {p}: the lighthouse keeper counted {p + 3} prisms and wound the clock again." for p in range(4))
    page.fill("#lc-text", text)
    page.click("#lc-run")
    page.wait_for_selector("#lc-progress[data-state=done]", state="attached", timeout=180_000)
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    page.wait_for_function("() => document.getElementById('lc-passages-fig').data", timeout=30_000)


def draw_atlas(page) -> None:
    _goto(page, "view=atlas", "() => document.querySelector('#at-model option[value=minilm]')")
    page.select_option("#at-model", "minilm")
    page.fill("#at-prompts", "2")
    page.fill("#at-length", "4")
    page.click("#at-run")
    page.wait_for_function("() => window.__atlasCurrent && new URLSearchParams(location.search).get('atlas')"
                           " && window.__atlasCurrent.job === new URLSearchParams(location.search).get('atlas')", timeout=120_000)
    page.wait_for_selector("#at-grid[data-cell]", state="attached")


def text_url(view: str, model: str = "minilm", text: str = SENTENCE, **extra) -> str:
    q = f"view={view}&model={model}&text={quote(text)}"
    return q + "".join(f"&{k}={v}" for k, v in extra.items())


# view: (how to draw its figure, the main figure's selector, the chips it shows)
VIEWS = {
    "attention": (lambda p: _goto(p, text_url("attention", layer=3, head=0),
                                  "() => document.getElementById('heatmap').data && document.getElementById('heads').data"),
                  "#heatmap", ["#examples .chip"]),
    "attention-cross": (lambda p: _goto(p, text_url("attention", "textbook", "je suis étudiant", block="cross", layer=1, head="mean"),
                                        "() => document.querySelector('#heatmap .gtitle')?.textContent.includes('cross')"),
                        "#heatmap", ["#examples .chip"]),
    "steps": (lambda p: _goto(p, text_url("steps", layer=2, head=5, query=3, step=4),
                              "() => document.querySelectorAll('#steps-fig-a .main-svg').length > 0"),
              "#steps-fig-a", ["#steps-list .chip"]),
    "model": (lambda p: _goto(p, text_url("model"), "() => document.querySelector('#mv-fig[data-drawn=\"72\"]')"),
              "#mv-fig", []),
    "heads": (lambda p: _goto(p, text_url("heads"), "() => document.querySelector('#hd-lines svg line') && document.getElementById('hd-mean').data"),
              "#hd-lines", [".hd-jump .chip"]),
    "compare": (lambda p: _goto(p, "view=compare&model=minilm", "() => document.querySelector('#cmp-diff .nsewdrag') && document.getElementById('cmp-a').data"),
                "#cmp-a", []),
    "patterns": (lambda p: _goto(p, "view=patterns&pattern=local&window=1&layer=1&head=2",
                                 "() => document.querySelector('#pat-status').textContent.includes('pairs kept')"),
                 "#pat-mask", []),
    "generate": (draw_generate, "#gen-cands", ["#gen-tokens .chip", "#gen-examples .chip"]),
    "playground": (lambda p: _goto(p, "view=playground&preset=thinking_machines",
                                   "() => document.querySelector('#pg-chain').textContent.includes('softmax') && document.getElementById('pg-fig-weights')?.data"),
                   "#pg-figs .js-plotly-plot", ["#pg-presets .chip"]),
    "positions": (lambda p: _goto(p, "view=positions", "() => document.getElementById('pos-heatmap')?.data?.length === 1"),
                  "#pos-heatmap", ["#pos-presets .chip"]),
    "embeddings": (lambda p: _goto(p, "view=embeddings&model=minilm", "() => document.getElementById('emb-onehot')?.data && document.getElementById('emb-sim-chart')?.data"),
                   "#emb-onehot", ["#emb-examples .chip"]),
    "scale": (lambda p: _goto(p, "view=scale", "() => document.getElementById('scale-growth')?.data"), "#scale-growth", ["#scale-presets .chip"]),
    "long": (draw_long, "#lc-canvas", []),
    "atlas": (draw_atlas, "#at-grid", []),
}


def settle(page, on: bool) -> None:
    """Wait for presentation mode to be `on` and the page's relayout (two frames, then Plotly's resizes) to finish."""
    page.wait_for_function("on => document.body.classList.contains('presenting') === on && document.body.dataset.layout === 'done'",
                           arg=on, timeout=10_000)
    page.wait_for_timeout(700)  # views redraw on the `presentation` event; canvases repaint on the next frame


def measure(page, main: str | None) -> dict:
    return page.evaluate(MEASURE, main)


def assert_figures_drawn(m: dict) -> None:
    """Every figure has a size, and every Plotly figure fills its box (refitted to the new layout)."""
    assert m["figures"], f"{m['view']}: no figure is drawn"
    flat = [f for f in m["figures"] if f["w"] < 2 or f["h"] < 2 or f.get("svgH", 10) < 2 or f.get("svgW", 10) < 2]
    assert not flat, f"{m['view']}: figures with zero size: {flat}"
    unfit = [f for f in m["figures"] if f.get("fits") is False]
    assert not unfit, f"{m['view']}: figures not fitted to their box: {unfit}"


def check_layout(page, view: str, main: str, chips: list[str], viewport: dict) -> dict:
    m = measure(page, main)
    assert_figures_drawn(m)
    assert not m["overlaps"], f"{view}: overlapping text boxes:\n" + "\n".join(m["overlaps"][:40])
    assert not m["outside"], f"{view}: text cut by a figure's edge:\n" + "\n".join(m["outside"][:40])
    assert len(set(m["navTops"])) == 1, f"{view}: the nav takes more than one row: {sorted(set(m['navTops']))}"
    assert m["header"]["h"] < 80, f"{view}: the top bar is {m['header']['h']} px high"
    assert m["scrollW"] <= m["innerW"] + 1, f"{view}: the page scrolls sideways ({m['scrollW']} > {m['innerW']})"
    assert m["main"], f"{view}: the main figure {main} is not shown"
    assert m["main"]["y"] < viewport["height"] - 100, f"{view}: the main figure starts at {m['main']['y']} px"
    for sel in chips:
        assert page.evaluate(CHIPS, sel) > 0, f"{view}: {sel} are hidden"
    return m


@pytest.mark.parametrize("view", list(VIEWS))
def test_presentation_layout(page, view):
    draw, main, chips = VIEWS[view]
    page.set_viewport_size(PROJECTOR)
    draw(page)
    page.wait_for_timeout(300)
    page.locator("header .brand").click()  # focus out of the inputs: `p` is a page key
    page.keyboard.press("p")
    settle(page, True)
    m = check_layout(page, view, main, chips, PROJECTOR)
    if view in ("attention-cross", "attention", "steps", "patterns", "compare"):  # these fit: bottom on screen too
        assert m["main"]["y"] + m["main"]["h"] <= PROJECTOR["height"], f"{view}: the main figure ends at {m['main']}"
    shot(page, f"present_{view}_1366.png")
    page.keyboard.press("p")
    settle(page, False)
    assert_figures_drawn(measure(page, main))
    assert not page.errors, page.errors


@pytest.mark.parametrize("view", ["attention", "steps"])
def test_presentation_layout_full_hd(page, view):
    draw, main, chips = VIEWS[view]
    page.set_viewport_size(FULL_HD)
    draw(page)
    page.locator("header .brand").click()
    page.keyboard.press("p")
    settle(page, True)
    m = check_layout(page, view, main, chips, FULL_HD)
    assert m["main"]["y"] + m["main"]["h"] <= FULL_HD["height"], f"{view}: the main figure ends at {m['main']}"
    shot(page, f"present_{view}_1920.png")
    assert not page.errors, page.errors


def test_cross_attention_cells_are_readable(page):
    """The 5 × 3 'je suis étudiant' cross-attention: rows of at least 28 px, labels apart, in presentation mode."""
    draw, main, _ = VIEWS["attention-cross"]
    page.set_viewport_size(PROJECTOR)
    draw(page)
    page.locator("header .brand").click()
    page.keyboard.press("p")
    settle(page, True)
    ys = page.evaluate("() => [...document.querySelectorAll('#heatmap .ytick text')].map(t => t.getBoundingClientRect().top)")
    assert len(ys) >= 3
    gaps = [b - a for a, b in zip(sorted(ys), sorted(ys)[1:])]
    assert min(gaps) >= 28, gaps


def test_controls_toggle_keeps_controls_reachable(page):
    """In presentation mode the bulky controls fold away behind the top bar's Controls button (and `c`)."""
    draw, main, _ = VIEWS["playground"]
    page.set_viewport_size(PROJECTOR)
    draw(page)
    page.locator("header .brand").click()
    page.keyboard.press("p")
    settle(page, True)
    assert page.is_visible("#present-controls")
    assert not page.is_visible("#pg-matrices")
    page.click("#present-controls")
    page.wait_for_function("() => document.body.classList.contains('show-controls')")
    assert page.is_visible("#pg-matrices")
    assert page.get_attribute("#present-controls", "aria-expanded") == "true"
    page.locator("header .brand").click()
    page.keyboard.press("c")
    page.wait_for_function("() => !document.body.classList.contains('show-controls')")
    assert not page.is_visible("#pg-matrices")
    page.keyboard.press("p")
    settle(page, False)
    assert not page.is_visible("#present-controls") and page.is_visible("#pg-matrices")
    assert not page.errors, page.errors
