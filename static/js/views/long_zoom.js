// The long view's deep-zoom heatmap: the trace's tiles (long_tiles.js) painted on a canvas with the viridis
// square-root scale of heatmap.js, a coarser level standing in while a finer one loads; the minimap (the z = 0 tile),
// the first-token sink strip (key cell 0, with its own colour scale), axes, legends, hover and click.
// Every text (tokens are user text) is drawn with fillText or set as textContent, never as HTML.
import {
  MASK, ORANGE, SIDE, ZoomBase, cached, capture, clampInt, drawAxes, fmt, legend, passageLines, placeTip, ranges, raw, short,
} from "../longzoom.js";
import { fontColor } from "../plot.js";

/** The deep-zoom heatmap. onPick(query, key | null) on a click; onView({cx, cy, zoom, z}) after each draw. */
export class DeepZoom extends ZoomBase {
  constructor({ canvas, tip, minimap, onPick, onView }) {
    super();
    Object.assign(this, { canvas, tip, minimap, onPick, onView, trace: null, head: null, sel: null, g: null, vis: null });
    this.view = { cx: 0, cy: 0, zoom: 1 };
    this.pointers = new Map();
    this.wanted = new Set();
    this.listen();
    new ResizeObserver(() => this.schedule()).observe(canvas.parentElement);
  }

  /** A new trace; `causal`: a decoder, whose keys after the query are masked (drawn grey, not as weight 0). */
  open(trace, loader, causal = false) {
    Object.assign(this, { trace, loader, causal, T: trace.tokens.length, Z: trace.zoom_levels, scales: new Map(), sel: null });
    this.canvas.dataset.drawn = "0";
  }

  setHead(layer, head, reduce) { this.head = { layer, head, reduce }; this.canvas.dataset.drawn = "0"; this.schedule(); }

  select(q, k) { this.sel = q === null ? null : { q, k }; this.schedule(); }

  cell(z) { return 2 ** (this.Z - 1 - z); }

  maxZoom() { return Math.max(1, (this.g.big ? 56 : 40) / this.g.s0); }

  /** The coarsest level whose cells are at least one device pixel (finer would only cost bytes). */
  level() { return this.finest(); }

  /** Set the view: {cx, cy, zoom} or {z} (the least zoom that shows level z); absent fields keep theirs. */
  setView({ cx, cy, zoom, z }) {
    if (Number.isFinite(cx)) this.view.cx = cx;
    if (Number.isFinite(cy)) this.view.cy = cy;
    if (Number.isFinite(zoom)) this.view.zoom = zoom;
    else if (Number.isFinite(z)) this.pendingZ = z; // needs the layout's fit scale: applied at the next draw
    this.schedule();
  }

  layout() {
    const W = Math.floor(this.canvas.parentElement.clientWidth);
    if (!W || !this.trace) return null;
    const big = document.body.classList.contains("presenting"), phone = W < 560, T = this.T;
    const fs = big ? 20 : phone ? 12 : 15, ls = big ? 19 : phone ? 11 : 14;
    const ml = phone ? 58 : Math.round(Math.min(150, W * 0.12)) + (big ? 40 : 0);
    const sw = phone ? 14 : 22, mt = phone ? 70 : big ? 124 : 100, lw = phone ? 84 : big ? 118 : 96;
    const px0 = ml + sw + (phone ? 6 : 12), pw = W - px0 - lw;
    const H = Math.round(phone ? mt + Math.max(240, pw) + 8 : Math.max(340, Math.min(780, innerHeight - 150))), ph = H - mt - 8;
    return { W, H, big, phone, fs, ls, ml, sw, mt, lw, px0, pw, ph, s0: Math.min(pw, ph) / T };
  }

  clamp() {
    const v = this.view;
    if (this.pendingZ !== undefined) { // the smallest zoom at which level() is pendingZ
      const z = clampInt(this.pendingZ, 0, this.Z - 1);
      v.zoom = z === 0 ? 1 : 1 / (this.cell(z) * (globalThis.devicePixelRatio || 1) * this.g.s0) + 1e-6;
      delete this.pendingZ;
    }
    super.clamp();
  }

  /** The drawn range of the current head and reduce (null until its z = 0 tile is here: it is asked for). */
  range() {
    const { layer, head, reduce } = this.head, key = `${layer}|${head}|${reduce}`;
    if (this.scales.has(key)) return this.scales.get(key);
    const t = this.loader.get({ layer, head, reduce, z: 0, x: 0, y: 0 });
    if (!t) {
      this.loader.want({ layer, head, reduce, z: 0, x: 0, y: 0 }, { urgent: true }).then(() => this.schedule(), () => {});
      return null;
    }
    const r = { ...ranges(t), overview: t };
    this.scales.set(key, r);
    if (this.scales.size > 24) this.scales.delete(this.scales.keys().next().value); // they hold their overviews
    return r;
  }

  /** The loaded tile covering tile (tx, ty) of level z, from z or the nearest coarser level: [tile, level]. */
  cover(p, z, tx, ty) {
    const span = SIDE * this.cell(z);
    for (let zz = z; zz >= 0; zz--) {
      const sp = SIDE * this.cell(zz), t = this.loader.get({ ...p, z: zz, x: Math.floor((tx * span) / sp), y: Math.floor((ty * span) / sp) });
      if (t) return [t, zz];
    }
    return [null, 0];
  }

  draw() {
    this.raf = 0;
    if (!this.trace || !this.head || this.loader.closed) return;
    const g = this.layout();
    if (!g) return;
    this.g = g;
    this.clamp();
    const dpr = globalThis.devicePixelRatio || 1, cv = this.canvas, T = this.T, v = this.view, s = this.s();
    if (cv.width !== Math.round(g.W * dpr) || cv.height !== Math.round(g.H * dpr)) {
      cv.width = Math.round(g.W * dpr); cv.height = Math.round(g.H * dpr);
      cv.style.width = `${g.W}px`; cv.style.height = `${g.H}px`;
    }
    const ctx = cv.getContext("2d"), colour = fontColor();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = getComputedStyle(document.body).getPropertyValue("--panel").trim() || "#fff";
    ctx.fillRect(0, 0, g.W, g.H);
    const z = this.level(), cell = this.cell(z), span = SIDE * cell, n = Math.ceil(T / span);
    const k0 = v.cx - g.pw / (2 * s), q0 = v.cy - g.ph / (2 * s);
    this.vis = { k0, q0, k1: k0 + g.pw / s, q1: q0 + g.ph / s, s, z, cell };
    const X = (k) => g.px0 + (k - k0) * s, Y = (q) => g.mt + (q - q0) * s;
    const mx0 = Math.max(g.px0, X(0)), mx1 = Math.min(g.px0 + g.pw, X(T));
    const my0 = Math.max(g.mt, Y(0)), my1 = Math.min(g.mt + g.ph, Y(T));
    const rg = this.range();
    let complete = Boolean(rg);
    this.wanted = new Set();
    if (rg) {
      const { layer, head, reduce } = this.head, p = { layer, head, reduce };
      const tx0 = clampInt(Math.floor(Math.max(0, k0) / span), 0, n - 1), tx1 = clampInt(Math.floor((Math.min(T, this.vis.k1) - 1e-6) / span), 0, n - 1);
      const ty0 = clampInt(Math.floor(Math.max(0, q0) / span), 0, n - 1), ty1 = clampInt(Math.floor((Math.min(T, this.vis.q1) - 1e-6) / span), 0, n - 1);
      const fetchIt = (x, y) => {
        const q = { ...p, z, x, y }, k = this.loader.key(q);
        complete = false;
        this.wanted.add(k);
        this.loader.want(q, { urgent: true, still: () => this.wanted.has(k) }).then(() => this.schedule(), () => {});
      };
      const put = (t, zz, sink) => {
        const c = this.cell(zz), x = sink ? g.ml : X(t.cols[0]), y = Y(t.rows[0]), h = t.shape[0] * c * s;
        const w = sink ? g.sw : t.shape[1] * c * s;
        ctx.drawImage(sink ? cached(t, "sink", rg.sink, { col: 0 }) : cached(t, "main", rg.main, { grey: t.cols[0] === 0 }), x, y, w, h);
      };
      ctx.save();
      ctx.beginPath(); ctx.rect(mx0, my0, mx1 - mx0, my1 - my0); ctx.clip();
      ctx.imageSmoothingEnabled = false;
      const done = [], drawnBack = new Set();
      for (let ty = ty0; ty <= ty1; ty++) {
        for (let tx = tx0; tx <= tx1; tx++) {
          const [t, zz] = this.cover(p, z, tx, ty);
          if (zz === z && t) { done.push(t); continue; }
          fetchIt(tx, ty);
          if (t && !drawnBack.has(t)) { drawnBack.add(t); put(t, zz, false); } // a coarser level while it loads
        }
      }
      for (const t of done) put(t, z, false);
      if (this.causal) this.mask(ctx, X, Y);
      this.overlays(ctx, g, X, Y, mx0, mx1, my0, my1);
      ctx.restore();
      ctx.save(); // the sink strip: key cell 0 of every visible row, on its own scale
      ctx.beginPath(); ctx.rect(g.ml, my0, g.sw, my1 - my0); ctx.clip();
      ctx.imageSmoothingEnabled = false;
      for (let ty = ty0; ty <= ty1; ty++) {
        const [t, zz] = this.cover(p, z, 0, ty);
        if (zz !== z || !t) fetchIt(0, ty);
        if (t) put(t, zz, true);
      }
      if (this.sel) { ctx.strokeStyle = ORANGE; ctx.lineWidth = 2; ctx.strokeRect(g.ml + 1, Y(this.sel.q), g.sw - 2, Math.max(2, s)); }
      ctx.restore();
      const lx = Math.min(g.px0 + g.pw, X(T)) + 18; // beside the matrix while it is narrower than the plot
      legend(ctx, lx, g.mt + 24, Math.round(g.ph * 0.52) - 24, rg.main, reduce === "sum" ? "per query" : "weight", g.fs, colour, rg.peak > rg.main);
      if (g.ph * 0.12 > 2.6 * g.fs) { ctx.font = `${g.ls}px sans-serif`; ctx.fillText("√ scale", lx - 2, g.mt + Math.round(g.ph * 0.52) + g.fs); }
      legend(ctx, lx, g.mt + Math.round(g.ph * 0.64), Math.round(g.ph * 0.26), rg.sink, "sink", g.fs, colour);
      if (this.causal) {
        ctx.fillStyle = MASK; ctx.fillRect(lx, g.mt + g.ph - 16, 14, 14);
        ctx.fillStyle = colour; ctx.textBaseline = "middle"; ctx.fillText("masked", lx + 19, g.mt + g.ph - 9);
      }
    } else {
      ctx.fillStyle = colour; ctx.font = `${g.fs}px sans-serif`; ctx.fillText("loading the overview…", g.px0 + 10, g.mt + 24);
    }
    this.axes(ctx, g, X, Y, colour);
    cv.dataset.drawn = complete ? "1" : "0";
    cv.dataset.z = String(z);
    cv.dataset.cell = String(cell);
    cv.dataset.geometry = JSON.stringify({ k0, q0, s, px0: g.px0, mt: g.mt, pw: g.pw, ph: g.ph }); // where the cells are
    this.drawMinimap(rg);
    if (!this.tip.hidden && this.mouse) this.hover(...this.mouse); // after a wheel zoom: what is under the pointer now
    this.onView?.({ ...this.view, z, cell, complete });
  }

  overlays(ctx, g, X, Y, mx0, mx1, my0, my1) {
    passageLines(ctx, this.trace.passages, X, Y, mx0, mx1, my0, my1);
    if (!this.sel) return;
    const { q, k } = this.sel, s = this.vis.s;
    ctx.strokeStyle = ORANGE;
    ctx.lineWidth = 2;
    ctx.strokeRect(mx0, Y(q) - 1, mx1 - mx0, Math.max(2, s) + 2);
    if (k !== null) ctx.strokeRect(X(k) - 2, Y(q) - 2, Math.max(2, s) + 4, Math.max(2, s) + 4);
  }

  axes(ctx, g, X, Y, colour) {
    const tr = this.trace;
    drawAxes(ctx, g, X, Y, colour, this.vis, { T: this.T, tokens: tr.tokens, special: tr.special, passages: tr.passages,
      pad: 4, labelAt: g.big ? 21 : 16, rowChars: 14, colChars: 11 });
  }

  drawMinimap(rg) {
    const m = this.minimap, size = Math.max(120, Math.min(240, m.parentElement.clientWidth || 200));
    const dpr = globalThis.devicePixelRatio || 1, T = this.T;
    m.width = Math.round(size * dpr); m.height = Math.round(size * dpr);
    m.style.width = m.style.height = `${size}px`;
    const ctx = m.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    if (!rg) return;
    const t = rg.overview, c0 = this.cell(0), f = size / T;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cached(t, "main", rg.main, { grey: true }), 0, 0, t.shape[1] * c0 * f, t.shape[0] * c0 * f);
    if (this.causal) { ctx.fillStyle = MASK; ctx.beginPath(); ctx.moveTo(f, 0); ctx.lineTo(size, 0); ctx.lineTo(size, size - f); ctx.fill(); }
    const { k0, q0, k1, q1 } = this.vis;
    const x0 = Math.max(0, k0) * f, y0 = Math.max(0, q0) * f;
    ctx.strokeStyle = ORANGE; ctx.lineWidth = 2.5;
    ctx.strokeRect(x0, y0, Math.max(4, Math.min(T, k1) * f - x0), Math.max(4, Math.min(T, q1) * f - y0));
    m.dataset.drawn = "1";
  }

  /** (query, key, area) under CSS point (x, y): area "plot", "sink" (key 0) or "rows" (a row label; key null). */
  at(x, y) {
    const g = this.g, v = this.vis;
    if (!g || !v || y < g.mt || y > g.mt + g.ph) return null;
    const q = Math.floor(v.q0 + (y - g.mt) / v.s);
    if (q < 0 || q >= this.T) return null;
    if (x >= g.px0 && x <= g.px0 + g.pw) {
      const k = Math.floor(v.k0 + (x - g.px0) / v.s);
      return k >= 0 && k < this.T ? { q, k, area: "plot" } : null;
    }
    if (x >= g.ml && x < g.ml + g.sw) return { q, k: 0, area: "sink" };
    return x < g.ml ? { q, k: null, area: "rows" } : null;
  }

  /** The drawn value of (query, key) at the current level: {value, cell, q0, k0} (value null while loading). */
  valueAt(q, k) {
    const { z, cell } = this.vis, i = Math.floor(q / cell), j = Math.floor(k / cell);
    const t = this.loader.get({ ...this.head, z, x: Math.floor(j / SIDE), y: Math.floor(i / SIDE) });
    return { value: t ? raw(t, (i % SIDE) * t.shape[1] + (j % SIDE)) : null, cell, q0: i * cell, k0: j * cell };
  }

  hover(x, y) {
    const hit = this.at(x, y), tip = this.tip;
    if (!hit) { tip.hidden = true; return; }
    const toks = this.trace.tokens, tok = (i) => `“${short(toks[i], 18)}”`;
    let text;
    if (hit.k === null) text = `query ${hit.q} ${tok(hit.q)}\nclick: its exact row over all ${this.T} keys`;
    else {
      const { value, cell, q0, k0 } = this.valueAt(hit.q, hit.k), w = value === null ? "loading…" : fmt(value);
      const red = this.head.reduce;
      text = cell === 1 ? `query ${hit.q} ${tok(hit.q)} → key ${hit.k} ${tok(hit.k)}\nweight ${w}`
        : `queries ${q0}–${Math.min(this.T, q0 + cell) - 1} → keys ${k0}–${Math.min(this.T, k0 + cell) - 1}\n`
          + `${red} of the ${cell}×${cell} block: ${w}${red === "sum" && value !== null ? ` (${fmt(value / cell)} a query)` : ""}`;
      text += `\nclick: the exact row of query ${hit.q}`;
    }
    tip.textContent = text;
    placeTip(tip, x, y, this.g.W);
  }

  listen() {
    const c = this.canvas;
    this.listenWheelAndMinimap();
    c.addEventListener("pointerdown", (e) => {
      capture(c, e);
      const [x, y] = this.local(e);
      this.pointers.set(e.pointerId, { x, y });
      if (this.pointers.size === 1) this.press = { x, y, moved: false };
      else if (this.press) this.press.moved = true; // two fingers: a pinch, not a click
      this.tip.hidden = true;
    });
    c.addEventListener("pointermove", (e) => {
      const [x, y] = this.local(e), p = this.pointers.get(e.pointerId);
      this.mouse = [x, y];
      if (!p) { this.hover(x, y); return; }
      if (this.pointers.size === 1) {
        if (Math.hypot(x - this.press.x, y - this.press.y) > 4) this.press.moved = true;
        if (this.press.moved) this.pan(x - p.x, y - p.y);
      } else if (this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()], other = a === p ? b : a;
        const before = Math.hypot(p.x - other.x, p.y - other.y), after = Math.hypot(x - other.x, y - other.y);
        if (before > 0) this.zoomAt(after / before, (x + other.x) / 2, (y + other.y) / 2);
      }
      Object.assign(p, { x, y });
    });
    const up = (e) => {
      if (!this.pointers.delete(e.pointerId)) return;
      if (e.type === "pointerup" && this.pointers.size === 0 && this.press && !this.press.moved) {
        const hit = this.at(...this.local(e));
        if (hit) this.onPick?.(hit.q, hit.k);
      }
      if (this.pointers.size === 0) this.press = null;
    };
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", () => { this.tip.hidden = true; });
  }
}
