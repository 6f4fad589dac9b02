// The notebook effects views' shared pieces: numbers and tokens as text, the packed float32 arrays decoded, and a
// labelled canvas grid (token labels, cell text, hover) that norms, lens and patching draw on.
// `attnscope` inlines atlas_grid.js, this file and notebook_effects.js in one classic script element
// (attnscope._html.js_bundle): every top-level name here starts with `fx` or `FX_`, so none clashes with theirs.
// Every text that came from user input is set as textContent or drawn with fillText, never as HTML.

export const FX_FONT = "system-ui, sans-serif";

/** An element with text (as textContent), inline style and a class. */
export function fxNode(tag, text, style = {}, className = "") {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  Object.assign(e.style, style);
  if (className) e.className = className;
  return e;
}

/** A number as text: `d` decimals (null / NaN: "n/a"). */
export function fxNum(v, d = 4) {
  return Number.isFinite(v) ? v.toFixed(d) : "n/a";
}

/** A cell's number: two decimals, a true minus sign, "0" below 0.005 in size (no "−0.00"); null: not finite. */
export function fxCellNum(v) {
  if (!Number.isFinite(v)) return null;
  if (Math.abs(v) < 0.005) return "0";
  return (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2);
}

/** A token as text for a readout: quoted, so leading spaces show. */
export function fxTok(s) {
  return JSON.stringify(String(s));
}

/** A packed float32 array {dtype: "f32", shape, deflate, b64} (attnscope._html.pack) as a Float32Array. */
export async function fxFloats(a) {
  if (a.dtype !== "f32") throw new Error(`expected float32 data, got ${a.dtype}`);
  const bin = atob(a.b64);
  let bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  if (a.deflate) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

/** `s` cut to at most `w` px in the context's font, with an ellipsis. */
function fxFit(ctx, s, w) {
  s = String(s);
  if (ctx.measureText(s).width <= w) return s;
  while (s.length > 1 && ctx.measureText(s + "…").width > w) s = s.slice(0, -1);
  return w > ctx.measureText("…").width ? s + "…" : "";
}

/** The text colour readable on a viridis or RdBu cell of `css` ("rgb(r,g,b)"). */
function fxInk(css) {
  const m = /rgb\((\d+),(\d+),(\d+)\)/.exec(css);
  if (!m) return "#1d2330";
  const [r, g, b] = m.slice(1).map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#1d2330" : "#ffffff";
}

const fxLayouts = new WeakMap();

/**
 * A labelled grid on `canvas`. spec = {rows, cols, cellW, cellH, rowLabels, colLabels, rowTitle, colTitle,
 * rotate (column labels turned −90°), fill(i, j) -> CSS colour, text(i, j) -> string | null (drawn in the cell),
 * marked: [[i, j], ...] (outlined), fg, font}. Sets canvas.dataset {rows, cols, cellW, cellH, left, top}: cell (i, j)
 * spans x from left + j * cellW and y from top + i * cellH, CSS px from the canvas's corner. Returns the layout.
 */
export function fxDrawGrid(canvas, spec) {
  const font = spec.font || 12, fg = spec.fg || "#1d2330", labelMax = 110;
  const ctx = canvas.getContext("2d");
  ctx.font = `${font}px ${FX_FONT}`;
  const widest = (labels) => Math.min(labelMax, Math.max(0, ...labels.map((s) => ctx.measureText(String(s)).width)));
  const rowLabW = Math.ceil(widest(spec.rowLabels)) + 6;
  const colLabH = spec.rotate ? Math.ceil(widest(spec.colLabels)) + 6 : font + 6;
  const left = (spec.rowTitle ? font + 8 : 0) + rowLabW, top = (spec.colTitle ? font + 8 : 0) + colLabH;
  const L = { left, top, cellW: spec.cellW, cellH: spec.cellH, rows: spec.rows, cols: spec.cols,
    width: left + spec.cols * spec.cellW + 6, height: top + spec.rows * spec.cellH + 6 };
  const win = canvas.ownerDocument && canvas.ownerDocument.defaultView;
  const dpr = (win && win.devicePixelRatio) || 1;
  canvas.style.width = `${L.width}px`;
  canvas.style.height = `${L.height}px`;
  canvas.width = Math.round(L.width * dpr);
  canvas.height = Math.round(L.height * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, L.width, L.height);
  const gap = Math.min(L.cellW, L.cellH) >= 10 ? 1 : 0;
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  ctx.font = `${Math.min(font - 1, L.cellH - 4)}px ${FX_FONT}`;
  for (let i = 0; i < spec.rows; i++) {
    for (let j = 0; j < spec.cols; j++) {
      const x = left + j * L.cellW, y = top + i * L.cellH, c = spec.fill(i, j);
      ctx.fillStyle = c;
      ctx.fillRect(x, y, L.cellW - gap, L.cellH - gap);
      const t = spec.text ? spec.text(i, j) : null;
      if (t !== null && t !== undefined && L.cellW >= 18 && L.cellH >= 10) {
        ctx.fillStyle = fxInk(c);
        ctx.fillText(fxFit(ctx, t, L.cellW - 3), x + (L.cellW - gap) / 2, y + (L.cellH - gap) / 2 + 0.5);
      }
    }
  }
  ctx.fillStyle = fg;
  ctx.font = `${font}px ${FX_FONT}`;
  const step = (size) => Math.max(1, Math.ceil((font + 1) / size));
  ctx.textAlign = "right";
  for (let i = 0; i < spec.rows; i += step(L.cellH)) {
    ctx.fillText(fxFit(ctx, spec.rowLabels[i], labelMax), left - 5, top + (i + 0.5) * L.cellH);
  }
  if (spec.rotate) {
    for (let j = 0; j < spec.cols; j += step(L.cellW)) {
      ctx.save();
      ctx.translate(left + (j + 0.5) * L.cellW, top - 5);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(fxFit(ctx, spec.colLabels[j], labelMax), 0, 0);
      ctx.restore();
    }
  } else {
    ctx.textAlign = "center";
    const every = Math.max(1, Math.ceil(Math.max(...spec.colLabels.map((s) => ctx.measureText(String(s)).width), 1)
      / Math.max(1, L.cellW - 4)));
    const many = spec.colLabels.some((s) => String(s).length > 3);
    for (let j = 0; j < spec.cols; j += many ? 1 : every) {
      const t = many ? fxFit(ctx, spec.colLabels[j], L.cellW - 4) : String(spec.colLabels[j]);
      ctx.fillText(t, left + (j + 0.5) * L.cellW, top - colLabH / 2);
    }
  }
  ctx.font = `600 ${font}px ${FX_FONT}`;
  ctx.textAlign = "center";
  if (spec.colTitle) ctx.fillText(spec.colTitle, left + (spec.cols * L.cellW) / 2, Math.ceil(font * 0.75));
  if (spec.rowTitle) {
    ctx.save();
    ctx.translate(Math.ceil(font * 0.75), top + (spec.rows * L.cellH) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(spec.rowTitle, 0, 0);
    ctx.restore();
  }
  for (const [i, j] of spec.marked || []) {
    if (i < 0 || i >= spec.rows || j < 0 || j >= spec.cols) continue;
    const x = left + j * L.cellW, y = top + i * L.cellH, w = L.cellW - gap, h = L.cellH - gap;
    ctx.lineWidth = 2;
    ctx.strokeStyle = fg;
    ctx.strokeRect(x - 1, y - 1, w + 2, h + 2);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
  }
  Object.assign(canvas.dataset, { rows: String(spec.rows), cols: String(spec.cols), cellW: String(L.cellW),
    cellH: String(L.cellH), left: String(left), top: String(top) });
  fxLayouts.set(canvas, L);
  return L;
}

/** The [row, column] under a pointer at (clientX, clientY), or null outside the cells. */
export function fxCellAt(canvas, clientX, clientY) {
  const L = fxLayouts.get(canvas);
  if (!L) return null;
  const r = canvas.getBoundingClientRect();
  const sx = r.width ? L.width / r.width : 1, sy = r.height ? L.height / r.height : 1;
  const x = (clientX - r.left) * sx - L.left, y = (clientY - r.top) * sy - L.top;
  const j = Math.floor(x / L.cellW), i = Math.floor(y / L.cellH);
  if (x < 0 || y < 0 || i >= L.rows || j >= L.cols) return null;
  return [i, j];
}

/** Hover and leave on `canvas` call `on([i, j] | null)`. */
export function fxHover(canvas, on) {
  canvas.addEventListener("mousemove", (e) => on(fxCellAt(canvas, e.clientX, e.clientY)));
  canvas.addEventListener("mouseleave", () => on(null));
}

/** The output: its title, then `parts`. */
export function fxFrame(root, data, parts) {
  root.replaceChildren(fxNode("div", data.title, { fontWeight: "600", marginBottom: ".4rem" }), ...parts);
}

/** A labelled select of [value, text] options; onChange(value) on a change. */
export function fxSelect(label, options, value, onChange) {
  const s = fxNode("select", undefined, { font: "inherit" });
  for (const [v, text] of options) {
    const o = fxNode("option", text);
    o.value = String(v);
    s.append(o);
  }
  s.value = String(value);
  s.addEventListener("change", () => onChange(s.value));
  const l = fxNode("label", `${label} `, { marginRight: "1rem" });
  l.append(s);
  return l;
}

/** A small note (a scale, a caption). */
export const fxSmall = (text, className = "") => fxNode("p", text, { margin: ".2rem 0", opacity: ".8", fontSize: "12px" },
  className);
/** The hover readout line, announced politely to screen readers. */
export const fxReadout = (className) => {
  const r = fxNode("div", "", { margin: ".4rem 0", fontVariantNumeric: "tabular-nums", minHeight: "1.4em" }, className);
  r.setAttribute("aria-live", "polite");
  return r;
};
