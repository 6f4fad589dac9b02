// The head atlas view: every head of a model scored on tasks over many prompts (POST /api/atlas runs a job,
// GET /api/atlas/{job} reports its progress and result, GET /api/atlas lists the finished ones, POST
// /api/atlas/upload keeps a CLI file). A layer × head grid per task (atlas_grid.js), a sortable table, the
// selected head's examples with links into the Attention and Long context views, the difference of two atlases,
// exports. The URL keeps atlas, task, layer, head and compare. For the live class: window.__atlasCurrent and an
// "atlas:current" event after each render; body[data-class-question="grid"] draws the grid blank.
import * as keys from "../keys.js";
import { createLoader, markStale } from "../kernel/load.js";
import { declare } from "../kernel/controls.js";
import { TASKS, atlasName, listLabel, normalise, whyNotComparable } from "./atlas_data.js";
import { atlasExportBar, exportJson } from "./atlas_export.js";
import { $, GridFigure, HeadTable, render, shown } from "./atlas_render.js";

const DEFAULT_TASKS = ["previous", "induction", "duplicate", "sink"];
const POLL_MS = 500;

/** Wait `ms`, or reject as an aborted fetch would when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(new DOMException("aborted", "AbortError")); return; }
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("aborted", "AbortError")); }, { once: true });
  });
}

export async function mount(ctx) {
  const view = new AtlasView(ctx);
  return { show: (s) => view.show(s) };
}

class AtlasView {
  constructor({ models, state, api }) {
    Object.assign(this, { models, state });
    this.atlas = null; // normalised A
    this.other = null; // normalised B (compare) or null
    this.task = null;
    this.selected = null;
    this.list = [];
    // the run form: a shown atlas's settings go into it, Run reads them back (the tasks are checkboxes)
    this.form = declare(["model", "prompts", "length", "seed"].map((k) => ({ key: k, el: $(`at-${k}`), kind: k === "model" ? "select" : "text" })));
    const get = (path, signal) => api(path, undefined, { signal });
    const error = (text) => this.error(text);
    const figures = markStale($("at-grid").parentElement, $("at-table"));
    // finished atlases do not change: each is fetched (polled while it runs) once
    this.opener = createLoader(({ job, fresh }, signal) => this.poll(get, job, fresh, signal), { size: 8, error,
      status: (text) => this.status(text), stale: figures });
    this.others = createLoader(async (job, signal) => {
      const r = await get(`/api/atlas/${encodeURIComponent(job)}`, signal);
      if (r.status !== "done") throw new Error(`atlas ${job} is ${r.status}: compare it once it is done`);
      return normalise(r.result, r.job || job);
    }, { size: 8, error, stale: (on, why) => figures(on && why === "loading") }); // a failed B leaves A shown, up to date
    this.jobs = createLoader(({ path, body }, signal) => api(path, body, { signal }), { size: 0, error }); // run, upload
    this.lists = createLoader((_, signal) => get("/api/atlas", signal), { size: 0, error: (text) => { if (text) this.error(text); } });
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
    const got = await this.lists.load({});
    if (!got?.data) return;
    this.list = got.data.atlases || [];
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
    const v = this.form.read();
    const body = { model: v.model ?? "", tasks: [...document.querySelectorAll("input[name=at-task-run]:checked")].map((b) => b.value),
      prompts: num(v.prompts ?? ""), length: num(v.length ?? ""), seed: num(v.seed ?? "") };
    this.wantModel = body.model;
    const got = await this.jobs.load({ path: "/api/atlas", body });
    if (!got?.data) return; // the error is shown
    await this.open(got.data.job, { push: true, fresh: true, label: `Running ${body.model} on ${body.tasks.join(", ")}…` });
  }

  /** Atlas `job` polled until it is done (the progress bar for a job started here, `fresh`): normalised. */
  async poll(get, job, fresh, signal) {
    for (let first = true; ; first = false) {
      const r = await get(`/api/atlas/${encodeURIComponent(job)}`, signal);
      if (signal.aborted) throw new DOMException("aborted", "AbortError");
      if (first && !fresh && r.status === "done") this.hideProgress();
      else this.progress(r.done, r.total, r.status);
      if (r.status === "done") return normalise(r.result, r.job || job);
      if (r.status === "failed") throw new Error(`The atlas job failed: ${r.error || "no reason given"}`);
      await sleep(POLL_MS, signal);
    }
  }

  hideProgress() { $("at-progress").hidden = true; $("at-progress-text").textContent = ""; }

  /** Load atlas `job` (polling while it runs; the progress bar for a job started here, `fresh`) and show it as A. */
  async open(job, { push = false, s = null, fresh = false, label = `Opening atlas ${job}…` } = {}) {
    $("at-run").disabled = true;
    const got = await this.opener.load({ job, fresh }, { key: job, label });
    if (!got) return; // a newer open runs (and frees the button)
    $("at-run").disabled = false;
    if (got.error) return;
    if (got.cached && !fresh) this.hideProgress();
    this.atlas = got.data;
    if (this.other && whyNotComparable(this.atlas, this.other)) this.other = null;
    this.applyState(s);
    this.fillForm(this.atlas);
    this.status(`${atlasName(this.atlas)}: ${this.atlas.layers} layers × ${this.atlas.heads} heads`);
    this.save(push);
    this.render();
    await this.refreshList();
  }

  /** The run form set to atlas `a`'s settings, so that Run does it again (or with one thing changed). */
  fillForm(a) {
    const usable = [...$("at-model").options].some((o) => o.value === a.model && !o.disabled);
    const whole = (v) => (Number.isInteger(v) ? v : undefined);
    this.form.show({ model: usable ? a.model : undefined, prompts: whole(a.prompts), length: whole(a.length), seed: whole(a.seed) });
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
    const got = await this.jobs.load({ path: "/api/atlas/upload", body: data });
    if (got?.data) await this.open(got.data.job, { push: true });
  }

  /** Compare A with atlas `job` (null: no comparison). */
  async compare(job, { push = false } = {}) {
    this.error("");
    if (!job || !this.atlas) { this.others.cancel(); this.other = null; this.save(push); this.render(); return; }
    const got = await this.others.load(job, { label: `Opening atlas ${job}…` });
    if (!got) return; // a newer comparison replaced this one
    const b = got.data, why = b ? whyNotComparable(this.atlas, b) : null;
    if (!b) this.other = null; // the error is shown
    else if (why) { this.other = null; this.error(why); $("at-compare").value = ""; }
    else { this.other = b; $("at-compare").value = [...$("at-compare").options].some((o) => o.value === job) ? job : ""; }
    this.save(push);
    this.render();
  }

  shown() { return shown(this.atlas, this.other); }

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
    this.task = render({ task: this.task, selected: this.selected }, { atlas: this.atlas, other: this.other, models: this.models },
      { figure: this.figure, table: this.table, onPick: (c) => this.pick(c), onTask: (t) => { this.task = t; this.save(); this.render(); } });
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
