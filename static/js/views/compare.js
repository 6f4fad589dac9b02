// The compare view: two sentences (or two models on one sentence), same layer and head, one shared colour
// scale; a cell-by-cell difference where both tokenise to the same length; always a per-head statistics difference.
// This module mounts it (controls, the load, events); the figures are compare_render.js.
import { usable } from "../models.js";
import { apiBinary } from "../api.js";
import { $, DEFAULT_TEXT, STATS, blockOptions, ensureCss, fill, fillModels, fitText, messages, range } from "../analysis.js";
import { exportBar } from "../export.js";
import * as keys from "../keys.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { diffExport, pairData, pairExport, render, renderPair, renderStats, statsExport } from "./compare_render.js";

export { render };

const msg = messages("cmp");

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  ensureCss();
  const view = new CompareView(ctx);
  return { show: (s) => view.show(s) };
}

class CompareView {
  constructor({ models, state, api }) {
    Object.defineProperty(this, "models", { get: () => usable(models) }); // the live list: models finish loading later
    this.state = state;
    this.data = null; // compare_render.js pairData()
    this.loader = createLoader(async ({ a, b, layer }, signal) => {
      const [ra, rb] = await Promise.all([a, b].map((r) => apiBinary("/api/attention", { ...r, layer, format: "f16" }, { signal })));
      const [sa, sb] = await Promise.all([a, b].map((r) => api("/api/heads", r, { signal })));
      return { a: ra, b: rb, sa, sb };
    }, { size: 12, busy: "Running the models…", status: (t, busy) => msg.status(t, busy), error: (t) => msg.error(t),
      stale: markStale(["cmp-a", "cmp-b", "cmp-diff", "cmp-stats-grid"].map($)) });
    this.pair = declare([{ key: "model", el: $("cmp-model-a"), kind: "select" }, { key: "model2", el: $("cmp-model-b"), kind: "select" }]);
    this.texts = declare([{ key: "text", el: $("cmp-text-a") }, { key: "text2", el: $("cmp-text-b") }]);
    this.picks = declare([
      { key: "block", el: $("cmp-block"), kind: "select", when: () => !$("cmp-block-field").hidden },
      { key: "layer", el: $("cmp-layer"), kind: "select" },
      { key: "head", el: $("cmp-head"), kind: "select" },
    ]);
    this.looks = declare([{ key: "fit", el: $("cmp-fit"), kind: "check" }, { key: "stat", el: $("cmp-stat"), kind: "select" }]);
    fillModels($("cmp-model-a"), models);
    fillModels($("cmp-model-b"), models);
    fill($("cmp-stat"), STATS.map((s) => [s.id, s.label]));
    $("cmp-stat").value = "entropy_norm";
    this.onModels();
    this.bind();
  }

  model(which) { return this.models.find((m) => m.id === $(`cmp-model-${which}`).value); }

  visible() { return !$("cmp-a").closest("section").hidden; }

  /** What the figures show, from the controls: {head, fit, stat, layer}. */
  get ui() {
    return { head: $("cmp-head").value, fit: $("cmp-fit").checked, stat: $("cmp-stat").value, layer: $("cmp-layer").value };
  }

  bind() {
    $("cmp-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    for (const w of ["a", "b"]) {
      $(`cmp-model-${w}`).addEventListener("change", () => { this.onModels(w); this.save(true); this.load(); });
    }
    for (const id of ["block", "layer"]) $(`cmp-${id}`).addEventListener("change", () => { this.save(); this.load(); });
    $("cmp-head").addEventListener("change", () => { this.save(); if (this.data) renderPair(this.ui, this.data); });
    this.looks.listen((key, patch) => {
      this.state.set({ [key]: patch[key] });
      if (!this.data) return;
      if (key === "fit") renderPair(this.ui, this.data); else this.drawStats();
    });
    $("cmp-swap").addEventListener("click", () => {
      const ta = $("cmp-text-a"), tb = $("cmp-text-b");
      [ta.value, tb.value] = [tb.value, ta.value];
      const [da, db] = [ta.dataset.model, tb.dataset.model]; // each sentence goes with the model it was typed for
      if (da && db) [ta.dataset.model, tb.dataset.model] = [db, da];
      const [ma, mb] = [$("cmp-model-a").value, $("cmp-model-b").value];
      $("cmp-model-a").value = mb; $("cmp-model-b").value = ma;
      this.onModels();
      this.save(true);
      this.load();
    });
    $("cmp-same").addEventListener("click", () => { $("cmp-text-b").value = $("cmp-text-a").value; this.save(true); this.load(); });
    exportBar($("cmp-a"), () => pairExport(this.ui, this.data, "a"));
    exportBar($("cmp-b"), () => pairExport(this.ui, this.data, "b"));
    exportBar($("cmp-diff"), () => diffExport(this.ui, this.data));
    exportBar($("cmp-stats-grid"), () => statsExport(this.ui, this.data));
    window.addEventListener("presentation", () => { if (this.visible() && this.data) this.draw(); });
    keys.register("compare", [
      { keys: ["ArrowRight", "."], label: "Next head", fn: () => this.step("head", 1) },
      { keys: ["ArrowLeft", ","], label: "Previous head", fn: () => this.step("head", -1) },
      { keys: ["ArrowDown", "]"], label: "Next layer", fn: () => this.step("layer", 1) },
      { keys: ["ArrowUp", "["], label: "Previous layer", fn: () => this.step("layer", -1) },
      { keys: ["m"], label: "Mean of the layer's heads", fn: () => { $("cmp-head").value = "mean"; $("cmp-head").dispatchEvent(new Event("change")); } },
    ]);
  }

  step(id, delta) {
    const sel = $(`cmp-${id}`);
    const n = sel.options.length;
    sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
    sel.dispatchEvent(new Event("change"));
  }

  /** Layers, heads and blocks both models have. */
  onModels(changed) {
    const a = this.model("a"), b = this.model("b");
    if (!a || !b) return;
    if (changed) fitText($(`cmp-text-${changed}`), changed === "a" ? a : b);
    else { fitText($("cmp-text-a"), a); fitText($("cmp-text-b"), b); }
    const blocks = blockOptions(a); // A's blocks; B uses the same one when it has it, else its own first
    fill($("cmp-block"), blocks);
    $("cmp-block-field").hidden = blocks.length < 2;
    fill($("cmp-layer"), range(Math.min(a.layers, b.layers)).map((i) => [i, `Layer ${i + 1}`]));
    fill($("cmp-head"), [...range(Math.min(a.heads, b.heads)).map((i) => [i, `Head ${i + 1}`]), ["mean", "Mean of heads"]]);
  }

  async show(s) {
    for (const [w, key] of [["a", "model"], ["b", "model2"]]) {
      const id = s[key] ?? (w === "b" ? s.model : undefined);
      if (id && this.models.some((m) => m.id === id)) $(`cmp-model-${w}`).value = id;
    }
    this.texts.show(s);
    // a link with one sentence (from another view) compares it with itself until B is written
    if (s.text2 === undefined && s.text !== undefined && s.text !== DEFAULT_TEXT && $("cmp-text-b").value === "") $("cmp-text-b").value = s.text;
    this.onModels();
    this.picks.show(s);
    this.looks.show(s);
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "compare", ...this.pair.read(), ...this.texts.read(), ...this.picks.read() }, { push });
  }

  async load() {
    const a = this.model("a"), b = this.model("b");
    if (!a || !b) { msg.error("No model is available."); return; }
    const blockA = $("cmp-block").value || a.blocks[0];
    const blocks = { a: blockA, b: b.blocks.includes(blockA) ? blockA : b.blocks[0] };
    const layer = Number($("cmp-layer").value) || 0;
    const req = (w) => ({ model: $(`cmp-model-${w}`).value, text: $(`cmp-text-${w}`).value, block: blocks[w] });
    const r = await this.loader.load({ a: req("a"), b: req("b"), layer });
    if (!r || r.error) return;
    this.data = pairData(r.data);
    const blockNote = blocks.a === blocks.b ? "" : ` (A: ${blocks.a}, B: ${blocks.b})`;
    msg.status(`A: ${this.data.a.query_tokens.length} tokens · B: ${this.data.b.query_tokens.length} tokens · layer ${layer + 1}${blockNote}`);
    this.draw();
  }

  draw() { render(this.ui, this.data).then((drawn) => { if (drawn) this.bindStats(); }); }

  drawStats() { renderStats(this.ui, this.data).then((drawn) => { if (drawn) this.bindStats(); }); }

  /** A click on the statistics grid shows that head above (bound once Plotly has drawn the grid). */
  bindStats() {
    const el = $("cmp-stats-grid");
    if (el.dataset.bound || !el.on) return;
    el.dataset.bound = "1";
    el.on("plotly_click", (ev) => {
      $("cmp-layer").value = String(ev.points[0].y);
      $("cmp-head").value = String(ev.points[0].x);
      this.save();
      this.load();
      $("cmp-a").scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
  }
}
