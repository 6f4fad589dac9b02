// The long-context view: a long text run once on the server (long_run.js: a progress line per layer; Cancel closes
// the stream and the server stops the pass), then a deep-zoom heatmap of the kept trace's tiles (long_zoom.js,
// long_tiles.js), the exact row of a clicked query, the passage × passage matrix, attention by distance
// (long_plots.js) and every layer × head as thumbnails. The trace lives in the server's memory: the URL keeps its id
// and the view (model, layer, head, z, centre, zoom, reduce); the text stays in the page and in sessionStorage (in
// the URL, as `ltext`, only if short). This file mounts the view, declares its controls and loads its numbers.
import { api } from "../api.js";
import { $, fill, messages, range } from "../analysis.js";
import { exportBar } from "../export.js";
import * as keys from "../keys.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { AnswerPanel } from "./long_answer.js";
import { exportMap, exportPlot } from "./long_export.js";
import { count, fillModels, store, stored, textBox } from "./long_form.js";
import { render } from "./long_plots.js";
import { LongRun, progress } from "./long_run.js";
import { Loader, thumbGrid } from "./long_tiles.js";
import { DeepZoom } from "./long_zoom.js";

const msg = messages("lc");
const URL_TEXT_MAX = 1500;
const URL_Q_MAX = 300;

export async function mount(ctx) {
  const view = new LongView(ctx);
  return { show: (s) => view.show(s) };
}

/** The radio group `name` as one control for declare()'s "select" kind: its value, its options, its changes. */
function radios(name) {
  const all = () => [...document.querySelectorAll(`input[name=${name}]`)];
  return {
    get value() { return all().find((r) => r.checked)?.value || ""; },
    set value(v) { const r = all().find((x) => x.value === v); if (r) r.checked = true; },
    get options() { return all(); },
    addEventListener(type, fn) { for (const r of all()) r.addEventListener(type, fn); },
  };
}

/** A loader of the trace's JSON numbers (GET), marking `figure` stale while it loads or after it failed. */
const numbers = (figure) => createLoader((path, signal) => api(path, undefined, { signal }), { size: 24, stale: markStale(figure) });

class LongView {
  constructor({ models, state }) {
    Object.assign(this, { models, state, header: null, loader: null, query: null, key: null, results: {}, layer: 0, head: 0 });
    this.zoom = new DeepZoom({ canvas: $("lc-canvas"), tip: $("lc-tip"), minimap: $("lc-minimap"),
      onPick: (q, k) => this.pick(q, k), onView: (v) => this.onView(v) });
    this.reduceCtl = radios("lc-reduce");
    this.controls = declare([
      { key: "passages", el: $("lc-passages-mode"), kind: "select" },
      { key: "ltext", el: $("lc-text"), when: () => $("lc-text").value.length <= URL_TEXT_MAX }, // its own key: the other views' `text` is a sentence
      { key: "lq", el: $("lc-ask-q"), when: () => $("lc-ask-q").value.length <= URL_Q_MAX },
      { key: "reduce", el: this.reduceCtl, kind: "select", when: () => Boolean(this.header) },
    ]);
    this.controls.listen((key) => (key === "reduce" ? this.select(this.layer, this.head) : key === "passages" ? this.save() : null));
    this.loads = { passages: numbers($("lc-passages-fig")), distance: numbers($("lc-distance-fig")), row: numbers($("lc-row")) };
    this.runner = new LongRun({ msg, onTrace: (h) => this.finished(h), onStale: (why) => this.stale(why) });
    fillModels(this.models);
    this.ask = new AnswerPanel({ msg, model: () => $("lc-model").value, passagesMode: () => $("lc-passages-mode").value,
      onTrace: (h) => this.finished(h), onState: () => this.save() });
    window.addEventListener("models:update", () => {
      fillModels(this.models, this.wantModel);
      if (this.header) { this.zoom.causal = this.causal(this.header.model); this.zoom.schedule(); }
    });
    textBox(msg);
    $("lc-form").addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
    $("lc-again").addEventListener("click", () => this.run());
    $("lc-cancel").addEventListener("click", () => this.runner.cancel());
    $("lc-model").addEventListener("change", () => { this.wantModel = $("lc-model").value; this.save(); });
    $("lc-layer").addEventListener("change", () => this.select(Number($("lc-layer").value), this.head));
    $("lc-head").addEventListener("change", () => this.select(this.layer, $("lc-head").value === "mean" ? "mean" : Number($("lc-head").value)));
    $("lc-zoom-in").addEventListener("click", () => this.zoom.zoomAt(2));
    $("lc-zoom-out").addEventListener("click", () => this.zoom.zoomAt(0.5));
    $("lc-fit").addEventListener("click", () => this.zoom.fit());
    $("lc-row-log").addEventListener("change", () => this.draw());
    exportBar($("lc-canvas"), () => exportMap(this, this.zoom, $("lc-canvas")));
    for (const [id, what] of [["lc-row", "row"], ["lc-passages-fig", "passages"], ["lc-distance-fig", "distance"]]) {
      exportBar($(id), () => exportPlot(this, this.results, what));
    }
    window.addEventListener("presentation", () => { if (!this.visible()) return; this.zoom.schedule(); this.draw(); });
    keys.register("long", [
      { keys: ["+", "="], label: "Zoom in", fn: () => this.zoom.zoomAt(1.6) },
      { keys: ["-"], label: "Zoom out", fn: () => this.zoom.zoomAt(1 / 1.6) },
      { keys: ["0"], label: "Fit the whole matrix", fn: () => this.zoom.fit() },
      { keys: ["ArrowLeft"], label: "Pan left", fn: () => this.zoom.pan(120, 0) },
      { keys: ["ArrowRight"], label: "Pan right", fn: () => this.zoom.pan(-120, 0) },
      { keys: ["ArrowUp"], label: "Pan up", fn: () => this.zoom.pan(0, 120) },
      { keys: ["ArrowDown"], label: "Pan down", fn: () => this.zoom.pan(0, -120) },
    ]);
  }

  /** Decoders mask the keys after each query (drawn grey in the heatmap). */
  causal(id) { return this.models.find((m) => m.id === id)?.kind === "decoder"; }

  visible() { return !$("lc-form").closest("section").hidden; }

  get reduce() { return this.reduceCtl.value || "max"; }

  async show(s) {
    if (s.model) { this.wantModel = s.model; fillModels(this.models, s.model); }
    this.controls.show(s);
    count();
    if (s.trace && s.trace !== this.header?.trace_id) { await this.restore(s.trace, s); return; }
    if (this.header && s.trace === this.header.trace_id) {
      this.zoom.setView(this.viewOf(s));
      const [l, h] = this.headOf(s);
      if (l !== this.layer || h !== this.head || this.reduce !== this.zoom.head?.reduce) this.select(l, h, { save: false });
    }
  }

  headOf(s) {
    const L = this.header.layers, H = this.header.heads, l = Number(s.layer), h = s.head === "mean" ? "mean" : Number(s.head);
    return [Number.isInteger(l) && l >= 0 && l < L ? l : 0, h === "mean" || (Number.isInteger(h) && h >= 0 && h < H) ? h : 0];
  }

  viewOf(s) {
    const n = (k) => (s[k] !== undefined && s[k] !== "" && Number.isFinite(Number(s[k])) ? Number(s[k]) : undefined);
    return { cx: n("cx"), cy: n("cy"), zoom: n("zoom"), z: n("z") };
  }

  save(push = false) {
    const h = this.header, v = this.view, c = this.controls.read();
    this.state.set({ view: "long", model: $("lc-model").value, passages: c.passages, ltext: c.ltext, lq: c.lq,
      trace: h?.trace_id, layer: h ? this.layer : null, head: h ? this.head : null, reduce: c.reduce, z: v?.z,
      cx: v ? Math.round(v.cx) : null, cy: v ? Math.round(v.cy) : null, zoom: v ? +v.zoom.toFixed(3) : null }, { push });
  }

  onView(v) {
    this.view = v;
    $("lc-level").textContent = `zoom level ${v.z + 1} of ${this.header.zoom_levels}: `
      + (v.cell === 1 ? "one cell = one weight (exact)" : `one cell = ${v.cell} × ${v.cell} tokens (${this.reduce})`);
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.save(), 250);
  }

  // ------------------------------------------------------------------ running

  run() {
    const text = $("lc-text").value, model = $("lc-model").value;
    if (!text.trim()) { msg.error("Paste or drop a text first."); return; }
    if (!model) { msg.error("No model is loaded yet."); return; }
    this.ask.cancel();
    store("text", text);
    this.gone(null);
    this.runner.run({ model, text, passages: $("lc-passages-mode").value });
  }

  /** A finished trace (a run's stream, or an answer's prompt): open it, keep it, a history entry. */
  finished(header) {
    this.runner.stop();
    progress(header.layers, header.layers, "done");
    store("header", header);
    this.open(header, {});
    this.save(true);
  }

  stale(reason) {
    const h = this.header;
    if (!h || $("lc-results").hidden) return;
    $("lc-results").classList.add("stale");
    $("lc-stale").textContent = `Still showing the previous run (${h.model}, ${h.tokens.length.toLocaleString("en-US")} tokens): ${reason}.`;
    $("lc-stale").hidden = false;
  }

  /** The trace is gone from the server (404): say so and offer to run the text again. detail null hides it. */
  gone(detail, text = null) {
    $("lc-gone").hidden = detail === null && text === null;
    if (detail === null && text === null) return;
    $("lc-gone-text").textContent = text || "This run is no longer on the server: runs live in its memory, and a restart or "
      + `newer runs drop them. Run the text again to see it. (The server said: ${detail})`;
    this.loader?.close();
    this.stale("that run is gone from the server");
    msg.status("");
  }

  /** A failed load: a trace gone from the server (404) says so; any other error shows. */
  failed(res) {
    if (res.status === 404) this.gone(res.error); else msg.error(res.error);
  }

  /** A trace named by the URL: open it if this page kept its header and the server still has it. */
  async restore(id, s) {
    const saved = stored("header");
    const res = await this.loads.distance.load(`/api/long/${encodeURIComponent(id)}/distance?layer=0&head=mean`);
    if (!res) return;
    if (res.error) { this.failed(res); return; }
    if (saved?.trace_id === id) { this.open(saved, s); this.save(); }
    else this.gone(null, "This run is still on the server, but this page has not got its tokens (it was made in another tab or browser). Run the text again to see it here.");
  }

  // ------------------------------------------------------------------ a trace

  open(header, s) {
    this.loader?.close();
    for (const l of Object.values(this.loads)) l.cancel(); // nothing of the previous trace may land now
    markStale($("lc-row"))(false); // the row is cleared below; the others load again at once
    this.header = header;
    this.loader = new Loader(header, { onGone: (d) => this.gone(d), onError: (d) => msg.error(d) });
    const T = header.tokens.length;
    fill($("lc-layer"), range(header.layers).map((l) => [l, `Layer ${l + 1}`]));
    fill($("lc-head"), [...range(header.heads).map((h) => [h, `Head ${h + 1}`]), ["mean", "Mean of the heads"]]);
    $("lc-results").hidden = false;
    $("lc-results").classList.remove("stale");
    $("lc-stale").hidden = true;
    this.gone(null);
    this.query = this.key = this.view = null;
    this.results = {};
    Plotly.purge($("lc-row"));
    $("lc-row-top").textContent = "Click a cell or a row label of the heatmap: its query's exact row over every key shows here.";
    this.zoom.open(header, this.loader, this.causal(header.model));
    this.zoom.setView(s.trace ? this.viewOf(s) : { cx: 0, cy: 0, zoom: 1 });
    msg.status(`${header.model} · ${T.toLocaleString("en-US")} tokens · ${header.layers} layers × ${header.heads} heads · `
      + `${header.passages.length} passage${header.passages.length === 1 ? "" : "s"} · ${header.seconds} s · `
      + `${(header.bytes_kept / 2 ** 20).toFixed(0)} MiB kept (${header.dtype}) · this model takes up to ${header.max_tokens.toLocaleString("en-US")} tokens here`);
    $("lc-passage-list").replaceChildren(...header.passages.slice(0, 30).map((p) => Object.assign(document.createElement("li"),
      { textContent: `P${p.index + 1} (tokens ${p.start}–${p.end - 1}): ${p.title}` })));
    const [l, h] = this.headOf(s);
    this.thumbs();
    this.select(l, h, { save: false });
  }

  thumbs() {
    const { layers: L, heads: H } = this.header, loader = this.loader, host = $("lc-thumbs");
    const px = Math.floor(Math.max(26, Math.min(72, ((host.clientWidth || 1000) - 60) / ((H + 1) * 1.15))));
    this.grid = thumbGrid(host, { L, H, px, onPick: (l, h) => this.select(l, h) });
    for (let l = 0; l < L; l++) {
      for (let h = 0; h <= H; h++) {
        const head = h === H ? "mean" : h;
        loader.want({ layer: l, head, z: 0, x: 0, y: 0, reduce: "max" }, { keep: false, still: () => this.loader === loader })
          .then((t) => this.grid.paint(l, h, t), () => {});
      }
    }
  }

  select(layer, head, { push = true, save = true } = {}) {
    if (!this.header) return;
    this.layer = layer;
    this.head = head;
    $("lc-layer").value = String(layer);
    $("lc-head").value = String(head);
    this.grid.cursor(layer, head === "mean" ? this.header.heads : head);
    this.zoom.setHead(layer, head, this.reduce);
    this.aggregates();
    if (this.query !== null) this.pick(this.query, this.key);
    if (save) this.save(push);
  }

  path(what, extra = "") {
    return `/api/long/${encodeURIComponent(this.header.trace_id)}/${what}?layer=${this.layer}&head=${this.head}${extra}`;
  }

  /** The figures drawn from what has loaded, for the selected head. */
  draw() {
    render({ layer: this.layer, head: this.head, log: $("lc-row-log").checked }, { header: this.header, ...this.results });
  }

  async aggregates() {
    const [p, d] = await Promise.all([this.loads.passages.load(this.path("passages")), this.loads.distance.load(this.path("distance"))]);
    if (!p || !d) return; // a newer head's numbers are on their way
    for (const [name, res] of [["passages", p], ["distance", d]]) {
      if (res.error) this.failed(res); else this.results[name] = res.data;
    }
    this.draw();
  }

  /** A click on the heatmap: the exact row of query q (key k marked; null for a row label). */
  async pick(q, k) {
    this.query = q;
    this.key = k;
    this.zoom.select(q, k);
    const res = await this.loads.row.load(this.path("row", `&query=${q}`));
    if (!res) return;
    if (res.error) { this.failed(res); return; }
    const cell = k === null ? null : this.zoom.valueAt(q, k);
    this.results.row = { ...res.data, key: k, cell: cell && cell.cell === 1 ? cell.value : null };
    this.draw();
  }
}
