// Canvas heatmaps shared by every host: the page's model view and the notebook output (attnscope).
// A function of data to pixels: no imports, no fetch, no Plotly, no globals, so `attnscope` inlines this file
// into a notebook cell as it is (it only strips the `export` keywords). Matrices are flat, row-major arrays
// (Float32Array or any indexable array) read at an offset: head h of layer l of an (L, H, Tq, Tk) array starts at
// ((l * H + h) * Tq * Tk).

/** Viridis (colour-blind safe, readable on a projector), 9 stops interpolated into a 256-entry table. */
const STOPS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
export const LUT = (() => {
  const t = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (STOPS.length - 1), a = Math.min(STOPS.length - 2, Math.floor(x)), f = x - a;
    for (let c = 0; c < 3; c++) t[i * 3 + c] = Math.round(STOPS[a][c] + f * (STOPS[a + 1][c] - STOPS[a][c]));
  }
  return t;
})();

/**
 * Colour level (0-255) of a weight: a square-root (gamma 0.5) mapping, so a faint diagonal of 0.05 still
 * shows as a quarter of the scale where a linear scale would leave it at the dark end.
 */
export function level(v, vmax = 1) {
  if (!(v > 0)) return 0;
  return Math.round(Math.sqrt(Math.min(1, v / vmax)) * 255);
}

/**
 * The same mapping as a Plotly colour scale: stop k sits at value fraction (k / n)^(1 / gamma) and holds the
 * colour canvas gives that fraction, so a Plotly heatmap and a canvas heatmap of the same weights agree (within
 * a level or two between stops). gamma 0.5 is level()'s square root; gamma 1 is a linear scale.
 */
export function plotlyScale(gamma = 0.5, n = 48) {
  const stops = [];
  for (let k = 0; k <= n; k++) {
    const i = Math.round((k / n) * 255) * 3;
    stops.push([Math.pow(k / n, 1 / gamma), `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`]);
  }
  return stops;
}

/**
 * Pool a rows x cols matrix down to at most `cells` x `cells`, keeping its structure:
 * each cell is the mean of the block's largest weight (a single sharp peak stays bright) and the block's
 * attention mass per query row (so a previous-token line, which shares most blocks with the diagonal, shows
 * as a fainter second line beside it rather than as the same thick one). Unpooled cells are the weight itself.
 * Returns {z: Float32Array(R * C), R, C}.
 */
export function pool(flat, offset, rows, cols, cells) {
  const r = Math.max(1, Math.ceil(rows / cells)), c = Math.max(1, Math.ceil(cols / cells));
  const R = Math.ceil(rows / r), C = Math.ceil(cols / c);
  const z = new Float32Array(R * C);
  if (r === 1 && c === 1) {
    for (let i = 0; i < rows * cols; i++) z[i] = flat[offset + i];
    return { z, R, C };
  }
  const mx = new Float32Array(R * C), sum = new Float32Array(R * C);
  for (let i = 0; i < rows; i++) {
    const base = offset + i * cols, out = Math.floor(i / r) * C;
    for (let j = 0; j < cols; j++) {
      const v = flat[base + j], o = out + Math.floor(j / c);
      sum[o] += v;
      if (v > mx[o]) mx[o] = v;
    }
  }
  for (let bi = 0; bi < R; bi++) {
    const n = Math.min(r, rows - bi * r); // query rows in this block
    for (let bj = 0; bj < C; bj++) {
      const widen = c / Math.min(c, cols - bj * c); // a last, narrower key block: mass per full block width
      z[bi * C + bj] = (mx[bi * C + bj] + Math.min(1, (sum[bi * C + bj] / n) * widen)) / 2;
    }
  }
  return { z, R, C };
}

/** Paint an R x C matrix into `canvas` at one pixel per cell (CSS scales it up, pixelated). */
export function paint(canvas, z, R, C, vmax = 1) {
  canvas.width = C;
  canvas.height = R;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(C, R);
  const px = img.data;
  for (let i = 0; i < R * C; i++) {
    const k = level(z[i], vmax) * 3;
    px[4 * i] = LUT[k]; px[4 * i + 1] = LUT[k + 1]; px[4 * i + 2] = LUT[k + 2]; px[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Thumbnail of one head into `canvas`: pooled to at most `cells` per side; `fit` stretches colours to its max. */
export function thumbnail(canvas, flat, offset, rows, cols, { cells = 64, fit = false } = {}) {
  const { z, R, C } = pool(flat, offset, rows, cols, cells);
  let vmax = 1;
  if (fit) { vmax = 0; for (const v of z) if (v > vmax) vmax = v; vmax = vmax || 1; }
  paint(canvas, z, R, C, vmax);
  return { R, C };
}

function el(tag, style = {}, text) {
  const e = document.createElement(tag);
  Object.assign(e.style, style);
  if (text !== undefined) e.textContent = text; // labels from user text go in as text, never as HTML
  return e;
}

const yieldToPaint = () => new Promise((resolve) => setTimeout(resolve, 0));
const latest = new WeakMap(); // host -> the grid drawn last into it: an older, slower one stops drawing

/**
 * Every head as a thumbnail, drawn layer by layer: the first layer is on screen before the next is pooled.
 * `layer(l)` returns (or resolves to) {flat, offset: (h) => start of head h}. `host.dataset.drawn` counts the
 * heads drawn so far. Returns {canvases: [l][h], cursor(l, h), done: Promise} and calls onPick(l, h) on a click.
 * opts: {L, H, rows, cols, layer, px (thumbnail size in CSS pixels), fit, onPick, cursor: [l, h], colour,
 *        rowLabel: (l) => text}
 */
export function grid(host, opts) {
  const { L, H, rows, cols, px = 64, fit = false, onPick = null, colour = "inherit" } = opts;
  const rowLabel = opts.rowLabel || ((l) => `L${l + 1}`);
  const gap = Math.max(3, Math.round(px * 0.12));
  // at most one cell per two device pixels: a one-token line ([CLS] sink, diagonal) stays two pixels wide
  const cells = Math.max(8, Math.min(rows, cols, Math.round((px * (globalThis.devicePixelRatio || 1)) / 2)));
  host.replaceChildren();
  host.dataset.drawn = "0";
  const box = el("div", { display: "grid", gridTemplateColumns: `auto repeat(${H}, ${px}px)`, gap: `${gap}px`,
    alignItems: "center", justifyContent: "center", color: colour, font: `${H > 16 ? 10 : 12}px sans-serif` });
  box.append(el("span"));
  for (let h = 0; h < H; h++) box.append(el("span", { textAlign: "center" }, `H${h + 1}`));
  const canvases = [];
  for (let l = 0; l < L; l++) {
    box.append(el("span", { textAlign: "right", paddingRight: "4px" }, rowLabel(l)));
    canvases.push([]);
    for (let h = 0; h < H; h++) {
      const c = el("canvas", { width: `${px}px`, height: `${px}px`, imageRendering: "pixelated", display: "block",
        cursor: onPick ? "pointer" : "default", outline: "1px solid rgba(128,128,128,.35)", background: "#44015410" });
      c.width = 1; c.height = 1;
      c.dataset.layer = String(l);
      c.dataset.head = String(h);
      c.title = `layer ${l + 1} · head ${h + 1}${onPick ? " (click to open)" : ""}`;
      if (onPick) c.addEventListener("click", () => onPick(l, h));
      box.append(c);
      canvases[l].push(c);
    }
  }
  host.append(box);
  const cursor = (l, h) => {
    canvases.forEach((row, i) => row.forEach((c, j) => {
      c.style.outline = i === l && j === h ? "3px solid #f59e0b" : "1px solid rgba(128,128,128,.35)";
    }));
  };
  if (opts.cursor) cursor(...opts.cursor);
  const token = {};
  latest.set(host, token);
  const done = (async () => {
    let drawn = 0;
    for (let l = 0; l < L; l++) {
      const { flat, offset } = await opts.layer(l);
      if (latest.get(host) !== token) return; // replaced by a newer grid while this layer was on its way
      for (let h = 0; h < H; h++) {
        thumbnail(canvases[l][h], flat, offset(h), rows, cols, { cells, fit });
        host.dataset.drawn = String(++drawn);
      }
      await yieldToPaint();
    }
  })();
  return { canvases, cursor, done };
}

/**
 * One head as a token x token heatmap with token labels and a hover tooltip that shows the weight.
 * opts: {flat, offset, rows, cols, q, k (token texts), qSpecial, kSpecial, size (largest side, CSS px),
 *        vmax, divider (index where sentence B starts, or null), colour (text colour), label (hover value name)}
 * Returns {canvas, tip}.
 */
export function heatmap(host, opts) {
  const { flat, offset = 0, rows, cols, q, k, size = 560, vmax = 1, divider = null } = opts;
  const colour = opts.colour || "#1d2330";
  const cell = Math.max(1, Math.min(28, Math.floor(size / Math.max(rows, cols))));
  const step = Math.max(1, Math.ceil(13 / cell)); // a label every `step` tokens, at least 13 px apart
  const short = (t) => (t.length > 12 ? t.slice(0, 11) + "…" : t);
  const font = `${Math.min(13, Math.max(10, cell - 2))}px sans-serif`;
  const probe = document.createElement("canvas").getContext("2d");
  probe.font = font;
  const widest = (toks) => toks.reduce((m, t, i) => (i % step ? m : Math.max(m, probe.measureText(short(t)).width)), 0);
  const left = Math.ceil(widest(q)) + 8, top = Math.ceil(widest(k) * 0.75) + 14;
  const W = left + cols * cell + top, Hh = top + rows * cell + 4; // the last key label leans right, by ~top
  const dpr = globalThis.devicePixelRatio || 1;
  const canvas = el("canvas", { width: `${W}px`, height: `${Hh}px`, display: "block" });
  Object.assign(canvas.dataset, { left, top, cell, rows, cols }); // where the cells are, in CSS pixels
  canvas.className = "attnscope-heatmap";
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(Hh * dpr);
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const cells = document.createElement("canvas");
  paint(cells, flat.subarray ? flat.subarray(offset, offset + rows * cols) : flat.slice(offset, offset + rows * cols),
    rows, cols, vmax);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, left, top, cols * cell, rows * cell);
  ctx.font = font;
  ctx.textBaseline = "middle";
  const tokenColour = (special) => (special ? "#8a8f98" : colour);
  ctx.textAlign = "right";
  for (let i = 0; i < rows; i += step) {
    ctx.fillStyle = tokenColour(opts.qSpecial?.[i]);
    ctx.fillText(short(q[i]), left - 4, top + (i + 0.5) * cell);
  }
  ctx.textAlign = "left";
  for (let j = 0; j < cols; j += step) {
    ctx.save();
    ctx.translate(left + (j + 0.5) * cell, top - 4);
    ctx.rotate(-Math.PI / 4);
    ctx.fillStyle = tokenColour(opts.kSpecial?.[j]);
    ctx.fillText(short(k[j]), 0, 0);
    ctx.restore();
  }
  if (divider !== null && divider > 0) {
    ctx.strokeStyle = "#f59e0b";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(left + divider * cell, top); ctx.lineTo(left + divider * cell, top + rows * cell);
    ctx.moveTo(left, top + divider * cell); ctx.lineTo(left + cols * cell, top + divider * cell);
    ctx.stroke();
  }
  const wrap = el("div", { position: "relative", display: "inline-block" });
  const tip = el("div", { position: "absolute", display: "none", pointerEvents: "none", background: "rgba(20,24,32,.92)",
    color: "#fff", font: "12px sans-serif", padding: "4px 7px", borderRadius: "5px", whiteSpace: "pre", zIndex: 10 });
  tip.className = "attnscope-tip";
  canvas.addEventListener("mousemove", (e) => {
    const box = canvas.getBoundingClientRect();
    const j = Math.floor((e.clientX - box.left - left) / cell), i = Math.floor((e.clientY - box.top - top) / cell);
    if (i < 0 || j < 0 || i >= rows || j >= cols) { tip.style.display = "none"; return; }
    const w = flat[offset + i * cols + j];
    tip.dataset.weight = String(w);
    tip.textContent = `${q[i]} → ${k[j]}\n${opts.label || "weight"} ${w.toFixed(3)}   (query ${i}, key ${j})`;
    tip.style.left = `${e.clientX - box.left + 12}px`;
    tip.style.top = `${e.clientY - box.top + 12}px`;
    tip.style.display = "block";
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  wrap.append(canvas, tip);
  host.replaceChildren(wrap);
  return { canvas, tip, cell, left, top };
}
