// The notebook's views of what heads do beyond their weights, from data attnscope embedded beside the output (no
// server, no fetch, no network): value-weighted norms (attnscope.norms(...).show(): weight and norm side by side),
// the logit lens (attnscope.lens(...).show(): layers × positions, top-1 token per cell) and activation patching
// (attnscope.patch(...).show(): layers × heads or positions, effects diverging around 0). Colours and the legend are
// the Atlas view's (atlas_grid.js); the labelled grid (notebook_effects_grid.js) adds token labels and cell text.
// `attnscope` inlines atlas_grid.js, notebook_effects_grid.js and this file in one classic script element
// (attnscope._html.js_bundle: `export` keywords and the imports below stripped): every top-level name here starts
// with `fx` so none clashes with theirs. Every text that came from user input is set as textContent or drawn with
// fillText, never as HTML.

import { colorFor, drawLegend, fmtTick } from "./atlas_grid.js";
import {
  FX_FONT, fxCellNum, fxDrawGrid, fxFloats, fxFrame, fxHover, fxNode, fxNum, fxReadout, fxSelect, fxSmall, fxTok,
} from "./notebook_effects_grid.js";

const FX_EMPTY = "#e6e8ee";

// --- norms: weight | norm, one head ---------------------------------------------------------------------------

async function fxMountNorms(root, data) {
  const names = ["weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised"];
  const A = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await fxFloats(data[n])])));
  const fg = getComputedStyle(root).color || "#1d2330";
  const H = data.heads, qt = data.query_tokens, kt = data.key_tokens, Tq = qt.length, Tk = kt.length;
  const st = { head: data.head, wo: false, hover: null };
  const cell = Math.max(4, Math.min(26, Math.floor(360 / Math.max(Tq, Tk))));
  const headSel = fxSelect("Head", Array.from({ length: H }, (_, h) => [h, `head ${h}`]), st.head,
    (v) => { st.head = Number(v); draw(); });
  const normSel = fxSelect("Norm", [["v", "‖α·f(x)‖, before W_O"], ["wo", "‖α·f(x)·W_O‖, through W_O"]], "v",
    (v) => { st.wo = v === "wo"; draw(); });
  const bar = fxNode("div", undefined, { margin: "0 0 .5rem", display: "flex", flexWrap: "wrap", alignItems: "center" });
  bar.append(headSel, normSel);
  const panel = (caption, className) => {
    const box = fxNode("div", undefined, { marginRight: "1.5rem" });
    const cap = fxNode("div", caption, { fontWeight: "600", fontSize: "12px", margin: "0 0 .2rem" });
    const canvas = fxNode("canvas", undefined, { display: "block", cursor: "crosshair" }, className);
    box.append(cap, canvas);
    return { box, cap, canvas };
  };
  const left = panel("weight α", "attnscope-norms-weights");
  const right = panel("", "attnscope-norms-norms");
  const row = fxNode("div", undefined, { display: "flex", flexWrap: "wrap", alignItems: "flex-start" });
  row.append(left.box, right.box);
  const readout = fxReadout("attnscope-norms-hover");
  const legend = fxNode("canvas", undefined, { display: "block" });
  const scale = fxSmall("colour: weight (left) and the norm's share of its row (right), 0–1, linear; rows are "
    + "queries, columns keys. Hover a cell for both numbers.", "attnscope-norms-scale");
  const sink = fxSmall("", "attnscope-norms-sink");
  fxFrame(root, data, [bar, row, readout, legend, scale, sink]);

  const at = (name, i, j) => A[name][(st.head * Tq + i) * Tk + j];
  const normName = () => (st.wo ? "norms_with_wo" : "norms");
  function spec(name) {
    return { rows: Tq, cols: Tk, cellW: cell, cellH: cell, rowLabels: qt, colLabels: kt, rotate: true, fg,
      rowTitle: "query", colTitle: "key", fill: (i, j) => colorFor(at(name, i, j), 0, 1, false),
      marked: st.hover ? [st.hover] : [] };
  }
  function show() {
    const c = st.hover;
    root.dataset.hover = c ? `${c[0]},${c[1]}` : "";
    if (!c) { readout.textContent = "hover a cell: its weight and its norms"; return; }
    const [i, j] = c;
    readout.textContent = `head ${st.head} · query ${i} ${fxTok(qt[i])} → key ${j} ${fxTok(kt[j])} · `
      + `weight ${fxNum(at("weights", i, j))} · ‖α·f(x)‖ ${fxNum(at("norms", i, j))} `
      + `(${fxNum(at("norms_normalised", i, j))} of the row) · ‖α·f(x)·W_O‖ ${fxNum(at("norms_with_wo", i, j))} `
      + `(${fxNum(at("norms_with_wo_normalised", i, j))} of the row)`;
  }
  function draw() {
    fxDrawGrid(left.canvas, spec("weights"));
    fxDrawGrid(right.canvas, spec(`${normName()}_normalised`));
    right.cap.textContent = st.wo ? "‖α·f(x)·W_O‖, share of the row" : "‖α·f(x)‖, share of the row";
    let w0 = 0, n0 = 0;
    for (let i = 0; i < Tq; i++) { w0 += at("weights", i, 0); n0 += at(`${normName()}_normalised`, i, 0); }
    sink.textContent = `key 0 ${fxTok(kt[0])}: mean weight ${fxNum(w0 / Tq, 3)}, mean share of the norm `
      + `${fxNum(n0 / Tq, 3)} (head ${st.head}, layer ${data.layer}, ${data.block})`;
    root.dataset.head = String(st.head);
    root.dataset.norm = st.wo ? "norms_with_wo" : "norms";
    show();
  }
  for (const p of [left, right]) {
    fxHover(p.canvas, (c) => {
      const same = (c && st.hover && c[0] === st.hover[0] && c[1] === st.hover[1]) || (!c && !st.hover);
      st.hover = c;
      if (same) return;
      if (Tq * Tk <= 40000) draw(); else show();
    });
  }
  drawLegend(legend, { lo: 0, hi: 1, diverging: false, fg });
  draw();
}

// --- lens: layers × positions ----------------------------------------------------------------------------------

function fxMountLens(root, data) {
  const fg = getComputedStyle(root).color || "#1d2330";
  const R = data.layers.length, C = data.positions.length;
  const probe = document.createElement("canvas").getContext("2d");
  probe.font = `12px ${FX_FONT}`;
  let widest = 0;
  for (const row of data.cells) for (const c of row) if (c) widest = Math.max(widest, probe.measureText(c.top[0][0]).width);
  const cellW = Math.max(24, Math.min(96, Math.ceil(widest) + 10, Math.floor(16000 / C))); // a canvas stays < 16k px
  const canvas = fxNode("canvas", undefined, { display: "block", cursor: "crosshair" }, "attnscope-lens-grid");
  const readout = fxReadout("attnscope-lens-hover");
  const legend = fxNode("canvas", undefined, { display: "block" });
  const scale = fxSmall("colour: probability of the top-1 token, 0–1, linear. Rows: \"emb\" (the embeddings), then "
    + "the residual stream after each layer, read through the final norm and the unembedding; columns: positions "
    + "(the input token there; each cell predicts the next one).", "attnscope-lens-scale");
  fxFrame(root, data, [canvas, readout, legend, scale]);
  const st = { hover: null };
  const cellOf = (i, j) => data.cells[i][j];
  function draw() {
    fxDrawGrid(canvas, { rows: R, cols: C, cellW, cellH: 22, fg, rowLabels: data.layers,
      colLabels: data.positions.map((p, j) => data.tokens[j]), rotate: true, rowTitle: "layer",
      colTitle: "position", marked: st.hover ? [st.hover] : [],
      fill: (i, j) => (cellOf(i, j) ? colorFor(cellOf(i, j).top[0][1], 0, 1, false) : FX_EMPTY),
      text: (i, j) => (cellOf(i, j) ? cellOf(i, j).top[0][0] : null) });
    show();
  }
  function show() {
    root.dataset.hover = st.hover ? `${st.hover[0]},${st.hover[1]}` : "";
    if (!st.hover) { readout.textContent = "hover a cell: its top tokens and the final prediction's rank"; return; }
    const [i, j] = st.hover, c = cellOf(i, j);
    const where = `layer ${data.layers[i]} · position ${data.positions[j]} ${fxTok(data.tokens[j])}`;
    if (!c) { readout.textContent = `${where}: not in this frame`; return; }
    const top = c.top.map(([t, p], r) => `${r + 1}. ${fxTok(t)} ${fxNum(p)}`).join("  ");
    const fin = c.final ? ` · final prediction ${fxTok(c.final[0])}: rank ${c.final[1]}, p ${fxNum(c.final[2])}` : "";
    readout.textContent = `${where} · ${top}${fin}`;
  }
  fxHover(canvas, (c) => { st.hover = c; draw(); });
  drawLegend(legend, { lo: 0, hi: 1, diverging: false, fg });
  draw();
}

// --- patch: layers × heads (or positions) ------------------------------------------------------------------------

function fxMountPatch(root, data) {
  const fg = getComputedStyle(root).color || "#1d2330";
  const R = data.layers, C = data.columns.length, heads = data.mode === "heads";
  const undefinedEffects = data.effects.every((e) => e === null) && data.values.some((v) => v !== null);
  const shown = undefinedEffects
    ? data.values.map((v) => (v === null ? NaN : v - (data.corrupt_value || 0)))
    : data.effects.map((e) => (e === null ? NaN : e));
  const m = Math.max(1, ...shown.filter(Number.isFinite).map(Math.abs));
  const clean = data.clean_tokens || [], corrupt = data.corrupt_tokens || [];
  const label = (p) => (clean[p] === undefined ? String(p)
    : clean[p] === corrupt[p] ? clean[p] : `${clean[p]}/${corrupt[p]}`);
  const colLabels = heads ? data.columns.map(String) : data.columns.map(label);
  const cellW = heads ? Math.max(14, Math.min(40, Math.floor(560 / C))) : Math.max(28, Math.min(64, Math.floor(760 / C)));
  const cellH = heads ? Math.max(14, Math.min(cellW, Math.floor(640 / R))) : Math.max(14, Math.min(24, Math.floor(640 / R)));
  const metric = data.metric || "value";
  const pair = data.answer ? `answer ${fxTok(data.answer.token)}` + (data.foil ? ` vs foil ${fxTok(data.foil.token)}` : "") : "";
  const head = fxSmall(data.metric ? `${metric}: ${pair}; m(clean) ${fxNum(data.clean_value)}, m(corrupt) `
    + `${fxNum(data.corrupt_value)}; effect = (m − m(corrupt)) / (m(clean) − m(corrupt)): 1 = fully restored, `
    + "0 = no change" : "", "attnscope-patch-metric");
  const reason = fxNode("p", data.reason || "", { margin: ".2rem 0", color: "#a3400b", fontSize: "12px",
    display: data.reason ? "" : "none" }, "attnscope-patch-reason");
  const canvas = fxNode("canvas", undefined, { display: "block", cursor: "crosshair" }, "attnscope-patch-grid");
  const readout = fxReadout("attnscope-patch-hover");
  const legend = fxNode("canvas", undefined, { display: "block" });
  const scale = fxSmall(`colour: ${undefinedEffects ? "m − m(corrupt)" : "effect"}, ${fmtTick(-m)} to +${fmtTick(m)}`
    + ", centred on 0 (white: no change); red: towards clean (1 = fully restored), blue: away from it. "
    + (heads ? "Rows are layers, columns heads, both from 0." : "Rows are layers (the stream after each), columns "
    + "positions (clean/corrupt where the tokens differ)."), "attnscope-patch-scale");
  const top = fxSmall("", "attnscope-patch-top");
  fxFrame(root, data, [head, reason, canvas, readout, legend, scale, top]);
  const st = { hover: null };
  const what = (j) => (heads ? `head ${data.columns[j]}` : `position ${data.columns[j]} ${fxTok(label(data.columns[j]))}`);
  function show() {
    root.dataset.hover = st.hover ? `${st.hover[0]},${st.hover[1]}` : "";
    if (!st.hover) { readout.textContent = "hover a cell: its effect and the metric with that site patched"; return; }
    const [i, j] = st.hover, k = i * C + j;
    if (data.values[k] === null) { readout.textContent = `layer ${i} · ${what(j)}: not tried`; return; }
    readout.textContent = `layer ${i} · ${what(j)} · effect ${data.effects[k] === null ? "undefined" : fxNum(data.effects[k])}`
      + ` · ${metric} ${fxNum(data.values[k])}`;
  }
  function draw() {
    fxDrawGrid(canvas, { rows: R, cols: C, cellW, cellH, fg, rowLabels: Array.from({ length: R }, (_, i) => String(i)),
      colLabels, rotate: !heads, rowTitle: "layer", colTitle: heads ? "head" : "position",
      marked: st.hover ? [st.hover] : [],
      fill: (i, j) => (data.values[i * C + j] === null ? FX_EMPTY : colorFor(shown[i * C + j], -m, m, true)),
      text: (i, j) => (cellW >= 34 && cellH >= 16 ? fxCellNum(shown[i * C + j]) : null) });
    show();
  }
  const order = [];
  for (let k = 0; k < shown.length; k++) if (Number.isFinite(shown[k])) order.push(k);
  order.sort((a, b) => shown[b] - shown[a]);
  top.textContent = order.length ? "most restoring: " + order.slice(0, 5).map((k) =>
    `layer ${Math.floor(k / C)} · ${what(k % C)} (${shown[k].toFixed(3)})`).join(", ") : "";
  fxHover(canvas, (c) => { st.hover = c; draw(); });
  drawLegend(legend, { lo: -m, hi: m, diverging: true, fg });
  draw();
}

/**
 * Draw `data` (built by attnscope._effects_view: {view: "norms" | "lens" | "patch", title, ...}) into `root`. Once
 * drawn, `root.dataset.ready` is "1"; `root.dataset.hover` holds the hovered cell ("row,column") or "".
 */
export async function mountEffects(root, data) {
  const mount = { norms: fxMountNorms, lens: fxMountLens, patch: fxMountPatch }[data.view];
  if (!mount) throw new Error(`unknown view ${data.view}`);
  await mount(root, data);
  root.dataset.ready = "1";
}
