// The positions view's tables (the values, with the lecture's "I am a Robot" rows; PE(pos + k) = PE(pos) · M_k
// and the blocks of M_k) and what its figures share: row and column labels, the dimension picker, draw().
import { CONFIG, colorbarTitle, plotFont } from "../plot.js";

export const ROBOT_TOKENS = ["I", "am", "a", "Robot"];
export const DIVERGING = "RdBu";
const TABLE_ROWS = 12, TABLE_COLS = 8, ROT_ROWS = 16, ROT_BLOCKS = 8, FULL_MATRIX = 16;

export const $ = (id) => document.getElementById(id);

/** [0, 1, ..., n - 1] */
export function range(n) { return Array.from({ length: n }, (_, i) => i); }

/** Token labels of the rows: the lecture's sentence for the "I am a Robot" preset, else positions. */
export function rowLabels(state, n) {
  const robot = state.preset === "robot" && n === ROBOT_TOKENS.length;
  return range(n).map((i) => (robot ? `${ROBOT_TOKENS[i]} (${i})` : String(i)));
}

/** The name of column `j` of answer `res` (as encoding `kind`): "sin, i=0", "cos, pair 1", "bit 7", "dim 3". */
export function colLabel(res, j, kind = res.kind) {
  if (kind === "sinusoidal") return `${j % 2 ? "cos" : "sin"}, i=${j >> 1}`;
  if (kind === "rotary") return `${j % 2 ? "sin" : "cos"}, pair ${j >> 1}`;
  if (kind === "binary") return `bit ${res.d - 1 - j}`;
  return `dim ${j}`;
}

/** The dimension picker for answer `res`: one option per column, `dims` selected (null: a few by default). */
export function fillDims(res, dims) {
  const sel = $("pos-dims"), d = res.d;
  if (sel.options.length !== d || sel.dataset.kind !== res.kind) {
    sel.replaceChildren(...range(d).map((j) => {
      const o = document.createElement("option");
      o.value = String(j);
      o.textContent = `${j}: ${colLabel(res, j)}`;
      return o;
    }));
    sel.dataset.kind = res.kind;
  }
  const want = (dims || defaultDims(d)).filter((j) => j < d);
  for (const o of sel.options) o.selected = want.includes(Number(o.value));
}

function defaultDims(d) {
  if (d <= 6) return range(d);
  return [...new Set([0, 1, 2 * Math.round(d / 16), 2 * Math.round(d / 8)])].filter((j) => j < d);
}

/** Plotly.react with the div's CSS height set to the layout's: the responsive resize (window resize,
 * presentation mode) autosizes from the div, so without it a figure would collapse to 0 px. */
export function draw(id, traces, layout, config = CONFIG) {
  const el = typeof id === "string" ? $(id) : id;
  el.style.height = `${layout.height}px`;
  // square figures (scaleanchor + constrain "domain"): Plotly.react keeps the old shrunken domain and
  // widens the range instead when the size changes, so those are drawn afresh
  if (layout.yaxis?.constrain === "domain") return Plotly.newPlot(el, traces, layout, config);
  return Plotly.react(el, traces, layout, config);
}

/** The first rows and columns of the values, to 2 decimals, built with textContent. */
export function renderTable(state, res) {
  const rows = Math.min(res.positions, TABLE_ROWS), cols = Math.min(res.d, TABLE_COLS);
  const robot = state.preset === "robot" && res.positions === ROBOT_TOKENS.length;
  const head = ["token", "k", ...range(cols).map((j) => colLabel(res, j))];
  const body = range(rows).map((i) => [robot ? ROBOT_TOKENS[i] : "", String(i), ...range(cols).map((j) => fix2(res.values[i][j]))]);
  buildTable($("pos-table"), head, body);
  $("pos-table-title").textContent = robot ? "Positional encoding matrix for the sequence “I am a Robot” (d = 4, n = 100)"
    : `Values of the ${res.kind} encoding`;
  $("pos-table-cap").textContent = (rows < res.positions || cols < res.d)
    ? `The first ${rows} of ${res.positions} positions and ${cols} of ${res.d} dimensions, to 2 decimals.`
    : "Every value, to 2 decimals." + (res.kind === "sinusoidal" ? " P(k, 2i) = sin(k / n^(2i/d)), P(k, 2i+1) = cos(k / n^(2i/d))." : "");
}

/** The rotation demo of `res` (a sinusoidal answer asked with k): M_k, PE(pos + k) beside PE(pos) · M_k, M_k's blocks. */
export function renderRotation(state, res) {
  const { k, matrix, shifted, rotated, check } = res.rotation;
  const d = res.d, pos = Math.min(state.pos, res.positions - 1);
  const m = d <= FULL_MATRIX ? d : 2 * ROT_BLOCKS;
  const trace = {
    type: "heatmap", z: matrix.slice(0, m).map((row) => row.slice(0, m)), colorscale: DIVERGING,
    zmin: -1, zmax: 1, x: range(m), y: range(m), hovertemplate: "M[%{y}, %{x}] = %{z:.4f}<extra></extra>",
    // the title along the bar in both modes: above it, the top tick (1) would run into it
    colorbar: { thickness: 12, title: { ...colorbarTitle("entry", "linear"), side: "right" } },
  };
  const layout = {
    title: { text: `M<sub>${k}</sub> (${d} × ${d})${m < d ? `: the top-left ${m} × ${m}` : ""}`, font: plotFont(15), x: 0 },
    xaxis: { side: "top", dtick: 1, constrain: "domain", range: [-0.5, m - 0.5] },
    yaxis: { range: [m - 0.5, -0.5], scaleanchor: "x", constrain: "domain", dtick: 1 },
    height: 380, margin: { t: 70, l: 40, r: 10, b: 20 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("pos-rot-matrix", [trace], layout, CONFIG);
  const robot = state.preset === "robot";
  const name = (p) => (robot && p < ROBOT_TOKENS.length ? `${p} “${ROBOT_TOKENS[p]}”` : String(p));
  const rows = Math.min(d, ROT_ROWS);
  const pe = res.values[pos];
  buildTable($("pos-rot-table"), ["dim", `PE(${pos})`, `PE(${pos} + ${k})`, `PE(${pos}) · M${sub(k)}`],
    range(rows).map((j) => [`${j}: ${colLabel(res, j, "sinusoidal")}`, fix4(pe[j]), fix4(shifted[pos][j]), fix4(rotated[pos][j])]));
  $("pos-rot-table-cap").textContent = `Position ${name(pos)} moved by k = ${k}: the encoding of position ${pos + k}, computed from`
    + ` the formula (middle) and by rotating PE(${pos}) (right), agree${rows < d ? ` (first ${rows} of ${d} dimensions)` : ""}.`;
  const theta = range(Math.min(d / 2, ROT_BLOCKS)).map((i) => res.n ** (-2 * i / d));
  buildTable($("pos-rot-blocks"), ["pair i", "θ_i = n^(−2i/d)", "angle k·θ_i", "block [[cos, −sin], [sin, cos]]"],
    theta.map((t, i) => [String(i), fix4(t), fix4(k * t),
      `[[${fix2(Math.cos(k * t))}, ${fix2(-Math.sin(k * t))}], [${fix2(Math.sin(k * t))}, ${fix2(Math.cos(k * t))}]]`]));
  $("pos-check").textContent = `max |PE(pos + ${k}) − PE(pos) · M${sub(k)}| over ${res.positions} positions = ${check.toExponential(1)}`;
}

function buildTable(table, head, rows) {
  const thead = document.createElement("thead");
  const tr = document.createElement("tr");
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.append(th);
  }
  thead.append(tr);
  const tbody = document.createElement("tbody");
  for (const row of rows) {
    const r = document.createElement("tr");
    row.forEach((v, i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      td.textContent = v;
      r.append(td);
    });
    tbody.append(r);
  }
  table.replaceChildren(thead, tbody);
}

function fix2(v) { return Math.abs(v) < 0.005 ? "0.00" : v.toFixed(2); }
function fix4(v) { return Math.abs(v) < 0.00005 ? "0.0000" : v.toFixed(4); }
function sub(k) { return String(k).replace(/\d/g, (c) => "₀₁₂₃₄₅₆₇₈₉"[c]); }
