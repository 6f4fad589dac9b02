// The heads view: a head view of lines (queries left, keys right), the layer's mean next to attention
// rollout, statistics of every head (grid + sortable table), and knocking heads out.
import { missing, usable } from "../models.js";
import { decodeF16, matrix } from "../api.js";
import {
  $, STATS, blockOptions, ensureCss, fill, fillModels, fitText, fixHeight, gridCsv, headColour, headGrid, meanOf,
  messages, range, tokenHeatmap,
} from "../analysis.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { CONFIG, esc, fontColor, plotFont } from "../plot.js";
import { SinkColumn } from "./attention_norms.js";

const SVG = "http://www.w3.org/2000/svg";
const msg = messages("hd");
const MAX_LINES = 20000;
const PROBABILITIES = new Set(["entropy_norm", "self", "previous", "next", "first", "special"]);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  ensureCss();
  const view = new HeadsView(ctx);
  return { show: (s) => view.show(s) };
}

class HeadsView {
  constructor({ models, state, api }) {
    Object.defineProperty(this, "models", { get: () => usable(models) }); // the live list: models finish loading later
    this.state = state;
    this.api = api;
    this.cache = new Map(); // request JSON -> response
    this.layer = null; // {att, H, Tq, Tk, heads: per-head matrices, roll}
    this.stats = null; // /api/heads response
    this.cursor = [0, 0];
    this.shownHeads = new Set();
    this.selected = new Set(); // selected query tokens in the head view
    this.knocked = new Set(); // "l,h" keys of heads to knock out
    this.sort = { key: "layer", dir: 1 };
    this.statsSeq = 0;
    this.layerSeq = 0;
    this.target = null;
    this.sinks = new SinkColumn(); // the table's "sink: weight → norm" column, one /api/norms call per layer
    fillModels($("hd-model"), models);
    fill($("hd-stat"), STATS.map((s) => [s.id, s.label]));
    $("hd-stat").value = "entropy_norm";
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("hd-model").value); }

  visible() { return !$("hd-lines").closest("section").hidden; }

  bind() {
    $("hd-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("hd-model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("hd-block").addEventListener("change", () => { this.knocked.clear(); this.save(); this.load(); });
    $("hd-layer").addEventListener("change", () => {
      this.cursor[0] = Number($("hd-layer").value);
      this.save();
      this.loadLayer();
      this.renderGrid();
    });
    $("hd-stat").addEventListener("change", () => { this.state.set({ stat: $("hd-stat").value }); this.renderGrid(); });
    $("hd-heads-all").addEventListener("click", () => { this.shownHeads = new Set(range(this.layer?.H || 0)); this.renderLines(); });
    $("hd-heads-none").addEventListener("click", () => { this.shownHeads.clear(); this.renderLines(); });
    $("hd-lines-clear").addEventListener("click", () => { this.selected.clear(); this.applyFocus(); });
    $("hd-lines-svg").addEventListener("click", () => this.downloadSvg());
    $("hd-ablate-run").addEventListener("click", () => this.runAblation());
    $("hd-ablate-clear").addEventListener("click", () => { this.knocked.clear(); this.renderAblateGrid(); });
    for (const a of document.querySelectorAll(".hd-jump a")) {
      a.addEventListener("click", (e) => {
        e.preventDefault();
        document.querySelector(a.getAttribute("href"))?.scrollIntoView({ behavior: "smooth", block: "start" });
      });
    }
    exportBar($("hd-grid"), () => this.gridExport());
    exportBar($("hd-mean"), () => this.aggExport("mean"));
    this.rollBar = exportBar($("hd-rollout"), () => this.aggExport("rollout"));
    window.addEventListener("presentation", () => { if (this.visible()) this.renderAll(); });
    keys.register("heads", [
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.moveCursor(1, 0) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.moveCursor(-1, 0) },
      { keys: ["ArrowRight"], label: "Next head (marked in the statistics grid)", fn: () => this.moveCursor(0, 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.moveCursor(0, -1) },
      { keys: ["Enter"], label: "Open the marked head in the attention view", fn: () => this.open(...this.cursor) },
      { keys: ["k"], label: "Knock the marked head out (or back in)", fn: () => this.toggleKnock(...this.cursor) },
      { keys: ["r"], label: "Run the ablation", fn: () => this.runAblation() },
    ]);
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("hd-block"), blockOptions(m));
    $("hd-block-field").hidden = m.blocks.length < 2;
    fill($("hd-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fitText($("hd-text"), m);
    this.knocked.clear();
    this.shownHeads = new Set(range(m.heads));
    // a model whose Q/K/V or outputs AttnScope cannot read offers no ablation (/api/models capabilities)
    const why = missing(m, "ablate");
    $("hd-ablate-run").disabled = Boolean(why);
    $("hd-ablate-run").title = why ? `Not available for ${m.name}: ${why}` : "";
    document.getElementById("hd-ablate-unavailable")?.remove();
    if (why) {
      const note = document.createElement("p");
      note.id = "hd-ablate-unavailable";
      note.className = "hd-note";
      note.textContent = `Knocking heads out is not available for ${m.name}: ${why}`;
      $("hd-ablate-result").replaceChildren(note);
      $("hd-ablate-fig").hidden = true;
    }
  }

  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("hd-model").value) {
      $("hd-model").value = s.model;
      this.onModel();
    }
    if (s.text !== undefined) $("hd-text").value = s.text;
    fitText($("hd-text"), this.model);
    if (s.block && [...$("hd-block").options].some((o) => o.value === s.block)) $("hd-block").value = s.block;
    if (s.layer !== undefined && [...$("hd-layer").options].some((o) => o.value === s.layer)) $("hd-layer").value = s.layer;
    if (s.stat && STATS.some((x) => x.id === s.stat)) $("hd-stat").value = s.stat;
    this.cursor = [Number($("hd-layer").value) || 0, /^\d+$/.test(s.head ?? "") ? Number(s.head) : this.cursor[1]];
    this.target = s.target || null;
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "heads", model: $("hd-model").value, text: $("hd-text").value,
      block: $("hd-block-field").hidden ? null : $("hd-block").value, layer: $("hd-layer").value }, { push });
  }

  base() {
    const body = { model: $("hd-model").value, text: $("hd-text").value, block: $("hd-block").value || undefined };
    if (this.target && body.block !== "encoder") body.target = this.target;
    return body;
  }

  async fetch(path, body) {
    const key = path + JSON.stringify(body);
    if (this.cache.has(key)) return this.cache.get(key);
    const res = await this.api(path, body);
    this.cache.set(key, res);
    if (this.cache.size > 48) this.cache.delete(this.cache.keys().next().value);
    return res;
  }

  /** Statistics of every head, then the layer in view (one after the other: the first runs the model, the second hits its cache). */
  async load() {
    if (!this.model) { msg.error("No model is available."); return; }
    const seq = ++this.statsSeq;
    this.layerSeq++; // a layer still on its way is for the old sentence
    msg.error("");
    msg.status("Running the model…", true);
    try {
      const stats = await this.fetch("/api/heads", this.base());
      if (seq !== this.statsSeq) return;
      this.stats = stats;
      this.renderGrid();
      this.renderTable();
      this.renderRules();
      this.renderAblateGrid();
    } catch (err) {
      if (seq !== this.statsSeq) return;
      msg.status("");
      msg.error(err.detail || String(err));
      return;
    }
    await this.loadLayer();
    if (seq === this.statsSeq) {
      this.sinks.load(this.base(), this.stats.stats.length, () => this.sinks.paint($("hd-table-body"), $("hd-sink-note")));
    }
  }

  async loadLayer() {
    const seq = ++this.layerSeq;
    const layer = Number($("hd-layer").value) || 0;
    const body = { ...this.base(), layer };
    msg.status("Running the model…", true);
    try {
      const att = await this.fetch("/api/attention", { ...body, format: "f16" });
      const self = body.block !== "cross";
      const roll = self ? await this.fetch("/api/rollout", body) : null;
      if (seq !== this.layerSeq) return;
      const [H, Tq, Tk] = att.shape;
      const flat = decodeF16(att.weights);
      const prevKey = this.layer ? this.layer.att.query_tokens.join("\u0000") : "";
      this.layer = { att, H, Tq, Tk, heads: range(H).map((h) => matrix(flat, h * Tq * Tk, Tq, Tk)), roll };
      if (prevKey !== att.query_tokens.join("\u0000")) this.selected.clear();
      for (const h of [...this.shownHeads]) if (h >= H) this.shownHeads.delete(h);
      msg.status(`${att.model} · ${att.block} · layer ${layer + 1} · ${Tq} × ${Tk} tokens`);
      this.renderHeadBoxes();
      this.renderLines();
      this.renderAggregates();
    } catch (err) {
      if (seq !== this.layerSeq) return;
      msg.status("");
      msg.error(err.detail || String(err));
    }
  }

  renderAll() {
    if (!this.stats) return;
    this.renderGrid();
    if (this.layer) { this.renderLines(); this.renderAggregates(); }
  }

  // ---- head view (SVG lines) ----------------------------------------------------------------------

  renderHeadBoxes() {
    const box = $("hd-head-boxes");
    const H = this.layer.H;
    if (box.childElementCount === H && box.dataset.model === this.layer.att.model) {
      for (const input of box.querySelectorAll("input")) input.checked = this.shownHeads.has(Number(input.value));
      return;
    }
    box.dataset.model = this.layer.att.model;
    box.replaceChildren(...range(H).map((h) => {
      const label = document.createElement("label");
      label.className = "hd-head-box";
      label.style.setProperty("--head", headColour(h));
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = String(h);
      input.checked = this.shownHeads.has(h);
      input.addEventListener("change", () => {
        if (input.checked) this.shownHeads.add(h); else this.shownHeads.delete(h);
        this.renderLines();
      });
      label.append(input, `H${h + 1}`);
      return label;
    }));
  }

  renderLines() {
    if (!this.layer) return;
    for (const input of $("hd-head-boxes").querySelectorAll("input")) input.checked = this.shownHeads.has(Number(input.value));
    const { att, heads, Tq, Tk } = this.layer;
    const n = Math.max(Tq, Tk);
    const row = n <= 24 ? 26 : n <= 64 ? 18 : Math.max(4, Math.min(12, 2400 / n));
    const font = n <= 24 ? 15 : n <= 64 ? 12 : 9;
    const every = Math.ceil(10 / row); // label every k-th token when rows get thinner than the type
    const presenting = document.body.classList.contains("presenting");
    const scale = presenting ? 1.4 : 1;
    const width = Math.min(760, Math.max(420, $("hd-lines").clientWidth || 700));
    const labelW = Math.round(140 * scale);
    const x1 = labelW + 8, x2 = width - labelW - 8;
    const top = 30;
    const height = top + n * row * scale + 10;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(Math.round(height)));
    svg.setAttribute("viewBox", `0 0 ${width} ${Math.round(height)}`);
    svg.setAttribute("class", "hd-svg");
    svg.setAttribute("font-size", String(Math.round(font * scale)));
    svg.setAttribute("fill", fontColor());
    const yq = (i) => top + (i + 0.5) * row * scale * (n / Tq);
    const yk = (j) => top + (j + 0.5) * row * scale * (n / Tk);
    const head = (x, text, anchor) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", String(x));
      t.setAttribute("y", "16");
      t.setAttribute("text-anchor", anchor);
      t.setAttribute("class", "hd-col-title");
      t.textContent = text;
      svg.append(t);
    };
    head(labelW, "query", "end");
    head(width - labelW, "key", "start");
    // every line above a small weight, at most MAX_LINES (the strongest) so long inputs stay responsive
    const threshold = Tq * Tk > 2000 ? 0.02 : 0.005;
    const picked = [];
    for (const h of [...this.shownHeads].sort((a, b) => a - b)) {
      const z = heads[h];
      for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) if (z[i][j] >= threshold) picked.push([z[i][j], h, i, j]);
    }
    if (picked.length > MAX_LINES) picked.sort((a, b) => b[0] - a[0]).length = MAX_LINES;
    $("hd-lines-note").textContent = picked.length === MAX_LINES
      ? `Long input: only the ${MAX_LINES.toLocaleString("en")} strongest lines are drawn.` : "";
    const lines = document.createElementNS(SVG, "g");
    lines.setAttribute("class", "hd-lines-all");
    const groups = new Map();
    for (const h of [...this.shownHeads].sort((a, b) => a - b)) {
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("stroke", headColour(h));
      g.setAttribute("stroke-width", String(2 * scale));
      g.dataset.head = String(h);
      groups.set(h, g);
      lines.append(g);
    }
    for (const [w, h, i, j] of picked) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", String(x1));
      line.setAttribute("y1", yq(i).toFixed(1));
      line.setAttribute("x2", String(x2));
      line.setAttribute("y2", yk(j).toFixed(1));
      line.setAttribute("stroke-opacity", w.toFixed(3));
      line.dataset.q = String(i);
      line.dataset.k = String(j);
      groups.get(h).append(line);
    }
    svg.append(lines);
    const token = (text, x, y, anchor, side, index, special) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", String(x));
      t.setAttribute("y", y.toFixed(1));
      t.setAttribute("text-anchor", anchor);
      t.setAttribute("dominant-baseline", "middle");
      t.setAttribute("class", `hd-tok hd-${side}${special ? " hd-special" : ""}`);
      t.dataset.index = String(index);
      t.textContent = text.length > 18 ? text.slice(0, 17) + "…" : text;
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${side === "q" ? "query" : "key"} ${index}: ${text}`;
      t.append(title);
      t.addEventListener("mouseenter", () => this.applyFocus(side, index));
      t.addEventListener("mouseleave", () => this.applyFocus());
      if (side === "q") {
        t.addEventListener("click", () => {
          if (this.selected.has(index)) this.selected.delete(index); else this.selected.add(index);
          this.applyFocus(side, index);
        });
      }
      svg.append(t);
    };
    att.query_tokens.forEach((t, i) => { if (i % every === 0) token(t, labelW, yq(i), "end", "q", i, att.query_special[i]); });
    att.key_tokens.forEach((t, j) => { if (j % every === 0) token(t, width - labelW, yk(j), "start", "k", j, att.key_special[j]); });
    $("hd-lines").replaceChildren(svg);
    this.applyFocus();
  }

  /** Show only the lines of the hovered token, else of the selected query tokens, else all. */
  applyFocus(side = null, index = null) {
    const svg = $("hd-lines").querySelector("svg");
    if (!svg) return;
    for (const t of svg.querySelectorAll(".hd-q")) t.classList.toggle("hd-selected", this.selected.has(Number(t.dataset.index)));
    for (const t of svg.querySelectorAll(".hd-tok")) {
      t.classList.toggle("hd-hover", side !== null && t.classList.contains(`hd-${side}`) && Number(t.dataset.index) === index);
    }
    const keep = side === "q" ? (l) => Number(l.dataset.q) === index
      : side === "k" ? (l) => Number(l.dataset.k) === index
        : this.selected.size ? (l) => this.selected.has(Number(l.dataset.q)) : null;
    for (const l of svg.querySelectorAll("line")) l.style.display = !keep || keep(l) ? "" : "none";
  }

  downloadSvg() {
    const svg = $("hd-lines").querySelector("svg");
    if (!svg || !this.layer) return;
    const clone = svg.cloneNode(true);
    clone.setAttribute("xmlns", SVG);
    clone.setAttribute("font-family", "system-ui, sans-serif");
    const { att } = this.layer;
    const a = document.createElement("a");
    const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(clone)], { type: "image/svg+xml" }));
    a.href = url;
    a.download = `attnscope_${att.model}_${att.block}_L${att.layer + 1}_lines.svg`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // ---- aggregates ------------------------------------------------------------------------------------

  renderAggregates() {
    const { att, heads, roll } = this.layer;
    const L = att.layer;
    const mean = roll ? roll.mean : meanOf(heads);
    tokenHeatmap("hd-mean", mean, att.query_tokens, att.key_tokens, att.query_special, att.key_special, {
      title: `Mean of ${heads.length} heads · layer ${L + 1}`, filename: `attnscope_${att.model}_${att.block}_L${L + 1}_mean` });
    const note = $("hd-rollout-note");
    if (roll) {
      note.hidden = true;
      $("hd-rollout").hidden = false;
      this.rollBar.hidden = false;
      tokenHeatmap("hd-rollout", roll.rollout, roll.tokens, roll.tokens, roll.special, roll.special, {
        title: `Rollout · layers 1–${L + 1}`, hoverLabel: "share", colorbarTitle: "share",
        filename: `attnscope_${att.model}_${att.block}_L${L + 1}_rollout` });
    } else {
      $("hd-rollout").hidden = true;
      this.rollBar.hidden = true;
      note.hidden = false;
      note.textContent = "Rollout needs self-attention: cross-attention maps decoder tokens to encoder tokens, "
        + "so its layers cannot be multiplied. Choose the encoder or decoder attention to see it.";
    }
  }

  aggExport(kind) {
    if (!this.layer) return null;
    const { att, heads, roll } = this.layer;
    if (kind === "rollout" && !roll) return null;
    const z = kind === "rollout" ? roll.rollout : roll ? roll.mean : meanOf(heads);
    const q = kind === "rollout" ? roll.tokens : att.query_tokens, k = kind === "rollout" ? roll.tokens : att.key_tokens;
    return { name: `attnscope_${att.model}_${att.block}_L${att.layer + 1}_${kind}`, csv: matrixCsv(q, k, z),
      json: { model: att.model, text: att.text, block: att.block, layer: att.layer, kind, query_tokens: q, key_tokens: k, weights: z } };
  }

  // ---- statistics ------------------------------------------------------------------------------------

  statMatrix(stat) {
    return this.stats.stats.map((row) => row.map((s) => s[stat]));
  }

  renderGrid() {
    if (!this.stats) return;
    const stat = $("hd-stat").value;
    const info = STATS.find((s) => s.id === stat);
    $("hd-stat-help").textContent = info.help;
    const z = this.statMatrix(stat);
    const probability = PROBABILITIES.has(stat);
    headGrid("hd-grid", z, {
      title: `${info.label} · ${this.stats.block}`, zmin: probability ? 0 : undefined, zmax: probability ? 1 : undefined,
      text: this.stats.stats.map((row) => row.map((s) => s.label)), hoverValue: info.label.toLowerCase(),
      cursor: this.cursor, colorbarTitle: info.label, filename: `attnscope_${this.stats.model}_${this.stats.block}_${stat}`,
    }).then(() => {
      const el = $("hd-grid");
      if (el.dataset.bound) return;
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => this.open(ev.points[0].y, ev.points[0].x));
    });
  }

  gridExport() {
    if (!this.stats) return null;
    const stat = $("hd-stat").value;
    return { name: `attnscope_${this.stats.model}_${this.stats.block}_${stat}`, csv: gridCsv(this.statMatrix(stat)),
      json: { model: this.stats.model, block: this.stats.block, statistic: stat, stats: this.stats.stats,
        labels_rules: this.stats.labels_rules } };
  }

  renderTable() {
    const cols = [{ id: "layer", label: "Layer" }, { id: "head", label: "Head" }, { id: "label", label: "Label" }, ...STATS, SinkColumn.column];
    const headRow = $("hd-table-head");
    headRow.replaceChildren(...cols.map((c) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = c.id;
      if (this.sort.key === c.id) th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "hd-sort";
      b.textContent = c.label + (this.sort.key === c.id ? (this.sort.dir > 0 ? " ▲" : " ▼") : "");
      if (c.help) b.title = c.help;
      b.addEventListener("click", () => {
        this.sort = { key: c.id, dir: this.sort.key === c.id ? -this.sort.dir : c.id === "layer" || c.id === "head" || c.id === "label" ? 1 : -1 };
        this.renderTable();
      });
      th.append(b);
      return th;
    }));
    const rows = [];
    this.stats.stats.forEach((row, l) => row.forEach((s, h) => rows.push({ ...s, layer: l, head: h, sink: this.sinks.value(l, h) })));
    const { key, dir } = this.sort;
    rows.sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const c = typeof x === "string" ? x.localeCompare(y) : x - y;
      return c * dir || a.layer - b.layer || a.head - b.head;
    });
    $("hd-table-body").replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.layer = String(r.layer);
      tr.dataset.head = String(r.head);
      const open = document.createElement("button");
      open.type = "button";
      open.className = "hd-open";
      open.textContent = `L${r.layer + 1}`;
      open.title = `Open layer ${r.layer + 1}, head ${r.head + 1} in the attention view`;
      open.addEventListener("click", () => this.open(r.layer, r.head));
      const cells = [open, `H${r.head + 1}`, r.label, ...STATS.map((s) => (r[s.id] === null ? "—" : r[s.id].toFixed(3))),
        this.sinks.cell(r.layer, r.head)];
      for (const c of cells) {
        const td = document.createElement("td");
        td.append(c);
        tr.append(td);
      }
      return tr;
    }));
  }

  renderRules() {
    $("hd-rules").replaceChildren(...this.stats.labels_rules.map((r) => {
      const li = document.createElement("li");
      const b = document.createElement("strong");
      b.textContent = r.label;
      const code = document.createElement("code");
      code.textContent = r.rule;
      li.append(b, " — ", code, `: ${r.meaning}`);
      return li;
    }));
  }

  moveCursor(dl, dh) {
    const m = this.model;
    if (!m) return;
    const [l, h] = this.cursor;
    this.cursor = [(l + dl + m.layers) % m.layers, (h + dh + m.heads) % m.heads];
    if (dl) {
      $("hd-layer").value = String(this.cursor[0]);
      this.save();
      this.loadLayer();
    }
    this.renderGrid();
    this.renderAblateGrid();
    if (!dl) msg.status(`layer ${this.cursor[0] + 1} · head ${this.cursor[1] + 1} — Enter opens it, k knocks it out`);
  }

  /** Open head (layer, head) in the attention view. */
  open(layer, head) {
    if (!this.stats) return;
    this.state.go("attention", { model: this.stats.model, text: $("hd-text").value, block: this.stats.block, layer, head,
      target: this.stats.block === "encoder" ? null : this.target });
  }

  // ---- ablation --------------------------------------------------------------------------------------

  toggleKnock(l, h) {
    const k = `${l},${h}`;
    if (this.knocked.has(k)) this.knocked.delete(k); else this.knocked.add(k);
    this.renderAblateGrid();
  }

  renderAblateGrid() {
    const m = this.model;
    if (!m) return;
    const table = document.createElement("table");
    table.className = "hd-knock";
    const head = document.createElement("tr");
    head.append(document.createElement("th"));
    for (let h = 0; h < m.heads; h++) {
      const th = document.createElement("th");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "hd-axis";
      b.textContent = `H${h + 1}`;
      b.title = `Toggle head ${h + 1} in every layer`;
      b.addEventListener("click", () => this.toggleMany(range(m.layers).map((l) => `${l},${h}`)));
      th.append(b);
      head.append(th);
    }
    table.append(head);
    for (let l = 0; l < m.layers; l++) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "hd-axis";
      b.textContent = `L${l + 1}`;
      b.title = `Toggle every head of layer ${l + 1}`;
      b.addEventListener("click", () => this.toggleMany(range(m.heads).map((h) => `${l},${h}`)));
      th.append(b);
      tr.append(th);
      for (let h = 0; h < m.heads; h++) {
        const td = document.createElement("td");
        const cell = document.createElement("button");
        cell.type = "button";
        cell.className = "hd-cell";
        const on = this.knocked.has(`${l},${h}`);
        cell.setAttribute("aria-pressed", String(on));
        cell.setAttribute("aria-label", `layer ${l + 1} head ${h + 1}`);
        cell.dataset.layer = String(l);
        cell.dataset.head = String(h);
        cell.textContent = on ? "✕" : "";
        if (this.cursor[0] === l && this.cursor[1] === h) cell.classList.add("hd-cursor");
        cell.addEventListener("click", () => this.toggleKnock(l, h));
        td.append(cell);
        tr.append(td);
      }
      table.append(tr);
    }
    $("hd-ablate-grid").replaceChildren(table);
    const n = this.knocked.size;
    $("hd-ablate-count").textContent = n ? `${n} of ${m.layers * m.heads} heads knocked out` : "No head knocked out yet";
  }

  toggleMany(list) {
    const all = list.every((k) => this.knocked.has(k));
    for (const k of list) { if (all) this.knocked.delete(k); else this.knocked.add(k); }
    this.renderAblateGrid();
  }

  async runAblation() {
    const m = this.model;
    if (!m || missing(m, "ablate")) return;
    const heads = [...this.knocked].map((k) => k.split(",").map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const body = { model: m.id, text: $("hd-text").value, heads, block: $("hd-block").value || undefined };
    const st = $("hd-ablate-status");
    st.textContent = "Running the model twice…";
    st.classList.add("busy");
    try {
      const res = await this.api("/api/ablate", body);
      st.textContent = "";
      this.renderAblation(res);
    } catch (err) {
      st.textContent = "";
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = err.detail || String(err);
      $("hd-ablate-result").replaceChildren(p);
      $("hd-ablate-fig").hidden = true;
    } finally {
      st.classList.remove("busy");
    }
  }

  renderAblation(res) {
    const out = $("hd-ablate-result");
    const el = (tag, text, cls) => {
      const e = document.createElement(tag);
      if (text !== undefined) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    };
    const what = res.heads.length ? `${res.heads.length} head${res.heads.length > 1 ? "s" : ""} knocked out` : "no head knocked out";
    const fig = $("hd-ablate-fig");
    fig.hidden = true;
    if (res.kind === "encoder") {
      const big = el("p", "", "hd-big");
      big.append(el("span", "Cosine similarity, sentence vector before vs after: "), el("strong", res.cosine.toFixed(4), "hd-cosine"));
      out.replaceChildren(big, el("p", `${what}. The sentence vector is the mean of the last layer's token vectors; `
        + "1 means unchanged. The bars show how much each token's vector changed (1 − cosine).", "hd-note"));
      fig.hidden = false;
      fixHeight(fig, 260);
      Plotly.react(fig, [{ type: "bar", x: res.tokens.map((_, i) => i), y: res.token_cosine.map((c) => 1 - c),
        customdata: res.tokens.map((t) => esc(t)), hovertemplate: "%{customdata}<br>1 − cosine %{y:.4f}<extra></extra>", marker: { color: "#e15759" } }],
      { height: 260, margin: { t: 20, l: 50, r: 10, b: 80 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        xaxis: { tickvals: res.tokens.map((_, i) => i), ticktext: res.tokens.map((t) => esc(t)), tickangle: -45 },
        yaxis: { title: { text: "1 − cosine" }, rangemode: "tozero" }, font: plotFont(12) }, CONFIG);
      return;
    }
    if (res.kind === "decoder") {
      const cols = el("div", undefined, "hd-before-after");
      for (const [title, list] of [["Before", res.before], ["After", res.after]]) {
        const box = el("div");
        box.append(el("h4", `${title}: next token`));
        const ol = el("ol", undefined, "hd-candidates");
        for (const c of list) {
          const li = el("li");
          li.append(el("code", JSON.stringify(c.token)), ` ${(100 * c.prob).toFixed(1)}%`);
          ol.append(li);
        }
        box.append(ol);
        cols.append(box);
      }
      const big = el("p", "", "hd-big");
      big.append(el("span", "KL divergence (before ‖ after): "), el("strong", `${res.kl.toFixed(4)} nats`, "hd-kl"));
      out.replaceChildren(big, el("p", `${what}. 0 means the next-token distribution did not change.`, "hd-note"), cols);
      return;
    }
    const cols = el("div", undefined, "hd-before-after");
    for (const [title, text] of [["Before", res.translation_before], ["After", res.translation_after]]) {
      const box = el("div");
      box.append(el("h4", `${title}: translation`), el("p", text || "(empty)", "hd-translation"));
      cols.append(box);
    }
    const big = el("p", "", "hd-big");
    big.append(el("span", "Mean KL divergence per step (before ‖ after): "), el("strong", `${res.kl.toFixed(4)} nats`, "hd-kl"));
    out.replaceChildren(big, el("p", `${what} in the ${res.block} attention. `
      + (res.translation_before === res.translation_after ? "The translation did not change." : "The translation changed."), "hd-note"), cols);
  }
}
