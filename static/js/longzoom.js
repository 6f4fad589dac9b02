// The pieces of the long view's deep-zoom heatmap that the page (views/long_zoom.js, its tiles fetched by views/long_tiles.js)
// and the notebook (notebook_long.js: tiles embedded in the output) share: u8 tiles with a scale, the square-root viridis
// scale of heatmap.js, the first-token sink strip on its own scale, a decoder's causal mask in grey, legends, axes,
// thumbnails, and pan / zoom. `attnscope` inlines this file between heatmap.js and notebook_long.js in one classic
// script (attnscope._html.js_bundle): its top-level names must not clash with theirs.
// Every text (tokens are user text) is drawn with fillText or set as textContent, never as HTML.
import { LUT, level } from "./heatmap.js";

export const SIDE = 256; // cells per tile side (the API's `tile`)
export const GREY = [214, 217, 224]; // key cell 0 in the main heatmap (drawn in the sink strip instead), and masked cells
export const MASK = `rgb(${GREY.join(",")})`;
export const ORANGE = "#f59e0b";
export const short = (t, n = 11) => { const s = String(t).replace(/\n/g, "↵"); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
export const clampInt = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
export const fmt = (v) => (!(v > 0) ? "0" : v >= 0.095 ? v.toFixed(2) : v >= 0.0095 ? v.toFixed(3) : v.toPrecision(2));

/** The value of cell i of tile t (a weight, or a block's sum for sum pooling): u8 `bytes` with a `scale`, or `values`. */
export const raw = (t, i) => (t.bytes ? (t.bytes[i] * t.scale) / 255 : t.values[i]);
/** What the colour shows: the weight (max), or the sum per query row of the cell (sum), comparable across levels. */
export const val = (t, i) => raw(t, i) * t.norm;

/** The colour ranges of a z = 0 tile: `sink` is the largest value of key cell 0; `main` the 99.5th percentile of the
 *  other (non-zero) cells, so that a decoder's first queries, which see only a token or two, or one peak do not set
 *  the scale for everything else (brighter cells show at the top colour; `peak` > `main` says some are clamped). */
export function ranges(t) {
  const [R, C] = t.shape, rest = new Float32Array(R * C);
  let n = 0, sink = 0, peak = 0;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const v = val(t, i * C + j);
      if (j === 0 && C > 1) sink = Math.max(sink, v);
      else if (v > 0) { rest[n++] = v; peak = Math.max(peak, v); }
    }
  }
  const sorted = rest.subarray(0, n).sort();
  return { main: (n ? sorted[Math.floor(0.995 * (n - 1))] : 0) || 1, sink: sink || 1, peak };
}

/** Paint tile t into `canvas` (one pixel a cell): all of it, or only column `col` (the sink strip); key cell 0 grey. */
export function paintTile(canvas, t, vmax, { col = -1, grey = false } = {}) {
  const [R, C] = t.shape, w = col >= 0 ? 1 : C;
  canvas.width = w;
  canvas.height = R;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, R), px = img.data;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < w; j++) {
      const o = 4 * (i * w + j);
      px[o + 3] = 255;
      if (grey && j === 0) { px[o] = GREY[0]; px[o + 1] = GREY[1]; px[o + 2] = GREY[2]; continue; }
      const k = level(val(t, i * C + (col >= 0 ? col : j)), vmax) * 3;
      px[o] = LUT[k]; px[o + 1] = LUT[k + 1]; px[o + 2] = LUT[k + 2];
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Tile t painted once per (name, vmax) and kept on the tile. */
export function cached(t, name, vmax, opts) {
  const key = `${name}|${vmax}`;
  t.canvases ||= {};
  t.canvases[key] ||= paintTile(document.createElement("canvas"), t, vmax, opts);
  return t.canvases[key];
}

/** A vertical colour bar of the square-root scale with value labels. */
export function legend(ctx, x, y, h, vmax, title, fs, colour, clamped = false) {
  for (let i = 0; i < h; i++) {
    const k = Math.round(255 * (1 - i / Math.max(1, h - 1))) * 3;
    ctx.fillStyle = `rgb(${LUT[k]},${LUT[k + 1]},${LUT[k + 2]})`;
    ctx.fillRect(x, y + i, 14, 1);
  }
  ctx.fillStyle = colour;
  ctx.font = `600 ${fs}px sans-serif`;
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  ctx.fillText(title, x - 2, y - Math.round(fs * 0.6));
  ctx.font = `${fs}px sans-serif`;
  ctx.textBaseline = "middle";
  const marks = h > 140 ? [1, 0.5, 0.25, 0] : [1, 0];
  for (const f of marks) ctx.fillText((f === 1 && clamped ? "≥ " : "") + fmt(vmax * f * f), x + 19, y + (1 - f) * h); // level f: vmax · f²
}

/** Tile t max-pooled to at most `n` cells a side (a thumbnail needs no more pixels than it shows); u8 stays u8. */
export function shrink(t, n) {
  const [R, C] = t.shape, f = Math.ceil(Math.max(R, C) / Math.max(8, n));
  if (f <= 1) return t;
  const r = Math.ceil(R / f), c = Math.ceil(C / f), src = t.bytes || t.values;
  const out = t.bytes ? new Uint8Array(r * c) : new Float32Array(r * c);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) { const o = Math.floor(i / f) * c + Math.floor(j / f); out[o] = Math.max(out[o], src[i * C + j]); }
  }
  return t.bytes ? { shape: [r, c], bytes: out, scale: t.scale, norm: t.norm } : { shape: [r, c], values: out, norm: t.norm };
}

/** Dashed lines at the passage starts, over the visible matrix [mx0, mx1] x [my0, my1]. */
export function passageLines(ctx, passages, X, Y, mx0, mx1, my0, my1) {
  ctx.strokeStyle = "rgba(255,255,255,.6)";
  ctx.lineWidth = 1;
  ctx.setLineDash([5, 4]);
  ctx.beginPath();
  for (const p of passages) {
    if (!p.start) continue;
    ctx.moveTo(X(p.start), my0); ctx.lineTo(X(p.start), my1);
    ctx.moveTo(mx0, Y(p.start)); ctx.lineTo(mx1, Y(p.start));
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

/** The axes of the visible range `vis` ({k0, q0, k1, q1, s, cell}): token labels when a cell is at least `labelAt`
 *  CSS pixels (`rowChars` / `colChars` characters), else numbered ticks and the passage starts; `pad` from the edges. */
export function drawAxes(ctx, g, X, Y, colour, vis, { T, tokens, special, passages, pad, labelAt, rowChars, colChars }) {
  const { k0, q0, k1, q1, s, cell } = vis;
  ctx.fillStyle = colour;
  ctx.font = `600 ${g.fs}px sans-serif`;
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText("keys →", g.px0, pad);
  ctx.textBaseline = "bottom";
  ctx.fillText("queries ↓", pad, g.mt - 6);
  ctx.save(); // the strip's name, bottom to top
  ctx.translate(g.ml + g.sw / 2 + g.ls / 2.6, g.mt - 6);
  ctx.rotate(-Math.PI / 2);
  ctx.font = `${g.ls}px sans-serif`;
  ctx.fillText(g.phone ? "sink" : cell === 1 ? "sink: key 0" : `sink: keys 0–${cell - 1}`, 0, 0);
  ctx.restore();
  const labels = s >= labelAt;
  ctx.font = `${labels ? g.ls : g.fs}px sans-serif`;
  if (labels) { // one token a row and a column: their text
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let q = Math.max(0, Math.ceil(q0 - 0.5)); q < Math.min(T, Math.floor(q1 - 0.5) + 1); q++) { // centre in view
      ctx.fillStyle = special[q] ? "#8a8f98" : colour;
      ctx.fillText(short(tokens[q], g.phone ? 6 : rowChars), g.ml - 5, Y(q + 0.5));
    }
    ctx.textAlign = "left";
    for (let k = Math.max(0, Math.ceil(k0 - 0.5)); k < Math.min(T, Math.floor(k1 - 0.5) + 1); k++) {
      ctx.save(); ctx.translate(X(k + 0.5), g.mt - 5); ctx.rotate(-Math.PI / 4);
      ctx.fillStyle = special[k] ? "#8a8f98" : colour; ctx.fillText(short(tokens[k], g.phone ? 6 : colChars), 0, 0); ctx.restore();
    }
    return;
  }
  const want = g.phone ? 56 : 80, unit = want / s, mag = 10 ** Math.floor(Math.log10(unit));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= unit);
  ctx.strokeStyle = colour; ctx.lineWidth = 1;
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  for (let k = Math.ceil(Math.max(0, k0) / step) * step; k <= Math.min(T, k1); k += step) {
    ctx.fillText(String(k), X(k), g.mt - 9);
    ctx.beginPath(); ctx.moveTo(X(k), g.mt - 6); ctx.lineTo(X(k), g.mt); ctx.stroke();
  }
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let q = Math.ceil(Math.max(0, q0) / step) * step; q <= Math.min(T, q1); q += step) {
    ctx.fillText(String(q), g.ml - 8, Y(q));
    ctx.beginPath(); ctx.moveTo(g.ml - 5, Y(q)); ctx.lineTo(g.ml, Y(q)); ctx.stroke();
  }
  if (g.phone) return;
  ctx.textAlign = "left"; ctx.font = `600 ${g.ls}px sans-serif`; ctx.fillStyle = "#b45309"; // passage starts
  for (const p of passages) if (p.start >= q0 && p.start < q1) ctx.fillText(`P${p.index + 1}`, pad, Y(p.start) + g.ls / 2);
}

/** Put the hover tip beside CSS point (x, y), on the left when it would leave a plot `W` wide. */
export function placeTip(tip, x, y, W) {
  tip.hidden = false;
  const left = x + 14 + tip.offsetWidth > W ? x - 14 - tip.offsetWidth : x + 14;
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${y + 14}px`;
}

/** Pointer capture that tolerates a synthetic pointer. */
export const capture = (el, e) => { try { el.setPointerCapture(e.pointerId); } catch { /* a synthetic pointer */ } };

/** What both deep-zoom heatmaps do alike: the view {cx, cy, zoom} over a T x T matrix drawn `this.g.s0` CSS pixels
 *  a token at zoom 1, redrawn by `draw()` once a frame; pan, zoom, the causal mask, the wheel and the minimap.
 *  A subclass sets T, Z, canvas, minimap, view, g (its layout: px0, mt, pw, ph, s0) and vis (what `draw` showed). */
export class ZoomBase {
  schedule() { if (!this.raf) this.raf = requestAnimationFrame(() => this.draw()); }

  s() { return this.g.s0 * this.view.zoom; }

  fit() { this.view = { cx: 0, cy: 0, zoom: 1 }; this.schedule(); }

  /** The coarsest level whose cells are at least one device pixel (finer would only cost bytes). */
  finest() {
    const k = Math.max(0, Math.ceil(Math.log2(1 / (this.s() * (globalThis.devicePixelRatio || 1))) - 1e-9));
    return Math.max(0, this.Z - 1 - k);
  }

  /** Keep the zoom within [1, maxZoom()] and the matrix in view. */
  clamp() {
    const { pw, ph } = this.g, T = this.T, v = this.view;
    v.zoom = Math.min(this.maxZoom(), Math.max(1, v.zoom || 1));
    const s = this.s(), fitc = (c, span) => (span >= T ? span / 2 : Math.min(T - span / 2, Math.max(span / 2, c)));
    v.cx = fitc(v.cx, pw / s);
    v.cy = fitc(v.cy, ph / s);
  }

  local(e) { const b = this.canvas.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; }

  /** Zoom by factor f keeping the token under CSS point (x, y) (default: the plot's centre) where it is. */
  zoomAt(f, x, y) {
    if (!this.g || !this.vis) return;
    const g = this.g, s = this.s();
    if (x === undefined || x < g.px0 || x > g.px0 + g.pw) x = g.px0 + g.pw / 2;
    if (y === undefined || y < g.mt || y > g.mt + g.ph) y = g.mt + g.ph / 2;
    const k = this.vis.k0 + (x - g.px0) / s, q = this.vis.q0 + (y - g.mt) / s;
    this.view.zoom = Math.min(this.maxZoom(), Math.max(1, this.view.zoom * f));
    const s2 = this.s();
    this.view.cx = k - (x - g.px0) / s2 + g.pw / (2 * s2);
    this.view.cy = q - (y - g.mt) / s2 + g.ph / (2 * s2);
    this.clamp();
    this.vis = { ...this.vis, k0: this.view.cx - g.pw / (2 * s2), q0: this.view.cy - g.ph / (2 * s2), s: s2 };
    this.schedule();
  }

  /** Pan by (dx, dy) CSS pixels. */
  pan(dx, dy) {
    if (!this.g) return;
    this.view.cx -= dx / this.s();
    this.view.cy -= dy / this.s();
    this.schedule();
  }

  /** Grey over the keys after each query (a decoder's causal mask): one staircase path, a triangle zoomed out. */
  mask(ctx, X, Y) {
    const { q0, q1, s } = this.vis, T = this.T;
    ctx.fillStyle = MASK;
    ctx.beginPath();
    if (s < 2) {
      ctx.moveTo(X(1), Y(0)); ctx.lineTo(X(T), Y(0)); ctx.lineTo(X(T), Y(T - 1));
    } else {
      const a = Math.max(0, Math.floor(q0)), b = Math.min(T, Math.ceil(q1));
      ctx.moveTo(X(T), Y(a));
      for (let q = a; q < b; q++) { ctx.lineTo(X(q + 1), Y(q)); ctx.lineTo(X(q + 1), Y(q + 1)); }
      ctx.lineTo(X(T), Y(b));
    }
    ctx.closePath();
    ctx.fill();
  }

  /** The wheel zooms at the pointer; pressing or dragging on the minimap centres the view there. */
  listenWheelAndMinimap() {
    const c = this.canvas, m = this.minimap;
    c.addEventListener("wheel", (e) => {
      if (!this.vis) return;
      e.preventDefault();
      const d = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
      this.zoomAt(Math.exp(-clampInt(d, -300, 300) * 0.0025), ...this.local(e));
    }, { passive: false });
    const centre = (e) => {
      if (!this.vis || !this.g) return;
      const b = m.getBoundingClientRect(), f = this.T / b.width;
      this.view.cx = (e.clientX - b.left) * f;
      this.view.cy = (e.clientY - b.top) * f;
      this.schedule();
    };
    m.addEventListener("pointerdown", (e) => { capture(m, e); this.dragMini = e.pointerId; centre(e); });
    m.addEventListener("pointermove", (e) => { if (this.dragMini === e.pointerId) centre(e); });
    for (const ev of ["pointerup", "pointercancel"]) m.addEventListener(ev, () => { this.dragMini = null; });
  }
}
