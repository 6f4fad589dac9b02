// The head atlas's layer × head grid on a canvas, its colour scale, its legend and its SVG twin.
// No imports and no globals beyond the canvas passed in: the notebook output bundles this file as is.
//
// grid = {values (flat, layer-major: values[l * heads + h]), layers, heads, lo, hi, diverging, selected: [l, h] | null,
//         blank, and optional: task (name, for SVG cell titles), width (CSS px the grid may fill), maxHeight,
//         cell (CSS px per cell, overrides the fit; cellH its height), minCell (16), minCellH (= minCell), maxCell (48),
//         font (px, 12), fg, bg (null: transparent), dpr}
// Rows are layers (0 at the top), columns heads, both 0-based, labelled "layer" and "head".

/** Tasks whose scores are fractions of attention (fixed colour scale 0..1); the others run 0..max. */
export const BOUNDED = ["previous", "previous_text", "induction", "duplicate", "sink", "retrieval"];
/** Units of the unbounded tasks, for the scale's caption. */
const UNITS = { entropy: "nats", distance: "tokens" };

const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70",
  "#7ad151", "#bddf26", "#fde725"];
// ColorBrewer RdBu, from −1 (blue) through 0 (near white) to +1 (red): red where A is higher than B
const DIVERGING = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
  "#d6604d", "#b2182b", "#67001f"];
const BLANK = "#e6e8ee";
const MISSING = "#9aa0aa";

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const STOPS = { seq: VIRIDIS.map(rgb), div: DIVERGING.map(rgb) };

/** The colour scale of one task's grid: {lo, hi, diverging}. diff: a grid of differences (symmetric around 0). */
export function scaleFor(task, values, { diff = false } = {}) {
  const finite = Array.from(values).filter(Number.isFinite);
  if (diff) {
    const m = Math.max(1e-9, ...finite.map(Math.abs));
    return { lo: -m, hi: m, diverging: true };
  }
  if (BOUNDED.includes(task)) return { lo: 0, hi: 1, diverging: false };
  return { lo: 0, hi: Math.max(1e-9, ...finite), diverging: false };
}

/** What the colour means, as one line for the screen: "colour: score 0–1, linear". */
export function scaleText(task, { lo, hi, diverging }, { diff = false, a = "A", b = "B" } = {}) {
  if (diff || diverging) {
    return `colour: ${task} ${a} − ${b}, ${fmtTick(lo)} to +${fmtTick(hi)} (symmetric around 0), linear; `
      + `red: ${a} higher, blue: ${b} higher`;
  }
  if (BOUNDED.includes(task) || (lo === 0 && hi === 1)) return "colour: score 0–1, linear";
  const unit = UNITS[task] ? ` ${UNITS[task]}` : "";
  return `colour: ${task} 0–${fmtTick(hi)}${unit} (0 to the grid's max), linear`;
}

/** The CSS colour of value v on the scale lo..hi (diverging: centred on 0, symmetric). NaN: grey. */
export function colorFor(v, lo, hi, diverging) {
  if (!Number.isFinite(v)) return MISSING;
  let t;
  if (diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    t = (v / m + 1) / 2;
  } else {
    t = hi > lo ? (v - lo) / (hi - lo) : 0;
  }
  t = Math.min(1, Math.max(0, t));
  const stops = diverging ? STOPS.div : STOPS.seq;
  const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** A tick's text: two decimals below 10, one above; a true minus sign. */
export function fmtTick(v) {
  const a = Math.abs(v), t = a >= 10 ? a.toFixed(1) : a.toFixed(2);
  return v < 0 && Number(t) !== 0 ? `\u2212${t}` : t;
}

/**
 * Where everything goes (CSS px): cellW × cellH, margins, label steps, canvas size. Deterministic given grid.
 * Cells are square (the fit, between minCell and maxCell) unless a tall grid would pass maxHeight with square
 * cells of minCell: then cells keep minCell's width (up to 2.5 × their height) and shrink in height, to
 * minCellH at least (default minCell), so the grid stays in view.
 */
export function gridLayout(grid) {
  const font = grid.font || 12;
  const minCell = grid.minCell || 16, maxCell = grid.maxCell || 48, minH = Math.min(minCell, grid.minCellH || minCell);
  const tickW = Math.ceil(String(Math.max(0, grid.layers - 1)).length * font * 0.62) + 6;
  const left = Math.ceil(font * 1.5) + tickW + 4;
  const top = Math.ceil(font * 1.5) + Math.ceil(font * 1.3) + 2;
  let cellW = grid.cell, cellH = grid.cellH || grid.cell;
  if (!cellW) {
    const byW = grid.width ? (grid.width - left - 4) / grid.heads : maxCell;
    const byH = grid.maxHeight ? (grid.maxHeight - top - 4) / grid.layers : maxCell;
    const s = Math.floor(Math.min(maxCell, byW, byH));
    if (s >= minCell) cellW = cellH = s;
    else {
      cellH = Math.floor(Math.max(minH, Math.min(minCell, byH)));
      cellW = Math.floor(Math.max(minCell, Math.min(maxCell, byW, cellH * 2.5)));
    }
  }
  const every = (size, n) => [1, 2, 5, 10, 20, 50].find((k) => size * k >= font * (1.1 + 0.45 * String(n).length)) || 100;
  return { font, cell: cellW, cellW, cellH, left, top, width: left + grid.heads * cellW + 4, height: top + grid.layers * cellH + 4,
    rowEvery: every(cellH, 1), colEvery: every(cellW, Math.max(1, grid.heads - 1)) };
}

const layouts = new WeakMap();

/** Draw the grid on `canvas` (sizing it: style width/height in CSS px, backing store × dpr); returns the layout. */
export function drawGrid(canvas, grid) {
  const L = gridLayout(grid);
  const win = canvas.ownerDocument && canvas.ownerDocument.defaultView;
  const dpr = grid.dpr || (win && win.devicePixelRatio) || 1;
  canvas.style.width = `${L.width}px`;
  canvas.style.height = `${L.height}px`;
  canvas.width = Math.round(L.width * dpr);
  canvas.height = Math.round(L.height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, L.width, L.height);
  if (grid.bg) { ctx.fillStyle = grid.bg; ctx.fillRect(0, 0, L.width, L.height); }
  const fg = grid.fg || "#1d2330", gap = Math.min(L.cellW, L.cellH) >= 10 ? 1 : 0;
  for (let l = 0; l < grid.layers; l++) {
    for (let h = 0; h < grid.heads; h++) {
      const v = grid.values[l * grid.heads + h];
      ctx.fillStyle = grid.blank ? BLANK : colorFor(v, grid.lo, grid.hi, grid.diverging);
      ctx.fillRect(L.left + h * L.cellW, L.top + l * L.cellH, L.cellW - gap, L.cellH - gap);
    }
  }
  ctx.fillStyle = fg;
  ctx.font = `${L.font}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  for (let l = 0; l < grid.layers; l += L.rowEvery) ctx.fillText(String(l), L.left - 5, L.top + (l + 0.5) * L.cellH);
  ctx.textAlign = "center";
  const tickY = L.top - Math.ceil(L.font * 0.75) - 1;
  for (let h = 0; h < grid.heads; h += L.colEvery) ctx.fillText(String(h), L.left + (h + 0.5) * L.cellW, tickY);
  ctx.font = `600 ${L.font}px system-ui, sans-serif`;
  ctx.fillText("head", L.left + (grid.heads * L.cellW) / 2, Math.ceil(L.font * 0.75));
  ctx.save();
  ctx.translate(Math.ceil(L.font * 0.75), L.top + (grid.layers * L.cellH) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("layer", 0, 0);
  ctx.restore();
  if (grid.selected) {
    const [l, h] = grid.selected;
    if (l >= 0 && l < grid.layers && h >= 0 && h < grid.heads) {
      const x = L.left + h * L.cellW, y = L.top + l * L.cellH, w = L.cellW - gap, ht = L.cellH - gap;
      ctx.lineWidth = 3;
      ctx.strokeStyle = fg;
      ctx.strokeRect(x - 1.5, y - 1.5, w + 3, ht + 3);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#ffffff";
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, ht - 1);
    }
  }
  canvas.dataset.layers = String(grid.layers);
  canvas.dataset.heads = String(grid.heads);
  canvas.dataset.cells = String(grid.layers * grid.heads);
  canvas.dataset.cell = String(L.cellW); // CSS px: cell (l, h) spans x from left + h * cell, y from top + l * cellH
  canvas.dataset.cellH = String(L.cellH);
  canvas.dataset.left = String(L.left);
  canvas.dataset.top = String(L.top);
  layouts.set(canvas, L);
  return L;
}

/** The [layer, head] under a pointer at (clientX, clientY), or null outside the cells. */
export function cellAt(canvas, grid, clientX, clientY) {
  const L = layouts.get(canvas) || gridLayout(grid);
  const r = canvas.getBoundingClientRect();
  const sx = r.width ? L.width / r.width : 1, sy = r.height ? L.height / r.height : 1;
  const x = (clientX - r.left) * sx - L.left, y = (clientY - r.top) * sy - L.top;
  const h = Math.floor(x / L.cellW), l = Math.floor(y / L.cellH);
  if (x < 0 || y < 0 || h < 0 || l < 0 || h >= grid.heads || l >= grid.layers) return null;
  return [l, h];
}

/** Draw a horizontal colour bar with lo / mid / hi ticks on `canvas` (CSS size width × height). */
export function drawLegend(canvas, { lo, hi, diverging, width = 220, height = 34, font = 12, fg = "#1d2330", dpr }) {
  const win = canvas.ownerDocument && canvas.ownerDocument.defaultView;
  const r = dpr || (win && win.devicePixelRatio) || 1;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * r);
  canvas.height = Math.round(height * r);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(r, 0, 0, r, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const pad = Math.ceil(font * 1.6), barH = Math.max(8, height - font - 8);
  for (let x = 0; x < width - 2 * pad; x++) {
    ctx.fillStyle = colorFor(lo + ((hi - lo) * x) / (width - 2 * pad - 1), lo, hi, diverging);
    ctx.fillRect(pad + x, 0, 1, barH);
  }
  ctx.fillStyle = fg;
  ctx.font = `${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  ctx.textAlign = "center";
  for (const [v, x] of legendTicks(lo, hi, diverging, pad, width - pad)) ctx.fillText(v, x, barH + 3);
}

function legendTicks(lo, hi, diverging, x0, x1) {
  const mid = diverging ? 0 : (lo + hi) / 2;
  return [[lo, x0], [mid, (x0 + x1) / 2], [hi, x1]].map(([v, x]) => [(diverging && v > 0 ? "+" : "") + fmtTick(v), x]);
}

const xml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);

/** The grid as a standalone SVG document (same colours and labels; a title, and a colour bar below). */
export function gridSvg(grid, { title = "" } = {}) {
  const g = { ...grid, cell: grid.cell || Math.max(grid.minCell || 16, Math.min(32, Math.floor(640 / grid.heads))) };
  const L = gridLayout(g), fg = g.fg || "#1d2330", font = L.font;
  const head = title ? Math.ceil(font * 2) : 0, legendW = Math.min(260, Math.max(160, L.width - 20));
  const W = Math.max(L.width, legendW + Math.ceil(font * 3.6), Math.ceil(String(title).length * font * 0.58) + 12), H = head + L.height + font * 3 + 20;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" `
    + `font-family="system-ui, sans-serif" font-size="${font}">`];
  out.push(`<rect width="${W}" height="${H}" fill="${xml(g.bg || "#ffffff")}"/>`);
  if (title) out.push(`<text x="4" y="${font * 1.3}" font-weight="600" fill="${xml(fg)}">${xml(title)}</text>`);
  out.push(`<g transform="translate(0 ${head})">`);
  const gap = Math.min(L.cellW, L.cellH) >= 10 ? 1 : 0;
  for (let l = 0; l < g.layers; l++) {
    for (let h = 0; h < g.heads; h++) {
      const v = g.values[l * g.heads + h];
      const fill = g.blank ? BLANK : colorFor(v, g.lo, g.hi, g.diverging);
      const tip = `layer ${l} · head ${h}${g.task ? ` · ${g.task}` : ""} ${Number.isFinite(v) ? v.toFixed(6) : "n/a"}`;
      out.push(`<rect x="${L.left + h * L.cellW}" y="${L.top + l * L.cellH}" width="${L.cellW - gap}" `
        + `height="${L.cellH - gap}" fill="${fill}"><title>${xml(tip)}</title></rect>`);
    }
  }
  for (let l = 0; l < g.layers; l += L.rowEvery) {
    out.push(`<text x="${L.left - 5}" y="${L.top + (l + 0.5) * L.cellH}" text-anchor="end" dominant-baseline="middle" fill="${xml(fg)}">${l}</text>`);
  }
  const tickY = L.top - Math.ceil(font * 0.75) - 1;
  for (let h = 0; h < g.heads; h += L.colEvery) {
    out.push(`<text x="${L.left + (h + 0.5) * L.cellW}" y="${tickY}" text-anchor="middle" dominant-baseline="middle" fill="${xml(fg)}">${h}</text>`);
  }
  const cy = L.top + (g.layers * L.cellH) / 2, cx = Math.ceil(font * 0.75);
  out.push(`<text x="${L.left + (g.heads * L.cellW) / 2}" y="${cx}" text-anchor="middle" dominant-baseline="middle" font-weight="600" fill="${xml(fg)}">head</text>`);
  out.push(`<text transform="translate(${cx} ${cy}) rotate(-90)" text-anchor="middle" dominant-baseline="middle" font-weight="600" fill="${xml(fg)}">layer</text>`);
  out.push("</g>");
  const y0 = head + L.height + 8, x0 = Math.ceil(font * 1.8), n = 24, barH = font;
  out.push("<defs><linearGradient id=\"atlas-bar\">");
  for (let i = 0; i <= n; i++) out.push(`<stop offset="${(i / n).toFixed(4)}" stop-color="${colorFor(g.lo + ((g.hi - g.lo) * i) / n, g.lo, g.hi, g.diverging)}"/>`);
  out.push("</linearGradient></defs>");
  out.push(`<rect x="${x0}" y="${y0}" width="${legendW}" height="${barH}" fill="url(#atlas-bar)"/>`);
  for (const [v, x] of legendTicks(g.lo, g.hi, g.diverging, x0, x0 + legendW)) {
    out.push(`<text x="${x}" y="${y0 + barH + font + 2}" text-anchor="middle" fill="${xml(fg)}">${xml(v)}</text>`);
  }
  out.push("</svg>");
  return out.join("\n");
}
