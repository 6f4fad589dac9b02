// The model view: every layer x head as a thumbnail, all in ONE Plotly figure (one heatmap trace per head,
// tiled on one pair of axes: fast even for 270 heads). One /api/attention call, float16, all layers.
import { usable } from "../models.js";
import { decodeF16, matrix } from "../api.js";
import { $, blockOptions, ensureCss, fill, fillModels, fitText, messages, range } from "../analysis.js";
import { exportBar } from "../export.js";
import * as keys from "../keys.js";
import { CONFIG, SCALE, downsample, fontColor } from "../plot.js";

const GAP = 0.14; // space between thumbnails, in thumbnail widths
const msg = messages("mv");

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  ensureCss();
  const view = new ModelView(ctx);
  return { show: (s) => view.show(s) };
}

class ModelView {
  constructor({ models, state, api }) {
    Object.defineProperty(this, "models", { get: () => usable(models) }); // the live list: models finish loading later
    this.state = state;
    this.api = api;
    this.data = null; // {res, L, H, Tq, Tk, flat}
    this.cursor = [0, 0];
    this.pending = null;
    this.cache = new Map();
    fillModels($("mv-model"), models);
    this.onModel();
    $("mv-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("mv-model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("mv-block").addEventListener("change", () => { this.save(); this.load(); });
    $("mv-fit").addEventListener("change", () => { this.state.set({ fit: $("mv-fit").checked ? 1 : null }); this.render(); });
    exportBar($("mv-fig"), () => this.exportInfo());
    window.addEventListener("presentation", () => { if (this.visible()) this.render(); });
    keys.register("model", [
      { keys: ["ArrowRight"], label: "Next head", fn: () => this.move(0, 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.move(0, -1) },
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.move(1, 0) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.move(-1, 0) },
      { keys: ["Enter"], label: "Open the marked head in the attention view", fn: () => this.open(...this.cursor) },
    ]);
  }

  get model() { return this.models.find((m) => m.id === $("mv-model").value); }

  visible() { return !$("mv-fig").closest("section").hidden; }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("mv-block"), blockOptions(m));
    $("mv-block-field").hidden = m.blocks.length < 2;
    fitText($("mv-text"), m);
  }

  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("mv-model").value) {
      $("mv-model").value = s.model;
      this.onModel();
    }
    if (s.text !== undefined) $("mv-text").value = s.text;
    fitText($("mv-text"), this.model);
    if (s.block && [...$("mv-block").options].some((o) => o.value === s.block)) $("mv-block").value = s.block;
    $("mv-fit").checked = s.fit === "1";
    this.target = s.target || null;
    if (/^\d+$/.test(s.layer ?? "") && /^\d+$/.test(s.head ?? "")) this.cursor = [Number(s.layer), Number(s.head)];
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "model", model: $("mv-model").value, text: $("mv-text").value,
      block: $("mv-block-field").hidden ? null : $("mv-block").value }, { push });
  }

  async load() {
    const m = this.model;
    if (!m) { msg.error("No model is available."); return; }
    const body = { model: m.id, text: $("mv-text").value, block: $("mv-block").value || undefined, format: "f16" };
    if (this.target && body.block !== "encoder") body.target = this.target;
    const key = JSON.stringify(body);
    msg.error("");
    const t0 = performance.now();
    let res = this.cache.get(key);
    if (!res) {
      if (this.pending) this.pending.abort();
      this.pending = new AbortController();
      msg.status("Running the model…", true);
      try {
        res = await this.api("/api/attention", body, { signal: this.pending.signal });
      } catch (err) {
        if (err.name === "AbortError") return;
        msg.status("");
        msg.error(err.detail || String(err));
        return;
      }
      this.cache.set(key, res);
      if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value);
    }
    const [L, H, Tq, Tk] = res.shape;
    this.data = { res, L, H, Tq, Tk, flat: decodeF16(res.weights) };
    this.cursor = [Math.min(this.cursor[0], L - 1), Math.min(this.cursor[1], H - 1)];
    await this.render();
    const ms = Math.round(performance.now() - t0);
    $("mv-fig").dataset.ms = String(ms);
    msg.status(`${res.model} · ${res.block} · ${L} layers × ${H} heads = ${L * H} heads · ${Tq} × ${Tk} tokens`);
  }

  /** Thumbnail of head (l, h): (rows, cols) at most `cells` per side, block-averaged. */
  tile(l, h, cells) {
    const { flat, H, Tq, Tk } = this.data;
    return downsample(matrix(flat, (l * H + h) * Tq * Tk, Tq, Tk), cells);
  }

  async render() {
    if (!this.data) return;
    const { res, L, H, Tq, Tk } = this.data;
    const el = $("mv-fig");
    const width = Math.max(400, el.clientWidth || 1200);
    const margin = { t: 40, l: 46, r: 12, b: 12 };
    const px = Math.max(28, Math.min(120, (width - margin.l - margin.r - 2) / (H + GAP), 1800 / L)); // one thumbnail, in pixels
    const cells = Math.max(8, Math.min(64, Math.floor(px), Math.floor(Math.sqrt(300000 / (L * H)))));
    const fit = $("mv-fit").checked;
    const traces = [];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const z = this.tile(l, h, cells);
        const rows = z.length, cols = z[0].length;
        const dx = (1 - GAP) / cols, dy = (1 - GAP) / rows;
        let zmax = 1;
        if (fit) { zmax = 0; for (const r of z) for (const v of r) if (v > zmax) zmax = v; zmax = zmax || 1; }
        traces.push({
          type: "heatmap", z, x0: h + dx / 2, dx, y0: l + dy / 2, dy, zmin: 0, zmax, colorscale: SCALE,
          showscale: false, hovertemplate: `layer ${l + 1} · head ${h + 1}<br>click to open<extra></extra>`,
          name: `L${l + 1} H${h + 1}`,
        });
      }
    }
    const mid = (1 - GAP) / 2;
    const [cl, ch] = this.cursor;
    const layout = {
      xaxis: { range: [-GAP, H], tickvals: range(H).map((h) => h + mid), ticktext: range(H).map((h) => `H${h + 1}`),
        side: "top", showgrid: false, zeroline: false, fixedrange: true, ticks: "" },
      yaxis: { range: [L, -GAP], tickvals: range(L).map((l) => l + mid), ticktext: range(L).map((l) => `L${l + 1}`),
        showgrid: false, zeroline: false, fixedrange: true, ticks: "" },
      width: Math.round(px * (H + GAP) + margin.l + margin.r), height: Math.round(px * (L + GAP) + margin.t + margin.b),
      margin, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fontColor(), size: H > 16 ? 10 : 12 },
      shapes: [{ type: "rect", xref: "x", yref: "y", x0: ch - GAP / 3, x1: ch + 1 - GAP * 2 / 3,
        y0: cl - GAP / 3, y1: cl + 1 - GAP * 2 / 3, line: { color: "#f59e0b", width: 3 } }],
      hovermode: "closest",
    };
    await Plotly.react(el, traces, layout, { ...CONFIG, responsive: false, toImageButtonOptions: {
      ...CONFIG.toImageButtonOptions, filename: this.fileName() } });
    el.setAttribute("aria-label", `Every head of ${res.model}: ${L} layers by ${H} heads, ${Tq} by ${Tk} tokens each`);
    if (!el.dataset.bound) {
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => {
        const n = ev.points[0].curveNumber;
        this.open(Math.floor(n / this.data.H), n % this.data.H);
      });
    }
  }

  fileName() {
    const { res } = this.data;
    return `attnscope_${res.model}_${res.block}_all_heads`;
  }

  move(dl, dh) {
    if (!this.data) return;
    const { L, H } = this.data;
    this.cursor = [(this.cursor[0] + dl + L) % L, (this.cursor[1] + dh + H) % H];
    const [l, h] = this.cursor;
    Plotly.relayout($("mv-fig"), { "shapes[0].x0": h - GAP / 3, "shapes[0].x1": h + 1 - GAP * 2 / 3,
      "shapes[0].y0": l - GAP / 3, "shapes[0].y1": l + 1 - GAP * 2 / 3 });
    msg.status(`layer ${l + 1} · head ${h + 1} — Enter opens it`);
  }

  /** Open head (layer, head) in the attention view. */
  open(layer, head) {
    if (!this.data) return;
    const { res } = this.data;
    this.state.go("attention", { model: res.model, text: res.text, block: res.block, layer, head,
      target: res.block === "encoder" ? null : this.target });
  }

  exportInfo() {
    if (!this.data) return null;
    const { res, L, H, Tq, Tk, flat } = this.data;
    const lines = ["layer,head,query_index,query,key_index,key,weight"];
    const cell = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) {
      const w = flat[((l * H + h) * Tq + i) * Tk + j];
      lines.push(`${l + 1},${h + 1},${i},${cell(res.query_tokens[i])},${j},${cell(res.key_tokens[j])},${+w.toFixed(5)}`);
    }
    const weights = range(L).map((l) => range(H).map((h) => matrix(flat, (l * H + h) * Tq * Tk, Tq, Tk)));
    return { name: this.fileName(), csv: lines.join("\n") + "\n",
      json: { model: res.model, text: res.text, block: res.block, shape: res.shape, query_tokens: res.query_tokens,
        key_tokens: res.key_tokens, weights } };
  }
}
