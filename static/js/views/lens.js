// The logit lens view (POST /api/lens): what each layer's residual stream would predict next, read through the
// model's own final norm and unembedding; layers x positions, each cell its top-1 token. State in the URL:
// model, text, topk, colour. The figure itself is lens_plot.js (a function of the API's answer), drawn by render().
import { exportBar } from "../export.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { CONFIG } from "../plot.js";
import { figure, finalLine, lensCsv, scaleNote } from "./lens_plot.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_MODEL = "smollm2";
const MAX_COLUMNS = 64; // longer inputs: the last 64 positions
const LONG_K = 5; // and at most 5 tokens per cell
const STATUS = { loading: "loading…", converting: "converting, first run only…", failed: "unavailable" };

export async function mount(ctx) {
  const view = new LensView(ctx);
  return { show: (s) => view.show(s) };
}

/** The figure's height: the room left above the fold when that fits readable cells, else what they need. */
function height(el, rows) {
  const presenting = document.body.classList.contains("presenting");
  const vh = window.innerHeight;
  const top = el.getBoundingClientRect().top + window.scrollY;
  const below = presenting ? 8 : 56; // the scale note and the final line under it
  const margins = presenting ? 150 : 100;
  const fold = vh - top - below;
  const need = rows * (presenting ? 20 : 18) + margins, ideal = rows * (presenting ? 30 : 24) + margins;
  return Math.round(Math.max(240, Math.min(vh - 24, Math.max(need, Math.min(ideal, fold)))));
}

/** The export's and the PNG's file name. */
function fileName(res, model) {
  return `lens_${res ? res.model : model}`.replace(/[^A-Za-z0-9_.-]+/g, "-");
}

/** Draw a /api/lens answer `res` into #lens-plot. `state`: {mode: "prob" | "rank"}. */
export function render(state, res) {
  const el = $("lens-plot");
  el.classList.remove("lens-stale", "lens-empty");
  const width = el.clientWidth || 1000;
  const fig = figure(res, state.mode, width, height(el, res.layers.length));
  Plotly.react(el, fig.data, fig.layout,
    { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: fileName(res) } });
  $("lens-scale-note").textContent = scaleNote(res, state.mode, fig.labelled);
  $("lens-final").textContent = finalLine(res);
  el.dataset.labelled = fig.labelled ? "1" : "0";
}

class LensView {
  constructor({ models, state, api }) {
    this.models = models;
    this.state = state;
    this.api = api;
    this.res = null;
    this.want = null; // a model the URL names that is not loaded yet
    this.timer = 0;
    this.el = $("lens-plot");
    const mark = markStale(this.el);
    this.loader = createLoader((req, signal) => this.read(req, signal), {
      busy: "reading every layer…", status: (t, busy) => this.status(t, busy),
      error: (t) => { $("lens-error").textContent = t; $("lens-error").hidden = !t; this.offerFix(); },
      stale: (on, why) => { // an error clears the figure (fail()): only a running request dims it
        mark(on && why === "loading");
        this.el.classList.toggle("lens-stale", on && why === "loading");
      },
    });
    // the text and the top k (topk absent from the URL when 5); the model and the colour are set by hand below
    this.controls = declare([{ key: "text", el: $("lens-text") }, { key: "topk", el: $("lens-k"), kind: "int" }]);
    this.fillModels(models);
    window.addEventListener("models:update", (e) => {
      this.models = e.detail;
      this.fillModels(e.detail);
      if (this.waiting && this.ready()) this.load();
      else this.offerFix();
    });
    this.bind();
  }

  visible() { return !this.el.closest("section").hidden; }

  bind() {
    $("lens-form").addEventListener("submit", (e) => { e.preventDefault(); this.load(true); });
    $("lens-model").addEventListener("change", () => { this.want = null; this.load(true); });
    $("lens-k").addEventListener("change", () => this.load());
    for (const r of document.querySelectorAll("input[name=lens-colour]")) {
      r.addEventListener("change", () => { this.save(); this.draw(); });
    }
    for (const b of $("lens-presets").querySelectorAll("button[data-text]")) {
      b.addEventListener("click", () => { $("lens-text").value = b.dataset.text; this.load(true); });
    }
    $("lens-use-default").addEventListener("click", () => { $("lens-model").value = this.fallback().id; this.load(true); });
    exportBar(this.el, () => this.exportInfo());
    // presentation mode changes the fonts and the room above the figure: redraw, then fit Plotly to its box
    window.addEventListener("presentation", () => this.relayout());
    window.addEventListener("resize", () => { clearTimeout(this.timer); this.timer = setTimeout(() => this.relayout(), 150); });
  }

  /** Decoders and encoder-decoders first; encoders listed apart (the lens answers why it cannot read them). */
  fillModels(list) {
    const select = $("lens-model");
    const keep = this.want || select.value;
    const option = (m) => {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.status === "loaded" ? m.name : `${m.name} (${STATUS[m.status] || m.status})`;
      if (m.status === "loaded" && m.layers) o.title = `${m.layers} layers: ${m.layers + 1} rows with the embeddings`;
      o.disabled = m.status !== "loaded";
      if (m.error) o.title = m.error;
      return o;
    };
    const group = (label, ms) => {
      const g = document.createElement("optgroup");
      g.label = label;
      g.append(...ms.map(option));
      return g;
    };
    const reads = list.filter((m) => m.kind !== "encoder"), encoders = list.filter((m) => m.kind === "encoder");
    select.replaceChildren(group("Next-token models", reads),
      ...(encoders.length ? [group("Encoders (no LM head: the lens says why)", encoders)] : []));
    const ok = (id) => list.some((m) => m.id === id && m.status === "loaded");
    const coming = (id) => list.some((m) => m.id === id && ["loading", "converting", "not loaded"].includes(m.status));
    if (this.want && !ok(this.want) && !coming(this.want)) this.want = null; // unknown or failed: not waited for
    const first = reads.find((m) => m.status === "loaded");
    select.value = ok(keep) ? keep : ok(DEFAULT_MODEL) ? DEFAULT_MODEL : first ? first.id : "";
    if (ok(keep)) this.want = null;
  }

  /** The model to offer after an encoder's 422: the default one, else the first loaded decoder. */
  fallback() {
    const reads = this.models.filter((m) => m.kind !== "encoder" && m.status === "loaded");
    return reads.find((m) => m.id === DEFAULT_MODEL) || reads[0] || null;
  }

  ready() { return this.models.some((m) => m.id === $("lens-model").value && m.status === "loaded"); }

  mode() { return document.querySelector("input[name=lens-colour]:checked")?.value || "prob"; }

  async show(s) {
    if (s.model) {
      this.want = s.model;
      this.fillModels(this.models);
    }
    const k = /^\d+$/.test(s.topk || "") && +s.topk >= 1 && +s.topk <= 20 ? s.topk : undefined; // else as it is
    this.controls.show({ text: s.text, topk: k });
    const mode = s.colour === "rank" ? "rank" : "prob";
    document.querySelector(`input[name=lens-colour][value=${mode}]`).checked = true;
    if (this.res && this.key() === this.shown) { this.relayout(); return; }
    await this.load();
  }

  key() { return JSON.stringify([$("lens-model").value, $("lens-text").value, this.k()]); }

  k() {
    const k = Math.round(Number($("lens-k").value));
    return Number.isFinite(k) && k >= 1 ? Math.min(20, k) : 5;
  }

  save(push = false) {
    const k = this.k();
    this.state.set({ view: "lens", model: this.want || $("lens-model").value, text: this.controls.read().text,
      topk: k === 5 ? null : k, colour: this.mode() === "rank" ? "rank" : null }, { push });
  }

  /** The loader's request: how many tokens the text is (a long one reads its last positions), then the lens. */
  async read({ model, text, k }, signal) {
    const kind = this.models.find((m) => m.id === model)?.kind;
    const n = kind === "decoder" && [...text].length > 24 ? await this.count(model, text, signal) : null;
    const body = { model, text, k };
    let note = "";
    if (n !== null && n > MAX_COLUMNS) {
      body.positions = Array.from({ length: MAX_COLUMNS }, (_, i) => n - MAX_COLUMNS + i);
      body.k = Math.min(body.k, LONG_K);
      note = `The text has ${n} tokens: showing the last ${MAX_COLUMNS} positions (${n - MAX_COLUMNS} to ${n - 1})` +
        (body.k < k ? `, with the top ${body.k} tokens per cell.` : ".");
    }
    const res = await this.api("/api/lens", body, { signal });
    const source = res.source_tokens ? `Encoder-decoder: the rows read the decoder on “${res.target}” ` +
      "(after its start token), given the source." : "";
    return { res, note: [note, source].filter(Boolean).join(" ") };
  }

  /** How many tokens `text` is on `model` (null when the tokenizer route cannot say). */
  async count(model, text, signal) {
    try {
      const r = await this.api("/api/tokenize", { text, models: [model] }, { signal });
      return r.tokenizers[0].ids.length;
    } catch (e) {
      if (e.name === "AbortError") throw e;
      return null;
    }
  }

  async load(push = false) {
    $("lens-k").value = String(this.k());
    this.save(push);
    const model = $("lens-model").value, text = $("lens-text").value;
    this.waiting = !this.ready() || Boolean(this.want);
    if (this.waiting) {
      this.loader.cancel(); // an answer on its way is for another model
      this.status(this.want ? `waiting for ${this.want} to load…` : "waiting for a model to load…");
      return;
    }
    if (!text.trim()) { this.loader.cancel(); this.fail("Type a text to read."); return; }
    const r = await this.loader.load({ model, text, k: this.k() });
    if (!r) return; // a newer load replaced this one
    if (r.error) { this.fail(); return; }
    this.res = r.data.res;
    this.shown = this.key();
    $("lens-positions-note").textContent = r.data.note;
    $("lens-positions-note").hidden = !r.data.note;
    this.status("");
    this.draw();
  }

  status(text, busy = false) {
    const el = $("lens-status");
    el.textContent = text;
    el.classList.toggle("busy", Boolean(busy));
  }

  /** An error (said next to Run: the loader's, or `text`): the figure is cleared (never a figure of another input under it). */
  fail(text) {
    this.status("");
    this.res = null;
    this.shown = null;
    if (text) {
      $("lens-error").textContent = text;
      $("lens-error").hidden = false;
    }
    this.offerFix();
    this.el.classList.remove("lens-stale");
    delete this.el.dataset.stale;
    if (window.Plotly) Plotly.purge(this.el);
    this.el.classList.add("lens-empty");
    $("lens-positions-note").hidden = true;
    $("lens-scale-note").textContent = "";
    $("lens-final").textContent = "No figure: see the message above.";
  }

  /** After an encoder's answer: one button to read the same text with a model that has an LM head. */
  offerFix() {
    const chosen = this.models.find((m) => m.id === $("lens-model").value), other = this.fallback();
    $("lens-error-fix").hidden = $("lens-error").hidden || !(chosen?.kind === "encoder" && other);
    if (other) $("lens-use-default").textContent = `Read it with ${other.name} instead`;
  }

  draw() {
    if (this.res && window.Plotly && this.visible()) render({ mode: this.mode() }, this.res);
  }

  relayout() {
    if (!this.res || !this.visible()) return;
    this.draw();
    requestAnimationFrame(() => {
      if (!this.res || !this.el.data) return;
      Plotly.Plots.resize(this.el);
      if (document.body.classList.contains("presenting")) {
        const box = this.el.getBoundingClientRect();
        if (box.top < 0 || box.bottom > window.innerHeight) this.el.scrollIntoView({ block: "center" });
      }
    });
  }

  exportInfo() {
    const res = this.res;
    if (!res) return null;
    return { name: fileName(res, $("lens-model").value), csv: lensCsv(res), json: res };
  }
}
