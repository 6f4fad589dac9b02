// The head atlas view: every head of a model scored on tasks over many prompts (POST /api/atlas runs a job,
// GET /api/atlas/{job} reports its progress and result, GET /api/atlas lists the finished ones, POST
// /api/atlas/upload keeps a CLI file). A layer × head grid per task (atlas_grid.js), a sortable table, the
// selected head's examples with links into the Attention and Long context views, the difference of two atlases,
// exports. The URL keeps atlas, task, layer, head and compare. For the live class: window.__atlasCurrent and an
// "atlas:current" event after each render; body[data-class-question="grid"] draws the grid blank.
import * as keys from "../keys.js";
import { TASKS, atlasName, difference, listLabel, normalise, whyNotComparable } from "./atlas_data.js";
import { renderDetail } from "./atlas_detail.js";
import { atlasExportBar, exportJson } from "./atlas_export.js";
import { $, GridFigure, HeadTable, taskPicker } from "./atlas_render.js";

const DEFAULT_TASKS = ["previous", "induction", "duplicate", "sink"];
const POLL_MS = 500;

export async function mount(ctx) {
  const view = new AtlasView(ctx);
  return { show: (s) => view.show(s) };
}

class AtlasView {
  constructor({ models, state, api }) {
    Object.assign(this, { models, state, api });
    this.atlas = null; // normalised A
    this.other = null; // normalised B (compare) or null
    this.task = null;
    this.selected = null;
    this.list = [];
    this.polling = 0;
    this.fillModels();
    window.addEventListener("models:update", (e) => { this.models = e.detail; this.fillModels(); });
    $("at-tasks").replaceChildren(...TASKS.map(([t, help]) => {
      const label = document.createElement("label");
      label.className = "at-check";
      label.title = help;
      const box = document.createElement("input");
      Object.assign(box, { type: "checkbox", name: "at-task-run", value: t, checked: DEFAULT_TASKS.includes(t) });
      label.append(box, document.createTextNode(t));
      return label;
    }));
    this.figure = new GridFigure({ canvas: $("at-grid"), tip: $("at-tip"), legend: $("at-legend"), scale: $("at-scale"),
      readout: $("at-readout"), onPick: (c) => this.pick(c) });
    this.table = new HeadTable($("at-table"), (c) => this.pick(c));
    atlasExportBar($("at-readout"), () => this.exportInfo());
    $("at-form").addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
    $("at-upload").addEventListener("click", () => $("at-file").click());
    $("at-file").addEventListener("change", (e) => { this.upload(e.target.files[0]); e.target.value = ""; });
    $("at-list").addEventListener("change", () => { if ($("at-list").value) this.open($("at-list").value, { push: true }); });
    $("at-compare").addEventListener("change", () => this.compare($("at-compare").value || null, { push: true }));
    window.addEventListener("presentation", () => this.render());
    let t = 0;
    window.addEventListener("resize", () => { clearTimeout(t); t = setTimeout(() => this.visible() && this.render(), 120); });
    new MutationObserver(() => this.render()).observe(document.body, { attributes: true, attributeFilter: ["data-class-question"] });
    keys.register("atlas", [
      { keys: ["ArrowRight"], label: "Next head", fn: () => this.step(0, 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.step(0, -1) },
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.step(1, 0) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.step(-1, 0) },
      { keys: ["t"], label: "Next task", fn: () => this.nextTask() },
    ]);
    this.refreshList();
  }

  visible() { return !$("at-form").closest("section").hidden; }

  error(text) { $("at-error").textContent = text || ""; $("at-error").hidden = !text; }

  status(text) { $("at-status").textContent = text || ""; }

  /** Encoders and decoders, not the textbook model; failed ones disabled with their reason. */
  fillModels() {
    const sel = $("at-model"), keep = this.wantModel || sel.value;
    const ok = this.models.filter((m) => (m.kind === "encoder" || m.kind === "decoder") && m.family !== "textbook");
    sel.replaceChildren(...ok.map((m) => {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.status === "loaded" ? `${m.name} (${m.layers}×${m.heads})` : `${m.name} (${m.status})`;
      o.title = m.error || `${m.name}: ${m.kind}, ${m.layers} layers × ${m.heads} heads`;
      o.disabled = m.status === "failed";
      return o;
    }));
    if (keep && ok.some((m) => m.id === keep)) sel.value = keep;
  }

  async refreshList() {
    try {
      this.list = (await this.api("/api/atlas")).atlases || [];
    } catch (e) {
      this.error(e.detail || String(e));
      return;
    }
    const opt = (v, text) => { const o = document.createElement("option"); o.value = v; o.textContent = text; return o; };
    $("at-list").replaceChildren(opt("", this.list.length ? "— choose a finished atlas —" : "— none yet —"),
      ...this.list.map((e) => opt(e.job, listLabel(e))));
    $("at-compare").replaceChildren(opt("", "— no comparison —"),
      ...this.list.filter((e) => e.job !== this.atlas?.job).map((e) => opt(e.job, listLabel(e))));
    $("at-list").value = this.atlas?.job && this.list.some((e) => e.job === this.atlas.job) ? this.atlas.job : "";
    $("at-compare").value = this.other?.job && this.list.some((e) => e.job === this.other.job) ? this.other.job : "";
  }

  progress(done, total, state) {
    const p = $("at-progress");
    p.max = Math.max(1, total);
    p.value = done;
    p.dataset.state = state;
    p.hidden = false;
    $("at-progress-text").textContent = state === "failed" ? "failed" : total ? `prompt ${done} / ${total}` : state;
  }

  async run() {
    const body = { model: $("at-model").value, tasks: [...document.querySelectorAll("input[name=at-task-run]:checked")].map((b) => b.value),
      prompts: num($("at-prompts").value), length: num($("at-length").value), seed: num($("at-seed").value) };
    this.error("");
    this.wantModel = body.model;
    let job;
    try {
      job = (await this.api("/api/atlas", body)).job;
    } catch (e) {
      this.error(e.detail || String(e));
      return;
    }
    this.status(`Running ${body.model} on ${body.tasks.join(", ")}…`);
    await this.open(job, { push: true, fresh: true });
  }

  /** Load atlas `job` (polling while it runs; the progress bar for a job started here, `fresh`) and show it as A. */
  async open(job, { push = false, s = null, fresh = false } = {}) {
    const ticket = ++this.polling;
    $("at-run").disabled = true;
    try {
      for (let first = true; ; first = false) {
        const r = await this.api(`/api/atlas/${encodeURIComponent(job)}`);
        if (ticket !== this.polling) return;
        if (first && !fresh && r.status === "done") { $("at-progress").hidden = true; $("at-progress-text").textContent = ""; }
        else this.progress(r.done, r.total, r.status);
        if (r.status === "done") {
          this.atlas = normalise(r.result, r.job || job);
          if (this.other && whyNotComparable(this.atlas, this.other)) this.other = null;
          this.applyState(s);
          this.fillForm(this.atlas);
          this.status(`${atlasName(this.atlas)}: ${this.atlas.layers} layers × ${this.atlas.heads} heads`);
          this.save(push);
          this.render();
          await this.refreshList();
          return;
        }
        if (r.status === "failed") { this.error(`The atlas job failed: ${r.error || "no reason given"}`); return; }
        await new Promise((res) => setTimeout(res, POLL_MS));
      }
    } catch (e) {
      if (ticket === this.polling) this.error(e.detail || String(e));
    } finally {
      if (ticket === this.polling) $("at-run").disabled = false;
    }
  }

  /** The run form set to atlas `a`'s settings, so that Run does it again (or with one thing changed). */
  fillForm(a) {
    if ([...$("at-model").options].some((o) => o.value === a.model && !o.disabled)) $("at-model").value = a.model;
    for (const [id, v] of [["at-prompts", a.prompts], ["at-length", a.length], ["at-seed", a.seed]]) if (Number.isInteger(v)) $(id).value = String(v);
    for (const b of document.querySelectorAll("input[name=at-task-run]")) b.checked = a.tasks.includes(b.value);
  }

  /** Task, selected head and comparison from the URL state `s` (or kept / defaulted). */
  applyState(s) {
    const a = this.atlas;
    const task = s?.task ?? this.task;
    this.task = a.tasks.includes(task) ? task : a.tasks.includes("induction") ? "induction" : a.tasks[0];
    const l = Number(s?.layer), h = Number(s?.head);
    if (s && s.layer !== undefined) this.selected = Number.isInteger(l) && Number.isInteger(h) && l >= 0 && h >= 0 && l < a.layers && h < a.heads ? [l, h] : null;
    else if (this.selected && (this.selected[0] >= a.layers || this.selected[1] >= a.heads)) this.selected = null;
  }

  async upload(file) {
    if (!file) return;
    this.error("");
    let data;
    try {
      data = JSON.parse(await file.text());
    } catch {
      this.error(`${file.name} is not a JSON file (an atlas file is what "attnscope atlas --out FILE.json" writes).`);
      return;
    }
    try {
      const r = await this.api("/api/atlas/upload", data);
      await this.open(r.job, { push: true });
    } catch (e) {
      this.error(e.detail || String(e));
    }
  }

  /** Compare A with atlas `job` (null: no comparison). */
  async compare(job, { push = false } = {}) {
    this.error("");
    if (!job || !this.atlas) { this.other = null; this.save(push); this.render(); return; }
    try {
      const r = await this.api(`/api/atlas/${encodeURIComponent(job)}`);
      if (r.status !== "done") throw new Error(`atlas ${job} is ${r.status}: compare it once it is done`);
      const b = normalise(r.result, r.job || job);
      const why = whyNotComparable(this.atlas, b);
      if (why) { this.other = null; this.error(why); $("at-compare").value = ""; }
      else { this.other = b; $("at-compare").value = [...$("at-compare").options].some((o) => o.value === job) ? job : ""; }
    } catch (e) {
      this.other = null;
      this.error(e.detail || e.message || String(e));
    }
    this.save(push);
    this.render();
  }

  shown() { return this.atlas && this.other ? difference(this.atlas, this.other) : this.atlas; }

  pick(c) { this.selected = c; this.save(true); this.render(); window.dispatchEvent(new CustomEvent("atlas:click", { detail: { layer: c[0], head: c[1] } })); }

  step(dl, dh) {
    if (!this.atlas) return;
    const [l, h] = this.selected || [0, -1];
    const n = this.atlas.layers * this.atlas.heads, i = (((l + dl) * this.atlas.heads + h + dh) % n + n) % n;
    this.pick([Math.floor(i / this.atlas.heads), i % this.atlas.heads]);
  }

  nextTask() {
    const v = this.shown();
    if (v) { this.task = v.tasks[(v.tasks.indexOf(this.task) + 1) % v.tasks.length]; this.save(); this.render(); }
  }

  save(push = false) {
    const sel = this.selected;
    this.state.set({ view: "atlas", atlas: this.atlas?.job, task: this.task, layer: sel ? sel[0] : null, head: sel ? sel[1] : null,
      compare: this.other?.job || null }, { push });
  }

  render() {
    const v = this.shown();
    $("at-empty").hidden = Boolean(v);
    $("at-body").hidden = !v;
    renderDetail($("at-detail"), { view: v, task: this.task, selected: this.selected, models: this.models, onPick: (c) => this.pick(c) });
    if (!v || !this.visible()) return;
    if (!v.tasks.includes(this.task)) this.task = v.tasks[0];
    const blank = document.body.dataset.classQuestion === "grid";
    taskPicker($("at-task-picker"), v.tasks, this.task, (t) => { this.task = t; this.save(); this.render(); });
    $("at-title").textContent = v.diff ? `${this.task}: A − B` : `${this.task} · ${atlasName(v)}`;
    $("at-subtitle").textContent = v.diff ? `A = ${atlasName(v.a)}\nB = ${atlasName(v.b)}` : "";
    $("at-subtitle").hidden = !v.diff;
    this.figure.draw(v, this.task, this.selected, { blank });
    $("at-detail-panel").hidden = blank;
    $("at-table-panel").hidden = blank;
    if (!blank) this.table.render(v, this.selected);
    window.__atlasCurrent = { job: this.atlas.job, model: this.atlas.model, task: this.task, layers: v.layers, heads: v.heads,
      values: Array.from(v.values[this.task]), compare: this.other?.job || null, diff: Boolean(v.diff) };
    window.dispatchEvent(new CustomEvent("atlas:current", { detail: window.__atlasCurrent }));
  }

  exportInfo() {
    const v = this.shown();
    if (!v || !this.figure.grid) return null;
    const base = v.diff ? `${v.a.model}_${v.a.job}_minus_${v.b.model}_${v.b.job}` : `${v.model}_${v.job}`;
    return { name: `attnscope_atlas_${base}_${this.task}`.replace(/[^A-Za-z0-9_.-]+/g, "_"), grid: this.figure.grid, view: v,
      title: v.diff ? `${this.task}: A − B (A = ${atlasName(v.a)}; B = ${atlasName(v.b)})` : `${this.task} · ${atlasName(v)}`,
      json: exportJson(v) };
  }

  async show(s) {
    if (s.atlas && s.atlas !== this.atlas?.job) {
      await this.open(s.atlas, { s });
      if (s.compare && this.atlas) await this.compare(s.compare);
      return;
    }
    if (this.atlas) {
      this.applyState(s);
      if ((s.compare || null) !== (this.other?.job || null)) { await this.compare(s.compare || null); return; }
    }
    this.render();
  }
}

/** A number input's value as a number when it is one (else the text, for the server to refuse with its reason). */
function num(text) {
  const t = String(text).trim();
  return /^-?\d+$/.test(t) ? Number(t) : t === "" ? null : Number.isFinite(Number(t)) ? Number(t) : t;
}
