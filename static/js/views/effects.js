// The Effects view: what changes when you intervene. Two tabs (URL key `tab`): Patching (effects_patch.js,
// POST /api/patch as a layers × heads grid) and the lesson "Attention is not explanation" (effects_lesson.js:
// the weight, the norm, the patching effect and the knockout, step=1..4). For the live class's grid question
// ("which head matters most?"): window.__effectsCurrent and an "effects:current" event whenever the heads grid
// in sight changes (null when none is); body[data-class-question="grid"] draws the grid blank and hides the
// top heads until the reveal.
import * as keys from "../keys.js";
import { flatEffects } from "./effects_grid.js";
import { Lesson } from "./effects_lesson.js";
import { PatchTab } from "./effects_patch.js";

const $ = (id) => document.getElementById(id);

export async function mount(ctx) {
  const view = new EffectsView(ctx);
  return { show: (s) => view.show(s) };
}

class EffectsView {
  constructor({ models, state, api }) {
    this.state = state;
    this.tab = "patch";
    const onCurrent = () => this.publish();
    this.patch = new PatchTab({ models, state, api, onCurrent });
    this.lesson = new Lesson({ models, state, api, onCurrent });
    window.addEventListener("models:update", (e) => { this.lesson.models = e.detail; });
    for (const r of document.querySelectorAll("input[name=eff-tab]")) {
      r.addEventListener("change", () => { if (r.checked) this.switchTab(r.value); });
    }
    const redraw = () => { if (!this.visible()) return; if (this.tab === "patch") this.patch.render(); else this.lesson.redraw(); };
    window.addEventListener("presentation", redraw);
    let t = 0;
    window.addEventListener("resize", () => { clearTimeout(t); t = setTimeout(redraw, 150); });
    new MutationObserver(redraw).observe(document.body, { attributes: true, attributeFilter: ["data-class-question"] });
    keys.register("effects", [
      { keys: ["ArrowRight"], label: "Lesson: next step", fn: () => this.tab === "lesson" && this.lesson.go(this.lesson.step + 1) },
      { keys: ["ArrowLeft"], label: "Lesson: previous step", fn: () => this.tab === "lesson" && this.lesson.go(this.lesson.step - 1) },
      { keys: ["l"], label: "Patching / lesson", fn: () => this.switchTab(this.tab === "patch" ? "lesson" : "patch") },
    ]);
  }

  visible() { return !$("eff-patch").closest("section").hidden; }

  /** The tab the user picked: a history entry; the selected head does not carry over (each tab has its own). */
  switchTab(tab) {
    if (tab === this.tab) return;
    this.state.set(tab === "lesson" ? { tab: "lesson", step: 1, layer: null, head: null, pos: null }
      : { tab: null, step: null, layer: null, head: null }, { push: true });
    this.show(this.state.get());
  }

  async show(s) {
    this.tab = s.tab === "lesson" ? "lesson" : "patch";
    for (const r of document.querySelectorAll("input[name=eff-tab]")) r.checked = r.value === this.tab;
    $("eff-patch").hidden = this.tab !== "patch";
    $("eff-lesson").hidden = this.tab !== "lesson";
    $("eff-patch").closest("section").dataset.tab = this.tab;
    this.publish();
    if (this.tab === "patch") await this.patch.show(s);
    else await this.lesson.show(s);
  }

  /** The heads grid in sight, for the class question: {job: null, model, task, layers, heads, values, mode}. */
  publish() {
    const res = this.tab === "patch" ? this.patch.current() : this.lesson.current();
    window.__effectsCurrent = res ? { job: null, model: res.model, task: "patching", mode: res.mode,
      layers: res.values.length, heads: res.columns.length, values: res.effects ? flatEffects(res) : null,
      reason: res.reason || null } : null;
    window.dispatchEvent(new CustomEvent("effects:current", { detail: window.__effectsCurrent }));
  }
}
