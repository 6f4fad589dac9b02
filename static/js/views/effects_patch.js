// The Effects view's Patching tab: two prompts, a metric and a mode -> POST /api/patch -> the grid of effects
// (effects_grid.js), the token strips with the differing tokens marked, answer vs foil, the selected head with a
// link into the Attention view, and the five most effective heads (drawn by effects_patch_render.js). URL keys:
// model, clean, corrupt, metric, mode, answer, foil, layer and head (residual mode: layer and pos).
import { exportBar } from "../export.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { exportInfo, gridOf } from "./effects_grid.js";
import { CAPTION, node, pairText, render } from "./effects_patch_render.js";

export { node, pairText, render };

const $ = (id) => document.getElementById(id);
const BATCH = 32; // patched runs per forward pass (the API's `batch`)

export class PatchTab {
  constructor({ models, state, api, onCurrent }) {
    Object.assign(this, { models, state, api, onCurrent });
    this.res = null;
    this.sent = null; // the request of this.res
    this.selected = null;
    this.presets = {};
    this.grid = gridOf($("eff-grid"));
    $("eff-grid").addEventListener("effects:pick", (e) => this.pick(e.detail, true));
    const mark = markStale($("eff-grid"));
    this.loader = createLoader((body, signal) => api("/api/patch", body, { signal }), {
      size: 8, status: (t, busy) => this.status(t, busy), error: (t) => this.error(t),
      stale: (on, why) => { // an error clears the figure (fail()): only a running request dims it
        mark(on && why === "loading");
        $("eff-grid").classList.toggle("eff-stale", on && why === "loading");
      },
    });
    this.presetLoader = createLoader(() => api("/api/patch/presets"), {
      error: (t) => { if (t) this.error(`The presets did not load: ${t}`); } });
    // the form as state: the answer's token in `answer` (the API's `target`); mode "heads" is the default, absent
    this.form = declare([
      { key: "clean", el: $("eff-clean"), fallback: "" }, { key: "corrupt", el: $("eff-corrupt"), fallback: "" },
      { key: "metric", el: $("eff-metric"), kind: "select", fallback: "logit_diff" },
      { key: "mode", el: $("eff-mode"), kind: "select", fallback: "heads" },
      { key: "answer", el: $("eff-answer-in"), fallback: "" }, { key: "foil", el: $("eff-foil-in"), fallback: "" },
    ]);
    exportBar($("eff-grid"), () => exportInfo(this.res));
    $("eff-caption").textContent = CAPTION.heads;
    this.fillModels();
    window.addEventListener("models:update", (e) => { this.models = e.detail; this.fillModels(); });
    $("eff-form").addEventListener("submit", (e) => { e.preventDefault(); this.run({ push: true, force: true }); });
    for (const id of ["eff-clean", "eff-corrupt"]) { // Enter runs (Shift+Enter: a new line)
      $(id).addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("eff-form").requestSubmit(); }
      });
    }
    $("eff-top-list").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-layer]");
      if (b) this.pick([Number(b.dataset.layer), Number(b.dataset.col)], true);
    });
    this.ready = this.loadPresets();
  }

  fillModels() {
    const sel = $("eff-model"), keep = sel.value;
    const dec = this.models.filter((m) => m.kind === "decoder");
    sel.replaceChildren(...dec.map((m) => {
      const o = node("option", "", m.status === "loaded" ? `${m.name} (${m.layers}×${m.heads})` : `${m.name} (${m.status})`);
      o.value = m.id;
      o.disabled = m.status !== "loaded";
      return o;
    }));
    const ok = dec.filter((m) => m.status === "loaded").map((m) => m.id);
    sel.value = ok.includes(keep) ? keep : ok.includes("smollm2") ? "smollm2" : ok[0] || "";
  }

  async loadPresets() {
    const r = await this.presetLoader.load({});
    if (!r || r.error) return;
    this.presets = r.data.presets;
    $("eff-presets").replaceChildren(...Object.entries(this.presets).map(([id, p]) => {
      const b = node("button", "chip", p.title);
      b.type = "button";
      b.dataset.preset = id;
      b.title = p.note;
      b.addEventListener("click", () => { this.fill(p); this.run({ push: true }); });
      return b;
    }));
  }

  /** Put a preset (its answer in `target`) into the form. */
  fill(p) {
    this.form.show({ clean: p.clean, corrupt: p.corrupt, metric: p.metric || undefined, mode: p.mode || undefined,
      answer: p.target ?? p.answer ?? "", foil: p.foil ?? "" });
  }

  request() {
    const f = this.form.read();
    const body = { model: $("eff-model").value, clean: $("eff-clean").value, corrupt: $("eff-corrupt").value,
      metric: $("eff-metric").value, mode: $("eff-mode").value };
    if (f.answer) body.target = f.answer;
    if (f.foil && body.metric === "logit_diff") body.foil = f.foil;
    return body;
  }

  error(text) { $("eff-error").textContent = text || ""; $("eff-error").hidden = !text; }

  status(text, busy = false) { $("eff-status").textContent = text; $("eff-status").classList.toggle("busy", Boolean(busy)); }

  save(push = false) {
    const b = this.request(), sel = this.selected, heads = b.mode === "heads";
    this.state.set({ view: "effects", tab: null, model: b.model, clean: b.clean, corrupt: b.corrupt, metric: b.metric,
      mode: b.mode === "heads" ? null : b.mode, answer: b.target || null, foil: b.foil || null,
      layer: sel ? sel[0] : null, head: sel && heads ? this.res?.columns[sel[1]] ?? null : null,
      pos: sel && !heads ? this.res?.columns[sel[1]] ?? null : null }, { push });
  }

  async show(s) {
    await this.ready;
    if (s.model && [...$("eff-model").options].some((o) => o.value === s.model && !o.disabled)) $("eff-model").value = s.model;
    if (s.clean !== undefined || s.corrupt !== undefined) this.form.show(s); // absent keys: their defaults
    else if (!$("eff-clean").value && this.presets.ioi) this.fill(this.presets.ioi);
    this.want = s;
    if (s.clean && s.corrupt) await this.run();
    else if (!this.res) this.status("Pick a preset, or write two prompts and press Run.");
    else this.render();
  }

  async run({ push = false, force = false } = {}) {
    const body = this.request();
    const key = JSON.stringify(body);
    if (!force && this.res && key === this.sent) { this.applyWant(); this.render(); return; }
    if (force) this.loader.forget(body); // Run asks the model again
    const m = this.models.find((x) => x.id === body.model);
    const n = m ? m.layers * m.heads : 0;
    const label = body.mode === "heads" && n ? `running: ${n} heads in ${1 + Math.ceil(n / BATCH)} batched passes…`
      : `running: ${m ? m.layers : ""} layers × every position, in batched passes…`;
    const r = await this.loader.load(body, { label });
    if (!r) return; // a newer run replaced this one
    if (r.error) { this.fail(); return; }
    const res = r.data;
    this.res = res;
    this.sent = key;
    this.selected = null;
    this.applyWant();
    this.status(`done: ${res.forwards} forward passes (${res.batch} patched runs each) in ${res.seconds.toFixed(2)} s`);
    this.save(push);
    this.render();
  }

  /** The URL's selected head (or position), once the answer it points into is here. */
  applyWant() {
    const s = this.want;
    this.want = null;
    if (!s) return;
    this.selected = null;
    if (!this.res || s.layer === undefined) return;
    const col = this.res.columns.indexOf(Number(this.res.mode === "heads" ? s.head : s.pos));
    const l = Number(s.layer);
    if (Number.isInteger(l) && l >= 0 && l < this.res.values.length && col >= 0) this.selected = [l, col];
  }

  /** The request failed (its error shown already): no figure of other prompts under the message. */
  fail() {
    this.status("");
    this.res = null;
    this.sent = null;
    this.selected = null;
    this.grid.clear();
    $("eff-grid").classList.remove("eff-stale");
    for (const id of ["eff-pair", "eff-strips", "eff-head", "eff-top-list"]) $(id).replaceChildren();
    $("eff-scale").textContent = "";
    $("eff-reason").hidden = true;
    this.onCurrent();
  }

  pick(c, push = false) {
    this.selected = c;
    this.save(push);
    this.render();
  }

  /** The answer in sight (for the class question), or null. */
  current() { return this.res; }

  render() {
    if (!this.res) return;
    $("eff-grid").classList.remove("eff-stale");
    render({ selected: this.selected, blank: document.body.dataset.classQuestion === "grid",
      clean: this.sent ? JSON.parse(this.sent).clean : $("eff-clean").value }, this.res);
    this.onCurrent();
  }
}
