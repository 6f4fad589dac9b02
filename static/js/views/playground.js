// The matrix playground: type small matrices, see every step of scaled dot-product attention
// (POST /api/playground), recomputed as you type. Presets are the lectures' worked examples. This module holds
// the presets, the URL state (`preset`, or the matrices as JSON in `pg`) and the loading; playground_render.js draws.
import { messages } from "../analysis.js";
import { createLoader, markStale } from "../kernel/load.js";
import { showSlides } from "../panels/slides.js";
import { buildForm, fillForm, formBody, formControls, switchForm } from "./playground_form.js";
import { FIGURES, buildFigures, render, renderChain, summary } from "./playground_render.js";

export { render };

const DEFAULT_PRESET = "thinking_machines";
const msg = messages("pg");

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new PlaygroundView(ctx);
  await view.loadPresets();
  return { show: (s) => view.show(s) };
}

class PlaygroundView {
  constructor({ state, api }) {
    this.state = state;
    this.api = api;
    this.presets = {};
    this.result = null; // the last answer that worked: on screen
    this.timer = null;
    this.lastUrlState = null;
    buildForm();
    buildFigures();
    this.controls = formControls();
    this.loader = createLoader((body, signal) => api("/api/playground", body, { signal }), {
      size: 32, status: msg.status, error: msg.error, busy: "Computing…",
      stale: markStale(FIGURES.map(([name]) => $(`pg-fig-${name}`))),
    });
    this.bind();
  }

  bind() {
    $("pg-form").addEventListener("submit", (e) => { e.preventDefault(); this.compute(true); });
    $("pg-form").addEventListener("input", (e) => {
      if (e.target.id === "pg-input" || e.target.id === "pg-mask") return; // handled on change
      this.edited();
    });
    $("pg-input").addEventListener("change", () => { switchForm(this.result); this.edited(0); });
    $("pg-mask").addEventListener("change", () => this.edited(0));
    $("pg-row").addEventListener("change", () => { if (this.result) renderChain(Number($("pg-row").value) || 0, this.result); });
    window.addEventListener("presentation", () => { if (this.result && !$("pg-figs").closest("section").hidden) this.draw(); });
  }

  /** The lectures' worked examples (GET /api/playground/presets), one chip each. */
  async loadPresets() {
    const presets = createLoader((_, signal) => this.api("/api/playground/presets", undefined, { signal }),
      { error: msg.error });
    const got = await presets.load("presets");
    if (!got || got.error) return;
    this.presets = got.data.presets;
    const chips = $("pg-presets");
    chips.replaceChildren();
    for (const [name, p] of Object.entries(this.presets)) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.preset = name;
      b.textContent = p.title;
      b.addEventListener("click", () => { this.usePreset(name); this.state.set({ preset: name, pg: null }, { push: true }); });
      chips.append(b);
    }
  }

  /** Apply the URL's state: a preset by name, or the matrices themselves (`pg`, JSON). */
  async show(s) {
    const key = `${s.preset ?? ""}|${s.pg ?? ""}`;
    if (key === this.lastUrlState && this.result) return;
    this.lastUrlState = key;
    if (s.pg) {
      try {
        const args = JSON.parse(s.pg);
        if (args && typeof args === "object") {
          fillForm(this.controls, args);
          this.markPreset(null);
          this.compute(false);
          return;
        }
      } catch { /* fall back to a preset */ }
    }
    this.usePreset(this.presets[s.preset] ? s.preset : DEFAULT_PRESET);
  }

  usePreset(name) {
    const p = this.presets[name];
    if (!p) return;
    const args = Object.fromEntries(Object.entries(p).filter(([k]) => k !== "title" && k !== "note"));
    fillForm(this.controls, args);
    this.markPreset(name);
    this.lastUrlState = `${name}|`;
    this.compute(false);
  }

  /** Mark preset `name`'s chip (none: null), show its note and its slide-vs-computed tables. */
  markPreset(name) {
    for (const b of $("pg-presets").children) {
      if (b.dataset.preset === name) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    const note = $("pg-note");
    note.textContent = name ? this.presets[name].note : "";
    note.hidden = !name;
    showSlides($("pg-slides"), name);
  }

  /** The form changed: forget the preset and recompute after a short pause. */
  edited(delay = 250) {
    this.markPreset(null);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compute(true), delay);
  }

  /** Compute what the form says (into the URL as `pg` when `saveUrl`); an error keeps the last answer on screen. */
  async compute(saveUrl) {
    clearTimeout(this.timer);
    const body = formBody(this.controls);
    if (saveUrl) {
      const json = JSON.stringify(body);
      this.lastUrlState = `|${json.length <= 3000 ? json : ""}`;
      this.state.set({ preset: null, pg: json.length <= 3000 ? json : null });
    }
    const got = await this.loader.load(body);
    if (!got) return; // a newer input replaced this one
    if (got.error) {
      if (this.result) msg.status("The figures below show the last input that worked.");
      return;
    }
    this.result = got.data;
    msg.status(summary(got.data));
    this.draw();
  }

  draw() { render({ row: $("pg-row").value }, this.result); }
}
