// The positions view's figures: the encoding as a heatmap, PE(i) · PE(j), the chosen columns as curves and the
// kinds side by side; render(state, data) draws whichever parts `data` holds (the tables: positions_tables.js).
import { CONFIG, SCALE, colorbarTitle, esc, plotFont, plotMargin, presenting } from "../plot.js";
import { showSlides } from "../panels/slides.js";
import { $, DIVERGING, colLabel, draw, range, renderRotation, renderTable, rowLabels } from "./positions_tables.js";

const HEATMAP_CAPS = {
  sinusoidal: "the vector added to the token embedding at that position.",
  integer: "the vector that would be added to the token embedding (the position itself in every column).",
  binary: "the position's bits, a vector that would be added to the token embedding.",
  rotary: "the cos and sin of the angle pos · θ_i by which pair i of q and k is rotated inside attention. Nothing is " +
    "added to the token embedding: a rotary model rotates the queries and keys instead (see the RoPE demo below).",
  learned: "the model's trained position embedding, added to the token embedding at that position.",
};
const SIM_CAPS = {
  sinusoidal: "Each diagonal has one colour: the dot product depends only on the distance |i − j|, not on where the pair sits.",
  rotary: "Each diagonal has one colour: only the offset i − j counts — the reason RoPE gives relative positions.",
  integer: "i · j · d: it grows with the positions themselves, not with their distance.",
  binary: "The number of 1-bits the two positions share: nearby positions are not always similar.",
  learned: "Learned by the model: nearby positions end up more alike, though nothing forced it.",
};
const CURVE_CAPS = {
  sinusoidal: "Low dimensions oscillate fast, high ones slowly: together they tell every position apart, and stay in [−1, 1].",
  rotary: "Pair i turns by the angle pos·θ_i: fast for the first pairs, slow for the last.",
  integer: "Every column is the position itself: a straight line that never stops growing.",
  binary: "The last bit flips every position, the one before every 2, then every 4…",
  learned: "Learned by training: no formula, but smooth in many dimensions.",
};

/**
 * Draw the positions view. `state`: the view's state ({kind, d, n, positions, k, pos, preset, ...});
 * `data`: {res} (GET /api/positional for the state: heatmap, similarity, curves, table), {kinds: {names,
 * results}} (every kind at these positions) and/or {rot} (the sinusoidal answer with its rotation by k).
 */
export function render(state, { res, kinds, rot } = {}) {
  if (res) {
    const d50 = state.preset === "pe_d50" && res.kind === "sinusoidal" && res.d === 50;
    const slides = $("pos-slides");
    if (String(d50) !== slides.dataset.d50) { slides.dataset.d50 = String(d50); showSlides(slides, d50 ? "pe_d50" : null); }
    $("pos-heatmap-cap").textContent = "One row per position, one column per dimension: " + HEATMAP_CAPS[res.kind];
    renderHeatmap(state, res);
    renderSimilarity(state, res);
    renderCurves(state, res);
    renderTable(state, res);
  }
  if (kinds) renderKinds(kinds);
  if (rot) renderRotation(state, rot);
}

/** Colour scale of a kind: sequential for integer and binary, diverging around 0 for the rest.
 * A learned table has a few outlier dimensions: its range is the 99th percentile of |value|. */
function colours(kind, values) {
  if (kind === "integer" || kind === "binary") return { colorscale: SCALE };
  if (kind !== "learned") return { colorscale: DIVERGING, zmin: -1, zmax: 1 };
  const abs = values.flat().map(Math.abs).sort((a, b) => a - b);
  const lim = abs[Math.floor(0.99 * (abs.length - 1))] || 1;
  return { colorscale: DIVERGING, zmin: -lim, zmax: lim };
}

/** A learned table's position 0 can dwarf the rest: clip the similarity colours to the 1st-99th percentile. */
function simRange(res) {
  if (res.kind !== "learned") return {};
  const v = res.similarity.flat().sort((a, b) => a - b);
  return { zmin: v[Math.floor(0.01 * (v.length - 1))], zmax: v[Math.floor(0.99 * (v.length - 1))] };
}

function renderHeatmap(state, res) {
  const P = res.positions, d = res.d;
  const labels = rowLabels(state, P);
  const trace = {
    type: "heatmap", z: res.values, x: range(d), y: range(P),
    ...colours(res.kind, res.values),
    customdata: range(P).map((i) => range(d).map((j) => [esc(labels[i]), esc(colLabel(res, j))])),
    hovertemplate: "position %{customdata[0]} · dim %{x} (%{customdata[1]})<br>value %{z:.4f}<extra></extra>",
    colorbar: { thickness: 12, title: colorbarTitle("value", "linear") },
  };
  const few = P <= 24;
  const layout = {
    title: { text: `${res.kind}${res.model ? ` — ${esc(res.model)}` : ""}: ${P} positions (rows) × ${d} dimensions (columns)`, font: plotFont(15), x: 0 },
    xaxis: { showticklabels: d <= 32, dtick: d <= 32 ? 1 : undefined, side: "top" },
    yaxis: { title: { text: "position" }, autorange: "reversed", automargin: true,
      tickvals: few ? range(P) : undefined, ticktext: few ? labels.map(esc) : undefined },
    height: Math.max(320, Math.min(560, 14 * P + 160)),
    margin: { t: 80, l: 60, r: 10, b: 20 },
    paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("pos-heatmap", [trace], layout, { ...CONFIG, toImageButtonOptions: {
    ...CONFIG.toImageButtonOptions, filename: `attnscope_pe_${res.kind}_${P}x${d}` } });
  $("pos-heatmap").setAttribute("aria-label", `${res.kind} positional encoding: ${P} positions by ${d} dimensions`);
}

function renderSimilarity(state, res) {
  const P = res.positions;
  const labels = rowLabels(state, P);
  const few = P <= 24;
  const trace = {
    type: "heatmap", z: res.similarity, x: range(P), y: range(P), colorscale: SCALE, ...simRange(res),
    customdata: range(P).map((i) => range(P).map((j) => [esc(labels[i]), esc(labels[j]), Math.abs(i - j)])),
    hovertemplate: "PE(%{customdata[0]}) · PE(%{customdata[1]}) = %{z:.3f}<br>distance %{customdata[2]}<extra></extra>",
    colorbar: { thickness: 12, title: colorbarTitle("dot", "linear") },
  };
  const ticks = few ? { tickvals: range(P), ticktext: labels.map(esc) } : {};
  const layout = {
    title: { text: "PE(i) · PE(j)", font: plotFont(15), x: 0 },
    xaxis: { title: { text: "position j" }, side: "top", constrain: "domain", range: [-0.5, P - 0.5], ...ticks },
    yaxis: { title: { text: "position i" }, range: [P - 0.5, -0.5], automargin: true, ...ticks, scaleanchor: "x", constrain: "domain" },
    height: 420, margin: { t: 80, l: 60, r: 10, b: 20 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("pos-sim", [trace], layout, CONFIG);
  $("pos-sim-cap").textContent = `Dot product PE(i) · PE(j) for every pair of positions. ${SIM_CAPS[res.kind]}`;
}

function renderCurves(state, res) {
  const P = res.positions;
  const dims = [...$("pos-dims").selectedOptions].map((o) => Number(o.value));
  const labels = rowLabels(state, P);
  const traces = dims.map((j) => ({
    type: "scatter", mode: P <= 30 ? "lines+markers" : "lines", x: range(P), y: res.values.map((row) => row[j]),
    name: esc(colLabel(res, j).startsWith("dim") ? colLabel(res, j) : `dim ${j} (${colLabel(res, j)})`), customdata: labels.map(esc),
    hovertemplate: "position %{customdata}: %{y:.3f}<extra>dim " + j + "</extra>",
  }));
  const layout = {
    xaxis: { title: { text: "position" } }, yaxis: { title: { text: "value" }, zeroline: true },
    // the legend at the bottom of the figure, under the x title
    height: presenting() ? 420 : 360, margin: plotMargin({ t: 20, l: 60, r: 10, b: 80 }),
    legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
    paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  if (P <= 24) Object.assign(layout.xaxis, { tickvals: range(P), ticktext: labels.map(esc) });
  draw("pos-curves", traces, layout, CONFIG);
  $("pos-curves-cap").textContent = "Each selected column as a curve over position. " + CURVE_CAPS[res.kind];
}

/** Small multiples: `names[i]` over `results[i]`, each kind in its own colour range (no colour bar). */
function renderKinds({ names, results }) {
  const n = results.length;
  const traces = results.map((r, i) => ({
    type: "heatmap", z: r.values, showscale: false, xaxis: `x${i ? i + 1 : ""}`, yaxis: `y${i ? i + 1 : ""}`,
    ...colours(r.kind, r.values),
    hovertemplate: `${esc(names[i])}<br>position %{y} · dim %{x}: %{z:.3f}<extra></extra>`,
  }));
  const layout = {
    grid: { rows: 1, columns: n, pattern: "independent", xgap: 0.06 },
    height: 300, margin: { t: 40, l: 40, r: 10, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(11),
    annotations: names.map((name, i) => ({ text: `<b>${esc(name)}</b>`, xref: `x${i ? i + 1 : ""} domain`, yref: `y${i ? i + 1 : ""} domain`,
      x: 0.5, y: 1.02, yanchor: "bottom", showarrow: false })),
  };
  for (let i = 0; i < n; i++) {
    const ax = i ? String(i + 1) : "";
    layout[`xaxis${ax}`] = { showticklabels: false, ticks: "", title: { text: `${results[i].d} dims`, font: { size: 11 } } };
    layout[`yaxis${ax}`] = { autorange: "reversed", showticklabels: i === 0, ticks: "" };
  }
  draw("pos-kinds", traces, layout, CONFIG);
}
