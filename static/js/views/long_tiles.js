// The long view's deep-zoom heatmap: tiles of GET /api/long/{id}/tile fetched in binary u8 (the wire format of
// /api/attention in api.js: uint32 LE n | JSON header | bytes of round(255 · w / scale)), kept in a small LRU,
// painted on a canvas with the viridis square-root scale of heatmap.js. Also the minimap (the z = 0 tile), the
// first-token sink strip (key cell 0, with its own colour scale), axes, legends and the layer × head thumbnails.
// Every text (tokens are user text) is drawn with fillText or set as textContent, never as HTML.
import { ApiError, decodeBinary } from "../api.js";
import {
  MASK, ORANGE, SIDE, ZoomBase, cached, capture, clampInt, drawAxes, fmt, legend, paintTile, passageLines, placeTip, ranges,
  raw, short, shrink,
} from "../longzoom.js";
import { fontColor } from "../plot.js";

export { fmt, paintTile, ranges, raw }; // long.js and long_answer.js read fmt from here

/** A 4xx detail as one readable line (FastAPI's validation errors are lists). */
export function detailText(d, status) {
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return `request failed (HTTP ${status})`;
}

/** Log-axis ticks at 1, 2 and 5 × 10^k over the positive values, labelled in full (Plotly would write "2" for 0.02). */
export function logTicks(values) {
  const pos = values.filter((v) => v > 0), vals = [];
  if (!pos.length) return {};
  for (let e = Math.floor(Math.log10(Math.min(...pos))); e <= Math.ceil(Math.log10(Math.max(...pos))); e++) {
    for (const m of [1, 2, 5]) vals.push(+(m * 10 ** e).toPrecision(1));
  }
  return { tickvals: vals, ticktext: vals.map((v) => String(v)) };
}
/** One tile in binary: its header with `bytes` (u8) or `values` (f16 decoded); errors carry the server's detail. */
async function fetchTile(url, signal) {
  let res;
  try {
    res = await fetch(url, { headers: { Accept: "application/octet-stream" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
  }
  if (!res.ok || !(res.headers.get("content-type") || "").startsWith("application/octet-stream")) {
    const data = await res.json().catch(() => null);
    throw new ApiError(data && typeof data.detail === "string" ? data.detail : `tile request failed (HTTP ${res.status})`,
      res.ok ? 500 : res.status);
  }
  const buf = await res.arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  if (head.format === "u8") head.bytes = new Uint8Array(buf.slice(4 + n, 4 + n + head.shape[0] * head.shape[1]));
  else head.values = decodeBinary(buf).values;
  return head;
}

/** Fetches tiles (6 at a time, urgent ones first, dropped when no longer wanted) and keeps the latest ones. */
export class Loader {
  constructor(trace, { onGone, onError } = {}) {
    this.trace = trace;
    this.base = `/api/long/${encodeURIComponent(trace.trace_id)}/tile`;
    Object.assign(this, { onGone, onError, cache: new Map(), jobs: new Map(), queue: [], active: 0, failed: new Set() });
    this.ctl = new AbortController();
  }

  cell(z) { return 2 ** (this.trace.zoom_levels - 1 - z); }

  key(p) { return `${p.layer}|${p.head}|${p.z}|${p.x}|${p.y}|${p.reduce}`; }

  get(p) {
    const k = this.key(p), t = this.cache.get(k);
    if (t) { this.cache.delete(k); this.cache.set(k, t); }
    return t || null;
  }

  /** A promise of tile p; `still()` false when its turn comes drops it; keep: false does not cache it. */
  want(p, { urgent = false, still = null, keep = true } = {}) {
    const k = this.key(p), hit = this.get(p);
    if (hit) return Promise.resolve(hit);
    if (this.failed.has(k) || this.closed) return Promise.reject(new DOMException("not loaded", "AbortError"));
    let job = this.jobs.get(k);
    if (job) {
      job.keep ||= keep;
      job.still = still && job.still ? () => still() || job.still() : null;
      if (urgent && !job.started) { this.queue.splice(this.queue.indexOf(job), 1); this.queue.unshift(job); }
    } else {
      job = { k, p, keep, still };
      job.promise = new Promise((res, rej) => { job.res = res; job.rej = rej; });
      job.promise.catch(() => {});
      this.jobs.set(k, job);
      if (urgent) this.queue.unshift(job); else this.queue.push(job);
      this.pump();
    }
    return job.promise;
  }

  pump() {
    while (this.active < 6 && this.queue.length && !this.closed) {
      const job = this.queue.shift();
      if (job.still && !job.still()) { this.jobs.delete(job.k); job.rej(new DOMException("dropped", "AbortError")); continue; }
      job.started = true;
      this.active++;
      this.run(job).finally(() => { this.active--; this.pump(); });
    }
  }

  async run(job) {
    const { layer, head, z, x, y, reduce } = job.p;
    try {
      const t = await fetchTile(`${this.base}?layer=${layer}&head=${head}&z=${z}&x=${x}&y=${y}&reduce=${reduce}&format=u8`,
        this.ctl.signal);
      t.norm = reduce === "sum" ? 1 / this.cell(z) : 1;
      if (job.keep) {
        this.cache.set(job.k, t);
        while (this.cache.size > 160) this.cache.delete(this.cache.keys().next().value);
      }
      this.jobs.delete(job.k);
      job.res(t);
    } catch (err) {
      this.jobs.delete(job.k);
      if (err.name !== "AbortError" && !this.closed) {
        this.failed.add(job.k);
        if (err.status === 404) this.onGone?.(err.detail); else this.onError?.(err.detail || String(err));
      }
      job.rej(err);
    }
  }

  close() { this.closed = true; this.ctl.abort(); this.queue = []; }
}

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

  /** The visible cells at the current level, for export: labels and values (null where a tile is not loaded). */
  visible() {
    if (!this.vis || !this.head) return null;
    const { k0, q0, k1, q1, z, cell } = this.vis, T = this.T, toks = this.trace.tokens;
    const i0 = Math.max(0, Math.floor(q0 / cell)), i1 = Math.min(Math.ceil(T / cell), Math.ceil(q1 / cell));
    const j0 = Math.max(0, Math.floor(k0 / cell)), j1 = Math.min(Math.ceil(T / cell), Math.ceil(k1 / cell));
    const label = (i) => (cell === 1 ? `${i}:${toks[i]}` : `${i * cell}-${Math.min(T, (i + 1) * cell) - 1}`);
    const values = [];
    for (let i = i0; i < i1; i++) {
      const row = [];
      for (let j = j0; j < j1; j++) row.push(this.valueAt(i * cell, j * cell).value);
      values.push(row);
    }
    const span = (a, b) => [a * cell, Math.min(T, b * cell)];
    return { z, cell, rows: span(i0, i1), cols: span(j0, j1), values,
      rowLabels: Array.from({ length: i1 - i0 }, (_, n) => label(i0 + n)),
      colLabels: Array.from({ length: j1 - j0 }, (_, n) => label(j0 + n)) };
  }
}

/** Every layer × head (and the mean over heads) as a canvas thumbnail; onPick(layer, head | "mean"). */
export function thumbGrid(host, { L, H, px, onPick }) {
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; };
  const box = el("div", "lc-thumbs-grid");
  box.style.gridTemplateColumns = `auto repeat(${H + 1}, ${px}px)`;
  box.append(el("span"));
  for (let h = 0; h <= H; h++) box.append(el("span", "lc-thumb-col", h === H ? "mean" : `H${h + 1}`));
  const canvases = [];
  for (let l = 0; l < L; l++) {
    box.append(el("span", "lc-thumb-row", `L${l + 1}`));
    canvases.push([]);
    for (let h = 0; h <= H; h++) {
      const c = el("canvas", "lc-thumb");
      c.width = 1; c.height = 1;
      c.style.width = c.style.height = `${px}px`;
      const head = h === H ? "mean" : h;
      c.title = `layer ${l + 1} · ${h === H ? "mean of the heads" : `head ${h + 1}`} (click to open)`;
      c.addEventListener("click", () => onPick(l, head));
      box.append(c);
      canvases[l].push(c);
    }
  }
  host.replaceChildren(box);
  host.dataset.drawn = "0";
  let drawn = 0;
  return {
    cursor(l, h) { canvases.forEach((row, i) => row.forEach((c, j) => c.classList.toggle("lc-current", i === l && j === h))); },
    paint(l, h, t) { paintTile(canvases[l][h], shrink(t, px * (globalThis.devicePixelRatio || 1)), ranges(t).main); host.dataset.drawn = String(++drawn); },
  };
}
