// The notebook's head atlas (attnscope.atlas(...).show()): the layer × head grid of one task's scores, a task picker,
// the hovered head's score and the colour scale, from data attnscope embedded beside the output (no server, no fetch,
// no network). The grid, its colours, legend and SVG are the page's (atlas_grid.js).
// `attnscope` inlines atlas_grid.js and this file in one classic script element (attnscope._html.js_bundle: `export`
// keywords and the import below stripped): it imports nothing else, and its top-level names must not clash with
// atlas_grid.js's. Every text is set as textContent, never as HTML.

import { cellAt, drawGrid, drawLegend, gridSvg, scaleFor, scaleText } from "./atlas_grid.js";

/** One line per task: what its score measures (the definitions are attnscope.inspection.atlas.tasks'). */
const ATLAS_NOTES = {
  previous: "mean weight on the previous token, w[i, i − 1], on repeated random tokens",
  previous_text: "mean weight on the previous token, w[i, i − 1], on natural text",
  induction: "mean weight on the token after the earlier copy, w[i, i − n + 1], over the second copy",
  duplicate: "mean weight on the same token's earlier copy, w[i, i − n], over the second copy",
  sink: "mean weight on the first token",
  entropy: "mean entropy of a query's weights (nats): high is spread out, low is focused",
  distance: "mean distance |i − j| under the weights (tokens)",
  retrieval: "fraction of copy steps whose most-attended key is the needle token being copied",
};

function atlasNode(tag, text, style = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  Object.assign(e.style, style);
  return e;
}

/** A score as text: four decimals (NaN / null: "not in this frame"). */
export function atlasScore(v) {
  return Number.isFinite(v) ? v.toFixed(4) : "not in this frame";
}

/** Offer `blob` as a download named `name` (a blob: URL, revoked after the click). */
function atlasSave(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/**
 * Draw `data` (built by attnscope._atlas: {title, layers, heads, tasks, task, scores: {task: [layer-major scores,
 * null where absent]}, settings: {prompts, length, seed}}) into `root`. Sets `root.dataset.task` and, once drawn,
 * `root.dataset.ready`; the canvas carries data-layers, data-heads and data-cells (atlas_grid.js).
 */
export function mountAtlas(root, data) {
  const fg = getComputedStyle(root).color || "#1d2330";
  const st = { task: data.tasks.includes(data.task) ? data.task : data.tasks[0], selected: null, hover: null };
  const values = {};
  for (const t of data.tasks) values[t] = Float64Array.from(data.scores[t], (v) => (v === null ? NaN : v));

  const picker = atlasNode("select", undefined, { font: "inherit" });
  for (const t of data.tasks) {
    const o = atlasNode("option", t);
    o.value = t;
    picker.append(o);
  }
  picker.value = st.task;
  picker.addEventListener("change", () => { st.task = picker.value; draw(); });
  const label = atlasNode("label", "Task ", { marginRight: "1rem" });
  label.append(picker);
  const button = (text, onClick) => {
    const b = atlasNode("button", text, { font: "inherit", marginRight: ".4rem" });
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  };
  const bar = atlasNode("div", undefined, { margin: "0 0 .5rem", display: "flex", flexWrap: "wrap", alignItems: "center" });
  bar.append(label,
    button("SVG", () => atlasSave(new Blob([gridSvg({ ...grid(), fg: "#1d2330", bg: "#ffffff" },
      { title: `${data.title} · ${st.task}` })], { type: "image/svg+xml" }), `atlas-${st.task}.svg`)),
    button("PNG", () => canvas.toBlob((b) => b && atlasSave(b, `atlas-${st.task}.png`))));
  const note = atlasNode("div", "", { margin: "0 0 .4rem", opacity: ".8", fontSize: "12px" });
  const canvas = atlasNode("canvas", undefined, { display: "block", cursor: "crosshair", outline: "none" });
  canvas.className = "attnscope-atlas-grid";
  canvas.tabIndex = 0;
  canvas.setAttribute("aria-label", "layer by head grid of scores: hover or use the arrow keys");
  const readout = atlasNode("div", "", { margin: ".4rem 0", fontVariantNumeric: "tabular-nums", minHeight: "1.4em" });
  readout.className = "attnscope-atlas-hover";
  readout.setAttribute("aria-live", "polite");
  const legend = atlasNode("canvas", undefined, { display: "block" });
  const scale = atlasNode("p", "", { margin: ".2rem 0", opacity: ".8", fontSize: "12px" });
  scale.className = "attnscope-atlas-scale";
  const top = atlasNode("p", "", { margin: ".2rem 0", opacity: ".8", fontSize: "12px" });
  top.className = "attnscope-atlas-top";
  root.replaceChildren(atlasNode("div", data.title, { fontWeight: "600", marginBottom: ".4rem" }), bar, note, canvas,
    readout, legend, scale, top);

  let g = null;
  function grid() {
    const v = values[st.task];
    return { values: v, layers: data.layers, heads: data.heads, ...scaleFor(st.task, v), selected: st.selected,
      blank: false, task: st.task, fg, width: Math.max(320, Math.min(root.clientWidth || 900, 900)), maxHeight: 640 };
  }
  const cellText = ([l, h]) => `layer ${l} · head ${h} · ${st.task} ${atlasScore(values[st.task][l * data.heads + h])}`;
  function show() {
    const c = st.hover || st.selected;
    readout.textContent = c ? cellText(c) : "hover a cell for its head's score; click to mark it";
    canvas.dataset.hover = st.hover ? `${st.hover[0]},${st.hover[1]}` : "";
  }

  function draw() {
    g = grid();
    const lay = drawGrid(canvas, g); // where the cells are, in CSS px from the canvas's corner: for tests and tools
    Object.assign(canvas.dataset, { cell: String(lay.cell), left: String(lay.left), top: String(lay.top) });
    drawLegend(legend, { lo: g.lo, hi: g.hi, diverging: g.diverging, fg });
    note.textContent = ATLAS_NOTES[st.task] || "";
    const s = data.settings || {};
    const over = s.prompts ? `; each cell is the mean over ${s.prompts} prompts (length ${s.length}, seed ${s.seed})` : "";
    scale.textContent = `${scaleText(st.task, g)}${over}. Rows are layers, columns heads, both from 0.`;
    const v = values[st.task], order = [];
    for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i])) order.push(i);
    order.sort((a, b) => v[b] - v[a]);
    top.textContent = order.length ? "highest: " + order.slice(0, 5).map((i) =>
      `layer ${Math.floor(i / data.heads)} · head ${i % data.heads} (${v[i].toFixed(3)})`).join(", ") : "no scores";
    root.dataset.task = st.task;
    show();
    root.dataset.ready = "1";
  }

  canvas.addEventListener("mousemove", (e) => { st.hover = cellAt(canvas, g, e.clientX, e.clientY); show(); });
  canvas.addEventListener("mouseleave", () => { st.hover = null; show(); });
  canvas.addEventListener("click", (e) => {
    const c = cellAt(canvas, g, e.clientX, e.clientY);
    st.selected = c && st.selected && c[0] === st.selected[0] && c[1] === st.selected[1] ? null : c;
    draw();
  });
  canvas.addEventListener("keydown", (e) => {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const [l, h] = st.selected || [0, 0], [dl, dh] = st.selected ? moves[e.key] : [0, 0];
    st.selected = [Math.min(data.layers - 1, Math.max(0, l + dl)), Math.min(data.heads - 1, Math.max(0, h + dh))];
    st.hover = null;
    draw();
  });
  draw();
}
