// The notebook long view's data and heatmap: the embedded arrays decoded (base64, deflated) into u8 tiles, and the
// deep-zoom canvas of one head over the embedded levels (the others' thumbnails stand in for theirs). The code is
// the page's (views/long_zoom.js) where they share longzoom.js; no server, no fetch, no network.
// `attnscope` inlines heatmap.js, longzoom.js, this file and notebook_long.js in one classic script element
// (attnscope._html.js_bundle: `export` keywords and these imports stripped): its top-level names start with `long`
// or `Long`, so none clashes with theirs. Every text (tokens are user text) is drawn with fillText, never as HTML.

import { LUT } from "./heatmap.js";
import {
  MASK, ORANGE, SIDE, ZoomBase, cached, capture, clampInt, drawAxes, fmt, legend, passageLines, placeTip, ranges, raw, short,
} from "./longzoom.js";

/** The bytes of an embedded array ({b64, deflate}): base64, zlib-deflated when `deflate` is set. */
export async function longBytes(a) {
  const bin = atob(a.b64);
  let bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  if (a.deflate) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return bytes;
}

/** An element with text (as textContent) and inline style. */
export function longNode(tag, text, style = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  Object.assign(e.style, style);
  return e;
}

/** Decode the embedded arrays: thumbnails (every layer x head at z = 0) and the selected head's levels. */
export async function longDecode(data) {
  const { T, L, H } = data, th = data.thumbs, side = th.side;
  const tb = await longBytes(th.data);
  const thumb = [];
  for (let l = 0; l < L; l++) {
    thumb.push([]);
    for (let h = 0; h <= H; h++) {
      const o = (l * (H + 1) + h) * side * side, n = Math.ceil(T / th.cell);
      const bytes = new Uint8Array(n * n); // the pooled overview is n x n (side x side at most)
      for (let i = 0; i < n; i++) bytes.set(tb.subarray(o + i * side, o + i * side + n), i * n);
      thumb[l].push({ rows: [0, T], cols: [0, T], shape: [n, n], bytes, scale: th.scales[l][h], norm: 1 });
    }
  }
  const levels = {};
  for (const reduce of ["max", "sum"]) {
    levels[reduce] = [];
    for (const lv of data.levels[reduce] || []) {
      const b = await longBytes(lv.data), tiles = new Map();
      for (const t of lv.tiles) {
        tiles.set(`${t.x}|${t.y}`, { ...t, bytes: b.subarray(t.offset, t.offset + t.shape[0] * t.shape[1]),
          norm: reduce === "sum" ? 1 / lv.cell : 1 });
      }
      levels[reduce].push({ z: lv.z, cell: lv.cell, n: lv.n, tiles });
    }
  }
  const pm = await longBytes(data.passage_mass);
  const mass = new Float32Array(pm.buffer, pm.byteOffset, pm.length / 4);
  return { thumb, levels, mass };
}

/** The deep-zoom heatmap of one head, over the embedded levels. */
export class LongZoom extends ZoomBase {
  constructor(root, data, dec, { canvas, tip, minimap, onView }) {
    super();
    Object.assign(this, { root, data, dec, canvas, tip, minimap, onView, T: data.T, Z: data.Z });
    this.view = { cx: 0, cy: 0, zoom: 1 };
    this.pointers = new Map();
    this.colour = getComputedStyle(root).color || "#1d2330";
    this.listen();
    new ResizeObserver(() => this.schedule()).observe(canvas.parentElement);
  }

  /** The levels of head (l, h) for reduce: the selected head has the embedded ones, the others their thumbnail. */
  levelsOf(l, h, reduce) {
    const d = this.data;
    if (l === d.layer && h === d.headIndex) return this.dec.levels[reduce];
    if (reduce !== "max") return [];
    return [{ z: 0, cell: d.thumbs.cell, n: 1, tiles: new Map([["0|0", this.dec.thumb[l][h]]]) }];
  }

  setHead(l, h, reduce) {
    const lv = this.levelsOf(l, h, reduce);
    this.head = { l, h, reduce, levels: lv, range: ranges(lv[0].tiles.get("0|0")) };
    this.schedule();
  }

  maxZoom() { return Math.max(1, 40 / this.g.s0); }

  layout() {
    const W = Math.floor(this.canvas.parentElement.clientWidth) || 720;
    const phone = W < 560, fs = phone ? 11 : 13, ls = phone ? 10 : 12;
    const ml = phone ? 64 : clampInt(Math.round(W * 0.11), 64, 120), sw = phone ? 12 : 18;
    const px0 = ml + sw + (phone ? 5 : 9), lw = phone ? 82 : 92, mt = phone ? 62 : 84, pw = Math.max(120, W - px0 - lw);
    const ph = clampInt(pw, 240, 620), H = mt + ph + 8;
    return { W, H, phone, fs, ls, ml, sw, mt, lw, px0, pw, ph, s0: Math.min(pw, ph) / this.T };
  }

  draw() {
    this.raf = 0;
    if (!this.head) return;
    const g = this.g = this.layout();
    this.clamp();
    const dpr = globalThis.devicePixelRatio || 1, cv = this.canvas, T = this.T, v = this.view, s = this.s();
    if (cv.width !== Math.round(g.W * dpr) || cv.height !== Math.round(g.H * dpr)) {
      cv.width = Math.round(g.W * dpr); cv.height = Math.round(g.H * dpr);
      cv.style.width = `${g.W}px`; cv.style.height = `${g.H}px`;
    }
    const ctx = cv.getContext("2d"), colour = this.colour, { levels, range: rg, reduce, l } = this.head;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.W, g.H);
    const want = this.finest(), lv = levels[Math.min(levels.length - 1, want - levels[0].z)] || levels[0];
    const cell = lv.cell, span = SIDE * cell, n = lv.n;
    const k0 = v.cx - g.pw / (2 * s), q0 = v.cy - g.ph / (2 * s);
    this.vis = { k0, q0, k1: k0 + g.pw / s, q1: q0 + g.ph / s, s, z: lv.z, cell, lv, want };
    const X = (k) => g.px0 + (k - k0) * s, Y = (q) => g.mt + (q - q0) * s;
    const mx0 = Math.max(g.px0, X(0)), mx1 = Math.min(g.px0 + g.pw, X(T));
    const my0 = Math.max(g.mt, Y(0)), my1 = Math.min(g.mt + g.ph, Y(T));
    const tx0 = clampInt(Math.floor(Math.max(0, k0) / span), 0, n - 1), tx1 = clampInt(Math.floor((Math.min(T, this.vis.k1) - 1e-6) / span), 0, n - 1);
    const ty0 = clampInt(Math.floor(Math.max(0, q0) / span), 0, n - 1), ty1 = clampInt(Math.floor((Math.min(T, this.vis.q1) - 1e-6) / span), 0, n - 1);
    const put = (t, sink) => {
      const x = sink ? g.ml : X(t.cols[0]), y = Y(t.rows[0]), h = t.shape[0] * cell * s, w = sink ? g.sw : t.shape[1] * cell * s;
      ctx.drawImage(sink ? cached(t, "sink", rg.sink, { col: 0 }) : cached(t, "main", rg.main, { grey: t.cols[0] === 0 }), x, y, w, h);
    };
    ctx.save();
    ctx.beginPath(); ctx.rect(mx0, my0, mx1 - mx0, my1 - my0); ctx.clip();
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = `rgb(${LUT[0]},${LUT[1]},${LUT[2]})`; // tiles left out are zero (a decoder's are under its mask)
    ctx.fillRect(mx0, my0, mx1 - mx0, my1 - my0);
    for (let ty = ty0; ty <= ty1; ty++) {
      for (let tx = tx0; tx <= tx1; tx++) { const t = lv.tiles.get(`${tx}|${ty}`); if (t) put(t, false); }
    }
    if (this.data.causal[l]) this.mask(ctx, X, Y);
    passageLines(ctx, this.data.passages, X, Y, mx0, mx1, my0, my1);
    ctx.restore();
    ctx.save(); // the sink strip: key cell 0 of every visible row, on its own scale
    ctx.beginPath(); ctx.rect(g.ml, my0, g.sw, my1 - my0); ctx.clip();
    ctx.imageSmoothingEnabled = false;
    for (let ty = ty0; ty <= ty1; ty++) { const t = lv.tiles.get(`0|${ty}`); if (t) put(t, true); }
    ctx.restore();
    const lx = Math.min(g.px0 + g.pw, X(T)) + 16; // beside the matrix while it is narrower than the plot
    legend(ctx, lx, g.mt + 24, Math.round(g.ph * 0.52) - 24, rg.main, reduce === "sum" ? "per query" : "weight", g.fs, colour, rg.peak > rg.main);
    legend(ctx, lx, g.mt + Math.round(g.ph * 0.64), Math.round(g.ph * 0.22), rg.sink, "sink", g.fs, colour);
    if (this.data.causal[l]) {
      ctx.fillStyle = MASK; ctx.fillRect(lx, g.mt + g.ph - 16, 14, 14);
      ctx.fillStyle = colour; ctx.textBaseline = "middle"; ctx.fillText("masked", lx + 19, g.mt + g.ph - 9);
    }
    this.axes(ctx, g, X, Y, colour);
    Object.assign(cv.dataset, { z: String(lv.z), cell: String(cell), wanted: String(want) });
    cv.dataset.geometry = JSON.stringify({ k0, q0, s, px0: g.px0, mt: g.mt, pw: g.pw, ph: g.ph });
    this.drawMinimap();
    if (!this.tip.hidden && this.mouse) this.hover(...this.mouse);
    this.root.dataset.drawn = "1";
    this.onView?.(this.vis);
  }

  axes(ctx, g, X, Y, colour) {
    const d = this.data;
    drawAxes(ctx, g, X, Y, colour, this.vis, { T: this.T, tokens: d.tokens, special: d.special, passages: d.passages,
      pad: 2, labelAt: 16, rowChars: 12, colChars: 10 });
  }

  drawMinimap() {
    const m = this.minimap, size = 170, dpr = globalThis.devicePixelRatio || 1, T = this.T;
    m.width = Math.round(size * dpr); m.height = Math.round(size * dpr);
    m.style.width = m.style.height = `${size}px`;
    const ctx = m.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    const lv0 = this.head.levels[0], t = lv0.tiles.get("0|0"), f = size / T;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cached(t, "main", this.head.range.main, { grey: true }), 0, 0, t.shape[1] * lv0.cell * f, t.shape[0] * lv0.cell * f);
    if (this.data.causal[this.head.l]) { ctx.fillStyle = MASK; ctx.beginPath(); ctx.moveTo(f, 0); ctx.lineTo(size, 0); ctx.lineTo(size, size - f); ctx.fill(); }
    const { k0, q0, k1, q1 } = this.vis;
    const x0 = Math.max(0, k0) * f, y0 = Math.max(0, q0) * f;
    ctx.strokeStyle = ORANGE; ctx.lineWidth = 2.5;
    ctx.strokeRect(x0, y0, Math.max(4, Math.min(T, k1) * f - x0), Math.max(4, Math.min(T, q1) * f - y0));
  }

  /** (query, key) under CSS point (x, y): key 0 over the sink strip; null outside the matrix. */
  at(x, y) {
    const g = this.g, v = this.vis;
    if (!g || !v || y < g.mt || y > g.mt + g.ph) return null;
    const q = Math.floor(v.q0 + (y - g.mt) / v.s);
    if (q < 0 || q >= this.T) return null;
    if (x >= g.px0 && x <= g.px0 + g.pw) {
      const k = Math.floor(v.k0 + (x - g.px0) / v.s);
      return k >= 0 && k < this.T ? { q, k } : null;
    }
    return x >= g.ml && x < g.ml + g.sw ? { q, k: 0 } : null;
  }

  /** The embedded value of (query, key) at the drawn level: {value, cell, q0, k0} (value 0 in a left-out tile). */
  valueAt(q, k) {
    const { cell, lv } = this.vis, i = Math.floor(q / cell), j = Math.floor(k / cell);
    const t = lv.tiles.get(`${Math.floor(j / SIDE)}|${Math.floor(i / SIDE)}`);
    return { value: t ? raw(t, (i % SIDE) * t.shape[1] + (j % SIDE)) : 0, cell, q0: i * cell, k0: j * cell };
  }

  hover(x, y) {
    const hit = this.at(x, y), tip = this.tip;
    if (!hit) { tip.hidden = true; return; }
    const toks = this.data.tokens, tok = (i) => `“${short(toks[i], 18)}”`;
    const { value, cell, q0, k0 } = this.valueAt(hit.q, hit.k), red = this.head.reduce;
    const masked = this.data.causal[this.head.l] && k0 > hit.q;
    tip.textContent = masked ? `query ${hit.q} ${tok(hit.q)} → key ${hit.k}: masked (a key after the query)`
      : cell === 1 ? `query ${hit.q} ${tok(hit.q)} → key ${hit.k} ${tok(hit.k)}\nweight ${fmt(value)} (to 1/510 of its tile's max)`
        : `queries ${q0}–${Math.min(this.T, q0 + cell) - 1} → keys ${k0}–${Math.min(this.T, k0 + cell) - 1}\n`
          + `${red} of the ${cell}×${cell} block: ${fmt(value)}${red === "sum" ? ` (${fmt(value / cell)} a query)` : ""}`;
    placeTip(tip, x, y, this.g.W);
  }

  listen() {
    const c = this.canvas;
    this.listenWheelAndMinimap();
    c.addEventListener("pointerdown", (e) => {
      capture(c, e);
      const [x, y] = this.local(e);
      this.pointers.set(e.pointerId, { x, y });
      this.tip.hidden = true;
    });
    c.addEventListener("pointermove", (e) => {
      const [x, y] = this.local(e), p = this.pointers.get(e.pointerId);
      this.mouse = [x, y];
      if (!p) { this.hover(x, y); return; }
      if (this.pointers.size === 1) this.pan(x - p.x, y - p.y);
      else if (this.pointers.size === 2) { // a pinch
        const [a, b] = [...this.pointers.values()], other = a === p ? b : a;
        const before = Math.hypot(p.x - other.x, p.y - other.y), after = Math.hypot(x - other.x, y - other.y);
        if (before > 0) this.zoomAt(after / before, (x + other.x) / 2, (y + other.y) / 2);
      }
      Object.assign(p, { x, y });
    });
    const up = (e) => { this.pointers.delete(e.pointerId); };
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", () => { this.tip.hidden = true; });
    c.addEventListener("dblclick", () => this.fit());
  }
}
