// The step-by-step view: one head, one query token, from the layer's input x to the module's output,
// one step at a time, with the formula and the model's own numbers (POST /api/steps, then POST /api/block-steps
// past W_O). This module holds the controls, the URL state, the keys and the loading; steps_render.js draws.
import { blockOptions, fitText, messages } from "../analysis.js";
import { exportBar } from "../export.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { fill, range } from "../ui.js";
import { $ } from "./steps_figures.js";
import { STEPS, clampStep, render } from "./steps_render.js";

export { render };

const msg = messages("steps");

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new StepsView(ctx);
  return { show: (s) => view.show(s) };
}

class StepsView {
  constructor({ models, state, api }) {
    this.all = models;
    this.models = usable(models);
    this.state = state;
    this.res = null; // the /api/steps answer on screen
    this.step = 0;
    this.query = null; // null: pick the first ordinary token once the tokens are known
    this.current = null; // what figure A shows, for export
    // the URL keys the controls hold (the model is set apart: its choice refills the others)
    this.controls = declare([
      { key: "text", el: $("steps-text") },
      { key: "target", el: $("steps-target"), fallback: "", when: () => !$("steps-target-field").hidden },
      { key: "block", el: $("steps-block"), kind: "select", when: () => !$("steps-block-field").hidden },
      { key: "layer", el: $("steps-layer"), kind: "select" },
      { key: "head", el: $("steps-head"), kind: "select" },
    ]);
    const stale = this.stale = markStale(["a", "b", "c"].map((slot) => $(`steps-fig-${slot}`)));
    this.steps = createLoader((body, signal) => api("/api/steps", body, { signal }),
      { size: 48, status: msg.status, error: msg.error, stale });
    // the rest of the block: an error is said in the step's explanation (render), its figures hidden, not marked
    this.blocks = createLoader((body, signal) => api("/api/block-steps", body, { signal }),
      { size: 16, status: msg.status, stale: (on, why) => stale(on && why !== "error", why), busy: "Running the rest of the layer…" });
    this.blockWait = null; // the block-steps load in flight, if any
    modelSelect($("steps-model"), models, (ok) => { this.models = ok; });
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("steps-model").value); }

  bind() {
    $("steps-form").addEventListener("submit", (e) => { e.preventDefault(); this.query = null; this.save(true); this.load(); });
    $("steps-model").addEventListener("change", () => { this.onModel(); this.query = null; this.save(true); this.load(); });
    $("steps-block").addEventListener("change", () => { this.query = null; this.save(); this.load(); });
    $("steps-layer").addEventListener("change", () => { this.save(); this.load(); });
    $("steps-head").addEventListener("change", () => { this.save(); this.load(); });
    $("steps-query").addEventListener("change", () => { this.query = Number($("steps-query").value); this.save(); this.load(); });
    $("steps-prev").addEventListener("click", () => this.goStep(this.step - 1));
    $("steps-next").addEventListener("click", () => this.goStep(this.step + 1));
    const list = $("steps-list");
    STEPS.forEach((s, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.step = String(i);
      b.textContent = `${i + 1} ${s.short}`;
      b.title = s.title;
      b.addEventListener("click", () => this.goStep(i));
      list.append(b);
    });
    keys.register("steps", [
      { keys: ["ArrowRight"], label: "Next step", fn: () => this.goStep(this.step + 1) },
      { keys: ["ArrowLeft"], label: "Previous step", fn: () => this.goStep(this.step - 1) },
      { keys: ["ArrowDown"], label: "Next query token", fn: () => this.moveQuery(1) },
      { keys: ["ArrowUp"], label: "Previous query token", fn: () => this.moveQuery(-1) },
      { keys: ["Home"], label: "First step", fn: () => this.goStep(0) },
      { keys: ["End"], label: "Last step", fn: () => this.goStep(STEPS.length - 1) },
    ]);
    window.addEventListener("presentation", () => { if (this.res && !$("steps-fig-a").closest("section").hidden) this.draw(); });
    exportBar($("steps-fig-a"), () => this.current);
  }

  /** A model chosen: its layers, heads and attention blocks, and a sentence that suits it (its own, if any). */
  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("steps-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("steps-head"), range(m.heads).map((i) => [i, `Head ${i + 1}`]));
    fill($("steps-block"), blockOptions(m));
    $("steps-block-field").hidden = m.blocks.length < 2;
    $("steps-target-field").hidden = !m.blocks.includes("cross");
    fitText($("steps-text"), m);
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("steps-model").value) {
      $("steps-model").value = s.model;
      this.onModel();
    }
    this.controls.show(s);
    this.query = /^\d+$/.test(s.query ?? "") ? Number(s.query) : this.res ? this.query : null;
    this.step = clampStep(Number(s.step) || 0);
    await this.load();
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false) {
    const c = this.controls.read();
    this.state.set({ view: "steps", model: $("steps-model").value, ...c, target: c.target?.trim() || null,
      query: this.query, step: this.step }, { push });
  }

  goStep(i) {
    const next = clampStep(i);
    if (next === this.step || !this.res) return;
    this.step = next;
    this.save();
    this.draw();
  }

  moveQuery(delta) {
    if (!this.res) return;
    const n = this.res.query_tokens.length;
    const next = Math.max(0, Math.min(n - 1, this.res.query + delta));
    if (next === this.res.query) return;
    this.query = next;
    this.save();
    this.load();
  }

  /** The POST /api/steps body the controls describe. */
  request() {
    const c = this.controls.read();
    const body = {
      model: $("steps-model").value,
      text: $("steps-text").value,
      layer: Number(c.layer),
      head: Number(c.head),
      query: this.query ?? 0,
      block: c.block ?? undefined,
    };
    if (c.target?.trim()) body.target = c.target.trim();
    return body;
  }

  async load() {
    if (!this.model) { msg.error("No model is available: see the message at the top of the page."); return; }
    const got = await this.steps.load(this.request());
    if (!got || got.error) return; // replaced by a newer request, or the error is shown
    const res = got.data;
    if (this.query === null) {
      // first ordinary token: skip [CLS] / <s>
      const first = res.query_special[0] && res.query_tokens.length > 1 ? 1 : 0;
      this.query = first;
      this.save();
      if (first !== res.query) return this.load();
    }
    this.res = res;
    if (res.target && !$("steps-target").value.trim()) $("steps-target").placeholder = res.target;
    await this.draw();
  }

  /** Draw the current step of the answer on screen; steps 10-14 first load the rest of the block. */
  async draw() {
    const r = this.res;
    if (!r) return;
    const info = this.all.find((m) => m.id === r.model) || null;
    let block = null;
    if (!STEPS[this.step].block) {
      if (this.blockWait) { this.blocks.cancel(); this.blockWait = null; this.stale(false); } // not needed now
    } else if (r.block !== (info?.blocks || [r.block])[0]) {
      block = { error: `Add & Norm and the feed-forward step are shown for the first block of ${r.model} ` +
        `(${(info?.blocks || [])[0]}); choose it above. The ${r.block} block's sublayers follow the same pattern.` };
    } else {
      const wait = this.blockWait = this.blocks.load({ model: r.model, text: r.text, layer: r.layer, query: r.query });
      const got = await wait;
      if (this.blockWait === wait) this.blockWait = null;
      if (!got || this.res !== r) return; // a newer draw follows
      block = got.error ? { error: got.error } : got.data;
    }
    this.current = render({ step: this.step }, { res: r, block, info });
  }
}
