// The embeddings view's two-sentence figures (POST /api/similarity): the word's cosine in A and in B after each
// layer, and the token-by-token cosines inside each sentence; and the helpers every embeddings figure shares.
import { CONFIG, colorbarTitle, esc, plotFont, plotMargin, tickLabels } from "../plot.js";

export const DIVERGING = "RdBu";
export const ACCENT = "#3b4cca", GREY = "#9aa1ad";

export const $ = (id) => document.getElementById(id);

/** [0, 1, ..., n - 1] */
export function range(n) { return Array.from({ length: n }, (_, i) => i); }

/** Plotly.react with the div's CSS height set to the layout's: the responsive resize (window resize,
 * presentation mode) autosizes from the div, so without it a figure would collapse to 0 px. */
export function draw(id, traces, layout, config = CONFIG) {
  const el = typeof id === "string" ? $(id) : id;
  el.style.height = `${layout.height}px`;
  return Plotly.react(el, traces, layout, config);
}

/** Both figures of the similarity answer `sim`, the inner cosines at layer `state.slayer`. */
export function renderSimilarity(state, sim, models) {
  renderSimChart(sim, models);
  renderWithin(state, sim);
}

function renderSimChart(res, models) {
  const c = res.cosine, L = res.layers.length - 1;
  const trace = {
    type: "scatter", mode: L <= 12 ? "lines+markers+text" : "lines+markers", x: res.layers, y: c, text: c.map((v) => v.toFixed(3)),
    textposition: "top center", cliponaxis: false, line: { color: ACCENT, width: 3 }, marker: { size: 9 },
    hovertemplate: "layer %{x}: cosine %{y:.4f}<extra></extra>", name: "cosine",
  };
  const lo = Math.min(...c);
  const layout = {
    title: { text: `“${esc(res.a_token)}” in A vs “${esc(res.b_token)}” in B`, font: plotFont(15), x: 0 },
    xaxis: { title: { text: "layer (0 = embedding output)" }, ...(L <= 12
      ? { tickvals: res.layers, ticktext: res.layers.map((l) => (l === 0 ? "0 emb" : String(l))) } : {}) },
    yaxis: { title: { text: "cosine similarity" }, range: [Math.max(-1.05, lo - 0.1), 1.04] },
    height: 400, margin: plotMargin({ t: 50, l: 60, r: 20, b: 50 }), paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("emb-sim-chart", [trace], layout, CONFIG);
  const model = models.find((m) => m.id === res.model);
  const sameToken = res.a_token === res.b_token;
  const rotary = model?.positional === "rotary";
  const first = c[0].toFixed(3), last = c[L].toFixed(3);
  let why;
  if (c[0] > 0.9995) {
    why = "At layer 0 the two vectors are identical: the same token " + (res.a_index === res.b_index
      ? "at the same position" : "— this model adds no position vector (it rotates queries and keys instead), so the position does not show yet")
      + "; every layer then mixes in the other words, which differ.";
  } else if (!sameToken) {
    why = "Layer 0 already differs: these are different tokens.";
  } else {
    why = rotary ? "Layer 0 already differs."
      : `Layer 0 already differs: the same token at positions ${res.a_index} and ${res.b_index}, and a different position vector is added to each.`;
  }
  const causal = model?.kind === "decoder";
  const note = $("emb-causal-note");
  note.hidden = !causal;
  if (causal) {
    note.textContent = `${res.model} is causal: a token's vector depends only on the tokens before it, never on the ones after. ` +
      "So “apple” in “I bought an apple watch” and in “I bought an apple and an orange” is the same vector at every layer " +
      "(cosine 1): “watch” and “orange” come later. Put the telling word before the token to see context." +
      (c.every((v) => v > 0.9999) ? ` Here the words before “${res.a_token}” are the same in A and B, so the cosine is 1 throughout.` : "");
  }
  $("emb-sim-cap").textContent = `Cosine of the word's vector in sentence A and in sentence B after each layer: ${first} at the embedding output, `
    + `${last} after layer ${L}. ${why}`;
}

/** Token-by-token cosines inside A and inside B at layer `state.slayer`, the compared word's row outlined. */
export function renderWithin(state, res) {
  const layer = Math.min(Math.max(0, Number(state.slayer) || 0), res.layers.length - 1);
  $("emb-sim-layer-val").textContent = layer === 0 ? "0 (embeddings)" : String(layer);
  const parts = [["A", res.tokens_a, res.within_a[layer], res.a_index], ["B", res.tokens_b, res.within_b[layer], res.b_index]];
  const traces = parts.map(([name, toks, z], i) => ({
    type: "heatmap", z, x: range(toks.length), y: range(toks.length), zmin: -1, zmax: 1, colorscale: DIVERGING,
    showscale: i === 1, colorbar: { thickness: 12, title: colorbarTitle("cosine", "linear") },
    xaxis: i ? "x2" : "x", yaxis: i ? "y2" : "y",
    customdata: toks.map((a) => toks.map((b) => [esc(a), esc(b)])),
    hovertemplate: `${name}: %{customdata[0]} · %{customdata[1]}: %{z:.3f}<extra></extra>`,
  }));
  const ticks = (toks) => ({ tickvals: range(toks.length), ticktext: tickLabels(toks) });
  const layout = {
    grid: { rows: 1, columns: 2, pattern: "independent", xgap: 0.22 },
    xaxis: { ...ticks(res.tokens_a), tickangle: -45, side: "top" }, yaxis: { ...ticks(res.tokens_a), autorange: "reversed" },
    xaxis2: { ...ticks(res.tokens_b), tickangle: -45, side: "top" }, yaxis2: { ...ticks(res.tokens_b), autorange: "reversed" },
    height: 400, margin: { t: 90, l: 70, r: 10, b: 10 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(11),
    annotations: [["A", "x domain", "y domain"], ["B", "x2 domain", "y2 domain"]].map(([t, xr, yr]) => ({
      text: `<b>${t}</b>`, xref: xr, yref: yr, x: -0.02, y: 1.0, xanchor: "right", yanchor: "bottom", showarrow: false })),
    shapes: parts.map(([, , , idx], i) => ({ type: "rect", xref: i ? "x2" : "x", yref: i ? "y2" : "y",
      x0: -0.5, x1: parts[i][1].length - 0.5, y0: idx - 0.5, y1: idx + 0.5, line: { color: "#f59e0b", width: 2 } })),
  };
  draw("emb-within", traces, layout, CONFIG);
}
