// The compare view: two sentences (or two models on one sentence), same layer and head, one shared colour
// scale; a cell-by-cell difference where both tokenise to the same length; always a per-head statistics difference.
import { usable } from "../models.js";
import { decodeF16, matrix } from "../api.js";
import {
  $, DEFAULT_TEXT, STATS, blockOptions, ensureCss, fill, fillModels, fitText, gridCsv, headGrid, maxOf, meanOf,
  messages, range, tokenHeatmap,
} from "../analysis.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";

const msg = messages("cmp");
const DIVERGING = [[0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"], [1, "#b2182b"]];

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
    this.api = api;
    this.cache = new Map();
    this.data = null; // {a, b, statsA, statsB, za, zb}
    this.seq = 0;
    fillModels($("cmp-model-a"), models);
    fillModels($("cmp-model-b"), models);
    fill($("cmp-stat"), STATS.map((s) => [s.id, s.label]));
    $("cmp-stat").value = "entropy_norm";
    this.onModels();
    this.bind();
  }

  model(which) { return this.models.find((m) => m.id === $(`cmp-model-${which}`).value); }

  visible() { return !$("cmp-a").closest("section").hidden; }

  bind() {
    $("cmp-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    for (const w of ["a", "b"]) {
      $(`cmp-model-${w}`).addEventListener("change", () => { this.onModels(w); this.save(true); this.load(); });
    }
    for (const id of ["block", "layer"]) $(`cmp-${id}`).addEventListener("change", () => { this.save(); this.load(); });
    $("cmp-head").addEventListener("change", () => { this.save(); this.renderPair(); });
    $("cmp-fit").addEventListener("change", () => { this.state.set({ fit: $("cmp-fit").checked ? 1 : null }); this.renderPair(); });
    $("cmp-stat").addEventListener("change", () => { this.state.set({ stat: $("cmp-stat").value }); this.renderStats(); });
    $("cmp-swap").addEventListener("click", () => {
      const [ta, tb] = [$("cmp-text-a").value, $("cmp-text-b").value];
      const [ma, mb] = [$("cmp-model-a").value, $("cmp-model-b").value];
      $("cmp-text-a").value = tb; $("cmp-text-b").value = ta;
      $("cmp-model-a").value = mb; $("cmp-model-b").value = ma;
      this.onModels();
      this.save(true);
      this.load();
    });
    $("cmp-same").addEventListener("click", () => { $("cmp-text-b").value = $("cmp-text-a").value; this.save(true); this.load(); });
    exportBar($("cmp-a"), () => this.pairExport("a"));
    exportBar($("cmp-b"), () => this.pairExport("b"));
    this.diffBar = exportBar($("cmp-diff"), () => this.diffExport());
    this.statsBar = exportBar($("cmp-stats-grid"), () => this.statsExport());
    window.addEventListener("presentation", () => { if (this.visible() && this.data) { this.renderPair(); this.renderStats(); } });
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
    if (s.text !== undefined) $("cmp-text-a").value = s.text;
    if (s.text2 !== undefined) $("cmp-text-b").value = s.text2;
    else if (s.text !== undefined && s.text !== DEFAULT_TEXT && $("cmp-text-b").value === "") $("cmp-text-b").value = s.text;
    this.onModels();
    for (const id of ["block", "layer", "head"]) {
      const sel = $(`cmp-${id}`);
      if (s[id] !== undefined && [...sel.options].some((o) => o.value === s[id])) sel.value = s[id];
    }
    if (s.stat && STATS.some((x) => x.id === s.stat)) $("cmp-stat").value = s.stat;
    $("cmp-fit").checked = s.fit === "1";
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "compare", model: $("cmp-model-a").value, model2: $("cmp-model-b").value,
      text: $("cmp-text-a").value, text2: $("cmp-text-b").value, block: $("cmp-block-field").hidden ? null : $("cmp-block").value,
      layer: $("cmp-layer").value, head: $("cmp-head").value }, { push });
  }

  async fetch(path, body) {
    const key = path + JSON.stringify(body);
    if (this.cache.has(key)) return this.cache.get(key);
    const res = await this.api(path, body);
    this.cache.set(key, res);
    if (this.cache.size > 32) this.cache.delete(this.cache.keys().next().value);
    return res;
  }

  async load() {
    const a = this.model("a"), b = this.model("b");
    if (!a || !b) { msg.error("No model is available."); return; }
    const seq = ++this.seq;
    const blockA = $("cmp-block").value || a.blocks[0];
    const blocks = { a: blockA, b: b.blocks.includes(blockA) ? blockA : b.blocks[0] };
    const layer = Number($("cmp-layer").value) || 0;
    const req = (w) => ({ model: $(`cmp-model-${w}`).value, text: $(`cmp-text-${w}`).value, block: blocks[w] });
    msg.error("");
    msg.status("Running the models…", true);
    try {
      const [ra, rb] = await Promise.all(["a", "b"].map((w) => this.fetch("/api/attention", { ...req(w), layer, format: "f16" })));
      const [sa, sb] = await Promise.all(["a", "b"].map((w) => this.fetch("/api/heads", req(w))));
      if (seq !== this.seq) return;
      const heads = (res) => {
        const [H, Tq, Tk] = res.shape;
        const flat = decodeF16(res.weights);
        return range(H).map((h) => matrix(flat, h * Tq * Tk, Tq, Tk));
      };
      this.data = { a: ra, b: rb, ha: heads(ra), hb: heads(rb), sa, sb };
      const blockNote = blocks.a === blocks.b ? "" : ` (A: ${blocks.a}, B: ${blocks.b})`;
      msg.status(`A: ${ra.query_tokens.length} tokens · B: ${rb.query_tokens.length} tokens · layer ${layer + 1}${blockNote}`);
      this.renderPair();
      this.renderStats();
    } catch (err) {
      if (seq !== this.seq) return;
      msg.status("");
      msg.error(err.detail || String(err));
    }
  }

  current(w) {
    const hv = $("cmp-head").value;
    const heads = w === "a" ? this.data.ha : this.data.hb;
    return hv === "mean" ? meanOf(heads) : heads[Number(hv)];
  }

  headLabel() {
    const hv = $("cmp-head").value;
    return hv === "mean" ? "mean of heads" : `head ${Number(hv) + 1}`;
  }

  renderPair() {
    if (!this.data) return;
    const za = this.current("a"), zb = this.current("b");
    const zmax = $("cmp-fit").checked ? Math.max(maxOf(za), maxOf(zb)) || 1 : 1; // ONE scale for both
    for (const w of ["a", "b"]) {
      const res = this.data[w];
      tokenHeatmap(`cmp-${w}`, w === "a" ? za : zb, res.query_tokens, res.key_tokens, res.query_special, res.key_special, {
        title: `${w.toUpperCase()} · ${res.model} · ${res.block} · layer ${res.layer + 1} · ${this.headLabel()}`, zmin: 0, zmax,
        showscale: w === "b", filename: this.fileName(w) });
    }
    this.renderDiff(za, zb);
  }

  fileName(w) {
    const res = this.data.a;
    const hv = $("cmp-head").value;
    return `attnscope_compare_${w}_${res.block}_L${res.layer + 1}_${hv === "mean" ? "mean" : `H${Number(hv) + 1}`}`;
  }

  renderDiff(za, zb) {
    const { a, b } = this.data;
    const note = $("cmp-diff-note");
    const same = a.query_tokens.length === b.query_tokens.length && a.key_tokens.length === b.key_tokens.length;
    $("cmp-diff").hidden = !same;
    this.diffBar.hidden = !same;
    note.hidden = same;
    this.diff = null;
    if (!same) {
      note.textContent = `A has ${a.query_tokens.length} × ${a.key_tokens.length} tokens and B has `
        + `${b.query_tokens.length} × ${b.key_tokens.length}: no cell-by-cell difference. The statistics difference below still compares every head.`;
      return;
    }
    const d = za.map((row, i) => row.map((v, j) => v - zb[i][j]));
    const m = Math.max(1e-6, ...d.map((row) => Math.max(...row.map(Math.abs))));
    const pair = (x, y) => (x === y ? x : `${x} / ${y}`);
    const q = a.query_tokens.map((t, i) => pair(t, b.query_tokens[i]));
    const k = a.key_tokens.map((t, j) => pair(t, b.key_tokens[j]));
    this.diff = { z: d, q, k };
    tokenHeatmap("cmp-diff", d, q, k, a.query_special, a.key_special, {
      title: `A − B · layer ${a.layer + 1} · ${this.headLabel()}`, zmin: -m, zmax: m, colorscale: DIVERGING,
      hoverLabel: "A − B", colorbarTitle: "A − B", filename: this.fileName("diff") });
  }

  statsDiff(stat) {
    const { sa, sb } = this.data;
    if (sa.layers !== sb.layers || sa.heads !== sb.heads) return null;
    return sa.stats.map((row, l) => row.map((s, h) => {
      const x = s[stat], y = sb.stats[l][h][stat];
      return x === null || y === null ? null : x - y;
    }));
  }

  renderStats() {
    if (!this.data) return;
    const { sa, sb } = this.data;
    const stat = $("cmp-stat").value;
    const info = STATS.find((s) => s.id === stat);
    $("cmp-stat-help").textContent = info.help;
    const z = this.statsDiff(stat);
    const note = $("cmp-stats-note");
    $("cmp-stats-grid").hidden = !z;
    this.statsBar.hidden = !z;
    note.hidden = Boolean(z);
    if (!z) {
      note.textContent = `${sa.model} has ${sa.layers} × ${sa.heads} heads and ${sb.model} has ${sb.layers} × ${sb.heads}: `
        + "a head-by-head difference needs the same shape. Compare two sentences on one model instead.";
      return;
    }
    let m = 1e-6;
    for (const row of z) for (const v of row) if (v !== null) m = Math.max(m, Math.abs(v));
    const text = sa.stats.map((row, l) => row.map((s, h) => `A: ${s.label} · B: ${sb.stats[l][h].label}`));
    headGrid("cmp-stats-grid", z, { title: `${info.label}: A − B`, colorscale: DIVERGING, zmin: -m, zmax: m, zmid: 0,
      text, hoverValue: "A − B", colorbarTitle: "A − B", cursor: [Number($("cmp-layer").value), Number($("cmp-head").value)],
      filename: `attnscope_compare_${stat}_diff` }).then(() => {
      const el = $("cmp-stats-grid");
      if (el.dataset.bound) return;
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => {
        $("cmp-layer").value = String(ev.points[0].y);
        $("cmp-head").value = String(ev.points[0].x);
        this.save();
        this.load();
        $("cmp-a").scrollIntoView({ behavior: "smooth", block: "nearest" });
      });
    });
  }

  pairExport(w) {
    if (!this.data) return null;
    const res = this.data[w];
    const z = this.current(w);
    return { name: this.fileName(w), csv: matrixCsv(res.query_tokens, res.key_tokens, z),
      json: { model: res.model, text: res.text, block: res.block, layer: res.layer, head: $("cmp-head").value,
        query_tokens: res.query_tokens, key_tokens: res.key_tokens, weights: z } };
  }

  diffExport() {
    if (!this.data || !this.diff) return null;
    const { a, b } = this.data;
    return { name: this.fileName("diff"), csv: matrixCsv(this.diff.q, this.diff.k, this.diff.z),
      json: { a: { model: a.model, text: a.text }, b: { model: b.model, text: b.text }, block: a.block, layer: a.layer,
        head: $("cmp-head").value, query_tokens: this.diff.q, key_tokens: this.diff.k, difference: this.diff.z } };
  }

  statsExport() {
    if (!this.data) return null;
    const stat = $("cmp-stat").value;
    const z = this.statsDiff(stat);
    if (!z) return null;
    const { a, b } = this.data;
    return { name: `attnscope_compare_${stat}_diff`, csv: gridCsv(z),
      json: { a: { model: a.model, text: a.text }, b: { model: b.model, text: b.text }, block: a.block, statistic: stat,
        difference: z } };
  }
}
