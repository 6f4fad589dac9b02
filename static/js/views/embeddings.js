// The embeddings view: one-hot vs dense embeddings, the tokens' vectors layer by layer (PCA), their lengths,
// and one word in two sentences across layers (POST /api/embeddings, POST /api/similarity).
// This module mounts the view: its controls and the loads (drawing: embeddings_render.js).
import { decodeF16, matrix } from "../api.js";
import * as keys from "../keys.js";
import { createLoader, markStale } from "../kernel/load.js";
import { declare } from "../kernel/controls.js";
import { modelSelect, usable } from "../models.js";
import { fitText } from "../analysis.js";
import { TokenizerPanel } from "../panels/tokenizers.js";
import { render, renderDense, renderPca } from "./embeddings_render.js";
import { $, renderWithin } from "./embeddings_similarity.js";

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

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new EmbeddingsView(ctx);
  return { show: (s) => view.show(s) };
}

/** An /api/embeddings answer (format f16) -> {res, T, d, L, token, position, input} with (T, d) matrices. */
function decode(res) {
  const [L1, T, d] = res.shape.hidden_states;
  return {
    res, T, d, L: L1 - 1,
    token: res.token_embeddings ? matrix(decodeF16(res.token_embeddings), 0, T, d) : null,
    position: res.position_embeddings ? matrix(decodeF16(res.position_embeddings), 0, T, d) : null,
    input: matrix(decodeF16(res.hidden_states), 0, T, d),
  };
}

/** The status and error hooks of a loader for the lines `status` and `error`. */
function lines(status, error) {
  return {
    status: (text, busy = false) => { $(status).textContent = text; $(status).classList.toggle("busy", busy); },
    error: (text) => { $(error).textContent = text; $(error).hidden = !text; },
  };
}

class EmbeddingsView {
  constructor({ models, state, api }) {
    this.models = usable(models);
    this.state = state;
    this.emb = null; // the decoded /api/embeddings answer on screen
    this.sim = null; // the /api/similarity answer on screen
    this.form = declare([
      { key: "model", el: $("emb-model"), kind: "select" },
      { key: "text", el: $("emb-text") },
      { key: "matrix", el: $("emb-matrix"), kind: "select" },
      { key: "hlayer", el: $("emb-layer"), kind: "int" },
      { key: "sa", el: $("emb-sim-a") },
      { key: "wa", el: $("emb-sim-wa") },
      { key: "sb", el: $("emb-sim-b") },
      { key: "wb", el: $("emb-sim-wb") },
      { key: "slayer", el: $("emb-sim-layer"), kind: "int" },
    ]);
    this.embeddings = createLoader(async (body, signal) => decode(await api("/api/embeddings", body, { signal })), {
      size: 4, ...lines("emb-status", "emb-error"), stale: markStale(["emb-onehot", "emb-heatmap", "emb-pca", "emb-norms"].map($)) });
    this.similarity = createLoader((body, signal) => api("/api/similarity", body, { signal }), {
      size: 8, busy: "Comparing…", ...lines("emb-sim-status", "emb-sim-error"), stale: markStale($("emb-sim-chart"), $("emb-within")) });
    modelSelect($("emb-model"), models, (ok) => { this.models = ok; });
    this.tokenizers = new TokenizerPanel();
    this.tokenizers.load();
    this.bind();
    this.examples();
    window.addEventListener("presentation", () => this.render());
    keys.register("embeddings", [
      { keys: ["ArrowRight", "."], label: "Next layer (PCA)", fn: () => this.stepLayer(1) },
      { keys: ["ArrowLeft", ","], label: "Previous layer (PCA)", fn: () => this.stepLayer(-1) },
      { keys: ["a"], label: "Preset: apple (fruit vs brand)", fn: () => $("emb-preset-apple").click() },
      { keys: ["b"], label: "Preset: bank (river vs money)", fn: () => $("emb-preset-bank").click() },
    ]);
  }

  /** Apply the URL's state to the controls (the layers once an answer says how many), then load what changed. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("emb-model").value) {
      this.form.show({ model: s.model });
      this.examples();
    }
    this.form.show({ ...s, model: undefined, hlayer: undefined, slayer: undefined });
    this.wantLayer = s.hlayer !== undefined ? Number(s.hlayer) : null;
    this.wantSimLayer = s.slayer !== undefined ? Number(s.slayer) : null;
    await Promise.all([this.load(), this.loadSimilarity()]);
  }

  save(push = false) {
    this.state.set({ view: "embeddings", ...this.form.read() }, { push });
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
    $("emb-matrix").addEventListener("change", () => { this.save(); if (this.emb) renderDense(this.form.read(), this.emb); });
    $("emb-layer").addEventListener("input", () => { this.save(); if (this.emb) renderPca(this.form.read(), this.emb); });
    $("emb-sim-layer").addEventListener("input", () => { this.save(); if (this.sim) renderWithin(this.form.read(), this.sim); });
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
    this.form.show(SIM_PRESETS[name]);
  }

  /** The example chips of the model; its language's sentence and preset when the boxes hold the other's. */
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
    fitText($("emb-text"), m, { english: EXAMPLES.default[0], french: EXAMPLES.textbook[0] }); // each model's own
    $("emb-preset-apple").hidden = $("emb-preset-bank").hidden = $("emb-preset-watch").hidden = french;
    $("emb-preset-pomme").hidden = !french;
    if (french !== FRENCH.test($("emb-sim-a").value)) this.setPreset(french ? "pomme" : "apple");
  }

  stepLayer(delta) {
    const el = $("emb-layer");
    el.value = String(Math.min(Number(el.max), Math.max(0, Number(el.value) + delta)));
    el.dispatchEvent(new Event("input"));
  }

  /** Everything on screen drawn again (presentation mode changes the type). */
  render() {
    render(this.form.read(), { emb: this.emb, sim: this.sim, models: this.models });
  }

  async load() {
    const got = await this.embeddings.load({ model: $("emb-model").value, text: $("emb-text").value, format: "f16" });
    if (!got || got.error) return; // replaced by a newer load, or the error is shown
    const emb = this.emb = got.data;
    $("emb-layer").max = String(emb.L);
    this.applyLayer();
    $("emb-matrix").querySelector('option[value="position"]').disabled = !emb.position;
    if (!emb.position && $("emb-matrix").value === "position") $("emb-matrix").value = "token";
    $("emb-status").textContent = `${emb.res.model} · ${emb.T} tokens · ${emb.L} layers · d = ${emb.d}`;
    render(this.form.read(), { emb, models: this.models });
    if (!got.cached) document.dispatchEvent(new CustomEvent("embeddings:loaded", { detail: emb.res }));
  }

  /** The layer the URL asked for, once the answer says how many layers there are. */
  applyLayer() {
    const L = this.emb.L;
    if (this.wantLayer !== null && this.wantLayer !== undefined && Number.isInteger(this.wantLayer)) {
      $("emb-layer").value = String(Math.min(L, Math.max(0, this.wantLayer)));
      this.wantLayer = null;
    }
    if (Number($("emb-layer").value) > L) $("emb-layer").value = String(L);
  }

  async loadSimilarity() {
    const got = await this.similarity.load({
      model: $("emb-model").value,
      a: { text: $("emb-sim-a").value, word: $("emb-sim-wa").value },
      b: { text: $("emb-sim-b").value, word: $("emb-sim-wb").value },
    });
    if (!got || got.error) return;
    const res = this.sim = got.data;
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
    $("emb-sim-status").textContent = `“${res.a_token}” (token ${res.a_index} of A) vs “${res.b_token}” (token ${res.b_index} of B)`;
    render(this.form.read(), { sim: res, models: this.models });
    if (!got.cached) document.dispatchEvent(new CustomEvent("similarity:loaded", { detail: res }));
  }
}
