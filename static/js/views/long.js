// The long-context view: a long text run once on the server (POST /api/long/stream: a progress line per layer;
// Cancel closes the stream and the server stops the pass), then a deep-zoom heatmap of the kept trace's tiles
// (long_tiles.js), the exact row of a clicked query, the passage × passage matrix, attention by distance and every
// layer × head as thumbnails. The trace lives in the server's memory: the URL keeps its id and the view (model,
// layer, head, z, centre, zoom, reduce); the text stays in the page and in sessionStorage (in the URL, as `ltext`, only if short).
import { ApiError, api, readLines } from "../api.js";
import { $, fill, messages, range } from "../analysis.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { CONFIG, SCALE, esc, plotFont } from "../plot.js";
import { AnswerPanel } from "./long_answer.js";
import { DeepZoom, Loader, detailText, fmt, logTicks, thumbGrid } from "./long_tiles.js";

const msg = messages("lc");
const STORE = "attnscope.long";
const URL_TEXT_MAX = 1500;
const URL_Q_MAX = 300;
const MAX_FILE = 4_000_000;

export async function mount(ctx) {
  const view = new LongView(ctx);
  return { show: (s) => view.show(s) };
}

const stored = (k) => { try { return JSON.parse(sessionStorage.getItem(`${STORE}.${k}`)); } catch { return null; } };
const store = (k, v) => { try { sessionStorage.setItem(`${STORE}.${k}`, JSON.stringify(v)); } catch { /* full: the page keeps it */ } };
const plotConfig = (name) => ({ ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
const layout = (extra) => ({ paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: plotFont(13), ...extra });

class LongView {
  constructor({ models, state }) {
    Object.assign(this, { models, state, header: null, loader: null, ctl: null, query: null, key: null, results: {}, layer: 0, head: 0 });
    this.zoom = new DeepZoom({ canvas: $("lc-canvas"), tip: $("lc-tip"), minimap: $("lc-minimap"),
      onPick: (q, k) => this.pick(q, k), onView: (v) => this.onView(v) });
    this.fillModels();
    this.ask = new AnswerPanel({ msg, model: () => $("lc-model").value, passagesMode: () => $("lc-passages-mode").value,
      onTrace: (h) => this.finished(h), onState: () => this.save() });
    window.addEventListener("models:update", () => {
      this.fillModels();
      if (this.header) { this.zoom.causal = this.causal(this.header.model); this.zoom.schedule(); }
    });
    const text = stored("text");
    if (typeof text === "string" && text.trim()) $("lc-text").value = text;
    this.count();
    $("lc-form").addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
    $("lc-again").addEventListener("click", () => this.run());
    $("lc-cancel").addEventListener("click", () => this.cancel());
    $("lc-text").addEventListener("input", () => { this.count(); clearTimeout(this.textTimer); this.textTimer = setTimeout(() => store("text", $("lc-text").value), 400); });
    $("lc-file").addEventListener("change", (e) => this.readFile(e.target.files[0]));
    const drop = $("lc-drop"), files = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
    drop.addEventListener("dragover", (e) => { if (files(e)) { e.preventDefault(); drop.classList.add("over"); } });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { drop.classList.remove("over"); if (files(e)) { e.preventDefault(); this.readFile(e.dataTransfer.files[0]); } });
    $("lc-model").addEventListener("change", () => { this.wantModel = $("lc-model").value; this.save(); });
    $("lc-passages-mode").addEventListener("change", () => this.save());
    $("lc-layer").addEventListener("change", () => this.select(Number($("lc-layer").value), this.head));
    $("lc-head").addEventListener("change", () => this.select(this.layer, $("lc-head").value === "mean" ? "mean" : Number($("lc-head").value)));
    for (const r of document.querySelectorAll("input[name=lc-reduce]")) r.addEventListener("change", () => this.select(this.layer, this.head));
    $("lc-zoom-in").addEventListener("click", () => this.zoom.zoomAt(2));
    $("lc-zoom-out").addEventListener("click", () => this.zoom.zoomAt(0.5));
    $("lc-fit").addEventListener("click", () => this.zoom.fit());
    $("lc-row-log").addEventListener("change", () => this.drawRow());
    exportBar($("lc-canvas"), () => this.exportMap());
    exportBar($("lc-row"), () => this.exportPlot("row"));
    exportBar($("lc-passages-fig"), () => this.exportPlot("passages"));
    exportBar($("lc-distance-fig"), () => this.exportPlot("distance"));
    window.addEventListener("presentation", () => { if (!this.visible()) return; this.zoom.schedule(); this.drawPlots(); });
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

  get reduce() { return document.querySelector("input[name=lc-reduce]:checked")?.value || "max"; }

  /** Encoders and decoders first; encoder-decoders listed apart (the server says why they are not read). */
  fillModels(prefer = null) {
    const sel = $("lc-model"), keep = prefer || this.wantModel || sel.value;
    const opt = (m) => {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.status === "loaded" ? `${m.name} — ${m.kind}` : `${m.name} (${m.status}…)`;
      o.disabled = m.status !== "loaded";
      return o;
    };
    const main = this.models.filter((m) => m.kind !== "encoder-decoder" || m.status !== "loaded");
    sel.replaceChildren(...main.map(opt));
    const other = this.models.filter((m) => m.kind === "encoder-decoder" && m.status === "loaded");
    if (other.length) {
      const g = document.createElement("optgroup");
      g.label = "Encoder-decoders (not read by this view)";
      g.append(...other.map(opt));
      sel.append(g);
    }
    const ok = [...sel.options].filter((o) => !o.disabled).map((o) => o.value);
    if (keep && ok.includes(keep)) sel.value = keep;
  }

  count() {
    const t = $("lc-text").value, paras = t.split(/\n\s*\n/).filter((p) => p.trim()).length;
    $("lc-count").textContent = `${t.length.toLocaleString("en-US")} characters · ${paras} paragraph${paras === 1 ? "" : "s"}`;
  }

  async readFile(file) {
    if (!file) return;
    if (!/\.(txt|md|markdown)$/i.test(file.name) && !(file.type || "").startsWith("text/")) {
      msg.error(`${file.name} is not a .txt or .md file.`);
      return;
    }
    if (file.size > MAX_FILE) { msg.error(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB: the long view reads at most 4 MB.`); return; }
    $("lc-text").value = await file.text();
    this.count();
    store("text", $("lc-text").value);
    msg.error("");
    msg.status(`Read ${file.name}: ${$("lc-text").value.length.toLocaleString("en-US")} characters. Run to see its attention.`);
  }

  async show(s) {
    if (s.model) { this.wantModel = s.model; this.fillModels(s.model); }
    if (s.passages === "none" || s.passages === "paragraphs") $("lc-passages-mode").value = s.passages;
    if (s.ltext) { $("lc-text").value = s.ltext; this.count(); } // its own key: the other views' `text` is a sentence
    if (s.lq) this.ask.question = s.lq;
    if (s.reduce === "max" || s.reduce === "sum") document.querySelector(`input[name=lc-reduce][value=${s.reduce}]`).checked = true;
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
    const text = $("lc-text").value, h = this.header, v = this.view;
    this.state.set({ view: "long", model: $("lc-model").value, passages: $("lc-passages-mode").value,
      ltext: text.length <= URL_TEXT_MAX ? text : null, lq: this.ask.question.length <= URL_Q_MAX ? this.ask.question : null, trace: h?.trace_id, layer: h ? this.layer : null,
      head: h ? this.head : null, reduce: h ? this.reduce : null, z: v?.z, cx: v ? Math.round(v.cx) : null,
      cy: v ? Math.round(v.cy) : null, zoom: v ? +v.zoom.toFixed(3) : null }, { push });
  }

  onView(v) {
    this.view = v;
    $("lc-level").textContent = `zoom level ${v.z + 1} of ${this.header.zoom_levels}: `
      + (v.cell === 1 ? "one cell = one weight (exact)" : `one cell = ${v.cell} × ${v.cell} tokens (${this.reduce})`);
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.save(), 250);
  }

  // ------------------------------------------------------------------ running

  progress(layer, layers, state) {
    const p = $("lc-progress");
    p.max = layers;
    p.value = layer;
    p.dataset.state = state;
    $("lc-progress-text").textContent = layers > 1 || layer ? `layer ${layer} of ${layers}` : "";
  }

  busy(on) {
    $("lc-run").disabled = on;
    $("lc-cancel").disabled = !on;
    $("lc-cancel").classList.toggle("primary", on);
  }

  async run() {
    const text = $("lc-text").value, model = $("lc-model").value;
    if (!text.trim()) { msg.error("Paste or drop a text first."); return; }
    if (!model) { msg.error("No model is loaded yet."); return; }
    if (this.ctl) this.ctl.abort();
    this.ask.cancel();
    const ctl = this.ctl = new AbortController();
    store("text", text);
    msg.error("");
    this.gone(null);
    this.progress(0, 1, "running");
    this.busy(true);
    msg.status(`Running ${model} over ${text.length.toLocaleString("en-US")} characters…`, true);
    let header = null, failure = null;
    try {
      let res;
      try {
        res = await fetch("/api/long/stream", { method: "POST", signal: ctl.signal, headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ model, text, passages: $("lc-passages-mode").value }) });
      } catch (err) {
        if (err.name === "AbortError") throw err;
        throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
      }
      if (!res.ok) {
        const data = await res.json().catch(() => null);
        throw new ApiError(detailText(data?.detail, res.status), res.status);
      }
      await readLines(res.body, (obj) => {
        if (obj.progress) this.progress(obj.progress.layer, obj.progress.layers, "running");
        else if (obj.trace) header = obj.trace;
        else if (obj.error) failure = obj.error;
      });
      if (!header && !failure) failure = "The server closed the stream before the end.";
    } catch (err) {
      if (err.name !== "AbortError") failure = err.detail || String(err);
      else if (this.ctl !== ctl) return; // replaced by a newer run
      else failure = null;
    }
    if (this.ctl !== ctl) return;
    this.ctl = null;
    this.busy(false);
    const p = $("lc-progress");
    if (header) { this.finished(header); return; }
    if (failure) {
      p.dataset.state = "failed";
      msg.status("");
      msg.error(failure);
      this.stale("the new run failed (see the message above)");
    } else {
      p.dataset.state = "cancelled";
      msg.status(`Cancelled at layer ${p.value} of ${p.max}: the server stopped the pass.`);
      this.stale("the new run was cancelled");
    }
  }

  /** A finished trace (a run's stream, or an answer's prompt): open it, keep it, a history entry. */
  finished(header) {
    if (this.ctl) { this.ctl.abort(); this.ctl = null; this.busy(false); }
    this.progress(header.layers, header.layers, "done");
    store("header", header);
    this.open(header, {});
    this.save(true);
  }

  cancel() { if (this.ctl) this.ctl.abort(); }

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

  /** A trace named by the URL: open it if this page kept its header and the server still has it. */
  async restore(id, s) {
    const saved = stored("header");
    try {
      await api(`/api/long/${encodeURIComponent(id)}/distance?layer=0&head=mean`);
    } catch (err) {
      if (err.status === 404) this.gone(err.detail);
      else msg.error(err.detail || String(err));
      return;
    }
    if (saved?.trace_id === id) { this.open(saved, s); this.save(); }
    else this.gone(null, "This run is still on the server, but this page has not got its tokens (it was made in another tab or browser). Run the text again to see it here.");
  }

  // ------------------------------------------------------------------ a trace

  open(header, s) {
    this.loader?.close();
    this.header = header;
    this.loader = new Loader(header, { onGone: (d) => this.gone(d), onError: (d) => msg.error(d) });
    this.escTokens = header.tokens.map((t) => esc(t));
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

  async fetchJson(name, path) {
    this.ctls ||= {};
    this.ctls[name]?.abort();
    const ctl = this.ctls[name] = new AbortController(), id = this.header.trace_id;
    try {
      const res = await api(path, undefined, { signal: ctl.signal });
      return this.header?.trace_id === id && this.ctls[name] === ctl ? res : null;
    } catch (err) {
      if (err.name === "AbortError") return null;
      if (err.status === 404) this.gone(err.detail); else msg.error(err.detail || String(err));
      return null;
    }
  }

  async aggregates() {
    const [p, d] = await Promise.all([this.fetchJson("passages", this.path("passages")), this.fetchJson("distance", this.path("distance"))]);
    if (p) this.results.passages = p;
    if (d) this.results.distance = d;
    this.drawPlots();
  }

  /** A click on the heatmap: the exact row of query q (key k marked; null for a row label). */
  async pick(q, k) {
    this.query = q;
    this.key = k;
    this.zoom.select(q, k);
    const res = await this.fetchJson("row", this.path("row", `&query=${q}`));
    if (!res) return;
    const cell = k === null ? null : this.zoom.valueAt(q, k);
    this.results.row = { ...res, key: k, cell: cell && cell.cell === 1 ? cell.value : null };
    this.drawRow();
  }

  headName() { return this.head === "mean" ? "mean of the heads" : `head ${this.head + 1}`; }

  drawPlots() {
    if (this.results.row) this.drawRow();
    const { passages: p, distance: d } = this.results;
    if (p) {
      const P = p.passages.length, labels = p.passages.map((x) => `P${x.index + 1}`), titles = p.passages.map((x) => esc(x.title));
      const div = $("lc-passages-fig"), height = Math.max(300, Math.min(600, 44 * P + 160));
      div.style.height = `${height}px`;
      Plotly.react(div, [{ type: "heatmap", z: p.mass, x: labels, y: labels, colorscale: SCALE, zmin: 0,
        customdata: p.mass.map((row, i) => row.map((_, j) => [titles[i], titles[j]])),
        hovertemplate: "%{y} “%{customdata[0]}”<br>reads %{x} “%{customdata[1]}”<br>mass %{z:.3f}<extra></extra>",
        texttemplate: P <= 12 ? "%{z:.2f}" : "", colorbar: { title: { text: "mass" }, thickness: 14 } }],
      layout({ height, title: { text: `Which passage reads which (layer ${this.layer + 1}, ${this.headName()}); rows sum to 1`, font: { size: 16 } },
        xaxis: { title: { text: "key passage (read)" }, type: "category" },
        yaxis: { title: { text: "query passage" }, autorange: "reversed", type: "category" }, margin: { t: 60, l: 70, r: 20, b: 60 } }),
      plotConfig("attnscope_long_passages"));
    }
    if (d) {
      const labels = d.bins.map(([lo, hi]) => (hi - lo === 1 ? `${lo}` : `${lo}–${hi - 1}`));
      const div = $("lc-distance-fig");
      div.style.height = "340px";
      Plotly.react(div, [{ type: "bar", x: labels, y: d.mean_weight, marker: { color: "#3b4cca" },
        hovertemplate: "distance %{x}<br>mean weight %{y:.4g}<extra></extra>" }],
      layout({ height: 340, title: { text: `Attention by distance |query − key| (layer ${this.layer + 1}, ${this.headName()})`, font: { size: 16 } },
        xaxis: { title: { text: "distance in tokens (bins double in width)" }, type: "category" },
        yaxis: { title: { text: "mean weight (log)" }, type: "log", ...logTicks(d.mean_weight) }, margin: { t: 60, l: 70, r: 40, b: 80 } }),
      plotConfig("attnscope_long_distance"));
    }
  }

  drawRow() {
    const r = this.results.row;
    if (!r || !this.header) return;
    const w = r.weights, T = w.length, q = r.query, div = $("lc-row"), log = $("lc-row-log").checked;
    const traces = [{ type: "scatter", mode: T <= 200 ? "lines+markers" : "lines", x: range(T), y: w, fill: "tozeroy",
      line: { color: "#3b4cca", width: 1.5 }, customdata: this.escTokens, name: "weight",
      hovertemplate: "key %{x} “%{customdata}”<br>weight %{y:.4g}<extra></extra>" }];
    if (r.key !== null) traces.push({ type: "scatter", mode: "markers", x: [r.key], y: [w[r.key]], name: "clicked",
      marker: { color: "#f59e0b", size: 12, line: { color: "#000", width: 1 } }, hovertemplate: "clicked key %{x}: %{y:.4g}<extra></extra>" });
    div.style.height = "300px";
    Plotly.react(div, traces, layout({ height: 300, showlegend: false,
      title: { text: `Exact row of query ${q} “${esc(this.header.tokens[q])}”`, font: { size: 15 } },
      xaxis: { title: { text: "key token" } }, yaxis: { title: { text: "weight" }, ...(log ? { type: "log", ...logTicks(w) } : {}) },
      margin: { t: 50, l: 60, r: 10, b: 50 } }), plotConfig("attnscope_long_row"));
    Object.assign(div.dataset, { query: String(q), key: r.key === null ? "" : String(r.key), cell: r.cell === null ? "" : String(r.cell) });
    const top = range(T).sort((a, b) => w[b] - w[a]).slice(0, 5);
    $("lc-row-top").textContent = `Layer ${this.layer + 1}, ${this.headName()}. Strongest keys: `
      + top.map((j) => `“${this.header.tokens[j]}” (${j}) ${fmt(w[j])}`).join(" · ")
      + (r.key !== null ? `. Clicked key ${r.key}: ${fmt(w[r.key])}.` : ".");
  }

  // ------------------------------------------------------------------ exports

  fileName(what) {
    const h = this.head === "mean" ? "mean" : `H${this.head + 1}`;
    return `attnscope_long_${this.header.model}_L${this.layer + 1}_${h}_${what}`;
  }

  exportMap() {
    const v = this.header && this.zoom.visible();
    if (!v) return null;
    const cv = $("lc-canvas");
    return { name: this.fileName(`z${v.z}`), csv: matrixCsv(v.rowLabels, v.colLabels, v.values),
      image: () => ({ url: cv.toDataURL("image/png"), width: cv.clientWidth, height: cv.clientHeight }),
      json: { model: this.header.model, trace_id: this.header.trace_id, layer: this.layer, head: this.head, reduce: this.reduce,
        z: v.z, cell: v.cell, rows: v.rows, cols: v.cols, query_labels: v.rowLabels, key_labels: v.colLabels, weights: v.values } };
  }

  exportPlot(what) {
    const r = this.results[what];
    if (!r) return null;
    const toks = this.header.tokens, name = this.fileName(what);
    if (what === "row") return { name: this.fileName(`row${r.query}`), json: { ...r, token: toks[r.query], layer: this.layer, head: this.head },
      csv: "key_index,key,weight\n" + r.weights.map((w, j) => `${j},"${toks[j].replace(/"/g, '""')}",${w}`).join("\n") + "\n" };
    if (what === "passages") {
      const labels = r.passages.map((p) => `P${p.index + 1} ${p.title}`);
      return { name, csv: matrixCsv(labels, labels, r.mass), json: { ...r, layer: this.layer, head: this.head } };
    }
    return { name, json: { ...r, layer: this.layer, head: this.head },
      csv: "lo,hi,mean_weight\n" + r.bins.map(([lo, hi], i) => `${lo},${hi},${r.mean_weight[i]}`).join("\n") + "\n" };
  }
}
