// The matrix playground's drawing: render(state, data) puts one /api/playground answer on the page (the shapes, the
// row followed through every step, a heatmap per matrix with its numbers in the cells, the memory table).
import { CONFIG, SCALE, WEIGHT_SCALE, colorbarTitle, esc, plotFont, plotTitle, tokenOption } from "../plot.js";
import { MATRICES } from "./playground_form.js";

/** The figures, in order: [name, what it shows]; each is a #pg-fig-NAME in #pg-figs. */
export const FIGURES = [
  ["q", "Q"], ["k", "K"], ["v", "V"],
  ["scores", "scores = Q · Kᵀ"], ["scaled", "scaled, masked"], ["weights", "weights = softmax (rows)"],
  ["output", "output = weights · V"],
];

const $ = (id) => document.getElementById(id);

/** One hidden figure box per entry of FIGURES in #pg-figs. */
export function buildFigures() {
  const box = $("pg-figs");
  for (const [name] of FIGURES) {
    const fig = document.createElement("figure");
    fig.className = "panel";
    fig.hidden = true;
    const div = document.createElement("div");
    div.id = `pg-fig-${name}`;
    div.setAttribute("role", "img");
    fig.append(div);
    box.append(fig);
  }
}

/** A number as the lectures print it: `digits` decimals, trailing zeros dropped, a real minus sign; null is −∞. */
export function fmt(x, digits = 2) {
  if (x === null || x === undefined) return "−∞";
  const s = Number(x.toFixed(digits)).toString();
  return s.startsWith("-") ? `−${s.slice(1)}` : s;
}

/** The status line of answer `r`: its size and its scale. */
export function summary(r) {
  return `${r.tokens.length} queries × ${r.key_tokens.length} keys · d_k = ${fmt(r.d_k, 4)} · √d_k = ${fmt(r.scale, 4)}`;
}

/**
 * Draw answer `data` (POST /api/playground) with `state.row`, the query row to follow (from 0; kept when the
 * answer still has it, else row 0): the shapes under the boxes, the row select and its chain, the figures, the table.
 */
export function render(state, data) {
  const r = data;
  for (const [name] of MATRICES) {
    const a = r[name];
    $(`pg-shape-${name}`).textContent = Array.isArray(a) ? `${a.length} × ${a[0].length}` : "";
  }
  const rowSel = $("pg-row");
  const prev = state.row ?? "";
  rowSel.replaceChildren(...r.tokens.map((t, i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = tokenOption(t, i);
    return o;
  }));
  rowSel.value = prev !== "" && Number(prev) < r.tokens.length ? String(prev) : "0";
  renderChain(Number(rowSel.value), r);
  renderFigures(r);
  renderTable(r);
}

/** Query row `i` of answer `r` followed through every step, in numbers (#pg-chain). */
export function renderChain(i, r) {
  const list = (row, digits = 2) => row.map((x) => fmt(x, digits)).join(", ");
  const lines = [["keys", r.key_tokens.join(", ")]];
  lines.push([r.form === "scores" ? "scores" : "q · k", list(r.scores[i])]);
  lines.push([`÷ √${fmt(r.d_k, 4)} = ${fmt(r.scale, 4)}`, list(r.scaled[i])]);
  if (r.mask !== "none") lines.push(["mask", list(r.masked[i])]);
  lines.push(["softmax", list(r.weights[i])]);
  if (r.output) lines.push(["output", `[${list(r.output[i])}]`]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 3;
  $("pg-chain").textContent = `Row “${r.tokens[i]}”\n` + lines.map(([k, v]) => `${k.padEnd(width)}${v}`).join("\n");
}

function renderFigures(r) {
  const cols = (m) => m[0].map((_, j) => `${j + 1}`);
  const specs = {
    q: r.form === "x" && { z: r.q, rows: r.tokens, cols: cols(r.q), title: "Q = X · W_Q" },
    k: r.form === "x" && { z: r.k, rows: r.key_tokens, cols: cols(r.k), title: "K = X · W_K" },
    v: r.form === "x" && { z: r.v, rows: r.key_tokens, cols: cols(r.v), title: "V = X · W_V" },
    scores: { z: r.scores, rows: r.tokens, cols: r.key_tokens, title: r.form === "scores" ? "scores (given)" : "scores = Q · Kᵀ" },
    scaled: { z: r.masked, rows: r.tokens, cols: r.key_tokens,
      title: `scaled = scores / √${fmt(r.d_k, 4)} = scores / ${fmt(r.scale, 4)}${r.mask === "causal" ? ", future −∞" : ""}` },
    // attention weights: the √ scale of every weight heatmap (canvas and Plotly alike), 0 to 1
    weights: { z: r.weights, rows: r.tokens, cols: r.key_tokens, title: "weights = softmax of each row", zmin: 0, zmax: 1,
      quantity: "weight" },
    output: r.output && { z: r.output, rows: r.tokens, cols: cols(r.output), title: "output = weights · V" },
  };
  for (const [name] of FIGURES) {
    const el = $(`pg-fig-${name}`);
    const spec = specs[name];
    el.closest("figure").hidden = !spec;
    if (!spec) { Plotly.purge(el); continue; }
    heatmap(el, spec, name);
  }
}

function renderTable(r) {
  const body = $("pg-shapes-body");
  body.replaceChildren(...r.shapes.map((s) => {
    const tr = document.createElement("tr");
    for (const v of [s.name, `${s.shape[0]} × ${s.shape[1]}`, s.floats.toLocaleString("en"), s.bytes.toLocaleString("en")]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  $("pg-total-floats").textContent = r.totals.floats.toLocaleString("en");
  $("pg-total-bytes").textContent = r.totals.bytes.toLocaleString("en");
}

/**
 * A small matrix as a heatmap with its values written in the cells; null (masked) cells read "−∞". `quantity`
 * "weight" colours on the weights' √ scale, anything else on the linear one; the colour bar says which.
 */
function heatmap(el, { z, rows, cols, title, zmin, zmax, quantity = "linear" }, name) {
  const n = z.length, m = z[0].length;
  const small = n * m <= 400;
  const text = z.map((row) => row.map((x) => (x === null ? "" : fmt(x))));
  const annotations = [];
  if (small) {
    z.forEach((row, i) => row.forEach((x, j) => {
      if (x === null) annotations.push({ x: j, y: i, text: "−∞", showarrow: false, font: { ...plotFont(14), color: "#8a8f98" } });
    }));
  }
  const weight = quantity === "weight";
  const trace = {
    type: "heatmap", z, x: cols.map((_, j) => j), y: rows.map((_, i) => i), colorscale: weight ? WEIGHT_SCALE : SCALE, zmin, zmax,
    // the numbers' size: smaller for many cells, and for four columns or more (room for the colour bar's title)
    text, texttemplate: small ? "%{text}" : "", textfont: { size: plotFont(n * m > 36 ? 12 : m >= 4 ? 14 : 16).size }, // colour: auto contrast
    customdata: z.map((row, i) => row.map((_, j) => [esc(rows[i]), esc(cols[j])])),
    hovertemplate: "%{customdata[0]} · %{customdata[1]}: %{z:.4f}<extra></extra>",
    colorbar: { thickness: 10, outlinewidth: 0, title: colorbarTitle(weight ? "weight" : "value", weight ? "weight" : "linear") },
    xgap: 2, ygap: 2, hoverongaps: false,
  };
  const f = plotFont(13).size / 13; // rows and room for the labels grow with the font (presentation mode)
  const height = Math.max(220, Math.min(700, Math.round((44 * n + 130) * f)));
  Plotly.react(el, [trace], {
    title: plotTitle(esc(title), 15),
    height, margin: { t: 70, l: 10, r: 10, b: 20 },
    xaxis: { tickvals: cols.map((_, j) => j), ticktext: cols.map((c) => esc(c)), side: "top", automargin: true,
      showgrid: false, zeroline: false },
    yaxis: { tickvals: rows.map((_, i) => i), ticktext: rows.map((t) => esc(t)), autorange: "reversed", automargin: true,
      showgrid: false, zeroline: false },
    annotations, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: plotFont(13),
  }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: `attnscope_playground_${name}` } });
  el.setAttribute("aria-label", `${title}: ${n} × ${m} matrix`);
}
