// The compare view's figures as functions of its answers: A and B on one shared colour scale (the √ scale of
// attention weights), A − B cell by cell where both have the same tokens' count, and the heads' statistics A − B.
import { decodeWeights, matrix } from "../api.js";
import { $, STATS, gridCsv, headGrid, maxOf, meanOf, range, tokenHeatmap } from "../analysis.js";
import { matrixCsv } from "../export.js";
import { WEIGHT_SCALE, colorbarTitle } from "../plot.js";

const DIVERGING = [[0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"], [1, "#b2182b"]];
const DIFF_TITLE = "A − B · linear"; // differences are not weights: a linear scale centred on 0

/** The compare loader's answer, shaped for the figures: {a, b, ha, hb, sa, sb} (ha, hb: per-head matrices). */
export function pairData({ a, b, sa, sb }) {
  const heads = (res) => {
    const [H, Tq, Tk] = res.shape;
    const flat = decodeWeights(res);
    return range(H).map((h) => matrix(flat, h * Tq * Tk, Tq, Tk));
  };
  return { a, b, ha: heads(a), hb: heads(b), sa, sb };
}

/**
 * Draw the view. `state`: {head ("mean" or a number as text), fit: bool, stat, layer}; `data`: pairData().
 * Resolves when the statistics grid is drawn (null when there is none).
 */
export function render(state, data) {
  renderPair(state, data);
  return renderStats(state, data);
}

/** The matrix of side `w` ("a" or "b") for the head in view (or the heads' mean). */
export function current(state, data, w) {
  const heads = w === "a" ? data.ha : data.hb;
  return state.head === "mean" ? meanOf(heads) : heads[Number(state.head)];
}

const headLabel = (state) => (state.head === "mean" ? "mean of heads" : `head ${Number(state.head) + 1}`);

/** A figure's file name: side "a", "b" or "diff". */
export function fileName(state, data, w) {
  const res = data.a;
  return `attnscope_compare_${w}_${res.block}_L${res.layer + 1}_${state.head === "mean" ? "mean" : `H${Number(state.head) + 1}`}`;
}

/** The export bar exportBar() put after a figure, or null. */
function barOf(fig) {
  const b = fig.nextElementSibling;
  return b && b.classList.contains("export-bar") ? b : null;
}

/** A and B side by side, ONE colour scale for both; then their difference. */
export function renderPair(state, data) {
  const za = current(state, data, "a"), zb = current(state, data, "b");
  const zmax = state.fit ? Math.max(maxOf(za), maxOf(zb)) || 1 : 1;
  for (const w of ["a", "b"]) {
    const res = data[w];
    tokenHeatmap(`cmp-${w}`, w === "a" ? za : zb, res.query_tokens, res.key_tokens, res.query_special, res.key_special, {
      title: `${w.toUpperCase()} · ${res.model} · ${res.block} · layer ${res.layer + 1} · ${headLabel(state)}`, zmin: 0, zmax,
      colorscale: WEIGHT_SCALE, colorbarTitle: colorbarTitle("weight", "weight").text, showscale: w === "b",
      filename: fileName(state, data, w) });
  }
  renderDiff(state, data);
}

/** A − B cell by cell, with the two sides' tokens ("x / y" where they differ); null when the shapes differ. */
export function diffOf(state, data) {
  const { a, b } = data;
  if (a.query_tokens.length !== b.query_tokens.length || a.key_tokens.length !== b.key_tokens.length) return null;
  const za = current(state, data, "a"), zb = current(state, data, "b");
  const pair = (x, y) => (x === y ? x : `${x} / ${y}`);
  return { z: za.map((row, i) => row.map((v, j) => v - zb[i][j])), q: a.query_tokens.map((t, i) => pair(t, b.query_tokens[i])),
    k: a.key_tokens.map((t, j) => pair(t, b.key_tokens[j])) };
}

function renderDiff(state, data) {
  const { a, b } = data;
  const note = $("cmp-diff-note"), fig = $("cmp-diff"), bar = barOf(fig);
  const diff = diffOf(state, data);
  fig.hidden = !diff;
  if (bar) bar.hidden = !diff;
  note.hidden = Boolean(diff);
  if (!diff) {
    note.textContent = `A has ${a.query_tokens.length} × ${a.key_tokens.length} tokens and B has `
      + `${b.query_tokens.length} × ${b.key_tokens.length}: no cell-by-cell difference. The statistics difference below still compares every head.`;
    return;
  }
  const m = Math.max(1e-6, ...diff.z.map((row) => Math.max(...row.map(Math.abs))));
  tokenHeatmap("cmp-diff", diff.z, diff.q, diff.k, a.query_special, a.key_special, {
    title: `A − B · layer ${a.layer + 1} · ${headLabel(state)}`, zmin: -m, zmax: m, colorscale: DIVERGING,
    hoverLabel: "A − B", colorbarTitle: DIFF_TITLE, filename: fileName(state, data, "diff") });
}

/** Statistic `stat` of every head, A − B; null when the two models' heads differ in shape. */
export function statsDiff(data, stat) {
  const { sa, sb } = data;
  if (sa.layers !== sb.layers || sa.heads !== sb.heads) return null;
  return sa.stats.map((row, l) => row.map((s, h) => {
    const x = s[stat], y = sb.stats[l][h][stat];
    return x === null || y === null ? null : x - y;
  }));
}

/** The statistics difference grid, the head in view outlined; resolves when drawn (null: no grid). */
export function renderStats(state, data) {
  const { sa, sb } = data;
  const info = STATS.find((s) => s.id === state.stat);
  $("cmp-stat-help").textContent = info.help;
  const z = statsDiff(data, state.stat);
  const note = $("cmp-stats-note"), fig = $("cmp-stats-grid"), bar = barOf(fig);
  fig.hidden = !z;
  if (bar) bar.hidden = !z;
  note.hidden = Boolean(z);
  if (!z) {
    note.textContent = `${sa.model} has ${sa.layers} × ${sa.heads} heads and ${sb.model} has ${sb.layers} × ${sb.heads}: `
      + "a head-by-head difference needs the same shape. Compare two sentences on one model instead.";
    return Promise.resolve(null);
  }
  let m = 1e-6;
  for (const row of z) for (const v of row) if (v !== null) m = Math.max(m, Math.abs(v));
  const text = sa.stats.map((row, l) => row.map((s, h) => `A: ${s.label} · B: ${sb.stats[l][h].label}`));
  return headGrid("cmp-stats-grid", z, { title: `${info.label}: A − B`, colorscale: DIVERGING, zmin: -m, zmax: m, zmid: 0,
    text, hoverValue: "A − B", colorbarTitle: DIFF_TITLE, cursor: [Number(state.layer), Number(state.head)],
    filename: `attnscope_compare_${state.stat}_diff` });
}

/** What figure A or B shows, for export. */
export function pairExport(state, data, w) {
  if (!data) return null;
  const res = data[w];
  const z = current(state, data, w);
  return { name: fileName(state, data, w), csv: matrixCsv(res.query_tokens, res.key_tokens, z),
    json: { model: res.model, text: res.text, block: res.block, layer: res.layer, head: state.head,
      query_tokens: res.query_tokens, key_tokens: res.key_tokens, weights: z } };
}

/** What the difference figure shows, for export (null when there is none). */
export function diffExport(state, data) {
  const diff = data && diffOf(state, data);
  if (!diff) return null;
  const { a, b } = data;
  return { name: fileName(state, data, "diff"), csv: matrixCsv(diff.q, diff.k, diff.z),
    json: { a: { model: a.model, text: a.text }, b: { model: b.model, text: b.text }, block: a.block, layer: a.layer,
      head: state.head, query_tokens: diff.q, key_tokens: diff.k, difference: diff.z } };
}

/** What the statistics difference shows, for export (null when there is none). */
export function statsExport(state, data) {
  const z = data && statsDiff(data, state.stat);
  if (!z) return null;
  const { a, b } = data;
  return { name: `attnscope_compare_${state.stat}_diff`, csv: gridCsv(z),
    json: { a: { model: a.model, text: a.text }, b: { model: b.model, text: b.text }, block: a.block, statistic: state.stat,
      difference: z } };
}
