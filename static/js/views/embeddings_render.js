// The embeddings view's figures of one sentence: one-hot rows, the dense matrix, the tokens' vectors layer by layer
// (PCA) and their lengths; render(state, data) draws them and the two-sentence figures (embeddings_similarity.js).
import { CONFIG, SCALE, colorbarTitle, esc, plotFont, plotMargin, tickLabels, tickStep } from "../plot.js";
import { ACCENT, DIVERGING, GREY, $, draw, range, renderSimilarity } from "./embeddings_similarity.js";

let pcaKey = null; // the model and tokens of the PCA on screen: a layer change of the same tokens is animated

/**
 * Draw the embeddings view. `state`: {matrix, hlayer, slayer} as the controls hold them; `data`: {emb} (the decoded
 * /api/embeddings answer: {res, T, d, L, token, position, input}), {sim} (the /api/similarity answer) or both,
 * and `models` (the usable models, for names and kinds).
 */
export function render(state, { emb, sim, models = [] } = {}) {
  if (emb) {
    renderOneHot(emb, models);
    renderDense(state, emb);
    renderPca(state, emb);
    renderNorms(emb);
  }
  if (sim) renderSimilarity(state, sim, models);
}

function tokenTicks(axisTokens, special) {
  const T = axisTokens.length, step = tickStep(T);
  const vals = range(T).filter((i) => i % step === 0);
  return { tickvals: vals, ticktext: tickLabels(vals.map((i) => axisTokens[i]), vals.map((i) => special[i])) };
}

/** One-hot rows over the vocabulary ids that occur in the sentence (all other columns are 0). */
function renderOneHot({ res, T }, models) {
  const uniq = [...new Set(res.ids)];
  const firstTok = uniq.map((id) => res.tokens[res.ids.indexOf(id)]);
  const z = res.ids.map((id) => uniq.map((u) => (u === id ? 1 : 0)));
  const trace = {
    type: "heatmap", z, x: range(uniq.length), y: range(T), zmin: 0, zmax: 1, showscale: false,
    colorscale: [[0, "#eef0f6"], [1, ACCENT]], xgap: 1, ygap: 1,
    customdata: res.tokens.map((t) => uniq.map((u, c) => [esc(t), u, esc(firstTok[c])])),
    hovertemplate: "%{customdata[0]} · column id %{customdata[1]} (%{customdata[2]}): %{z}<extra></extra>",
  };
  const xs = tickStep(uniq.length);
  const xv = range(uniq.length).filter((c) => c % xs === 0);
  const layout = {
    title: { text: "One-hot (the ids in this sentence)", font: plotFont(15), x: 0 },
    xaxis: { tickvals: xv, ticktext: xv.map((c) => `${esc(firstTok[c])} · ${uniq[c]}`), tickangle: -45, automargin: true,
      title: { text: "vocabulary id (only those in the sentence)" } },
    yaxis: { ...tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
    height: Math.max(300, Math.min(700, 26 * T + 220)), margin: { t: 40, l: 10, r: 10, b: 10 },
    paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("emb-onehot", [trace], layout, CONFIG);
  const V = res.vocab_size;
  const name = models.find((m) => m.id === res.model)?.name || res.model;
  $("emb-onehot-cap").textContent = V
    ? `A real one-hot vector has ${V.toLocaleString("en-US")} entries (${name}'s whole vocabulary), all 0 but a single 1 at the token's id. `
      + `Only the ${uniq.length} columns of the ids in this sentence are drawn; the other ${(V - uniq.length).toLocaleString("en-US")} are 0 in every row. `
      + "No two one-hot vectors are similar: every dot product between different words is 0."
    : `One-hot: each token is a row with a single 1 at its id; only the ${uniq.length} ids of this sentence are drawn.`;
}

/** The dense matrix `state.matrix` ("token", "position" or "input"): a row of d numbers per token. */
export function renderDense(state, emb) {
  const { res, T, d } = emb;
  const which = emb[state.matrix] ? state.matrix : "token";
  const z = emb[which];
  const abs = z.flat().map(Math.abs).sort((a, b) => a - b); // a few outlier dimensions would grey out the rest:
  const lim = abs[Math.floor(0.99 * (abs.length - 1))] || 1; // colours span the 99th percentile of |value|
  const trace = {
    type: "heatmap", z, x: range(d), y: range(T), colorscale: DIVERGING, zmid: 0, zmin: -lim, zmax: lim,
    customdata: res.tokens.map((t) => range(d).map(() => esc(t))),
    hovertemplate: "%{customdata} · dim %{x}: %{z:.3f}<extra></extra>",
    colorbar: { thickness: 12, title: colorbarTitle("value", "linear") },
  };
  const titles = { token: "Token embeddings (dense)", position: "Position embeddings", input: "Input to layer 1" };
  const layout = {
    title: { text: `${titles[which]}: ${T} tokens × ${d} numbers`, font: plotFont(15), x: 0 },
    xaxis: { showticklabels: false, ticks: "", title: { text: `dimension (0 … ${d - 1})` } },
    yaxis: { ...tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
    height: Math.max(300, Math.min(700, 26 * T + 200)), margin: { t: 60, l: 10, r: 10, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("emb-heatmap", [trace], layout, CONFIG);
  const caps = {
    token: `Dense: each token is a row of ${d} learned numbers, the row of the embedding table at its id (one-hot × table). Similar words get similar rows.`,
    position: `The position embedding added at each position (${res.positional} positions): the same for any word at that place.`,
    input: res.positional === "rotary"
      ? "What the first layer receives: the token embedding alone — no position is added in a rotary model (its attention rotates q and k by position instead). This is layer 0 of the PCA and similarity charts."
      : "What the first layer reads: token embedding + position embedding (normalised, for BERT-style models). This is layer 0 of the PCA and similarity charts.",
  };
  if (res.positional === "rotary") caps.position = "A rotary model has no position vector to add: it rotates q and k by position inside attention (see Positions → RoPE demo).";
  $("emb-heatmap-cap").textContent = caps[which];
}

/** The tokens' vectors after layer `state.hlayer` on that layer's first two principal components. */
export function renderPca(state, { res, L }) {
  const layer = Math.min(L, Math.max(0, Number(state.hlayer) || 0));
  $("emb-layer-val").textContent = layer === 0 ? "0 (embeddings)" : String(layer);
  const pts = res.pca.points[layer];
  const ratio = res.pca.explained_variance_ratio[layer];
  const r = (Math.max(...pts.flat().map(Math.abs)) || 1) * 1.18; // each layer's own scale (norms differ a lot)
  const trace = {
    type: "scatter", mode: "markers+text", x: pts.map((p) => p[0]), y: pts.map((p) => p[1]),
    text: res.tokens.map(esc), textposition: "top center", cliponaxis: false,
    marker: { size: 11, color: res.special.map((s) => (s ? GREY : ACCENT)) },
    customdata: res.norms[layer], hovertemplate: "%{text}<br>‖h‖ = %{customdata:.2f}<extra></extra>",
  };
  const layout = {
    title: { text: `Layer ${layer}${layer === 0 ? " (embedding output)" : ` of ${L}`}: PC1 ${pct(ratio[0])}, PC2 ${pct(ratio[1])} of the variance`,
      font: plotFont(15), x: 0 },
    xaxis: { range: [-r, r], title: { text: "PC1" }, zeroline: true },
    yaxis: { range: [-r, r], title: { text: "PC2" }, zeroline: true, scaleanchor: "x" },
    height: 480, margin: plotMargin({ t: 50, l: 50, r: 10, b: 40 }), paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  // animate only a layer change of the same tokens: Plotly's transitions do not add the text of new points
  const key = `${res.model}\u0000${res.tokens.join("\u0000")}`;
  if (pcaKey === key) layout.transition = { duration: 350, easing: "cubic-in-out" };
  pcaKey = key;
  draw("emb-pca", [trace], layout, CONFIG);
  $("emb-pca-info").textContent = `${res.tokens.length} tokens · ${res.d_model} dimensions → 2`;
}

/** ‖h‖ of every token at every layer; by log10 when one token is far longer than the rest (an attention sink). */
function renderNorms({ res, T, L }) {
  const norms = range(T).map((t) => res.norms.map((layer) => layer[t])); // (T, L + 1)
  const flat = norms.flat().sort((a, b) => a - b);
  // one token can be hundreds of times longer than the rest (an "attention sink"): then colour by log10
  const log = flat[flat.length - 1] > 20 * flat[Math.floor(flat.length / 2)];
  const z = log ? norms.map((row) => row.map((v) => Math.log10(Math.max(v, 1e-6)))) : norms;
  const pows = log ? range(Math.ceil(Math.log10(flat[flat.length - 1])) + 1).filter((k) => k >= Math.floor(Math.log10(flat[0] || 1))) : [];
  const trace = {
    type: "heatmap", z, x: range(L + 1), y: range(T), colorscale: SCALE,
    customdata: res.tokens.map((t, i) => range(L + 1).map((l) => [esc(t), norms[i][l]])),
    hovertemplate: "%{customdata[0]} · layer %{x}: ‖h‖ = %{customdata[1]:.2f}<extra></extra>",
    colorbar: { thickness: 12, title: colorbarTitle(log ? "‖h‖ · log scale" : "‖h‖", log ? undefined : "linear"),
      ...(log ? { tickvals: pows, ticktext: pows.map((k) => (10 ** k).toLocaleString("en-US")) } : {}) },
  };
  const layout = {
    title: { text: "‖h‖ per token and layer", font: plotFont(15), x: 0 },
    xaxis: { title: { text: "layer (0 = embeddings)" }, dtick: L <= 12 ? 1 : undefined },
    yaxis: { ...tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
    height: Math.max(300, Math.min(560, 24 * T + 140)), margin: plotMargin({ t: 50, l: 10, r: 10, b: 50 }),
    paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  };
  draw("emb-norms", [trace], layout, CONFIG);
}

function pct(r) { return `${(100 * r).toFixed(0)}%`; }
