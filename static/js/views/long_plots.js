// The long view's Plotly figures, drawn from the loaded numbers: the exact row of a clicked query (#lc-row), the
// passage × passage matrix (#lc-passages-fig, attention mass on the weights' √ scale) and attention by distance
// (#lc-distance-fig). Token and passage text goes through esc(): Plotly renders a small HTML subset in labels.
import { $, range } from "../analysis.js";
import { CONFIG, WEIGHT_SCALE, colorbarTitle, esc, plotFont } from "../plot.js";
import { fmt } from "./long_tiles.js";

const plotConfig = (name) => ({ ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
const layout = (extra) => ({ paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: plotFont(13), ...extra });
const escaped = new WeakMap(); // header -> its tokens escaped once
const escTokens = (header) => { if (!escaped.has(header)) escaped.set(header, header.tokens.map((t) => esc(t))); return escaped.get(header); };
const headName = (head) => (head === "mean" ? "mean of the heads" : `head ${head + 1}`);

/** Log-axis ticks at 1, 2 and 5 × 10^k over the positive values, labelled in full (Plotly would write "2" for 0.02). */
export function logTicks(values) {
  const pos = values.filter((v) => v > 0), vals = [];
  if (!pos.length) return {};
  for (let e = Math.floor(Math.log10(Math.min(...pos))); e <= Math.ceil(Math.log10(Math.max(...pos))); e++) {
    for (const m of [1, 2, 5]) vals.push(+(m * 10 ** e).toPrecision(1));
  }
  return { tickvals: vals, ticktext: vals.map((v) => String(v)) };
}

/**
 * Draw the figures `data` holds. state: {layer, head (a number or "mean"), log (the row on a log axis)};
 * data: {header (the trace), row ({query, weights, key, cell}), passages ({passages, mass}), distance ({bins,
 * mean_weight})}, each absent until loaded (its figure is then left as it is).
 */
export function render(state, data) {
  if (!data.header) return;
  if (data.row) renderRow(state, data.header, data.row);
  if (data.passages) renderPassages(state, data.passages);
  if (data.distance) renderDistance(state, data.distance);
}

function renderPassages({ layer, head }, p) {
  const P = p.passages.length, labels = p.passages.map((x) => `P${x.index + 1}`), titles = p.passages.map((x) => esc(x.title));
  const div = $("lc-passages-fig"), height = Math.max(300, Math.min(600, 44 * P + 160));
  div.style.height = `${height}px`;
  Plotly.react(div, [{ type: "heatmap", z: p.mass, x: labels, y: labels, colorscale: WEIGHT_SCALE, zmin: 0,
    customdata: p.mass.map((row, i) => row.map((_, j) => [titles[i], titles[j]])),
    hovertemplate: "%{y} “%{customdata[0]}”<br>reads %{x} “%{customdata[1]}”<br>mass %{z:.3f}<extra></extra>",
    texttemplate: P <= 12 ? "%{z:.2f}" : "", colorbar: { title: colorbarTitle("mass", "weight"), thickness: 14 } }],
  layout({ height, title: { text: `Which passage reads which (layer ${layer + 1}, ${headName(head)}); rows sum to 1`, font: { size: 16 } },
    xaxis: { title: { text: "key passage (read)" }, type: "category" },
    yaxis: { title: { text: "query passage" }, autorange: "reversed", type: "category" }, margin: { t: 60, l: 70, r: 20, b: 60 } }),
  plotConfig("attnscope_long_passages"));
}

function renderDistance({ layer, head }, d) {
  const labels = d.bins.map(([lo, hi]) => (hi - lo === 1 ? `${lo}` : `${lo}–${hi - 1}`));
  const div = $("lc-distance-fig");
  div.style.height = "340px";
  Plotly.react(div, [{ type: "bar", x: labels, y: d.mean_weight, marker: { color: "#3b4cca" },
    hovertemplate: "distance %{x}<br>mean weight %{y:.4g}<extra></extra>" }],
  layout({ height: 340, title: { text: `Attention by distance |query − key| (layer ${layer + 1}, ${headName(head)})`, font: { size: 16 } },
    xaxis: { title: { text: "distance in tokens (bins double in width)" }, type: "category" },
    yaxis: { title: { text: "mean weight (log)" }, type: "log", ...logTicks(d.mean_weight) }, margin: { t: 60, l: 70, r: 40, b: 80 } }),
  plotConfig("attnscope_long_distance"));
}

function renderRow({ layer, head, log }, header, r) {
  const w = r.weights, T = w.length, q = r.query, div = $("lc-row"), tokens = header.tokens;
  const traces = [{ type: "scatter", mode: T <= 200 ? "lines+markers" : "lines", x: range(T), y: w, fill: "tozeroy",
    line: { color: "#3b4cca", width: 1.5 }, customdata: escTokens(header), name: "weight",
    hovertemplate: "key %{x} “%{customdata}”<br>weight %{y:.4g}<extra></extra>" }];
  if (r.key !== null) traces.push({ type: "scatter", mode: "markers", x: [r.key], y: [w[r.key]], name: "clicked",
    marker: { color: "#f59e0b", size: 12, line: { color: "#000", width: 1 } }, hovertemplate: "clicked key %{x}: %{y:.4g}<extra></extra>" });
  div.style.height = "300px";
  Plotly.react(div, traces, layout({ height: 300, showlegend: false,
    title: { text: `Exact row of query ${q} “${esc(tokens[q])}”`, font: { size: 15 } },
    xaxis: { title: { text: "key token" } }, yaxis: { title: { text: "weight" }, ...(log ? { type: "log", ...logTicks(w) } : {}) },
    margin: { t: 50, l: 60, r: 10, b: 50 } }), plotConfig("attnscope_long_row"));
  Object.assign(div.dataset, { query: String(q), key: r.key === null ? "" : String(r.key), cell: r.cell === null ? "" : String(r.cell) });
  const top = range(T).sort((a, b) => w[b] - w[a]).slice(0, 5);
  $("lc-row-top").textContent = `Layer ${layer + 1}, ${headName(head)}. Strongest keys: `
    + top.map((j) => `“${tokens[j]}” (${j}) ${fmt(w[j])}`).join(" · ")
    + (r.key !== null ? `. Clicked key ${r.key}: ${fmt(w[r.key])}.` : ".");
}
