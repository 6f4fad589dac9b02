// The embeddings view: one-hot vs dense embeddings, the tokens' vectors layer by layer (PCA), their lengths,
// and one word in two sentences across layers (POST /api/embeddings, POST /api/similarity).
import { decodeF16, matrix } from "../api.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { CONFIG, SCALE, esc, plotFont, plotMargin, tickLabels, tickStep } from "../plot.js";
import { TokenizerPanel } from "../panels/tokenizers.js";

const EXAMPLES = {
  default: ["I bought an apple and an orange", "I bought an apple watch", "The cat sat here", "I am a student"],
  textbook: ["je suis étudiant", "le chat noir mange la pomme rouge", "il n'est pas médecin"],
};
const SIM_PRESETS = {
  apple: { sa: "My favorite fruit is apple", wa: "apple", sb: "My favorite brand is apple", wb: "apple" },
  bank: { sa: "I sat on the bank of the river", wa: "bank", sb: "I deposited money at the bank", wb: "bank" },
  watch: { sa: "I bought an apple watch", wa: "apple", sb: "I bought an apple and an orange", wb: "apple" }, // lecture 001
  pomme: { sa: "la fille mange une pomme", wa: "pomme", sb: "la pomme est rouge", wb: "pomme" }, // the textbook model's French
};
const FRENCH = /^(je|le|la|il|elle|nous|vous|tu|ils|elles|les|un|une)\b/i;
const MATRICES = ["token", "position", "input"];
const DIVERGING = "RdBu";
const ACCENT = "#3b4cca", GREY = "#9aa1ad";

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new EmbeddingsView(ctx);
  return { show: (s) => view.show(s) };
}


class EmbeddingsView {
  constructor({ models, state, api }) {
    this.models = usable(models);
    this.state = state;
    this.api = api;
    this.data = null; // the decoded /api/embeddings response
    this.sim = null; // the /api/similarity response
    this.embSeq = 0;
    this.simSeq = 0;
    modelSelect($("emb-model"), models, (ok) => { this.models = ok; });
    this.tokenizers = new TokenizerPanel();
    this.tokenizers.load();
    this.bind();
    this.examples();
    window.addEventListener("presentation", () => this.renderAll());
    keys.register("embeddings", [
      { keys: ["ArrowRight", "."], label: "Next layer (PCA)", fn: () => this.stepLayer(1) },
      { keys: ["ArrowLeft", ","], label: "Previous layer (PCA)", fn: () => this.stepLayer(-1) },
      { keys: ["a"], label: "Preset: apple (fruit vs brand)", fn: () => $("emb-preset-apple").click() },
      { keys: ["b"], label: "Preset: bank (river vs money)", fn: () => $("emb-preset-bank").click() },
    ]);
  }

  /** Apply the URL's state to the controls, then load what changed. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("emb-model").value) {
      $("emb-model").value = s.model;
      this.examples();
    }
    if (s.text !== undefined) $("emb-text").value = s.text;
    if (MATRICES.includes(s.matrix)) $("emb-matrix").value = s.matrix;
    for (const [k, id] of [["sa", "emb-sim-a"], ["wa", "emb-sim-wa"], ["sb", "emb-sim-b"], ["wb", "emb-sim-wb"]]) {
      if (s[k] !== undefined) $(id).value = s[k];
    }
    this.wantLayer = s.hlayer !== undefined ? Number(s.hlayer) : null;
    this.wantSimLayer = s.slayer !== undefined ? Number(s.slayer) : null;
    await Promise.all([this.load(), this.loadSimilarity()]);
  }

  save(push = false) {
    this.state.set({
      view: "embeddings", model: $("emb-model").value, text: $("emb-text").value, matrix: $("emb-matrix").value,
      hlayer: $("emb-layer").value, sa: $("emb-sim-a").value, wa: $("emb-sim-wa").value,
      sb: $("emb-sim-b").value, wb: $("emb-sim-wb").value, slayer: $("emb-sim-layer").value,
    }, { push });
  }

  get model() { return this.models.find((m) => m.id === $("emb-model").value); }

  bind() {
    $("emb-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("emb-model").addEventListener("change", () => {
      this.examples();
      this.save(true);
      this.load();
      this.loadSimilarity();
    });
    $("emb-matrix").addEventListener("change", () => { this.save(); this.renderDense(); });
    $("emb-layer").addEventListener("input", () => { this.save(); this.renderPca(); });
    $("emb-sim-layer").addEventListener("input", () => { this.save(); this.renderWithin(); });
    $("emb-sim-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.loadSimilarity(); });
    for (const name of Object.keys(SIM_PRESETS)) {
      $(`emb-preset-${name}`).addEventListener("click", () => {
        this.setPreset(name);
        this.save(true);
        this.loadSimilarity();
      });
    }
  }

  setPreset(name) {
    const p = SIM_PRESETS[name];
    $("emb-sim-a").value = p.sa; $("emb-sim-wa").value = p.wa;
    $("emb-sim-b").value = p.sb; $("emb-sim-wb").value = p.wb;
  }

  examples() {
    const m = this.model;
    const chips = $("emb-examples");
    chips.replaceChildren();
    for (const text of EXAMPLES[m?.id] || EXAMPLES.default) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = text;
      b.addEventListener("click", () => { $("emb-text").value = text; this.save(true); this.load(); });
      chips.append(b);
    }
    const french = m?.kind === "encoder-decoder";
    if (french !== FRENCH.test($("emb-text").value)) {
      $("emb-text").value = (french ? EXAMPLES.textbook : EXAMPLES.default)[0];
    }
    $("emb-preset-apple").hidden = $("emb-preset-bank").hidden = $("emb-preset-watch").hidden = french;
    $("emb-preset-pomme").hidden = !french;
    if (french !== FRENCH.test($("emb-sim-a").value)) this.setPreset(french ? "pomme" : "apple");
  }

  stepLayer(delta) {
    const el = $("emb-layer");
    el.value = String(Math.min(Number(el.max), Math.max(0, Number(el.value) + delta)));
    el.dispatchEvent(new Event("input"));
  }

  async load() {
    const body = { model: $("emb-model").value, text: $("emb-text").value, format: "f16" };
    const key = JSON.stringify(body);
    if (this.data && this.data.key === key) { this.applyLayer(); this.renderAll(); return; }
    const seq = ++this.embSeq;
    setError("emb-error", "");
    setStatus("emb-status", "Running the model…", true);
    let res;
    try {
      res = await this.api("/api/embeddings", body);
    } catch (err) {
      if (seq !== this.embSeq) return;
      setStatus("emb-status", "");
      setError("emb-error", err.detail || String(err));
      return;
    }
    if (seq !== this.embSeq) return;
    const [T, d] = res.shape.hidden_states.slice(1);
    const L1 = res.shape.hidden_states[0];
    const hidden = decodeF16(res.hidden_states);
    this.data = {
      key, res, T, d, L: L1 - 1,
      token: res.token_embeddings ? matrix(decodeF16(res.token_embeddings), 0, T, d) : null,
      position: res.position_embeddings ? matrix(decodeF16(res.position_embeddings), 0, T, d) : null,
      input: matrix(hidden, 0, T, d),
    };
    $("emb-layer").max = String(this.data.L);
    this.applyLayer();
    $("emb-matrix").querySelector('option[value="position"]').disabled = !this.data.position;
    if (!this.data.position && $("emb-matrix").value === "position") $("emb-matrix").value = "token";
    setStatus("emb-status", `${res.model} · ${T} tokens · ${this.data.L} layers · d = ${d}`);
    this.renderAll();
    document.dispatchEvent(new CustomEvent("embeddings:loaded", { detail: res }));
  }

  applyLayer() {
    const L = this.data.L;
    if (this.wantLayer !== null && this.wantLayer !== undefined && Number.isInteger(this.wantLayer)) {
      $("emb-layer").value = String(Math.min(L, Math.max(0, this.wantLayer)));
      this.wantLayer = null;
    }
    if (Number($("emb-layer").value) > L) $("emb-layer").value = String(L);
  }

  renderAll() {
    if (this.data) {
      this.renderOneHot();
      this.renderDense();
      this.renderPca();
      this.renderNorms();
    }
    if (this.sim) { this.renderSimChart(); this.renderWithin(); }
  }

  tokenTicks(axisTokens, special) {
    const T = axisTokens.length, step = tickStep(T);
    const vals = range(T).filter((i) => i % step === 0);
    return { tickvals: vals, ticktext: tickLabels(vals.map((i) => axisTokens[i]), vals.map((i) => special[i])) };
  }

  /** One-hot rows over the vocabulary ids that occur in the sentence (all other columns are 0). */
  renderOneHot() {
    const { res, T } = this.data;
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
      yaxis: { ...this.tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
      height: Math.max(300, Math.min(700, 26 * T + 220)), margin: { t: 40, l: 10, r: 10, b: 10 },
      paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    draw("emb-onehot", [trace], layout, CONFIG);
    const V = res.vocab_size;
    const name = this.model?.name || res.model;
    $("emb-onehot-cap").textContent = V
      ? `A real one-hot vector has ${V.toLocaleString("en-US")} entries (${name}'s whole vocabulary), all 0 but a single 1 at the token's id. `
        + `Only the ${uniq.length} columns of the ids in this sentence are drawn; the other ${(V - uniq.length).toLocaleString("en-US")} are 0 in every row. `
        + "No two one-hot vectors are similar: every dot product between different words is 0."
      : `One-hot: each token is a row with a single 1 at its id; only the ${uniq.length} ids of this sentence are drawn.`;
  }

  renderDense() {
    if (!this.data) return;
    const { res, T, d } = this.data;
    const which = $("emb-matrix").value;
    const z = this.data[which] || this.data.token;
    const abs = z.flat().map(Math.abs).sort((a, b) => a - b); // a few outlier dimensions would grey out the rest:
    const lim = abs[Math.floor(0.99 * (abs.length - 1))] || 1; // colours span the 99th percentile of |value|
    const trace = {
      type: "heatmap", z, x: range(d), y: range(T), colorscale: DIVERGING, zmid: 0, zmin: -lim, zmax: lim,
      customdata: res.tokens.map((t) => range(d).map(() => esc(t))),
      hovertemplate: "%{customdata} · dim %{x}: %{z:.3f}<extra></extra>",
      colorbar: { thickness: 12 },
    };
    const titles = { token: "Token embeddings (dense)", position: "Position embeddings", input: "Input to layer 1" };
    const layout = {
      title: { text: `${titles[which]}: ${T} tokens × ${d} numbers`, font: plotFont(15), x: 0 },
      xaxis: { showticklabels: false, ticks: "", title: { text: `dimension (0 … ${d - 1})` } },
      yaxis: { ...this.tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
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

  renderPca() {
    if (!this.data) return;
    const { res, L } = this.data;
    const layer = Number($("emb-layer").value);
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
    if (this.pcaKey === key) layout.transition = { duration: 350, easing: "cubic-in-out" };
    this.pcaKey = key;
    draw("emb-pca", [trace], layout, CONFIG);
    $("emb-pca-info").textContent = `${res.tokens.length} tokens · ${res.d_model} dimensions → 2`;
  }

  renderNorms() {
    const { res, T, L } = this.data;
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
      colorbar: { thickness: 12, ...(log ? { tickvals: pows, ticktext: pows.map((k) => (10 ** k).toLocaleString("en-US")),
        title: { text: "log scale" } } : {}) },
    };
    const layout = {
      title: { text: "‖h‖ per token and layer", font: plotFont(15), x: 0 },
      xaxis: { title: { text: "layer (0 = embeddings)" }, dtick: L <= 12 ? 1 : undefined },
      yaxis: { ...this.tokenTicks(res.tokens, res.special), autorange: "reversed", automargin: true },
      height: Math.max(300, Math.min(560, 24 * T + 140)), margin: plotMargin({ t: 50, l: 10, r: 10, b: 50 }),
      paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    draw("emb-norms", [trace], layout, CONFIG);
  }

  async loadSimilarity() {
    const body = {
      model: $("emb-model").value,
      a: { text: $("emb-sim-a").value, word: $("emb-sim-wa").value },
      b: { text: $("emb-sim-b").value, word: $("emb-sim-wb").value },
    };
    const seq = ++this.simSeq;
    setError("emb-sim-error", "");
    setStatus("emb-sim-status", "Comparing…", true);
    let res;
    try {
      res = await this.api("/api/similarity", body);
    } catch (err) {
      if (seq !== this.simSeq) return;
      setStatus("emb-sim-status", "");
      setError("emb-sim-error", err.detail || String(err));
      return;
    }
    if (seq !== this.simSeq) return;
    this.sim = res;
    const L = res.layers.length - 1;
    const sl = $("emb-sim-layer");
    sl.max = String(L);
    if (this.wantSimLayer !== null && this.wantSimLayer !== undefined && Number.isInteger(this.wantSimLayer)) {
      sl.value = String(Math.min(L, Math.max(0, this.wantSimLayer)));
      this.wantSimLayer = null;
    } else if (!this.simShown) {
      sl.value = String(L);
    }
    this.simShown = true;
    if (Number(sl.value) > L) sl.value = String(L);
    setStatus("emb-sim-status", `“${res.a_token}” (token ${res.a_index} of A) vs “${res.b_token}” (token ${res.b_index} of B)`);
    this.renderSimChart();
    this.renderWithin();
    document.dispatchEvent(new CustomEvent("similarity:loaded", { detail: res }));
  }

  renderSimChart() {
    const res = this.sim;
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
    const sameToken = res.a_token === res.b_token;
    const rotary = this.models.find((m) => m.id === res.model)?.positional === "rotary";
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
    const causal = this.models.find((m) => m.id === res.model)?.kind === "decoder";
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

  renderWithin() {
    const res = this.sim;
    if (!res) return;
    const layer = Math.min(Number($("emb-sim-layer").value), res.layers.length - 1);
    $("emb-sim-layer-val").textContent = layer === 0 ? "0 (embeddings)" : String(layer);
    const parts = [["A", res.tokens_a, res.within_a[layer], res.a_index], ["B", res.tokens_b, res.within_b[layer], res.b_index]];
    const traces = parts.map(([name, toks, z], i) => ({
      type: "heatmap", z, x: range(toks.length), y: range(toks.length), zmin: -1, zmax: 1, colorscale: DIVERGING,
      showscale: i === 1, colorbar: { thickness: 12 }, xaxis: i ? "x2" : "x", yaxis: i ? "y2" : "y",
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
}

function pct(r) { return `${(100 * r).toFixed(0)}%`; }
/** Plotly.react with the div's CSS height set to the layout's: the responsive resize (window resize,
 * presentation mode) autosizes from the div, so without it a figure would collapse to 0 px. */
function draw(id, traces, layout, config = CONFIG) {
  const el = typeof id === "string" ? $(id) : id;
  el.style.height = `${layout.height}px`;
  return Plotly.react(el, traces, layout, config);
}

function range(n) { return Array.from({ length: n }, (_, i) => i); }

function setStatus(id, text, busy = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("busy", busy);
}

function setError(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}
