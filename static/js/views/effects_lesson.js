// The lesson "Attention is not explanation": four steps on the lectures' sentence (the `animal` preset of
// /api/patch/presets: "…because it was too tired. It refers to the", and its "…too wide" twin), each with the
// model's own numbers fetched live: (1) the weight (/api/attention), (2) the norm (/api/norms), (3) the head's
// patching effect (/api/patch), (4) the knockout of "it" → "animal" (/api/knockout). URL: tab=lesson, step=1..4,
// layer and head (the head in question; absent = the most effective head of step 3's patching). This module loads;
// effects_lesson_render.js draws.
import { apiBinary } from "../api.js";
import { exportBar } from "../export.js";
import { createLoader, markStale } from "../kernel/load.js";
import { gridOf, signed, topSites } from "./effects_grid.js";
import { findToken, sentencePair } from "./effects_lesson_figs.js";
import { exportInfo, render } from "./effects_lesson_render.js";
import { node } from "./effects_patch_render.js";

export { render };

const $ = (id) => document.getElementById(id);
const STEPS = ["The weight", "The norm", "The effect", "The knockout"];
const REPLACED = Symbol("replaced"); // a newer load replaced this one: nothing to show

export class Lesson {
  constructor({ models, state, api, onCurrent }) {
    Object.assign(this, { models, state, onCurrent });
    this.step = 1;
    this.chosen = null; // [layer, head] from the URL, or null: the most effective head
    this.seq = 0;
    this.view = null; // what the figure shows now: {step, data, layer, head}
    this.grid = gridOf($("eff-l-fig"));
    $("eff-l-fig").addEventListener("effects:pick", (e) => { if (this.step === 3) this.choose(e.detail, true); });
    // two loaders: the patching (long) is never aborted by the steps' quick questions, which replace each other
    const mark = markStale($("eff-l-fig"));
    const hooks = { status: (t, busy) => this.status(t, busy), error: (t) => this.error(t),
      stale: (on, why) => { // an error clears the figure: only a running request dims it
        mark(on && why === "loading");
        $("eff-l-fig").classList.toggle("eff-stale", on && why === "loading");
      } };
    this.patches = createLoader((body, signal) => api("/api/patch", body, { signal }), { ...hooks, size: 4 });
    this.asks = createLoader(({ path, body }, signal) => (path === "/api/attention"
      ? apiBinary(path, { ...body, format: "f16" }, { signal }) : api(path, body, { signal })), { ...hooks, size: 16 });
    exportBar($("eff-l-fig"), () => exportInfo(this.view));
    $("eff-steps").replaceChildren(...STEPS.map((name, k) => {
      const li = node("li");
      const b = node("button", "eff-step", `${k + 1} ${name}`);
      b.type = "button";
      b.dataset.step = String(k + 1);
      b.addEventListener("click", () => this.go(k + 1));
      li.append(b);
      return li;
    }));
    $("eff-back").addEventListener("click", () => this.go(this.step - 1));
    $("eff-next").addEventListener("click", () => this.go(this.step + 1));
    const pickHead = () => this.choose([Number($("eff-l-layer").value), Number($("eff-l-head").value)], true);
    $("eff-l-layer").addEventListener("change", pickHead);
    $("eff-l-head").addEventListener("change", pickHead);
    $("eff-l-top").addEventListener("click", () => this.choose(null, true));
    $("eff-l-top-list").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-layer]");
      if (b) this.choose([Number(b.dataset.layer), Number(b.dataset.col)], true);
    });
  }

  get model() {
    const dec = this.models.filter((m) => m.kind === "decoder" && m.status === "loaded");
    return dec.find((m) => m.id === "smollm2") || dec[0] || null;
  }

  /** One API answer through `loader` (cached there); throws REPLACED, or the shown error. */
  async ask(loader, path, body, label) {
    const r = await loader.load(loader === this.patches ? body : { path, body }, { label });
    if (!r) throw REPLACED;
    if (r.error) throw Object.assign(new Error(r.error), { shown: true });
    return r.data;
  }

  async preset() {
    if (!this.animal) this.animal = (await this.ask(this.asks, "/api/patch/presets", undefined, "asking the model…")).presets.animal;
    return this.animal;
  }

  patchBody(p) {
    return { model: this.model.id, clean: p.clean, corrupt: p.corrupt, target: p.target, foil: p.foil, metric: p.metric, mode: "heads" };
  }

  go(step, push = true) {
    this.step = Math.min(4, Math.max(1, step));
    this.save(push);
    this.load();
  }

  choose(head, push = false) {
    this.chosen = head;
    this.picked = Boolean(head);
    this.save(push);
    this.load();
  }

  save(push = false) {
    this.state.set({ view: "effects", tab: "lesson", step: this.step, model: this.model?.id,
      layer: this.chosen ? this.chosen[0] : null, head: this.chosen ? this.chosen[1] : null }, { push });
  }

  async show(s) {
    this.step = Math.min(4, Math.max(1, Number.parseInt(s.step, 10) || 1));
    const l = Number.parseInt(s.layer, 10), h = Number.parseInt(s.head, 10);
    const m = this.model;
    const chosen = m && l >= 0 && l < m.layers && h >= 0 && h < m.heads ? [l, h] : null;
    if (String(chosen) !== String(this.chosen)) this.picked = false; // a link's or the class's head
    this.chosen = chosen;
    await this.load();
  }

  error(text) { $("eff-l-error").textContent = text || ""; $("eff-l-error").hidden = !text; }

  status(text, busy = false) { $("eff-l-status").textContent = text; $("eff-l-status").classList.toggle("busy", Boolean(busy)); }

  /** The answer in sight for the class question: step 3's patching grid, else null. */
  current() { return this.step === 3 && this.view?.step === 3 ? this.view.data : null; }

  /**
   * The head in question: the URL's, or the patching's most effective one (running the patching for it, once;
   * then written into the URL, so that a class following this page need not run it for steps 1, 2 and 4).
   */
  async head(p, seq) {
    const known = this.top; // {head, effect} once this page has run the patching
    if (this.chosen) {
      const same = known && known.head.join() === this.chosen.join();
      return { head: this.chosen, why: same ? "top" : this.picked ? "picked" : "link", effect: same ? known.effect : null };
    }
    const res = await this.ask(this.patches, "/api/patch", this.patchBody(p),
      `patching ${this.model.layers * this.model.heads} heads to find the most effective one…`);
    if (seq !== this.seq) return null;
    const top = topSites(res, 1)[0];
    if (!top) throw new Error(res.reason || "the patching gave no effects");
    this.top = { head: [top.layer, res.columns[top.col]], effect: top.effect };
    this.chosen = this.top.head;
    this.save();
    return { ...this.top, why: "top" };
  }

  /** The step in view: its head, its data, then its figure. */
  async load() {
    const seq = ++this.seq, step = this.step;
    for (const b of $("eff-steps").querySelectorAll("button")) {
      b.setAttribute("aria-current", b.dataset.step === String(step) ? "step" : "false");
    }
    $("eff-back").disabled = step === 1;
    $("eff-next").disabled = step === 4;
    this.error("");
    const m = this.model;
    if (!m) { this.error("The lesson needs a decoder (SmolLM2): none is loaded."); return; }
    this.fillHeads(m);
    try {
      const p = await this.preset();
      if (seq !== this.seq) return;
      $("eff-l-sentence").replaceChildren(...sentencePair(p.clean, p.corrupt));
      $("eff-l-sentence").title = `${m.name}: the lectures' sentence and its twin, with "It refers to the" after them`;
      const h = await this.head(p, seq);
      if (!h || seq !== this.seq) return;
      const [layer, head] = h.head;
      $("eff-l-layer").value = String(layer);
      $("eff-l-head").value = String(head);
      $("eff-l-why").textContent = `layer ${layer} · head ${head}` + { top: `: the most effective head of step 3's patching `
        + `(${signed(h.effect)})`, picked: ": your choice", link: "" }[h.why];
      const data = await this.stepData(step, p, layer, head);
      if (seq !== this.seq) return;
      this.draw(step, data, layer, head);
      this.status("");
    } catch (e) {
      if (e === REPLACED || seq !== this.seq) return;
      this.status("");
      if (!e.shown) this.error(e.detail || e.message || String(e));
      this.view = null;
      this.grid.clear();
      $("eff-l-readout").textContent = "";
      this.onCurrent();
    }
  }

  fillHeads(m) {
    const fill = (sel, n, label) => {
      if (sel.options.length === n) return;
      sel.replaceChildren(...Array.from({ length: n }, (_, i) => { const o = node("option", "", `${label} ${i}`); o.value = String(i); return o; }));
    };
    fill($("eff-l-layer"), m.layers, "layer");
    fill($("eff-l-head"), m.heads, "head");
  }

  /** The step's API answer, shaped for its figure. */
  async stepData(step, p, layer, head) {
    const model = this.model.id, label = "asking the model…";
    if (step === 3) return this.ask(this.patches, "/api/patch", this.patchBody(p), label);
    const attention = () => this.ask(this.asks, "/api/attention", { model, text: p.clean, layer }, label);
    if (step === 4) {
      const toks = (await attention()).query_tokens;
      const i = findToken(toks, "it"), a = findToken(toks, "animal");
      if (i < 0 || a < 0) throw new Error("‘it’ or ‘animal’ is not a token of this sentence for this model");
      const ko = await this.ask(this.asks, "/api/knockout", { model, text: p.clean, edges: { from_passage: [i, i + 1], to_passage: [a, a + 1] } }, label);
      return { ko, keys: toks, i, a, s: findToken(toks, "street") };
    }
    const res = step === 1 ? await attention() : await this.ask(this.asks, "/api/norms", { model, text: p.clean, layer }, label);
    const keys = res.key_tokens, i = findToken(res.query_tokens, "it");
    if (i < 0) throw new Error("‘it’ is not a token of this sentence for this model");
    const seen = keys.slice(0, i + 1);
    // the weights: binary (heads × queries × keys, flat) from /api/attention; nested lists from /api/norms
    const at = res.values && (head * res.shape[1] + i) * res.shape[2];
    const row = res.values ? Array.from(res.values.subarray(at, at + i + 1)) : res.weights[head][i].slice(0, i + 1);
    const ctx = { res, keys: seen, i, a: findToken(seen, "animal"), s: findToken(seen, "street"), layer, head, row };
    if (step === 2) ctx.norm = res.norms_normalised[head][i].slice(0, i + 1);
    return ctx;
  }

  draw(step, data, layer, head) {
    this.view = { step, data, layer, head };
    render({ step, layer, head, blank: document.body.dataset.classQuestion === "grid" }, data);
    this.onCurrent();
  }

  /** Redraw what is in view (presentation mode, a class question opening or closing). */
  redraw() { if (this.view) this.draw(this.view.step, this.view.data, this.view.layer, this.view.head); }
}
