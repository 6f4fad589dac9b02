// The notebook's long-context view (attnscope.show(..., view="long")): a deep-zoom canvas heatmap of tiles that
// attnscope precomputed and embedded (no server, no fetch, no network). The ideas are the page's (views/long_tiles.js:
// u8 tiles with a scale, the square-root viridis scale, the first-token sink strip on its own scale, a decoder's causal
// mask in grey, minimap, layer x head thumbnails); the code is its own because the page's modules import each other.
// `attnscope` inlines this file after heatmap.js (for LUT and level) in one classic script element, `export` keywords
// stripped: it must not import anything, and its top-level names must not clash with heatmap.js's.
// Every text (tokens and passage titles are user text) is drawn with fillText or set as textContent, never as HTML.

const LONG_SIDE = 256; // cells per tile side
const LONG_GREY = [214, 217, 224]; // key cell 0 in the main heatmap (drawn in the sink strip instead), masked cells
const LONG_MASK = `rgb(${LONG_GREY.join(",")})`;
const LONG_ORANGE = "#f59e0b";
const LONG_BLUE = "#2563eb";
const longShort = (t, n = 11) => { const s = String(t).replace(/\n/g, "↵"); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
const longClamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
export const longFmt = (v) => (!(v > 0) ? "0" : v >= 0.095 ? v.toFixed(2) : v >= 0.0095 ? v.toFixed(3) : v.toPrecision(2));

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

function longNode(tag, text, style = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  Object.assign(e.style, style);
  return e;
}

/** The embedded value of cell i of tile t (a weight, or a block's sum for sum pooling). */
export const longRaw = (t, i) => (t.bytes[i] * t.scale) / 255;
/** What the colour shows: the weight (max), or the sum per query row of the cell (sum), comparable across levels. */
const longVal = (t, i) => longRaw(t, i) * t.norm;

/** Colour ranges of a z = 0 tile: `sink` the largest value of key cell 0, `main` the 99.5th percentile of the other
 *  non-zero cells (a decoder's first queries, which see a token or two, do not set the scale); `peak` > `main`: clamped. */
export function longRanges(t) {
  const [R, C] = t.shape, rest = new Float32Array(R * C);
  let n = 0, sink = 0, peak = 0;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const v = longVal(t, i * C + j);
      if (j === 0 && C > 1) sink = Math.max(sink, v);
      else if (v > 0) { rest[n++] = v; peak = Math.max(peak, v); }
    }
  }
  const sorted = rest.subarray(0, n).sort();
  return { main: (n ? sorted[Math.floor(0.995 * (n - 1))] : 0) || 1, sink: sink || 1, peak };
}

/** Paint tile t into `canvas` (one pixel a cell): all of it, or only column `col` (the sink strip); key cell 0 grey. */
export function longPaint(canvas, t, vmax, { col = -1, grey = false } = {}) {
  const [R, C] = t.shape, w = col >= 0 ? 1 : C;
  canvas.width = w;
  canvas.height = R;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, R), px = img.data;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < w; j++) {
      const o = 4 * (i * w + j);
      px[o + 3] = 255;
      if (grey && j === 0) { px[o] = LONG_GREY[0]; px[o + 1] = LONG_GREY[1]; px[o + 2] = LONG_GREY[2]; continue; }
      const k = level(longVal(t, i * C + (col >= 0 ? col : j)), vmax) * 3;
      px[o] = LUT[k]; px[o + 1] = LUT[k + 1]; px[o + 2] = LUT[k + 2];
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function longCached(t, name, vmax, opts) {
  const key = `${name}|${vmax}`;
  t.canvases ||= {};
  t.canvases[key] ||= longPaint(document.createElement("canvas"), t, vmax, opts);
  return t.canvases[key];
}

/** A vertical colour bar of the square-root scale with value labels. */
function longLegend(ctx, x, y, h, vmax, title, fs, colour, clamped = false) {
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
  for (const f of marks) ctx.fillText((f === 1 && clamped ? "≥ " : "") + longFmt(vmax * f * f), x + 19, y + (1 - f) * h);
}

/** Decode the embedded arrays: thumbnails (every layer x head at z = 0) and the selected head's levels. */
async function longDecode(data) {
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
class LongZoom {
  constructor(root, data, dec, { canvas, tip, minimap, onView }) {
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
    this.head = { l, h, reduce, levels: lv, range: longRanges(lv[0].tiles.get("0|0")) };
    this.schedule();
  }

  schedule() { if (!this.raf) this.raf = requestAnimationFrame(() => this.draw()); }

  s() { return this.g.s0 * this.view.zoom; }

  maxZoom() { return Math.max(1, 40 / this.g.s0); }

  /** The trace level whose cells are at least one device pixel (what the server would send): z, before the cap. */
  wanted() {
    const k = Math.max(0, Math.ceil(Math.log2(1 / (this.s() * (globalThis.devicePixelRatio || 1))) - 1e-9));
    return Math.max(0, this.Z - 1 - k);
  }

  fit() { this.view = { cx: 0, cy: 0, zoom: 1 }; this.schedule(); }

  layout() {
    const W = Math.floor(this.canvas.parentElement.clientWidth) || 720;
    const phone = W < 560, fs = phone ? 11 : 13, ls = phone ? 10 : 12;
    const ml = phone ? 64 : longClamp(Math.round(W * 0.11), 64, 120), sw = phone ? 12 : 18;
    const px0 = ml + sw + (phone ? 5 : 9), lw = phone ? 82 : 92, mt = phone ? 62 : 84, pw = Math.max(120, W - px0 - lw);
    const ph = longClamp(pw, 240, 620), H = mt + ph + 8;
    return { W, H, phone, fs, ls, ml, sw, mt, lw, px0, pw, ph, s0: Math.min(pw, ph) / this.T };
  }

  clamp() {
    const { pw, ph } = this.g, T = this.T, v = this.view;
    v.zoom = Math.min(this.maxZoom(), Math.max(1, v.zoom || 1));
    const s = this.s(), fitc = (c, span) => (span >= T ? span / 2 : Math.min(T - span / 2, Math.max(span / 2, c)));
    v.cx = fitc(v.cx, pw / s);
    v.cy = fitc(v.cy, ph / s);
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
    const want = this.wanted(), lv = levels[Math.min(levels.length - 1, want - levels[0].z)] || levels[0];
    const cell = lv.cell, span = LONG_SIDE * cell, n = lv.n;
    const k0 = v.cx - g.pw / (2 * s), q0 = v.cy - g.ph / (2 * s);
    this.vis = { k0, q0, k1: k0 + g.pw / s, q1: q0 + g.ph / s, s, z: lv.z, cell, lv, want };
    const X = (k) => g.px0 + (k - k0) * s, Y = (q) => g.mt + (q - q0) * s;
    const mx0 = Math.max(g.px0, X(0)), mx1 = Math.min(g.px0 + g.pw, X(T));
    const my0 = Math.max(g.mt, Y(0)), my1 = Math.min(g.mt + g.ph, Y(T));
    const tx0 = longClamp(Math.floor(Math.max(0, k0) / span), 0, n - 1), tx1 = longClamp(Math.floor((Math.min(T, this.vis.k1) - 1e-6) / span), 0, n - 1);
    const ty0 = longClamp(Math.floor(Math.max(0, q0) / span), 0, n - 1), ty1 = longClamp(Math.floor((Math.min(T, this.vis.q1) - 1e-6) / span), 0, n - 1);
    const put = (t, sink) => {
      const x = sink ? g.ml : X(t.cols[0]), y = Y(t.rows[0]), h = t.shape[0] * cell * s, w = sink ? g.sw : t.shape[1] * cell * s;
      ctx.drawImage(sink ? longCached(t, "sink", rg.sink, { col: 0 }) : longCached(t, "main", rg.main, { grey: t.cols[0] === 0 }), x, y, w, h);
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
    this.passageLines(ctx, X, Y, mx0, mx1, my0, my1);
    ctx.restore();
    ctx.save(); // the sink strip: key cell 0 of every visible row, on its own scale
    ctx.beginPath(); ctx.rect(g.ml, my0, g.sw, my1 - my0); ctx.clip();
    ctx.imageSmoothingEnabled = false;
    for (let ty = ty0; ty <= ty1; ty++) { const t = lv.tiles.get(`0|${ty}`); if (t) put(t, true); }
    ctx.restore();
    const lx = Math.min(g.px0 + g.pw, X(T)) + 16; // beside the matrix while it is narrower than the plot
    longLegend(ctx, lx, g.mt + 24, Math.round(g.ph * 0.52) - 24, rg.main, reduce === "sum" ? "per query" : "weight", g.fs, colour, rg.peak > rg.main);
    longLegend(ctx, lx, g.mt + Math.round(g.ph * 0.64), Math.round(g.ph * 0.22), rg.sink, "sink", g.fs, colour);
    if (this.data.causal[l]) {
      ctx.fillStyle = LONG_MASK; ctx.fillRect(lx, g.mt + g.ph - 16, 14, 14);
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

  /** Grey over the keys after each query (a decoder's causal mask): one staircase path, a triangle zoomed out. */
  mask(ctx, X, Y) {
    const { q0, q1, s } = this.vis, T = this.T;
    ctx.fillStyle = LONG_MASK;
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

  passageLines(ctx, X, Y, mx0, mx1, my0, my1) {
    ctx.strokeStyle = "rgba(255,255,255,.6)";
    ctx.lineWidth = 1;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    for (const p of this.data.passages) {
      if (!p.start) continue;
      ctx.moveTo(X(p.start), my0); ctx.lineTo(X(p.start), my1);
      ctx.moveTo(mx0, Y(p.start)); ctx.lineTo(mx1, Y(p.start));
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  axes(ctx, g, X, Y, colour) {
    const { k0, q0, k1, q1, s, cell } = this.vis, T = this.T, toks = this.data.tokens, sp = this.data.special;
    ctx.fillStyle = colour;
    ctx.font = `600 ${g.fs}px sans-serif`;
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.fillText("keys →", g.px0, 2);
    ctx.textBaseline = "bottom";
    ctx.fillText("queries ↓", 2, g.mt - 6);
    ctx.save(); // the strip's name, bottom to top
    ctx.translate(g.ml + g.sw / 2 + g.ls / 2.6, g.mt - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.font = `${g.ls}px sans-serif`;
    ctx.fillText(g.phone ? "sink" : cell === 1 ? "sink: key 0" : `sink: keys 0–${cell - 1}`, 0, 0);
    ctx.restore();
    const labels = s >= 16;
    ctx.font = `${labels ? g.ls : g.fs}px sans-serif`;
    if (labels) { // one token a row and a column: their text
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (let q = Math.max(0, Math.ceil(q0 - 0.5)); q < Math.min(T, Math.floor(q1 - 0.5) + 1); q++) {
        ctx.fillStyle = sp[q] ? "#8a8f98" : colour;
        ctx.fillText(longShort(toks[q], g.phone ? 6 : 12), g.ml - 5, Y(q + 0.5));
      }
      ctx.textAlign = "left";
      for (let k = Math.max(0, Math.ceil(k0 - 0.5)); k < Math.min(T, Math.floor(k1 - 0.5) + 1); k++) {
        ctx.save(); ctx.translate(X(k + 0.5), g.mt - 5); ctx.rotate(-Math.PI / 4);
        ctx.fillStyle = sp[k] ? "#8a8f98" : colour; ctx.fillText(longShort(toks[k], g.phone ? 6 : 10), 0, 0); ctx.restore();
      }
      return;
    }
    const want = g.phone ? 56 : 80, raw = want / s, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw);
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
    for (const p of this.data.passages) if (p.start >= q0 && p.start < q1) ctx.fillText(`P${p.index + 1}`, 2, Y(p.start) + g.ls / 2);
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
    ctx.drawImage(longCached(t, "main", this.head.range.main, { grey: true }), 0, 0, t.shape[1] * lv0.cell * f, t.shape[0] * lv0.cell * f);
    if (this.data.causal[this.head.l]) { ctx.fillStyle = LONG_MASK; ctx.beginPath(); ctx.moveTo(f, 0); ctx.lineTo(size, 0); ctx.lineTo(size, size - f); ctx.fill(); }
    const { k0, q0, k1, q1 } = this.vis;
    const x0 = Math.max(0, k0) * f, y0 = Math.max(0, q0) * f;
    ctx.strokeStyle = LONG_ORANGE; ctx.lineWidth = 2.5;
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
    const t = lv.tiles.get(`${Math.floor(j / LONG_SIDE)}|${Math.floor(i / LONG_SIDE)}`);
    return { value: t ? longRaw(t, (i % LONG_SIDE) * t.shape[1] + (j % LONG_SIDE)) : 0, cell, q0: i * cell, k0: j * cell };
  }

  hover(x, y) {
    const hit = this.at(x, y), tip = this.tip;
    if (!hit) { tip.hidden = true; return; }
    const toks = this.data.tokens, tok = (i) => `“${longShort(toks[i], 18)}”`;
    const { value, cell, q0, k0 } = this.valueAt(hit.q, hit.k), red = this.head.reduce;
    const masked = this.data.causal[this.head.l] && k0 > hit.q;
    tip.textContent = masked ? `query ${hit.q} ${tok(hit.q)} → key ${hit.k}: masked (a key after the query)`
      : cell === 1 ? `query ${hit.q} ${tok(hit.q)} → key ${hit.k} ${tok(hit.k)}\nweight ${longFmt(value)} (to 1/510 of its tile's max)`
        : `queries ${q0}–${Math.min(this.T, q0 + cell) - 1} → keys ${k0}–${Math.min(this.T, k0 + cell) - 1}\n`
          + `${red} of the ${cell}×${cell} block: ${longFmt(value)}${red === "sum" ? ` (${longFmt(value / cell)} a query)` : ""}`;
    tip.hidden = false;
    const left = x + 14 + tip.offsetWidth > this.g.W ? x - 14 - tip.offsetWidth : x + 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${y + 14}px`;
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

  pan(dx, dy) {
    if (!this.g) return;
    this.view.cx -= dx / this.s();
    this.view.cy -= dy / this.s();
    this.schedule();
  }

  listen() {
    const c = this.canvas, m = this.minimap;
    c.addEventListener("wheel", (e) => {
      if (!this.vis) return;
      e.preventDefault();
      const d = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
      this.zoomAt(Math.exp(-longClamp(d, -300, 300) * 0.0025), ...this.local(e));
    }, { passive: false });
    const capture = (el, e) => { try { el.setPointerCapture(e.pointerId); } catch { /* a synthetic pointer */ } };
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
    const centre = (e) => {
      if (!this.vis) return;
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

/** Tile t max-pooled to at most `n` cells a side (a thumbnail needs no more pixels than it shows). */
function longShrink(t, n) {
  const [R, C] = t.shape, f = Math.ceil(Math.max(R, C) / Math.max(8, n));
  if (f <= 1) return t;
  const r = Math.ceil(R / f), c = Math.ceil(C / f), bytes = new Uint8Array(r * c);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) { const o = Math.floor(i / f) * c + Math.floor(j / f); bytes[o] = Math.max(bytes[o], t.bytes[i * C + j]); }
  }
  return { shape: [r, c], bytes, scale: t.scale, norm: t.norm };
}

/** A small canvas chart host: a canvas sized in CSS pixels for the device's pixel ratio, and its 2D context. */
function longCanvas(w, h) {
  const dpr = globalThis.devicePixelRatio || 1, c = longNode("canvas", null, { width: `${w}px`, height: `${h}px`, display: "block" });
  c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { c, ctx };
}

/** The passage x passage matrix (rows: query passages; each row sums to 1) with a hover naming both passages. */
function longPassages(host, data, mass, colour, tip) {
  const P = data.passages.length, cellPx = longClamp(Math.floor(340 / Math.max(1, P)), 4, 44);
  const every = Math.max(1, Math.ceil(14 / cellPx)), left = 40, top = 26, side = P * cellPx;
  const { c, ctx } = longCanvas(left + side + 70, top + side + 34);
  let vmax = 0;
  for (const v of mass) vmax = Math.max(vmax, v);
  vmax ||= 1;
  for (let i = 0; i < P; i++) {
    for (let j = 0; j < P; j++) {
      const v = mass[i * P + j], k = level(v, vmax) * 3;
      ctx.fillStyle = `rgb(${LUT[k]},${LUT[k + 1]},${LUT[k + 2]})`;
      ctx.fillRect(left + j * cellPx, top + i * cellPx, cellPx, cellPx);
      if (P <= 12 && cellPx >= 26) {
        ctx.fillStyle = k / 3 > 150 ? "#111" : "#fff"; ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.fillText(v.toFixed(2), left + (j + 0.5) * cellPx, top + (i + 0.5) * cellPx);
      }
    }
  }
  ctx.fillStyle = colour; ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let i = 0; i < P; i += every) ctx.fillText(`P${i + 1}`, left - 4, top + (i + 0.5) * cellPx);
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  for (let j = 0; j < P; j += every) ctx.fillText(`P${j + 1}`, left + (j + 0.5) * cellPx, top - 3);
  ctx.textBaseline = "top";
  ctx.fillText("key passage (read) →", left + side / 2, top + side + 6);
  longLegend(ctx, left + side + 14, top + 18, Math.max(40, side - 18), vmax, "mass", 11, colour);
  c.addEventListener("mousemove", (e) => {
    const b = c.getBoundingClientRect(), j = Math.floor((e.clientX - b.left - left) / cellPx), i = Math.floor((e.clientY - b.top - top) / cellPx);
    if (i < 0 || j < 0 || i >= P || j >= P) { tip.hidden = true; return; }
    const a = data.passages[i], r = data.passages[j];
    tip.textContent = `P${i + 1} “${a.title}”\nreads P${j + 1} “${r.title}”\nmass ${mass[i * P + j].toFixed(3)}`;
    tip.hidden = false;
    tip.style.left = `${e.clientX - b.left + 12}px`; tip.style.top = `${e.clientY - b.top + 12}px`;
  });
  c.addEventListener("mouseleave", () => { tip.hidden = true; });
  host.append(c);
}

/** The distance profile: mean weight per |query - key| bin (bins double in width), bars on a log axis. */
function longDistance(host, data, colour) {
  const { bins, mean } = data.distance, n = bins.length, bw = longClamp(Math.floor(420 / Math.max(1, n)), 10, 40);
  const left = 56, top = 12, h = 200, w = n * bw, bottom = 58;
  const { c, ctx } = longCanvas(left + w + 12, top + h + bottom);
  const pos = mean.filter((v) => v > 0);
  const lo = pos.length ? Math.floor(Math.log10(Math.min(...pos))) : -3, hi = pos.length ? Math.ceil(Math.log10(Math.max(...pos))) : 0;
  const span = Math.max(1, hi - lo), Yv = (v) => top + h - ((Math.log10(v) - lo) / span) * h;
  ctx.strokeStyle = "rgba(128,128,128,.35)"; ctx.fillStyle = colour; ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let e = lo; e <= hi; e++) {
    const y = Yv(10 ** e);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.fillText(e >= -3 && e <= 3 ? String(+(10 ** e).toPrecision(1)) : `1e${e}`, left - 5, y);
  }
  ctx.fillStyle = "#3b4cca";
  mean.forEach((v, i) => { if (v > 0) { const y = Yv(v); ctx.fillRect(left + i * bw + 1, y, bw - 2, top + h - y); } });
  ctx.fillStyle = colour;
  const every = Math.max(1, Math.ceil(26 / bw));
  for (let i = 0; i < n; i += every) {
    const [a, b] = bins[i];
    ctx.save(); ctx.translate(left + (i + 0.5) * bw, top + h + 4); ctx.rotate(-Math.PI / 4);
    ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillText(b - a === 1 ? `${a}` : `${a}–${b - 1}`, 0, 0); ctx.restore();
  }
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  ctx.fillText("distance in tokens (bins double in width)", left + w / 2, top + h + bottom - 2);
  ctx.save(); ctx.translate(12, top + h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
  ctx.fillText("mean weight (log)", 0, 0); ctx.restore();
  host.append(c);
}

/**
 * Draw `data` (built by attnscope._long_html.LongView) into `root`. `root.dataset.drawn` is "1" once the heatmap is on
 * screen; the heatmap canvas carries data-z (the drawn level), data-cell and data-wanted (the level the zoom asks for).
 */
export async function mountLong(root, data) {
  const dec = await longDecode(data), { L, H, T } = data, colour = getComputedStyle(root).color || "#1d2330";
  const zs = (r) => (data.levels[r] || []).map((lv) => lv.z);
  const headName = (h) => (h === H ? "mean of the heads" : `head ${h + 1}`);
  const st = { l: data.layer, h: data.headIndex, reduce: "max" };
  const tipStyle = { position: "absolute", pointerEvents: "none", background: "rgba(20,24,32,.92)", color: "#fff",
    font: "12px sans-serif", padding: "4px 7px", borderRadius: "5px", whiteSpace: "pre", zIndex: 10 };
  const muted = { opacity: ".75", fontSize: "12px", margin: ".2rem 0" };

  const title = longNode("div", data.title, { fontWeight: "600", marginBottom: ".4rem" });
  const facts = longNode("div", `${T.toLocaleString("en-US")} tokens · ${L} layers × ${H} heads · ${data.passages.length} passage`
    + `${data.passages.length === 1 ? "" : "s"} · ${data.kind || "model"}${data.causal.some(Boolean) ? " (causal mask in grey)" : ""}`, muted);
  const bar = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: ".4rem 1rem", alignItems: "center", margin: ".4rem 0" });
  const sel = (label, options, onChange) => {
    const wrap = longNode("label", label + " "), s = longNode("select", undefined, { font: "inherit" });
    options.forEach(([v, t]) => { const o = longNode("option", t); o.value = String(v); s.append(o); });
    s.addEventListener("change", () => onChange(Number(s.value)));
    wrap.append(s);
    return { wrap, s };
  };
  const layerSel = sel("Layer", Array.from({ length: L }, (_, l) => [l, `${l + 1}`]), (v) => select(v, st.h));
  const headSel = sel("Head", [...Array.from({ length: H }, (_, h) => [h, `${h + 1}`]), [H, "mean"]], (v) => select(st.l, v));
  const reduceBox = longNode("span");
  const radios = {};
  for (const r of ["max", "sum"]) {
    const lab = longNode("label", undefined, { marginRight: ".6rem" }), input = longNode("input");
    Object.assign(input, { type: "radio", name: `${root.id}-reduce`, value: r, checked: r === "max" });
    input.addEventListener("change", () => { if (input.checked) { st.reduce = r; show(); } });
    lab.append(input, ` ${r}`);
    reduceBox.append(lab);
    radios[r] = { input, lab };
  }
  const button = (text, fn, tip) => { const b = longNode("button", text, { font: "inherit", padding: "1px 8px" }); b.title = tip; b.addEventListener("click", fn); return b; };
  bar.append(layerSel.wrap, headSel.wrap, longNode("span", "pooling", { opacity: ".75" }), reduceBox,
    button("+", () => zoom.zoomAt(2), "zoom in"), button("−", () => zoom.zoomAt(0.5), "zoom out"),
    button("fit", () => zoom.fit(), "the whole matrix (or double-click it)"));

  const row = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: "12px", alignItems: "flex-start" });
  const mainWrap = longNode("div", undefined, { position: "relative", flex: "1 1 520px", minWidth: "0" });
  const canvas = longNode("canvas", undefined, { display: "block", touchAction: "none", cursor: "grab" });
  canvas.className = "attnscope-long-map";
  const tip = longNode("div", undefined, tipStyle);
  tip.hidden = true;
  mainWrap.append(canvas, tip);
  const side = longNode("div", undefined, { flex: "0 0 180px", fontSize: "12px" });
  const minimap = longNode("canvas", undefined, { display: "block", cursor: "crosshair", outline: "1px solid rgba(128,128,128,.35)" });
  const levelText = longNode("p", "", { margin: ".5rem 0 .2rem", fontWeight: "600" });
  const deeper = longNode("p", "", { margin: ".2rem 0", color: "#b45309" });
  const embedText = longNode("p", "", { margin: ".4rem 0", opacity: ".8" });
  side.append(longNode("div", "overview (drag to move)", { opacity: ".75", marginBottom: "2px" }), minimap, levelText, deeper, embedText);
  row.append(mainWrap, side);

  const thumbNote = longNode("p", "", { ...muted, margin: ".9rem 0 .3rem" });
  const thumbsHost = longNode("div", undefined, { overflowX: "auto" });
  const panels = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: "1.5rem", marginTop: ".9rem", alignItems: "flex-start" });
  const panelTip = longNode("div", undefined, tipStyle);
  panelTip.hidden = true;
  const pHost = longNode("div", undefined, { position: "relative" }), dHost = longNode("div");
  const sel0 = `layer ${data.layer + 1}, ${headName(data.headIndex)}`;
  pHost.append(longNode("div", `Which passage reads which (${sel0}); rows sum to 1`, { fontWeight: "600", marginBottom: ".3rem" }));
  dHost.append(longNode("div", `Attention by distance |query − key| (${sel0})`, { fontWeight: "600", marginBottom: ".3rem" }));
  longPassages(pHost, data, dec.mass, colour, panelTip);
  pHost.append(panelTip);
  longDistance(dHost, data, colour);
  const panelNote = longNode("p", "", muted);
  panels.append(pHost, dHost);
  const caption = longNode("p", "Rows are queries, columns keys; colour is √(value) on viridis, the sink strip (key cell 0) on its "
    + "own scale. Wheel or +/− to zoom, drag to pan, double-click to fit; hover a cell for its value. Values are stored to "
    + "1/255 of each tile's largest value. Computed in Python when this figure was made: the exact row of a query, deeper "
    + "levels and the other heads' fine levels need the AttnScope server (attnscope serve).", muted);
  root.replaceChildren(title, facts, bar, row, thumbNote, thumbsHost, panels, panelNote, caption);

  const zoom = new LongZoom(root, data, dec, { canvas, tip, minimap, onView: (v) => note(v) });
  const sums = zs("sum"), maxes = zs("max"), lvName = (a) => (a.length === 1 ? `level 1` : `levels 1–${a[a.length - 1] + 1}`);
  embedText.textContent = `Embedded for ${sel0}: zoom ${lvName(maxes)} of ${data.Z} (max)`
    + (sums.length ? `, ${lvName(sums)} (sum)` : "; sum pooling not embedded (byte budget)")
    + `. Other heads: their level-1 overview only${data.thumbs.pool > 1 ? `, pooled to ${data.thumbs.side} × ${data.thumbs.side} cells` : ""}. `
    + `${(data.bytes / 1e6).toFixed(1)} MB embedded (budget ${(data.budget / 1e6).toFixed(1)} MB).`;

  function note(v) {
    const { cell, z, want } = v;
    const embedded = st.l === data.layer && st.h === data.headIndex;
    levelText.textContent = (embedded ? `zoom level ${z + 1} of ${data.Z}: ` : "overview: ")
      + (cell === 1 ? "one cell = one weight (exact)" : `one cell = ${cell} × ${cell} tokens (${st.reduce})`);
    const gap = want > z + 1 ? `Zoom levels ${z + 2}–${want + 1} are` : `Zoom level ${want + 1} is`;
    deeper.textContent = want <= z ? "" : embedded ? `${gap} not in this file: deeper zoom needs the server (attnscope `
      + `serve). Showing level ${z + 1}, magnified.` : `This head has only its overview in this file`
      + `${data.thumbs.pool > 1 ? ` (${data.thumbs.side} × ${data.thumbs.side} cells)` : ""}: its finer levels need the server `
      + `(attnscope serve), or show(..., layer=${st.l}, head=${st.h === H ? "'mean'" : st.h}).`;
  }

  // the layer x head thumbnails (the z = 0 overview of each, max pooling), click to open
  const px = Math.floor(longClamp(((root.clientWidth || 900) - 60) / ((H + 1) * 1.15), 24, 64));
  const box = longNode("div", undefined, { display: "grid", gridTemplateColumns: `auto repeat(${H + 1}, ${px}px)`, gap: "4px",
    alignItems: "center", justifyContent: "start", font: `${H > 16 ? 10 : 12}px sans-serif` });
  box.append(longNode("span"));
  for (let h = 0; h <= H; h++) box.append(longNode("span", h === H ? "mean" : `H${h + 1}`, { textAlign: "center", opacity: ".75" }));
  const thumbs = [];
  for (let l = 0; l < L; l++) {
    box.append(longNode("span", `L${l + 1}`, { textAlign: "right", paddingRight: "4px", opacity: ".75" }));
    thumbs.push([]);
    for (let h = 0; h <= H; h++) {
      const c = longNode("canvas", undefined, { width: `${px}px`, height: `${px}px`, display: "block", imageRendering: "pixelated", cursor: "pointer" });
      const t = dec.thumb[l][h];
      longPaint(c, longShrink(t, px * (globalThis.devicePixelRatio || 1)), longRanges(t).main);
      Object.assign(c.dataset, { layer: String(l), head: String(h) });
      const embedded = l === data.layer && h === data.headIndex;
      c.title = `layer ${l + 1} · ${headName(h)}${embedded ? " (all embedded zoom levels)" : " (overview only)"}: click to open`;
      c.addEventListener("click", () => select(l, h));
      box.append(c);
      thumbs[l].push(c);
    }
  }
  thumbsHost.append(box);
  thumbNote.textContent = `Every layer × head at zoom level 1 (max pooling). Click one to open it. Only ${sel0} (outlined in blue) `
    + `has its finer zoom levels in this file; the other heads show their overview only${data.thumbs.pool > 1 ? `, pooled to ${data.thumbs.side} × ${data.thumbs.side} cells` : ""}.`;

  function select(l, h) {
    st.l = l; st.h = h;
    show();
  }

  function show() {
    const embedded = st.l === data.layer && st.h === data.headIndex, sumOk = embedded && sums.length > 0;
    if (!sumOk && st.reduce === "sum") { st.reduce = "max"; radios.max.input.checked = true; }
    radios.sum.input.disabled = !sumOk;
    radios.sum.lab.style.opacity = sumOk ? "1" : ".45";
    radios.sum.lab.title = sumOk ? "sum pooling: the mass of each block" : embedded ? "sum pooling is not embedded (byte budget)"
      : `only ${sel0} has sum pooling in this file`;
    layerSel.s.value = String(st.l); headSel.s.value = String(st.h);
    thumbs.forEach((r, i) => r.forEach((c, j) => {
      const current = i === st.l && j === st.h, embedded = i === data.layer && j === data.headIndex;
      c.style.outline = current ? `3px solid ${LONG_ORANGE}` : embedded ? `3px solid ${LONG_BLUE}` : "1px solid rgba(128,128,128,.35)";
      c.style.boxShadow = current && embedded ? `0 0 0 6px ${LONG_BLUE}` : "none";
    }));
    panelNote.textContent = embedded ? "" : `The passages matrix and the distance profile are those of ${sel0}, the head this figure `
      + `was made for (layer ${st.l + 1}, ${headName(st.h)} needs the server, or show(..., layer=${st.l}, head=${st.h === H ? "'mean'" : st.h})).`;
    zoom.setHead(st.l, st.h, st.reduce);
  }

  show();
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  if (zoom.raf) { cancelAnimationFrame(zoom.raf); zoom.draw(); }
  root.dataset.ready = "1";
}
