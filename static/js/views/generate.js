// The generate view: a decoder continues the prompt token by token (streamed from POST /api/generate/stream,
// generate_stream.js), and every step shows its candidates and the new token's attention (generate_step.js,
// generate_candidates.js); the whole sequence as one causal heatmap and the heads in their key/value groups
// (generate_sequence.js); and the next-token candidates for the prompt (POST /api/next-token). This module mounts
// the panels, declares the controls and wires them to the stream and the two loaders.
import { api, apiBinary } from "../api.js";
import { messages } from "../analysis.js";
import { exportBar } from "../export.js";
import { createLoader, markStale } from "../kernel/load.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { KvCachePanel } from "../panels/kvcache.js";
import { renderBeamTree } from "../panels/beamtree.js";
import { candsExport, nextExport, renderNext, renderStepCandidates } from "./generate_candidates.js";
import { $ } from "./generate_common.js";
import { controlState, controls, errorLine, fitControls, generative, nextBody, prune, requestBody, showBusy, showFields, showValues,
  stepSelect } from "./generate_controls.js";
import { causalExport, decodeFull, fullRequest, gqaExport, renderCausal, renderGroups } from "./generate_sequence.js";
import { renderOutput, renderStepAttention, runSummary, stepExport } from "./generate_step.js";
import { createStream } from "./generate_stream.js";

const EXAMPLES = {
  default: [
    "The animal didn't cross the street because",
    "Yesterday Alice was wearing a jacket and she",
    "The capital of France is",
    "Once upon a time",
  ],
  textbook: ["je suis étudiant", "le chat noir mange la pomme rouge", "il n'est pas médecin", "nous avons un chien gris"],
};

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new GenerateView(ctx);
  return { show: (s) => view.show(s) };
}

class GenerateView {
  constructor({ models, state }) {
    this.models = generative(usable(models));
    this.state = state;
    this.run = null; // {head, steps: [{...step, att: Float32Array, cross: Float32Array}], done, stopped, error, body}
    this.step = 0;
    this.follow = true; // the scrubber follows new steps while it sits on the last one
    this.full = null; // decodeFull of /api/attention for the whole sequence at the chosen layer: {res, heads}
    this.next = null; // {res, body} of /api/next-token
    this.drawn = null; // what the step attention drew (its export)
    this.timers = {};
    this.frame = 0;
    this.restored = false;
    this.kv = new KvCachePanel();
    this.controls = controls();
    const msg = messages("gen");
    this.errors = errorLine(msg.error);
    this.status = msg.status;
    this.stream = createStream({ status: msg.status, error: this.errors.slot("stream"),
      stale: markStale($("gen-cands"), $("gen-step-attn")) });
    this.fullStale = markStale($("gen-causal"), $("gen-gqa"));
    this.fullLoader = createLoader((body, signal) => apiBinary("/api/attention", body, { signal }).then(decodeFull),
      { size: 16, error: this.errors.slot("full"), stale: this.fullStale });
    this.nextLoader = createLoader((body, signal) => api("/api/next-token", body, { signal }).then((res) => ({ res, body })),
      { error: this.errors.slot("next"), stale: markStale($("gen-next")) });
    const select = $("gen-model");
    modelSelect(select, generative(models), (ok) => { this.models = generative(ok); });
    // models.js re-lists every model when they settle: keep only those that generate (this runs after it)
    window.addEventListener("models:update", (e) => {
      prune(select, generative(e.detail), this.models);
      if (this.wantModel && this.models.some((m) => m.id === this.wantModel) && !this.stream.running) {
        select.value = this.wantModel;
        this.wantModel = null;
      }
      if (!this.stream.running) { this.onModel(); this.loadNext(); }
    });
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("gen-model").value); }

  /** What the panels draw from: the run, its current step, whether it is still streaming, the models. */
  get view() { return { run: this.run, step: this.step, streaming: this.stream.running, models: this.models }; }

  // ------------------------------------------------------------------ controls

  bind() {
    const next = (ms) => () => this.later("next", () => { this.save(); this.loadNext(); }, ms);
    $("gen-form").addEventListener("submit", (e) => { e.preventDefault(); this.generate(); });
    $("gen-stop").addEventListener("click", () => this.stop());
    $("gen-model").addEventListener("change", () => { this.onModel(); this.save(true); this.loadNext(); });
    $("gen-strategy").addEventListener("change", () => { showFields(); this.save(); });
    $("gen-text").addEventListener("input", next(500));
    for (const id of ["gen-temperature", "gen-top-p"]) $(id).addEventListener("input", () => { showValues(); next(200)(); });
    $("gen-top-k").addEventListener("input", next(300));
    for (const id of ["gen-beam", "gen-seed", "gen-max"]) $(id).addEventListener("change", () => this.save());
    $("gen-step").addEventListener("input", () => this.goStep(Number($("gen-step").value)));
    $("gen-tokens").addEventListener("click", (e) => {
      const chip = e.target.closest(".gen-token");
      if (chip) this.goStep(Number(chip.dataset.step));
    });
    for (const id of ["gen-step-head", "gen-attn-kind", "gen-fit"]) $(id).addEventListener("change", () => this.renderStep());
    $("gen-layer").addEventListener("change", () => { this.save(); this.loadFull(); });
    $("gen-head").addEventListener("change", () => { this.save(); renderCausal(this.view, this.full); });
    keys.register("generate", [
      { keys: ["ArrowRight", "."], label: "Next generation step", fn: () => this.goStep(this.step + 1) },
      { keys: ["ArrowLeft", ","], label: "Previous generation step", fn: () => this.goStep(this.step - 1) },
      { keys: ["Home"], label: "First step", fn: () => this.goStep(0) },
      { keys: ["End"], label: "Last step", fn: () => this.goStep(Infinity) },
      { keys: ["ArrowDown", "]"], label: "Next layer", fn: () => stepSelect("gen-layer", 1) },
      { keys: ["ArrowUp", "["], label: "Previous layer", fn: () => stepSelect("gen-layer", -1) },
      { keys: ["h"], label: "Next head (causal heatmap)", fn: () => stepSelect("gen-head", 1) },
      { keys: ["g"], label: "Generate", fn: () => this.generate() },
      { keys: ["x"], label: "Stop generating", fn: () => this.stop() },
    ]);
    window.addEventListener("presentation", () => {
      if ($("gen-cands").closest("section").hidden) return;
      this.renderStep();
      renderCausal(this.view, this.full);
      renderNext(this.view, this.next);
    });
    exportBar($("gen-cands"), () => candsExport(this.view));
    exportBar($("gen-step-attn"), () => stepExport(this.view, this.drawn));
    exportBar($("gen-causal"), () => causalExport(this.view, this.full));
    exportBar($("gen-next"), () => nextExport(this.view, this.next));
    exportBar($("gen-gqa"), () => gqaExport(this.view, this.full));
    showValues();
    showFields();
  }

  later(name, fn, ms) {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(fn, ms);
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    this.errors.slot("model")("");
    fitControls(m, EXAMPLES, (t) => { $("gen-text").value = t; this.save(true); this.loadNext(); this.generate(); });
    this.kv.setModel(m.id);
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("gen-model").value) {
      $("gen-model").value = s.model;
      this.onModel();
    } else if (s.model && !this.models.some((m) => m.id === s.model)) {
      this.wantModel = s.model; // still loading: chosen when it is ready
    }
    this.controls.show(controlState(s, this.stream.running));
    showValues();
    showFields();
    if (!this.model) { this.errors.slot("model")("No model that generates text is available: see the message at the top of the page."); return; }
    this.loadNext();
    if (s.ran === "1" && !this.run && !this.restored) {
      this.restored = true;
      this.wantStep = /^\d+$/.test(s.step ?? "") ? Number(s.step) : null;
      await this.generate();
    }
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false, extra = {}) {
    this.state.set({ view: "generate", ...this.controls.read(), ...extra }, { push });
  }

  // ------------------------------------------------------------------ generating (streamed)

  async generate() {
    if (!this.model) return;
    const body = requestBody();
    const run = this.run = { head: null, steps: [], done: null, stopped: false, body };
    this.full = null;
    this.fullLoader.cancel(); // the last run's sequence is no answer for this one
    this.step = 0;
    this.follow = true;
    this.errors.clear();
    this.save(true, { ran: null, step: null });
    showBusy(true);
    this.clearFigures();
    const started = this.stream.start(body, (obj) => this.onLine(run, obj)); // running from here on
    renderOutput(this.view, run);
    const result = await started;
    if (result === null) return; // a newer generation replaced this one
    run.stopped = Boolean(result.stopped);
    if (result.error) run.error = result.error;
    showBusy(false);
    this.finish();
  }

  /** Stop the running stream (the server notices the closed connection and stops generating). */
  stop() { this.stream.stop(); }

  onLine(run, obj) {
    if (obj.event === "start") {
      run.head = obj;
      renderOutput(this.view, run);
    } else if (obj.event === "step") {
      run.steps.push(obj);
      if (this.follow) this.step = run.steps.length - 1;
      renderOutput(this.view, run);
      this.schedule();
    } else if (obj.event === "done") {
      run.done = obj;
    } else if (obj.event === "error") {
      run.error = obj.detail;
    }
  }

  /** Draw the step figures at most once per frame while steps stream in. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.renderStep(); });
  }

  finish() {
    const run = this.run;
    const n = run.steps.length, h = run.head;
    this.status(runSummary(run));
    if (!n) return;
    if (this.wantStep !== null && this.wantStep !== undefined) {
      this.step = Math.min(this.wantStep, n - 1);
      this.wantStep = null;
    }
    renderOutput(this.view, run);
    this.renderStep();
    renderBeamTree(run.done?.beam_tree || null);
    const patch = { ran: run.stopped || run.error ? null : 1, step: this.step };
    if (h.strategy === "sample") patch.seed = h.seed;
    this.state.set(patch);
    this.loadFull();
  }

  goStep(i) {
    const run = this.run;
    if (!run || !run.steps.length) return;
    const next = Math.max(0, Math.min(run.steps.length - 1, i));
    this.follow = next === run.steps.length - 1;
    if (next === this.step) return;
    this.step = next;
    if (!this.stream.running) this.state.set({ step: next });
    renderOutput(this.view, run);
    this.renderStep();
    renderCausal(this.view, this.full);
  }

  /** The current step's panels: its candidates, its attention and the KV cache so far. */
  renderStep() {
    const s = this.run?.steps[this.step];
    if (!s) return;
    renderStepCandidates(this.view, s);
    this.drawn = renderStepAttention(this.view, this.run);
    this.kv.setSteps(this.run.steps, this.step);
  }

  clearFigures() {
    for (const id of ["gen-cands", "gen-step-attn", "gen-causal", "gen-gqa"]) Plotly.purge($(id));
    this.fullStale(false);
    $("gen-gqa-note").textContent = "";
    this.kv.setSteps([], 0);
    renderBeamTree(null);
  }

  // ------------------------------------------------------------------ loads: the whole sequence, the next token

  /** The whole sequence's attention at the chosen layer (binary /api/attention), then its two panels. */
  async loadFull() {
    const run = this.run;
    const body = fullRequest(run, Number($("gen-layer").value) || 0);
    if (!body) return;
    const got = await this.fullLoader.load(body);
    if (!got?.data || this.run !== run) return;
    const now = fullRequest(run, Number($("gen-layer").value) || 0);
    if (JSON.stringify(now) !== JSON.stringify(body)) return; // a newer request is on its way
    this.full = got.data;
    renderCausal(this.view, this.full);
    renderGroups(this.view, this.full);
  }

  /** The next-token candidates for the prompt as typed and the sampling controls. */
  async loadNext() {
    clearTimeout(this.timers.next);
    const m = this.model;
    const text = $("gen-text").value;
    if (!m || !text.trim()) return;
    const got = await this.nextLoader.load(nextBody(m, text));
    if (!got?.data) return;
    this.next = got.data;
    renderNext(this.view, this.next);
  }
}
