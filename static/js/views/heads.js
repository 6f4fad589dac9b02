// The heads view: a head view of lines (queries left, keys right), the layer's mean next to attention
// rollout, statistics of every head (grid + sortable table), and knocking heads out. This module mounts it: its
// controls, its loads (kernel/load.js) and its events; the figures are heads_layer.js, heads_stats.js, heads_ablate.js.
import { missing, usable } from "../models.js";
import { apiBinary } from "../api.js";
import { $, STATS, blockOptions, ensureCss, fill, fillModels, fitText, messages, range } from "../analysis.js";
import { exportBar } from "../export.js";
import * as keys from "../keys.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { SinkColumn } from "./attention_norms.js";
import { ablateNote, renderAblateGrid, renderAblation, toggled } from "./heads_ablate.js";
import * as layerFigs from "./heads_layer.js";
import * as statFigs from "./heads_stats.js";

const msg = messages("hd");

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  ensureCss();
  const view = new HeadsView(ctx);
  return { show: (s) => view.show(s) };
}

/**
 * Draw the view's figures. `state`: the view's own ({stat, cursor, sort, sinks, shownHeads, selected}); `data`:
 * {stats: the /api/heads answer, layer: heads_layer.js layerData()}, either null until it has come.
 */
export function render(state, data) {
  const drawn = data.stats ? statFigs.render(state, data.stats) : Promise.resolve();
  if (data.layer) layerFigs.render(state, data.layer);
  return drawn;
}

class HeadsView {
  constructor({ models, state, api }) {
    Object.defineProperty(this, "models", { get: () => usable(models) }); // the live list: models finish loading later
    this.state = state;
    this.layer = null; // heads_layer.js layerData() of the layer in view
    this.stats = null; // /api/heads answer
    this.target = null;
    this.loads = 0; // load() calls: a later one replaces an earlier one's follow-ups
    this.ui = { stat: "entropy_norm", cursor: [0, 0], sort: { key: "layer", dir: 1 }, shownHeads: new Set(),
      selected: new Set(), // selected query tokens in the head view
      knocked: new Set(), // "l,h" keys of heads to knock out
      sinks: new SinkColumn() }; // the table's "sink: weight → norm" column, one /api/norms call per layer
    const hooks = { status: (t, busy) => msg.status(t, busy), error: (t) => msg.error(t) };
    this.statsLoader = createLoader((body, signal) => api("/api/heads", body, { signal }),
      { ...hooks, size: 16, stale: markStale($("hd-grid"), $("hd-table").closest(".hd-table-wrap")) });
    this.layerStale = markStale($("hd-lines"), $("hd-mean"), $("hd-rollout"));
    this.layerLoader = createLoader(async (body, signal) => {
      const att = await apiBinary("/api/attention", { ...body, format: "f16" }, { signal });
      const roll = body.block !== "cross" ? await api("/api/rollout", body, { signal }) : null; // self-attention only
      return { att, roll };
    }, { ...hooks, size: 12, stale: this.layerStale });
    const st = $("hd-ablate-status"), ablateStale = markStale($("hd-ablate-result"), $("hd-ablate-fig"));
    this.ablateLoader = createLoader((body, signal) => api("/api/ablate", body, { signal }), {
      busy: "Running the model twice…",
      status: (t, busy) => { st.textContent = t; st.classList.toggle("busy", Boolean(busy)); },
      error: (t) => { if (t) ablateNote(t, { cls: "error" }); }, // the error in place of the result
      stale: (on, why) => ablateStale(on && why === "loading"),
    });
    this.controls = declare([
      { key: "model", el: $("hd-model"), kind: "select" },
      { key: "text", el: $("hd-text") },
      { key: "block", el: $("hd-block"), kind: "select", when: () => !$("hd-block-field").hidden },
      { key: "layer", el: $("hd-layer"), kind: "select" },
    ]);
    this.statControl = declare([{ key: "stat", el: $("hd-stat"), kind: "select" }]); // in the URL when changed
    fillModels($("hd-model"), models);
    fill($("hd-stat"), STATS.map((s) => [s.id, s.label]));
    $("hd-stat").value = this.ui.stat;
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("hd-model").value); }

  visible() { return !$("hd-lines").closest("section").hidden; }

  bind() {
    const ui = this.ui;
    $("hd-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("hd-model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("hd-block").addEventListener("change", () => { ui.knocked.clear(); this.save(); this.load(); });
    $("hd-layer").addEventListener("change", () => {
      ui.cursor[0] = Number($("hd-layer").value);
      this.save();
      this.loadLayer();
      this.renderGrid();
    });
    this.statControl.listen((_, patch) => { ui.stat = patch.stat; this.state.set(patch); this.renderGrid(); });
    $("hd-heads-all").addEventListener("click", () => { ui.shownHeads = new Set(range(this.layer?.H || 0)); this.renderLines(); });
    $("hd-heads-none").addEventListener("click", () => { ui.shownHeads.clear(); this.renderLines(); });
    $("hd-head-boxes").addEventListener("change", (e) => {
      const h = Number(e.target.value);
      if (e.target.checked) ui.shownHeads.add(h); else ui.shownHeads.delete(h);
      this.renderLines();
    });
    this.bindTokens();
    $("hd-lines-clear").addEventListener("click", () => { ui.selected.clear(); layerFigs.applyFocus(ui); });
    $("hd-lines-svg").addEventListener("click", () => layerFigs.downloadSvg(this.layer));
    $("hd-table-head").addEventListener("click", (e) => {
      const th = e.target.closest("th[data-key]");
      if (!th || !this.stats) return;
      ui.sort = statFigs.nextSort(ui.sort, th.dataset.key);
      statFigs.renderTable(ui, this.stats);
    });
    $("hd-table-body").addEventListener("click", (e) => {
      const tr = e.target.closest(".hd-open") && e.target.closest("tr");
      if (tr) this.open(Number(tr.dataset.layer), Number(tr.dataset.head));
    });
    $("hd-ablate-grid").addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (b && this.model) this.toggleMany(toggled(b, this.model));
    });
    $("hd-ablate-run").addEventListener("click", () => this.runAblation());
    $("hd-ablate-clear").addEventListener("click", () => { ui.knocked.clear(); this.renderAblateGrid(); });
    for (const a of document.querySelectorAll(".hd-jump a")) {
      a.addEventListener("click", (e) => {
        e.preventDefault();
        document.querySelector(a.getAttribute("href"))?.scrollIntoView({ behavior: "smooth", block: "start" });
      });
    }
    exportBar($("hd-grid"), () => statFigs.gridExport(this.stats, ui.stat));
    exportBar($("hd-mean"), () => layerFigs.aggExport(this.layer, "mean"));
    exportBar($("hd-rollout"), () => layerFigs.aggExport(this.layer, "rollout"));
    window.addEventListener("presentation", () => {
      if (this.visible() && this.stats) render(ui, { stats: this.stats, layer: this.layer }).then(() => this.bindGrid());
    });
    keys.register("heads", [
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.moveCursor(1, 0) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.moveCursor(-1, 0) },
      { keys: ["ArrowRight"], label: "Next head (marked in the statistics grid)", fn: () => this.moveCursor(0, 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.moveCursor(0, -1) },
      { keys: ["Enter"], label: "Open the marked head in the attention view", fn: () => this.open(...ui.cursor) },
      { keys: ["k"], label: "Knock the marked head out (or back in)", fn: () => this.toggleKnock(...ui.cursor) },
      { keys: ["r"], label: "Run the ablation", fn: () => this.runAblation() },
    ]);
  }

  /** The head view's tokens: hover shows only a token's lines; a click keeps query tokens selected. */
  bindTokens() {
    const box = $("hd-lines"), ui = this.ui;
    const tok = (e) => e.target.closest?.(".hd-tok");
    box.addEventListener("mouseover", (e) => {
      const t = tok(e);
      if (t) layerFigs.applyFocus(ui, t.classList.contains("hd-q") ? "q" : "k", Number(t.dataset.index));
    });
    box.addEventListener("mouseout", (e) => {
      const t = tok(e);
      if (t && !t.contains(e.relatedTarget)) layerFigs.applyFocus(ui);
    });
    box.addEventListener("click", (e) => {
      const t = tok(e);
      if (!t || !t.classList.contains("hd-q")) return;
      const i = Number(t.dataset.index);
      if (ui.selected.has(i)) ui.selected.delete(i); else ui.selected.add(i);
      layerFigs.applyFocus(ui, "q", i);
    });
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("hd-block"), blockOptions(m));
    $("hd-block-field").hidden = m.blocks.length < 2;
    fill($("hd-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fitText($("hd-text"), m);
    this.ui.knocked.clear();
    this.ui.shownHeads = new Set(range(m.heads));
    // a model whose Q/K/V or outputs AttnScope cannot read offers no ablation (/api/models capabilities)
    const why = missing(m, "ablate");
    $("hd-ablate-run").disabled = Boolean(why);
    $("hd-ablate-run").title = why ? `Not available for ${m.name}: ${why}` : "";
    document.getElementById("hd-ablate-unavailable")?.remove();
    if (why) ablateNote(`Knocking heads out is not available for ${m.name}: ${why}`, { id: "hd-ablate-unavailable" });
  }

  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("hd-model").value) {
      $("hd-model").value = s.model;
      this.onModel();
    }
    this.controls.show({ ...s, model: undefined }); // the model is set above, only when it is usable
    fitText($("hd-text"), this.model);
    this.statControl.show(s);
    this.ui.stat = $("hd-stat").value;
    this.ui.cursor = [Number($("hd-layer").value) || 0, /^\d+$/.test(s.head ?? "") ? Number(s.head) : this.ui.cursor[1]];
    this.target = s.target || null;
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "heads", ...this.controls.read() }, { push });
  }

  base() {
    const body = { model: $("hd-model").value, text: $("hd-text").value, block: $("hd-block").value || undefined };
    if (this.target && body.block !== "encoder") body.target = this.target;
    return body;
  }

  /** Statistics of every head, then the layer in view (one after the other: the first runs the model, the second hits its cache). */
  async load() {
    if (!this.model) { msg.error("No model is available."); return; }
    const seq = ++this.loads;
    this.layerLoader.cancel(); // a layer still on its way is for the old sentence
    this.layerStale(true, "loading");
    const r = await this.statsLoader.load(this.base());
    if (!r || seq !== this.loads) return;
    if (r.error) { this.layerStale(true, "error"); return; }
    this.stats = r.data;
    statFigs.render(this.ui, this.stats).then(() => this.bindGrid());
    this.renderAblateGrid();
    await this.loadLayer();
    if (seq === this.loads) {
      this.ui.sinks.load(this.base(), this.stats.stats.length, () => this.ui.sinks.paint($("hd-table-body"), $("hd-sink-note")));
    }
  }

  async loadLayer() {
    const layer = Number($("hd-layer").value) || 0;
    const r = await this.layerLoader.load({ ...this.base(), layer });
    if (!r || r.error) return;
    const prev = this.layer;
    this.layer = layerFigs.layerData(r.data.att, r.data.roll);
    const { att, H, Tq, Tk } = this.layer;
    if (!prev || prev.att.query_tokens.join("\u0000") !== att.query_tokens.join("\u0000")) this.ui.selected.clear();
    for (const h of [...this.ui.shownHeads]) if (h >= H) this.ui.shownHeads.delete(h);
    msg.status(`${att.model} · ${att.block} · layer ${layer + 1} · ${Tq} × ${Tk} tokens`);
    layerFigs.render(this.ui, this.layer);
  }

  renderLines() { if (this.layer) layerFigs.renderLines(this.ui, this.layer); }

  renderGrid() { if (this.stats) statFigs.renderGrid(this.ui, this.stats).then(() => this.bindGrid()); }

  /** A click on the statistics grid opens that head (bound once Plotly has drawn the grid). */
  bindGrid() {
    const el = $("hd-grid");
    if (el.dataset.bound || !el.on) return;
    el.dataset.bound = "1";
    el.on("plotly_click", (ev) => this.open(ev.points[0].y, ev.points[0].x));
  }

  renderAblateGrid() { if (this.model) renderAblateGrid(this.ui, this.model); }

  moveCursor(dl, dh) {
    const m = this.model;
    if (!m) return;
    const [l, h] = this.ui.cursor;
    this.ui.cursor = [(l + dl + m.layers) % m.layers, (h + dh + m.heads) % m.heads];
    if (dl) {
      $("hd-layer").value = String(this.ui.cursor[0]);
      this.save();
      this.loadLayer();
    }
    this.renderGrid();
    this.renderAblateGrid();
    if (!dl) msg.status(`layer ${this.ui.cursor[0] + 1} · head ${this.ui.cursor[1] + 1} — Enter opens it, k knocks it out`);
  }

  /** Open head (layer, head) in the attention view. */
  open(layer, head) {
    if (!this.stats) return;
    this.state.go("attention", { model: this.stats.model, text: $("hd-text").value, block: this.stats.block, layer, head,
      target: this.stats.block === "encoder" ? null : this.target });
  }

  toggleKnock(l, h) { this.toggleMany([`${l},${h}`]); }

  /** Knock every head of `list` out, or back in when all of them are out already. */
  toggleMany(list) {
    const knocked = this.ui.knocked, all = list.every((k) => knocked.has(k));
    for (const k of list) { if (all) knocked.delete(k); else knocked.add(k); }
    this.renderAblateGrid();
  }

  async runAblation() {
    const m = this.model;
    if (!m || missing(m, "ablate")) return;
    const heads = [...this.ui.knocked].map((k) => k.split(",").map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const r = await this.ablateLoader.load({ model: m.id, text: $("hd-text").value, heads, block: $("hd-block").value || undefined });
    if (r && r.data) renderAblation(r.data);
  }
}
