// The generate view: a decoder continues the prompt token by token (streamed from POST /api/generate/stream),
// and every step shows its candidates and the new token's attention; the whole sequence as one causal heatmap;
// the heads in their key/value groups; and the next-token candidates for the prompt (POST /api/next-token).
import { decodeF16, matrix, readLines } from "../api.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { CONFIG, SCALE, esc, plotFont, plotMargin, tickLabels, tickStep } from "../plot.js";
import { KvCachePanel } from "../panels/kvcache.js";
import { renderBeamTree } from "../panels/beamtree.js";
import { sinkNote } from "../sink.js";

const EXAMPLES = {
  default: [
    "The animal didn't cross the street because",
    "Yesterday Alice was wearing a jacket and she",
    "The capital of France is",
    "Once upon a time",
  ],
  textbook: ["je suis étudiant", "le chat noir mange la pomme rouge", "il n'est pas médecin", "nous avons un chien gris"],
};
const FRENCH = /^(je|le|la|il|elle|nous|vous|tu|ils|elles|les|un|une)\b/i;
const ACCENT = "#3b4cca", GREY = "#aab0bb", CHOSEN = "#f59e0b", MASKED = "#d3d7de";

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new GenerateView(ctx);
  return { show: (s) => view.show(s) };
}

/** Models that generate: decoders and encoder-decoders (/api/models gives a model still loading the kind of its
 * configured family when it has one; one of unknown kind is listed until it loads). */
function generative(list) {
  return list.filter((m) => m.kind !== "encoder");
}

class GenerateView {
  constructor({ models, state }) {
    this.models = generative(usable(models));
    this.state = state;
    this.run = null; // {head, steps: [{...step, att: Float32Array, cross: Float32Array}], done, stopped}
    this.step = 0;
    this.follow = true; // the scrubber follows new steps while it sits on the last one
    this.ctrl = null; // AbortController of the running stream
    this.full = null; // /api/attention of the whole sequence for the chosen layer: {res, heads: [T x T]}
    this.fullCache = new Map();
    this.nextCtrl = null;
    this.timers = {};
    this.frame = 0;
    this.restored = false;
    this.kv = new KvCachePanel();
    const select = $("gen-model");
    modelSelect(select, generative(models), (ok) => { this.models = generative(ok); });
    // models.js re-lists every model when they settle: keep only those that generate (this runs after it)
    window.addEventListener("models:update", (e) => {
      prune(select, generative(e.detail), this.models);
      if (this.wantModel && this.models.some((m) => m.id === this.wantModel) && !this.ctrl) {
        select.value = this.wantModel;
        this.wantModel = null;
      }
      if (!this.ctrl) { this.onModel(); this.loadNext(); }
    });
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("gen-model").value); }

  // ------------------------------------------------------------------ controls

  bind() {
    $("gen-form").addEventListener("submit", (e) => { e.preventDefault(); this.generate(); });
    $("gen-stop").addEventListener("click", () => this.stop());
    $("gen-model").addEventListener("change", () => { this.onModel(); this.save(true); this.loadNext(); });
    $("gen-strategy").addEventListener("change", () => { this.showFields(); this.save(); });
    $("gen-text").addEventListener("input", () => this.later("next", () => { this.save(); this.loadNext(); }, 500));
    for (const id of ["gen-temperature", "gen-top-p"]) {
      $(id).addEventListener("input", () => { this.showValues(); this.later("next", () => { this.save(); this.loadNext(); }, 200); });
    }
    $("gen-top-k").addEventListener("input", () => this.later("next", () => { this.save(); this.loadNext(); }, 300));
    for (const id of ["gen-beam", "gen-seed", "gen-max"]) $(id).addEventListener("change", () => this.save());
    $("gen-step").addEventListener("input", () => this.goStep(Number($("gen-step").value)));
    $("gen-step-head").addEventListener("change", () => this.renderStep());
    $("gen-attn-kind").addEventListener("change", () => this.renderStep());
    $("gen-fit").addEventListener("change", () => this.renderStep());
    $("gen-layer").addEventListener("change", () => { this.save(); this.loadFull(); });
    $("gen-head").addEventListener("change", () => { this.save(); this.renderCausal(); });
    keys.register("generate", [
      { keys: ["ArrowRight", "."], label: "Next generation step", fn: () => this.goStep(this.step + 1) },
      { keys: ["ArrowLeft", ","], label: "Previous generation step", fn: () => this.goStep(this.step - 1) },
      { keys: ["Home"], label: "First step", fn: () => this.goStep(0) },
      { keys: ["End"], label: "Last step", fn: () => this.goStep(Infinity) },
      { keys: ["ArrowDown", "]"], label: "Next layer", fn: () => this.stepSelect("gen-layer", 1) },
      { keys: ["ArrowUp", "["], label: "Previous layer", fn: () => this.stepSelect("gen-layer", -1) },
      { keys: ["h"], label: "Next head (causal heatmap)", fn: () => this.stepSelect("gen-head", 1) },
      { keys: ["g"], label: "Generate", fn: () => this.generate() },
      { keys: ["x"], label: "Stop generating", fn: () => this.stop() },
    ]);
    window.addEventListener("presentation", () => {
      if ($("gen-cands").closest("section").hidden) return;
      this.renderStep();
      this.renderCausal();
      this.renderNext();
    });
    exportBar($("gen-cands"), () => this.candsExport());
    exportBar($("gen-step-attn"), () => this.stepExport());
    exportBar($("gen-causal"), () => this.causalExport());
    exportBar($("gen-next"), () => this.nextExport());
    exportBar($("gen-gqa"), () => this.gqaExport());
    this.showValues();
    this.showFields();
  }

  later(name, fn, ms) {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(fn, ms);
  }

  stepSelect(id, delta) {
    const sel = $(id);
    const n = sel.options.length;
    if (!n) return;
    sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
    sel.dispatchEvent(new Event("change"));
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    const seq2seq = m.kind === "encoder-decoder";
    const text = $("gen-text");
    if (seq2seq && !FRENCH.test(text.value)) text.value = EXAMPLES.textbook[0];
    else if (!seq2seq && EXAMPLES.textbook.includes(text.value)) text.value = EXAMPLES.default[0];
    $("gen-strategy").querySelector("option[value=sample]").disabled = seq2seq;
    if (seq2seq && $("gen-strategy").value === "sample") $("gen-strategy").value = "greedy";
    $("gen-attn-kind-field").hidden = !seq2seq;
    fill($("gen-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("gen-head"), [...range(m.heads).map((i) => [i, `Head ${i + 1}`]), ["mean", "Mean of heads"]]);
    fill($("gen-step-head"), [["mean", "Mean of the heads"], ...range(m.heads).map((i) => [i, `Head ${i + 1}`])]);
    const chips = $("gen-examples");
    chips.replaceChildren(...(seq2seq ? EXAMPLES.textbook : EXAMPLES.default).map((t) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = t;
      b.addEventListener("click", () => { $("gen-text").value = t; this.save(true); this.loadNext(); this.generate(); });
      return b;
    }));
    this.showFields();
    this.kv.setModel(m.id);
  }

  showValues() {
    $("gen-temperature-out").textContent = Number($("gen-temperature").value).toFixed(2);
    $("gen-top-p-out").textContent = Number($("gen-top-p").value).toFixed(2);
  }

  showFields() {
    const s = $("gen-strategy").value;
    $("gen-beam-field").hidden = s !== "beam";
    $("gen-seed-field").hidden = s !== "sample";
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("gen-model").value) {
      $("gen-model").value = s.model;
      this.onModel();
    } else if (s.model && !this.models.some((m) => m.id === s.model)) {
      this.wantModel = s.model; // still loading: chosen when it is ready
    }
    if (s.text !== undefined && !this.ctrl) $("gen-text").value = s.text;
    const set = (id, v) => { if (v !== undefined && v !== "") $(id).value = v; };
    if (s.strategy && [...$("gen-strategy").options].some((o) => o.value === s.strategy && !o.disabled)) $("gen-strategy").value = s.strategy;
    set("gen-temperature", s.temperature);
    set("gen-top-k", s.top_k);
    set("gen-top-p", s.top_p);
    set("gen-beam", s.beam);
    set("gen-max", s.max);
    if (s.seed !== undefined) $("gen-seed").value = s.seed;
    for (const id of ["layer", "head"]) {
      const sel = $(`gen-${id}`);
      if (s[id] !== undefined && [...sel.options].some((o) => o.value === s[id])) sel.value = s[id];
    }
    this.showValues();
    this.showFields();
    if (!this.model) { setError("No model that generates text is available: see the message at the top of the page."); return; }
    this.loadNext();
    if (s.ran === "1" && !this.run && !this.restored) {
      this.restored = true;
      this.wantStep = /^\d+$/.test(s.step ?? "") ? Number(s.step) : null;
      await this.generate();
    }
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false, extra = {}) {
    const strategy = $("gen-strategy").value;
    this.state.set({
      view: "generate", model: $("gen-model").value, text: $("gen-text").value, strategy,
      temperature: $("gen-temperature").value, top_k: $("gen-top-k").value, top_p: $("gen-top-p").value,
      beam: strategy === "beam" ? $("gen-beam").value : null,
      seed: strategy === "sample" ? $("gen-seed").value : null,
      max: $("gen-max").value, layer: $("gen-layer").value, head: $("gen-head").value, ...extra,
    }, { push });
  }

  body() {
    const num = (id) => Number($(id).value);
    const b = {
      model: $("gen-model").value, text: $("gen-text").value, strategy: $("gen-strategy").value,
      max_new_tokens: num("gen-max"), temperature: num("gen-temperature"), top_k: num("gen-top-k"),
      top_p: num("gen-top-p"), beam_width: num("gen-beam"),
    };
    if (b.strategy === "sample" && $("gen-seed").value !== "") b.seed = num("gen-seed");
    return b;
  }

  // ------------------------------------------------------------------ generating (streamed)

  async generate() {
    if (!this.model) return;
    this.stop(true);
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    const body = this.body();
    this.run = { head: null, steps: [], done: null, stopped: false, body };
    this.full = null;
    this.step = 0;
    this.follow = true;
    setError("");
    this.save(true, { ran: null, step: null });
    this.busy(true);
    setStatus("Generating…", true);
    this.renderOutput();
    this.clearFigures();
    try {
      const res = await fetch("/api/generate/stream", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: ctrl.signal,
      });
      if (!res.ok) {
        let detail = `request failed (HTTP ${res.status})`;
        try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
        throw Object.assign(new Error(detail), { detail });
      }
      await readLines(res.body, (obj) => this.onLine(obj));
      if (this.run && !this.run.done && !this.run.error) throw Object.assign(new Error("the stream ended early"), { detail: "The server closed the stream before the end." });
    } catch (err) {
      if (err.name === "AbortError") {
        if (this.run && this.ctrl === ctrl) this.run.stopped = true;
      } else {
        const detail = err.detail || "The AttnScope server did not answer. Is it still running?";
        setError(detail);
      }
    } finally {
      if (this.ctrl === ctrl) {
        this.ctrl = null;
        this.busy(false);
        this.finish();
      }
    }
  }

  /** Stop the running stream (the server notices the closed connection and stops generating). */
  stop(quiet = false) {
    if (!this.ctrl) return;
    const ctrl = this.ctrl;
    if (quiet) this.ctrl = null;
    ctrl.abort();
  }

  busy(on) {
    $("gen-run").disabled = on;
    $("gen-stop").disabled = !on;
    $("gen-stop").classList.toggle("primary", on);
  }

  onLine(obj) {
    const run = this.run;
    if (!run) return;
    if (obj.event === "start") {
      run.head = obj;
      this.renderOutput();
    } else if (obj.event === "step") {
      const step = { ...obj, att: decodeF16(obj.attention) };
      if (obj.cross_attention) step.cross = decodeF16(obj.cross_attention);
      delete step.attention;
      delete step.cross_attention;
      run.steps.push(step);
      if (this.follow) this.step = run.steps.length - 1;
      this.renderOutput();
      this.schedule();
    } else if (obj.event === "done") {
      run.done = obj;
    } else if (obj.event === "error") {
      run.error = obj.detail;
      setError(obj.detail);
    }
  }

  /** Draw the step figures at most once per frame while steps stream in. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.renderStep(); });
  }

  finish() {
    const run = this.run;
    if (!run) return;
    const n = run.steps.length;
    const h = run.head;
    const seed = h && h.seed !== null && h.seed !== undefined ? ` · seed ${h.seed}` : "";
    const why = run.stopped ? `Stopped after ${n} token${n === 1 ? "" : "s"}`
      : run.error ? `Failed after ${n} token${n === 1 ? "" : "s"}`
      : run.done?.finished ? `${n} token${n === 1 ? "" : "s"}, ended with the end-of-sequence token`
      : `${n} token${n === 1 ? "" : "s"}`;
    setStatus(h ? `${h.model} · ${h.strategy}${seed} · ${why}.` : "");
    if (!n) return;
    if (this.wantStep !== null && this.wantStep !== undefined) {
      this.step = Math.min(this.wantStep, n - 1);
      this.wantStep = null;
    }
    this.renderOutput();
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
    if (!this.ctrl) this.state.set({ step: next });
    this.renderOutput();
    this.renderStep();
    this.renderCausal();
  }

  // ------------------------------------------------------------------ the text, chips and scrubber

  renderOutput() {
    const run = this.run;
    const steps = run?.steps || [];
    $("gen-output-prompt").textContent = run?.head?.prompt ?? $("gen-text").value;
    const seq2seq = run?.head?.kind === "encoder-decoder";
    $("gen-output-prompt").classList.toggle("gen-source", seq2seq);
    $("gen-output-new").textContent = steps.length ? steps[steps.length - 1].text : "";
    const chips = $("gen-tokens");
    while (chips.children.length > steps.length) chips.lastChild.remove();
    for (let i = chips.children.length; i < steps.length; i++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip gen-token";
      b.dataset.step = String(i);
      b.textContent = shown(steps[i].token);
      b.title = `step ${i + 1}: p = ${steps[i].prob.toFixed(3)}`;
      b.addEventListener("click", () => this.goStep(i));
      chips.append(b);
    }
    for (const b of chips.children) {
      if (Number(b.dataset.step) === this.step) b.setAttribute("aria-current", "step");
      else b.removeAttribute("aria-current");
    }
    const scrub = $("gen-step");
    scrub.disabled = steps.length < 2;
    scrub.max = String(Math.max(0, steps.length - 1));
    scrub.value = String(this.step);
    const s = steps[this.step];
    $("gen-step-label").textContent = s
      ? `Step ${this.step + 1} of ${steps.length}: “${shown(s.token)}”, p = ${fmt(s.prob)}` +
        (Math.abs(s.prob_sampled - s.prob) > 5e-4 ? ` (${fmt(s.prob_sampled)} after temperature / top-k / top-p)` : "")
      : this.ctrl ? "Waiting for the first token…" : "Generate to see each step.";
  }

  clearFigures() {
    for (const id of ["gen-cands", "gen-step-attn", "gen-causal", "gen-gqa"]) Plotly.purge($(id));
    $("gen-gqa-note").textContent = "";
    this.kv.setSteps([], 0);
    renderBeamTree(null);
  }

  // ------------------------------------------------------------------ one step: candidates and attention

  renderStep() {
    const run = this.run;
    const s = run?.steps[this.step];
    if (!s) return;
    this.renderCandidates(s);
    this.renderStepAttention(s);
    this.kv.setSteps(run.steps, this.step);
  }

  renderCandidates(s) {
    const c = s.candidates;
    const title = `Step ${this.step + 1}: candidates for the next token — chose “${shown(s.token)}”`;
    candidateBars($("gen-cands"), c, s.id, title, "gen_candidates");
  }

  /** Key tokens of step i: what its query could see. */
  stepKeys(i, kind) {
    const run = this.run;
    const h = run.head;
    const out = run.steps.slice(0, i).map((x) => x.token);
    if (h.kind === "encoder-decoder") return kind === "cross" ? h.prompt_tokens : ["<s>", ...out];
    return [...h.prompt_tokens, ...out];
  }

  /** (layers x keys) rows of step s: one head, or the mean of the heads. */
  stepMatrix(s, kind) {
    const [L, H, p] = kind === "cross" ? s.cross_shape : s.shape;
    const flat = kind === "cross" ? s.cross : s.att;
    const hv = $("gen-step-head").value;
    const rows = [];
    for (let l = 0; l < L; l++) {
      if (hv === "mean") {
        const row = new Array(p).fill(0);
        for (let h = 0; h < H; h++) for (let j = 0; j < p; j++) row[j] += flat[(l * H + h) * p + j] / H;
        rows.push(row);
      } else {
        rows.push(Array.from(flat.subarray((l * H + Number(hv)) * p, (l * H + Number(hv) + 1) * p)));
      }
    }
    return rows;
  }

  renderStepAttention(s) {
    const run = this.run;
    const kind = run.head.kind === "encoder-decoder" ? $("gen-attn-kind").value : "self";
    const z = this.stepMatrix(s, kind);
    const cols = this.stepKeys(this.step, kind).map(shown);
    const L = z.length, p = cols.length;
    const hv = $("gen-step-head").value;
    const who = hv === "mean" ? "mean of the heads" : `head ${Number(hv) + 1}`;
    let zmax = 1;
    if ($("gen-fit").checked && p > 1) zmax = Math.max(1e-6, ...z.map((r) => Math.max(...r.slice(1))));
    const step = tickStep(p, 40);
    const xt = range(p).filter((j) => j % step === 0);
    const custom = z.map((r, l) => r.map((_, j) => `L${l + 1} → ${esc(cols[j])}`));
    const title = kind === "cross"
      ? `Step ${this.step + 1}: “${shown(s.token)}” — cross-attention over the source (${who})`
      : `Step ${this.step + 1}: which earlier tokens produced “${shown(s.token)}” (${who})`;
    const fig = $("gen-step-attn");
    Plotly.react(fig, [{
      type: "heatmap", z, x: range(p), y: range(L), colorscale: SCALE, zmin: 0, zmax, customdata: custom,
      xgap: p <= 40 ? 1 : 0, ygap: L <= 40 ? 1 : 0,
      colorbar: { thickness: 12, outlinewidth: 0, title: { text: "weight", side: "right" } },
      hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>",
    }], {
      title: { text: esc(title), font: plotFont(15), x: 0, xanchor: "left" },
      font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      height: Math.max(320, Math.min(620, 15 * L + 150)), margin: { t: 44, b: 10, l: 10, r: 10 },
      xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => cols[j])), tickangle: p > 6 ? -45 : 0, automargin: true,
        title: { text: kind === "cross" ? "source token" : "earlier token (key)" }, showgrid: false, zeroline: false },
      yaxis: { tickvals: range(L).filter((l) => l % tickStep(L, 16) === 0),
        ticktext: range(L).filter((l) => l % tickStep(L, 16) === 0).map((l) => `L${l + 1}`), autorange: "reversed",
        automargin: true, title: { text: "layer" }, showgrid: false, zeroline: false },
    }, plotConfig("gen_step_attention"));
    this.stepData = { z, cols, rows: range(L).map((l) => `layer ${l + 1}`), kind, head: hv };
    sinkNote($("gen-sink-note"), kind === "cross" ? [] : z, cols);
  }

  // ------------------------------------------------------------------ the whole sequence: causal heatmap and KV groups

  /** The /api/attention request for the text so far (decoders: prompt + output; textbook: source + translation). */
  fullRequest() {
    const run = this.run;
    if (!run?.head || !run.steps.length) return null;
    const h = run.head;
    const out = run.steps[run.steps.length - 1].text;
    const layer = Number($("gen-layer").value) || 0;
    if (h.kind === "encoder-decoder") {
      if (!out.trim()) return null;
      return { model: h.model, text: h.prompt, target: out, block: "decoder", layer, format: "f16" };
    }
    return { model: h.model, text: h.prompt + out, block: "decoder", layer, format: "f16" };
  }

  async loadFull() {
    const body = this.fullRequest();
    if (!body) return;
    const key = JSON.stringify(body);
    let full = this.fullCache.get(key);
    if (!full) {
      try {
        const res = await fetchJson("/api/attention", body);
        const [H, T] = [res.shape[0], res.shape[1]];
        const flat = decodeF16(res.weights);
        full = { res, heads: range(H).map((h) => matrix(flat, h * T * T, T, T)) };
      } catch (err) {
        setError(err.detail || String(err));
        return;
      }
      this.fullCache.set(key, full);
      if (this.fullCache.size > 16) this.fullCache.delete(this.fullCache.keys().next().value);
    }
    if (JSON.stringify(this.fullRequest()) !== key) return; // a newer request is on its way
    this.full = full;
    this.renderCausal();
    this.renderGroups();
  }

  causalMatrix() {
    const { heads } = this.full;
    const hv = $("gen-head").value;
    if (hv !== "mean") return heads[Number(hv)];
    const T = heads[0].length;
    return range(T).map((i) => range(T).map((j) => heads.reduce((a, m) => a + m[i][j], 0) / heads.length));
  }

  /** The query row of the current step in the full heatmap. */
  currentRow() {
    const run = this.run;
    if (!run?.head) return null;
    const row = run.head.kind === "encoder-decoder" ? this.step : run.head.prompt_tokens.length - 1 + this.step;
    return row < this.full.res.query_tokens.length ? row : null;
  }

  renderCausal() {
    if (!this.full) return;
    const { res } = this.full;
    const z = masked(this.causalMatrix());
    const tokens = res.query_tokens.map(shown);
    const T = tokens.length;
    const step = tickStep(T, 40);
    const ticks = range(T).filter((i) => i % step === 0);
    const labels = tickLabels(ticks.map((i) => tokens[i]), ticks.map((i) => res.query_special[i]));
    const p0 = this.run.head.kind === "encoder-decoder" ? 1 : this.run.head.prompt_tokens.length;
    const row = this.currentRow();
    const shapes = [
      // where the generated tokens start
      { type: "line", xref: "x", yref: "paper", x0: p0 - 0.5, x1: p0 - 0.5, y0: 0, y1: 1, line: { color: "#ffffff", width: 2, dash: "dot" } },
    ];
    if (row !== null) {
      shapes.push({ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: T - 0.5, y0: row - 0.5, y1: row + 0.5,
        line: { color: CHOSEN, width: 3 } });
    }
    const hv = $("gen-head").value;
    const who = hv === "mean" ? "mean of the heads" : `head ${Number(hv) + 1}`;
    const custom = z.map((r, i) => r.map((_, j) => `${esc(tokens[i])} → ${esc(tokens[j])}`));
    Plotly.react($("gen-causal"), [{
      type: "heatmap", z, x: range(T), y: range(T), colorscale: SCALE, zmin: 0, zmax: 1, hoverongaps: false,
      customdata: custom, xgap: T <= 40 ? 1 : 0, ygap: T <= 40 ? 1 : 0,
      colorbar: { thickness: 12, outlinewidth: 0, title: { text: "weight", side: "right" } },
      hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>",
    }], {
      title: { text: esc(`${res.model} · layer ${res.layer + 1} · ${who} · ${T} tokens (grey: masked)`), font: plotFont(15), x: 0, xanchor: "left" },
      font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: MASKED,
      // square cells that grow with the font (presenting, the rotated key labels need the room)
      height: Math.max(460, Math.min(760, Math.round(22 * plotFont(12).size / 12) * T + 170)), margin: { t: 44, b: 10, l: 10, r: 10 },
      xaxis: { tickvals: ticks, ticktext: labels, tickangle: -45, automargin: true, showgrid: false, zeroline: false,
        title: { text: "key" }, range: [-0.5, T - 0.5], constrain: "domain" },
      yaxis: { tickvals: ticks, ticktext: labels, autorange: "reversed", automargin: true, showgrid: false, zeroline: false,
        title: { text: "query" }, scaleanchor: "x", constrain: "domain" },
      shapes,
    }, plotConfig("gen_causal"));
  }

  /** The layer's heads in their key/value groups (grouped-query attention). */
  renderGroups() {
    if (!this.full) return;
    const { res, heads } = this.full;
    const H = heads.length;
    const info = this.models.find((m) => m.id === res.model) || {};
    const kv = res.model === this.run.head.model ? this.run.head.kv_heads : info.kv_heads || H;
    const G = Math.max(1, Math.min(H, kv));
    const per = Math.ceil(H / G);
    const tokens = res.query_tokens.map(shown);
    const T = tokens.length;
    $("gen-gqa-note").textContent = G < H
      ? `${res.model}: ${H} query heads share ${G} key/value heads, ${per} query heads per group. Each box is one ` +
        `K and V; its ${per} heads compute different queries against the same keys. Layer ${res.layer + 1}. ` +
        `Multi-query attention is the extreme case: one K/V head (one box) for all ${H} query heads, so the cache ` +
        `holds ${G}× less than here and ${H}× less than multi-head attention (${H} boxes of one); see the KV cache below.`
      : `${res.model}: ${H} heads and ${G} key/value heads — ordinary multi-head attention: every head has its own ` +
        `K and V (a group of one). Layer ${res.layer + 1}. Grouped-query attention would put several heads in one box ` +
        `(one shared K and V); multi-query attention puts all ${H} in one box, caching ${H}× less (see the KV cache below).`;
    const groupGap = 0.035, headGap = 0.01;
    const width = (1 - groupGap * (G - 1) - headGap * (H - G)) / H;
    const traces = [], layout = {}, annotations = [], shapes = [];
    let x = 0;
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / per);
      if (h > 0) x += Math.floor((h - 1) / per) === g ? headGap : groupGap;
      const n = h + 1;
      const xa = n === 1 ? "x" : `x${n}`, ya = n === 1 ? "y" : `y${n}`;
      layout[n === 1 ? "xaxis" : `xaxis${n}`] = { domain: [x, x + width], showticklabels: false, showgrid: false,
        zeroline: false, range: [-0.5, T - 0.5], fixedrange: true };
      layout[n === 1 ? "yaxis" : `yaxis${n}`] = { domain: [0, 0.8], showticklabels: false, showgrid: false, zeroline: false,
        autorange: "reversed", fixedrange: true };
      traces.push({ type: "heatmap", z: masked(heads[h]), xaxis: xa, yaxis: ya, colorscale: SCALE, zmin: 0, zmax: 1,
        showscale: false, hoverongaps: false, name: `head ${h + 1}`,
        customdata: heads[h].map((r, i) => r.map((_, j) => `head ${h + 1} (KV ${g + 1}): ${esc(tokens[i])} → ${esc(tokens[j])}`)),
        hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>" });
      annotations.push({ xref: "paper", yref: "paper", x: x + width / 2, y: 0.8, yanchor: "bottom", showarrow: false,
        text: `Q head ${h + 1}`, font: plotFont(12) });
      if (h % per === 0) {
        const last = Math.min(H, (g + 1) * per);
        const x1 = x + (last - h) * width + (last - h - 1) * headGap;
        shapes.push({ type: "rect", xref: "paper", yref: "paper", x0: x - 0.004, x1: x1 + 0.004, y0: -0.03, y1: 1.0,
          line: { color: ACCENT, width: 2 }, fillcolor: "rgba(59,76,202,0.05)", layer: "below" });
        annotations.push({ xref: "paper", yref: "paper", x: (x + x1) / 2, y: 0.9, yanchor: "bottom", showarrow: false,
          text: G < H ? `<b>KV group ${g + 1}</b>: shared K, V` : `<b>KV head ${g + 1}</b>`, font: { ...plotFont(13), color: ACCENT } });
      }
      x += width;
    }
    const el = $("gen-gqa");
    const px = el.clientWidth || 1200;
    Plotly.react(el, traces, {
      ...layout, annotations, shapes, font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: MASKED,
      height: Math.max(200, Math.min(420, Math.round((px * width) / 0.8) + 40)), margin: { t: 10, b: 10, l: 6, r: 6 },
    }, plotConfig("gen_kv_groups"));
    if (!el.dataset.bound) {
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => {
        const n = Number((ev.points[0].data.name || "").replace("head ", ""));
        if (!n) return;
        $("gen-head").value = String(n - 1);
        $("gen-head").dispatchEvent(new Event("change"));
      });
    }
  }

  // ------------------------------------------------------------------ the next-token panel

  async loadNext() {
    clearTimeout(this.timers.next);
    const m = this.model;
    const text = $("gen-text").value;
    if (!m || !text.trim()) return;
    const body = { model: m.id, text, n: 12, temperature: Number($("gen-temperature").value),
      top_k: Number($("gen-top-k").value) || 0, top_p: Number($("gen-top-p").value) };
    if (this.nextCtrl) this.nextCtrl.abort();
    const ctrl = new AbortController();
    this.nextCtrl = ctrl;
    try {
      this.next = await fetchJson("/api/next-token", body, ctrl.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (!this.ctrl) { setError(err.detail || String(err)); this.nextFailed = true; }
      return;
    }
    if (this.nextFailed) { setError(""); this.nextFailed = false; }
    if (this.nextCtrl === ctrl) this.nextCtrl = null;
    this.nextBody = body;
    this.renderNext();
  }

  renderNext() {
    const r = this.next;
    if (!r) return;
    const b = this.nextBody;
    const what = r.target_tokens ? "first word of the translation" : "next token";
    const title = `The ${what} — T = ${b.temperature.toFixed(2)}, top-k ${b.top_k || "off"}, top-p ${b.top_p < 1 ? b.top_p.toFixed(2) : "off"}`;
    candidateBars($("gen-next"), r.candidates, null, title, "gen_next_token");
  }

  // ------------------------------------------------------------------ exports

  candsExport() {
    const s = this.run?.steps[this.step];
    if (!s) return null;
    return candidatesExport(`attnscope_${this.run.head.model}_step${this.step + 1}_candidates`, s.candidates,
      { step: this.step, chosen: s.token });
  }

  nextExport() {
    if (!this.next) return null;
    return candidatesExport(`attnscope_${this.next.model}_next_token`, this.next.candidates, { text: this.next.text, ...this.nextBody });
  }

  stepExport() {
    const d = this.stepData;
    if (!d || !this.run) return null;
    const name = `attnscope_${this.run.head.model}_step${this.step + 1}_${d.kind}_${d.head === "mean" ? "mean" : `H${Number(d.head) + 1}`}`;
    return { name, csv: matrixCsv(d.rows, d.cols, d.z),
      json: { model: this.run.head.model, step: this.step, token: this.run.steps[this.step].token, attention: d.kind,
        head: d.head, layers: d.rows, key_tokens: d.cols, weights: d.z } };
  }

  causalExport() {
    if (!this.full) return null;
    const { res } = this.full;
    const z = this.causalMatrix();
    const hv = $("gen-head").value;
    return { name: `attnscope_${res.model}_causal_L${res.layer + 1}_${hv === "mean" ? "mean" : `H${Number(hv) + 1}`}`,
      csv: matrixCsv(res.query_tokens, res.key_tokens, z),
      json: { model: res.model, text: res.text, target: res.target, layer: res.layer, head: hv, tokens: res.query_tokens, weights: z } };
  }

  gqaExport() {
    if (!this.full) return null;
    const { res, heads } = this.full;
    const lines = heads.map((m, h) => `# head ${h + 1}\n` + matrixCsv(res.query_tokens, res.key_tokens, m)).join("");
    return { name: `attnscope_${res.model}_kv_groups_L${res.layer + 1}`, csv: lines,
      json: { model: res.model, layer: res.layer, kv_heads: this.run?.head?.kv_heads, tokens: res.query_tokens, heads } };
  }
}

// ------------------------------------------------------------------ figures shared by both candidate charts

/** Horizontal grouped bars: the model's probability (grey) and the sampled one (colour); `chosen` outlined. */
function candidateBars(el, cands, chosen, title, name) {
  const labels = cands.map((c, i) => `${i + 1}. “${esc(shown(c.token))}”`);
  const top = Math.max(...cands.map((c) => Math.max(c.prob, c.prob_sampled)), 0.01);
  const k = cands.findIndex((c) => c.id === chosen);
  const shapes = k < 0 ? [] : [{ type: "rect", xref: "x", yref: "y", x0: 0, y0: k - 0.45, y1: k + 0.45,
    x1: Math.max(cands[k].prob, cands[k].prob_sampled), line: { color: CHOSEN, width: 3 } }];
  const hover = cands.map((c) => `${esc(shown(c.token))} (id ${c.id}) · logit ${c.logit.toFixed(2)}`);
  const f = plotFont(13).size / 13;
  Plotly.react(el, [
    { type: "bar", orientation: "h", name: "p at temperature 1", y: labels, x: cands.map((c) => c.prob),
      marker: { color: GREY }, customdata: hover,
      text: cands.map((c) => fmt(c.prob)), textposition: "outside", cliponaxis: false,
      hovertemplate: "%{customdata}<br>p = %{x:.4f}<extra>temperature 1</extra>" },
    { type: "bar", orientation: "h", name: "p sampled (after T, top-k, top-p)", y: labels, x: cands.map((c) => c.prob_sampled),
      marker: { color: ACCENT }, customdata: hover,
      text: cands.map((c) => fmt(c.prob_sampled)), textposition: "outside", cliponaxis: false,
      hovertemplate: "%{customdata}<br>p = %{x:.4f}<extra>sampled</extra>" },
  ], {
    title: { text: esc(title), font: plotFont(15), x: 0, xanchor: "left", y: 0.98, yanchor: "top" },
    font: plotFont(13), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", barmode: "group", bargap: 0.25,
    // bars as thick as their labels: the rows and the margins grow with the font (presentation mode)
    height: Math.max(320, Math.round(34 * f) * cands.length + 130), margin: { ...plotMargin({ b: 44, l: 10, r: 40 }), t: Math.round(72 + 24 * (f - 1)) },
    yaxis: { autorange: "reversed", automargin: true, type: "category" },
    xaxis: { range: [0, Math.min(1, top) * 1.22], title: { text: "probability" }, zeroline: true },
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: plotFont(12) }, shapes,
  }, plotConfig(name));
}

function candidatesExport(name, cands, extra) {
  const csv = ["rank,token,id,logit,prob,prob_sampled",
    ...cands.map((c, i) => [i + 1, csvCell(c.token), c.id, c.logit, c.prob, c.prob_sampled].join(","))].join("\n") + "\n";
  return { name, csv, json: { ...extra, candidates: cands } };
}

function plotConfig(name) {
  return { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } };
}

// ------------------------------------------------------------------ helpers


async function fetchJson(path, body, signal) {
  let res;
  try {
    res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw Object.assign(new Error("no answer"), { detail: "The AttnScope server did not answer. Is it still running?" });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `request failed (HTTP ${res.status})`;
    throw Object.assign(new Error(detail), { detail });
  }
  return data;
}

/** Upper triangle (keys after the query) as null: drawn as the grey plot background. */
function masked(m) {
  return m.map((row, i) => row.map((v, j) => (j > i ? null : v)));
}

/** Byte-level BPE shows a newline as "Ċ" and a tab as "ĉ": show them as ↵ and ⇥. */
function shown(t) {
  return String(t).replace(/Ċ/g, "↵").replace(/ĉ/g, "⇥");
}

/** Keep only the options of `allowed` models; if the choice went, take the first usable one. */
function prune(select, allowed, usableModels) {
  const ids = new Set(allowed.map((m) => m.id));
  const keep = select.value;
  for (const o of [...select.options]) if (!ids.has(o.value)) o.remove();
  if (!ids.has(keep) || !usableModels.some((m) => m.id === keep)) {
    if (usableModels[0]) select.value = usableModels[0].id;
  }
}

function range(n) { return Array.from({ length: n }, (_, i) => i); }

function fmt(x) {
  if (x === 0) return "0";
  if (x < 0.001) return x.toExponential(1);
  return x.toFixed(3);
}

function csvCell(v) {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function fill(select, options) {
  const prev = select.value;
  select.replaceChildren(...options.map(([v, label]) => {
    const o = document.createElement("option");
    o.value = String(v);
    o.textContent = label;
    return o;
  }));
  if (options.some(([v]) => String(v) === prev)) select.value = prev;
}

function setStatus(s, busy = false) {
  const el = $("gen-status");
  el.textContent = s;
  el.classList.toggle("busy", busy);
}

function setError(s) {
  const el = $("gen-error");
  el.textContent = s;
  el.hidden = !s;
}
