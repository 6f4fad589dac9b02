// The positions view: positional encodings (GET /api/positional) as a heatmap, curves, a position-similarity
// matrix, the kinds side by side, the lecture's "I am a Robot" table, and PE(pos + k) = PE(pos) · M_k.
// This module mounts the view: its state and controls, and the loads (drawing: positions_render.js).
import * as keys from "../keys.js";
import { createLoader, markStale } from "../kernel/load.js";
import { declare } from "../kernel/controls.js";
import { usable } from "../models.js";
import { RopePanel } from "../panels/rope.js";
import { render } from "./positions_render.js";
import { $, fillDims } from "./positions_tables.js";

const KINDS = ["sinusoidal", "integer", "binary", "rotary", "learned"];
const DEFAULTS = { kind: "sinusoidal", d: 64, n: 10000, positions: 50, k: 3, pos: 0 };
const ROBOT = { kind: "sinusoidal", d: 4, n: 100, positions: 4, k: 1, pos: 0, dims: [0, 1, 2, 3], preset: "robot" };
const PRESETS = {
  "pos-robot": ROBOT,
  "pos-paper": { kind: "sinusoidal", d: 512, n: 10000, positions: 100, k: 5, pos: 0, dims: null, preset: null },
  "pos-bits": { kind: "binary", d: 8, n: 10000, positions: 64, k: 3, pos: 0, dims: [4, 5, 6, 7], preset: null },
  "pos-d50": { kind: "sinusoidal", d: 50, n: 10000, positions: 4, k: 1, pos: 0, dims: [0, 1, 2, 3], preset: "pe_d50" },
};
const LIMITS = { d: [2, 512], positions: [1, 512], k: [0, 512] };

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new PositionsView(ctx);
  return { show: (s) => view.show(s) };
}

/** GET /api/positional with `params` (null and undefined left out). */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, String(v));
  return `/api/positional?${q}`;
}

class PositionsView {
  constructor({ models, state, api }) {
    this.state = state;
    this.timer = null;
    this.res = null; // the main answer on screen
    this.learned = usable(models).filter((m) => m.positional === "learned");
    this.rotary = usable(models).filter((m) => m.positional === "rotary");
    if (!this.learned.length) $("pos-kind").querySelector('option[value="learned"]').disabled = true;
    this.s = { ...DEFAULTS, model: this.learned[0]?.id || null, rmodel: null, dims: null, preset: null };
    // the controls that hold one state key each (n, the model, the dims and the preset are the view's own)
    this.form = declare([
      { key: "kind", el: $("pos-kind"), kind: "select" },
      { key: "d", el: $("pos-d"), kind: "int" },
      { key: "positions", el: $("pos-positions"), kind: "int" },
      { key: "k", el: $("pos-k"), kind: "int" },
      { key: "pos", el: $("pos-pos"), kind: "int" },
    ]);
    const get = (path, signal) => api(path, undefined, { signal });
    const kindsCap = $("pos-kinds-cap").textContent;
    this.main = createLoader((p, signal) => get(query(p), signal), { size: 16, busy: "Computing…",
      status: (text, busy = false) => { $("pos-status").textContent = text; $("pos-status").classList.toggle("busy", busy); },
      error: (text) => setError("pos-error", text),
      stale: markStale(["pos-heatmap", "pos-sim", "pos-curves", "pos-table"].map($)) });
    this.kinds = createLoader((asks, signal) => Promise.all(asks.map(([, p]) => get(query(p), signal))), { size: 8,
      error: (text) => { $("pos-kinds-cap").textContent = text || kindsCap; }, stale: markStale($("pos-kinds")) });
    this.rotation = createLoader((p, signal) => get(query(p), signal), { size: 16,
      error: (text) => setError("pos-rot-error", text),
      stale: markStale(["pos-rot-matrix", "pos-rot-table", "pos-rot-blocks"].map($)) });
    this.bind();
    this.rope = new RopePanel(this.rotary);
    this.rope.load();
    // presenting changes the type of the main figures (M_k's 16 ticks and the kinds keep theirs: they would collide)
    window.addEventListener("presentation", () => { if (this.res) render(this.s, { res: this.res }); });
    keys.register("positions", [
      { keys: ["r"], label: "The “I am a Robot” table (d = 4, n = 100)", fn: () => $("pos-robot").click() },
      { keys: ["ArrowRight", "."], label: "Offset k + 1", fn: () => this.step("k", 1) },
      { keys: ["ArrowLeft", ","], label: "Offset k − 1", fn: () => this.step("k", -1) },
      { keys: ["]"], label: "Position pos + 1", fn: () => this.step("pos", 1) },
      { keys: ["["], label: "Position pos − 1", fn: () => this.step("pos", -1) },
    ]);
  }

  /** Read the URL's state (invalid values fall back to the defaults), then draw. */
  async show(u) {
    const s = { ...this.s };
    if (KINDS.includes(u.kind)) s.kind = u.kind;
    s.d = int(u.d, ...LIMITS.d) ?? s.d;
    s.positions = int(u.positions, ...LIMITS.positions) ?? s.positions;
    s.k = int(u.k, ...LIMITS.k) ?? s.k;
    s.pos = int(u.pos, 0, LIMITS.positions[1] - 1) ?? s.pos;
    const n = Number(u.n);
    if (u.n !== undefined && Number.isFinite(n) && n > 1) s.n = n;
    if (u.model && this.learned.some((m) => m.id === u.model)) s.model = u.model;
    s.rmodel = this.rotary.some((m) => m.id === u.rmodel) ? u.rmodel : null;
    s.dims = u.dims ? u.dims.split(",").map(Number).filter((j) => Number.isInteger(j) && j >= 0) : s.dims;
    s.preset = ["robot", "pe_d50"].includes(u.preset) ? u.preset : null;
    this.s = s;
    this.controls();
    await this.load();
  }

  /** Write the state into the URL (a history entry when `push`); the state may go past a slider's range. */
  save(push = false) {
    const s = this.s;
    this.state.set({ view: "positions", kind: s.kind, d: s.d, n: s.n, positions: s.positions, k: s.k, pos: s.pos,
      model: s.kind === "learned" ? s.model : null, rmodel: s.kind === "rotary" ? s.rmodel : null,
      dims: s.dims ? s.dims.join(",") : null, preset: s.preset }, { push });
  }

  /** The state -> the controls (sliders, visible values, which fields apply). */
  controls() {
    const s = this.s;
    s.pos = Math.min(s.pos, s.positions - 1);
    $("pos-d").step = s.kind === "rotary" ? "2" : "1"; // before d is written, so the slider keeps an odd d
    $("pos-pos").max = String(Math.max(0, s.positions - 1));
    this.form.show(s);
    this.fillModels();
    $("pos-n").value = String(Math.log10(s.n));
    for (const [id, v] of [["d", s.d], ["n", fmtN(s.n)], ["positions", s.positions], ["pos", s.pos], ["k", s.k]]) {
      $(`pos-${id}-val`).textContent = String(v);
    }
    const fromModel = s.kind === "learned" || (s.kind === "rotary" && s.rmodel);
    $("pos-d").disabled = Boolean(fromModel);
    $("pos-n").disabled = Boolean(fromModel) || !["sinusoidal", "rotary"].includes(s.kind);
  }

  bind() {
    $("pos-form").addEventListener("submit", (e) => e.preventDefault());
    $("pos-kind").addEventListener("change", () => {
      this.s.kind = $("pos-kind").value;
      if (this.s.kind === "rotary" && this.s.d % 2) this.s.d += 1;
      this.changed(true);
    });
    $("pos-model").addEventListener("change", () => {
      if (this.s.kind === "learned") this.s.model = $("pos-model").value;
      else this.s.rmodel = $("pos-model").value || null;
      this.changed(true);
    });
    const live = [
      ["pos-d", (v) => { this.s.d = Math.round(v); this.s.dims = null; }],
      ["pos-n", (v) => { this.s.n = Math.round(10 ** v); }],
      ["pos-positions", (v) => { this.s.positions = Math.round(v); }],
      ["pos-k", (v) => { this.s.k = Math.round(v); }],
      ["pos-pos", (v) => { this.s.pos = Math.round(v); }],
    ];
    for (const [id, apply] of live) {
      $(id).addEventListener("input", () => {
        apply(Number($(id).value));
        if (id !== "pos-k" && id !== "pos-pos") this.s.preset = null;
        this.controls();
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.changed(false), 120);
      });
    }
    $("pos-dims").addEventListener("change", () => {
      this.s.dims = [...$("pos-dims").selectedOptions].map((o) => Number(o.value));
      this.save();
      if (this.res) render(this.s, { res: this.res });
    });
    for (const [id, preset] of Object.entries(PRESETS)) {
      $(id).addEventListener("click", () => {
        this.s = { ...this.s, ...preset };
        this.changed(true);
      });
    }
  }

  /** The model select: learned tables for kind=learned; for rotary, the formula or a rotary model's base. */
  fillModels() {
    const s = this.s, sel = $("pos-model");
    const opts = s.kind === "learned" ? this.learned.map((m) => [m.id, m.name])
      : s.kind === "rotary" && this.rotary.length
        ? [["", "The formula (set d and n)"], ...this.rotary.map((m) => [m.id, `${m.name} (its head size and base)`])] : [];
    sel.replaceChildren(...opts.map(([v, label]) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label;
      return o;
    }));
    sel.value = (s.kind === "learned" ? s.model : s.rmodel) || "";
    $("pos-model-field").hidden = !opts.length;
  }

  step(name, delta) {
    const el = $(`pos-${name}`);
    el.value = String(Number(el.value) + delta);
    el.dispatchEvent(new Event("input"));
  }

  changed(push) {
    this.controls();
    this.save(push);
    this.load();
  }

  /** The request of the main figures: a model's own table (or head size and base), else the formula's. */
  mainParams() {
    const s = this.s;
    const p = { kind: s.kind, positions: s.positions };
    if (s.kind === "learned") return { ...p, model: s.model };
    if (s.kind === "rotary" && s.rmodel) return { ...p, model: s.rmodel }; // the model's head size and base
    p.d = s.d;
    if (s.kind === "sinusoidal" || s.kind === "rotary") p.n = s.n;
    return p;
  }

  async load() {
    const s = this.s;
    const got = await this.main.load(this.mainParams());
    if (!got || got.error) return; // replaced by a newer load, or the error is shown
    const res = this.res = got.data;
    if (res.kind === "rotary" && res.model) { // the model chose d and n: show them on the (disabled) sliders
      $("pos-d-val").textContent = String(res.d);
      $("pos-n-val").textContent = fmtN(res.n);
    }
    $("pos-status").textContent = `${res.kind}${res.model ? ` (${res.model})` : ""} · ${res.positions} positions × ${res.d} dimensions` +
      (res.n ? ` · n = ${fmtN(res.n)}` : "");
    fillDims(res, this.s.dims);
    render(this.s, { res });
    this.loadKinds(s);
    this.loadRotation(s);
  }

  /** Small multiples: every kind at the same positions (and d, except the model's learned table). */
  async loadKinds(s) {
    const d = s.d;
    const asks = [
      ["sinusoidal", { kind: "sinusoidal", positions: s.positions, d, n: s.n }],
      ["integer", { kind: "integer", positions: s.positions, d }],
      ["binary", { kind: "binary", positions: s.positions, d }],
      ["rotary", { kind: "rotary", positions: s.positions, d: d + (d % 2), n: s.n }],
    ];
    if (s.model) asks.push([`learned (${s.model})`, { kind: "learned", positions: s.positions, model: s.model }]);
    const got = await this.kinds.load(asks);
    if (got?.data) render(this.s, { kinds: { names: asks.map(([name]) => name), results: got.data } });
  }

  /** The rotation demo: always the sinusoidal encoding at this d and n. */
  async loadRotation(s) {
    const d = s.d;
    if (d % 2) {
      this.rotation.cancel();
      setError("pos-rot-error", `d = ${d} is odd: the rotation works on sin/cos pairs, so it needs an even d.`);
      return;
    }
    const got = await this.rotation.load({ kind: "sinusoidal", positions: s.positions, d, n: s.n, k: s.k });
    if (got?.data) render(this.s, { rot: got.data });
  }
}

function int(v, lo, hi) {
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= lo && n <= hi ? n : null;
}

function fmtN(n) { return Number.isInteger(n) ? String(n) : n.toPrecision(4); }

function setError(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}
