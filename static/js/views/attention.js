// The attention view: one head as a heatmap, and every head of the layer as small multiples.
import { apiBinary, decodeWeights, matrix } from "../api.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { fitText } from "../analysis.js";
import { fill, range } from "../ui.js";
import { tokenOption } from "../plot.js";
import { plotlyReady } from "../vendor.js";
import { showSlides } from "../panels/slides.js";
import { Measure } from "./attention_norms.js";
import { KnockoutPanel } from "./knockout_panel.js";
import { CLASS_ATTRS, classAsk, firstPaint, matrixOf, renderGrid, renderHead, setError, setStatus } from "./attention_render.js";

const EXAMPLES = {
  default: ["The animal didn't cross the street because it was too tired",
    "Yesterday Alice was wearing a jacket and she was freezing", "Thinking Machines"],
  textbook: ["je suis étudiant", "le chat noir mange la pomme rouge", "il n'est pas médecin", "nous avons un chien gris"],
};

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new AttentionView(ctx);
  return { show: (s) => view.show(s) };
}

export class AttentionView {
  constructor({ models, state }) {
    this.models = usable(models);
    this.state = state;
    this.data = null; // {res, H, Tq, Tk, head(h), heads: per-head matrices}
    this.painted = 0; // answers drawn so far (a newer one cancels an older one's deferred grid)
    this.loads = 0;
    this.loader = createLoader((body, signal) => apiBinary("/api/attention", body, { signal }),
      { size: 64, status: setStatus, error: setError, stale: markStale($("heatmap"), $("heads")) });
    this.controls = declare([
      { key: "text", el: $("text") },
      { key: "fit", el: $("fit"), kind: "check" },
      { key: "target", el: $("target"), when: () => !$("target-field").hidden },
      { key: "block", el: $("block"), kind: "select", when: () => !$("block-field").hidden },
      { key: "layer", el: $("layer"), kind: "select" },
      { key: "head", el: $("head"), kind: "select" },
    ]);
    modelSelect($("model"), models, (ok) => { this.models = ok; });
    this.measure = new Measure({ onChange: () => { this.save(); this.load(); }, onFallback: () => this.state.set({ measure: null }) });
    this.knock = new KnockoutPanel({ context: () => this.knockContext(), values: (i, j) => this.cellValues(i, j) });
    this.bind();
    this.quiz = { on: false, guess: null };
    exportBar($("heatmap"), () => this.exportInfo());
    window.addEventListener("presentation", () => this.draw());
    new MutationObserver(() => { // a class question opened or closed: hide or show its answer
      if (!$("heatmap").closest("section").hidden) this.draw();
    }).observe(document.body, { attributes: true, attributeFilter: CLASS_ATTRS });
    keys.register("attention", [
      { keys: ["ArrowRight", "."], label: "Next head", fn: () => this.stepSelect("head", 1) },
      { keys: ["ArrowLeft", ","], label: "Previous head", fn: () => this.stepSelect("head", -1) },
      { keys: ["ArrowDown", "]"], label: "Next layer", fn: () => this.stepSelect("layer", 1) },
      { keys: ["ArrowUp", "["], label: "Previous layer", fn: () => this.stepSelect("layer", -1) },
      { keys: ["n"], label: "Weight, norm, norm through W_O", fn: () => this.measure.cycle() },
      { keys: ["m"], label: "Mean of the layer's heads", fn: () => { $("head").value = "mean"; $("head").dispatchEvent(new Event("change")); } },
      { keys: ["q"], label: "Quiz: predict, then reveal", fn: () => { $("quiz").click(); } },
      { keys: ["s"], label: "Step by step for the first query token", fn: () => this.openSteps(Number($("quiz-query").value) || 0) },
    ]);
  }

  /** Move a select by `delta` options (wrapping) and act as if the user changed it. */
  stepSelect(id, delta) {
    const sel = $(id);
    const n = sel.options.length;
    sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
    sel.dispatchEvent(new Event("change"));
  }

  /** What the one-head figure shows, for export (CSV, JSON, file names). */
  exportInfo() {
    if (!this.data) return null;
    const { res, norms } = this.data;
    const hv = $("head").value;
    const z = this.currentMatrix();
    const name = `attnscope_${res.model}_${res.block}_L${res.layer + 1}_${hv === "mean" ? "mean" : `H${Number(hv) + 1}`}`;
    return {
      name,
      csv: matrixCsv(res.query_tokens, res.key_tokens, z),
      json: { model: res.model, text: res.text, block: res.block, layer: res.layer, head: hv === "mean" ? "mean" : Number(hv),
        query_tokens: res.query_tokens, key_tokens: res.key_tokens, [norms ? norms.field : "weights"]: z },
    };
  }

  /** The matrix drawn: the head's (or the mean's) weights, or its norm shares in a norm mode. */
  currentMatrix(src = this.data.norms || this.data) {
    return matrixOf(src, $("head").value);
  }

  /** The readout's numbers for cell (i, j) of the figure in view; null while the quiz hides them. */
  cellValues(i, j) {
    const v = this.shown;
    if (!v || v.hidden || i === v.blank || !v.w[i]) return null;
    return v.norms ? { weight: v.w[i][j], share: v.z[i][j], label: v.norms.label } : { weight: v.w[i][j] };
  }

  /** What /api/knockout needs of the answer in view (the decoder input the rows are, for encoder-decoders). */
  knockContext() {
    const { res } = this.data;
    return { model: res.model, text: res.text, block: res.block, target: res.target || undefined };
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("model").value) {
      $("model").value = s.model;
      this.onModel();
    }
    this.controls.show(s);
    this.measure.value = s.measure;
    await this.load();
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false) {
    this.state.set({ view: "attention", model: $("model").value, ...this.controls.read(),
      measure: this.measure.value === "weight" ? null : this.measure.value }, { push });
  }

  get model() { return this.models.find((m) => m.id === $("model").value); }

  bind() {
    $("sentence-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("block").addEventListener("change", () => { this.save(); this.load(); });
    $("layer").addEventListener("change", () => { this.save(); this.load(); });
    $("head").addEventListener("change", () => { this.save(); this.renderHead(); });
    const hm = $("heatmap");
    this.bindCellClick = () => {
      if (hm.dataset.bound) return;
      hm.dataset.bound = "1";
      hm.on("plotly_click", (ev) => {
        if (ev.event?.shiftKey) { this.knock.select(ev.points[0].y, ev.points[0].x); this.knock.block(); }
        else if (this.quiz.on && this.quiz.guess === null) this.guess(ev.points[0].x);
        else this.openSteps(ev.points[0].y);
      });
      hm.on("plotly_hover", (ev) => this.knock.hover(ev.points[0].y, ev.points[0].x));
      hm.on("plotly_unhover", () => this.knock.hover());
    };
    $("fit").addEventListener("change", () => {
      this.state.set({ fit: $("fit").checked ? 1 : null });
      this.draw();
    });
    $("quiz").addEventListener("change", () => {
      this.quiz = { on: $("quiz").checked, guess: null };
      $("quiz-panel").hidden = !this.quiz.on;
      $("quiz-result").textContent = "";
      this.renderHead();
    });
    $("quiz-query").addEventListener("change", () => { this.quiz.guess = null; $("quiz-result").textContent = ""; this.renderHead(); });
    $("quiz-reset").addEventListener("click", () => { this.quiz.guess = null; $("quiz-result").textContent = ""; this.renderHead(); });
    this.onModel();
  }

  /** Predict, then reveal: the student picked key `j` for the quiz's query row. */
  guess(j) {
    const { res } = this.data;
    const i = Number($("quiz-query").value) || 0;
    const row = this.currentMatrix()[i];
    const order = row.map((w, k) => [w, k]).sort((a, b) => b[0] - a[0]);
    const rank = order.findIndex(([, k]) => k === j) + 1;
    const [bw, bk] = order[0];
    this.quiz.guess = j;
    $("quiz-result").textContent = rank === 1
      ? `Right! “${res.query_tokens[i]}” attends most to “${res.key_tokens[j]}” (${row[j].toFixed(3)}).`
      : `You picked “${res.key_tokens[j]}”: rank ${rank} of ${row.length} (${row[j].toFixed(3)}). ` +
        `The most attended is “${res.key_tokens[bk]}” (${bw.toFixed(3)}).`;
    this.renderHead();
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("head"), [...range(m.heads).map((i) => [i, `Head ${i + 1}`]), ["mean", "Mean of heads"]]);
    const names = { encoder: m.kind === "encoder" ? "Self-attention" : "Encoder self-attention",
      decoder: "Decoder self-attention (causal)", cross: "Cross-attention (decoder → encoder)" };
    fill($("block"), m.blocks.map((b) => [b, names[b] || b]));
    $("block-field").hidden = m.blocks.length < 2;
    $("target-field").hidden = !m.blocks.includes("cross");
    const chips = $("examples");
    chips.replaceChildren();
    for (const text of EXAMPLES[m.id] || EXAMPLES.default) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = text;
      b.addEventListener("click", () => { $("text").value = text; $("target").value = ""; this.save(true); this.load(); });
      chips.append(b);
    }
    fitText($("text"), m); // this model's own sentence, or one it can read
  }

  request() {
    const body = {
      model: $("model").value,
      text: $("text").value,
      layer: Number($("layer").value),
      block: $("block").value || undefined,
      format: "u8", // a byte a weight, sent as binary: exact to 0.002, enough to colour (the API also serves f16 and json)
    };
    const target = $("target").value.trim();
    if (!$("target-field").hidden && target) body.target = target;
    return body;
  }

  async load() {
    const seq = ++this.loads;
    const body = this.request();
    const got = await this.loader.load(body);
    if (!got || got.error || seq !== this.loads) return; // replaced, or the error is on screen (figures marked stale)
    const res = got.data;
    let norms = null;
    if (this.measure.value !== "weight") setStatus("Computing the value norms…", true);
    try { norms = await this.measure.layer(body); } catch (err) { if (err.name === "AbortError") return; throw err; }
    const previewed = firstPaint(res, decodeWeights(res), this.renderState()); // a cold load: Plotly still parsing
    try { await plotlyReady(); } catch (err) { setError(err.message); return; } // it loaded beside this request
    if (seq !== this.loads) return; // a newer load replaced this one
    const [H, Tq, Tk] = res.shape;
    const flat = decodeWeights(res);
    const rows = new Array(H);
    this.data = {
      res, H, Tq, Tk, norms,
      /** one head's matrix, built on first use (at 512 tokens all twelve are 3 M numbers) */
      head: (h) => rows[h] || (rows[h] = matrix(flat, h * Tq * Tk, Tq, Tk)),
      get heads() { return range(H).map((h) => this.head(h)); },
    };
    if (res.target && $("target").value.trim() === "") $("target").placeholder = res.target;
    setStatus(`${res.model} · ${res.block} · layer ${res.layer + 1} · ${Tq} × ${Tk} tokens`);
    this.renderHead();
    // first paint is the one heatmap; the grid of all heads follows once it is on screen
    const painted = ++this.painted;
    requestAnimationFrame(() => {
      if (!previewed) document.dispatchEvent(new CustomEvent("attention:painted", { detail: res }));
      setTimeout(() => {
        if (painted !== this.painted) return; // a newer answer is being drawn
        this.renderGrid();
        document.dispatchEvent(new CustomEvent("attention:loaded", { detail: res }));
      }, 0);
    });
  }

  /** What the figures are drawn for: the controls, the quiz, the class question, the measure. */
  renderState() {
    return { head: $("head").value, fit: $("fit").checked, ask: classAsk(), measure: this.measure,
      quiz: { ...this.quiz, query: Number($("quiz-query").value) || 0 } };
  }

  /** Both figures again (after a control, the layout or a class question changed). */
  draw() {
    if (!this.data) return;
    this.renderHead();
    this.renderGrid();
  }

  renderHead() {
    if (!this.data) return;
    const { res } = this.data;
    fill($("quiz-query"), res.query_tokens.map((t, i) => [i, tokenOption(t, i)]));
    this.shown = renderHead(this.renderState(), this.data);
    this.bindCellClick();
    this.knock.setTokens(res, this.shown.z);
    // the lecture's illustrative "je suis étudiant" row beside the model's own (cross-attention of the model
    // the lectures' numbers are about: /api/models capability "slides", the textbook model)
    const lecture = this.models.find((m) => m.id === res.model)?.capabilities?.slides === true;
    const jeSuis = lecture && res.block === "cross" && res.text.trim().toLowerCase() === "je suis étudiant";
    if (jeSuis !== this.slidesShown) { this.slidesShown = jeSuis; showSlides($("attn-slides"), jeSuis ? "je_suis_etudiant" : null); }
  }

  renderGrid() {
    if (!this.data) return;
    renderGrid(this.renderState(), this.data);
    const el = $("heads");
    if (!el.dataset.bound) {
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => {
        $("head").value = String(ev.points[0].curveNumber);
        this.save();
        this.renderHead();
        $("heatmap").scrollIntoView({ behavior: "smooth", block: "nearest" });
      });
    }
  }

  /** Open the step-by-step view for one query token of the head in view. */
  openSteps(query) {
    if (!this.data) return;
    const { res } = this.data;
    this.state.go("steps", { model: res.model, text: res.text, block: res.block, layer: res.layer,
      head: $("head").value === "mean" ? 0 : $("head").value, query, target: $("target-field").hidden ? null : $("target").value || null, step: 0 });
  }
}
