// The RoPE demo of the Positions view (POST /api/rope-demo): one head's own q and k rotated to every position;
// the dot products q_m · k_n form a matrix that is constant along each diagonal: only m − n counts.
import { api } from "../api.js";
import { createLoader, markStale } from "../kernel/load.js";
import { fill, range } from "../ui.js";
import { CONFIG, SCALE, esc, plotFont, plotMargin, tokenOption } from "../plot.js";

const $ = (id) => document.getElementById(id);
const P = 16;

export class RopePanel {
  /** `models`: the usable rotary models (the panel stays hidden without one). */
  constructor(models) {
    this.models = models;
    this.tokens = null;
    this.timer = 0;
    if (!models.length) return;
    $("pos-rope-panel").hidden = false;
    fill($("pos-rope-model"), models.map((m) => [m.id, m.name]));
    this.onModel();
    $("pos-rope-model").addEventListener("change", () => { this.onModel(); this.load(); });
    $("pos-rope-text").addEventListener("input", () => { clearTimeout(this.timer); this.tokens = null; this.timer = setTimeout(() => this.load(), 500); });
    for (const id of ["query", "key", "layer", "head"]) $(`pos-rope-${id}`).addEventListener("change", () => this.load());
  }

  onModel() {
    const m = this.models.find((x) => x.id === $("pos-rope-model").value) || this.models[0];
    fill($("pos-rope-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("pos-rope-head"), range(m.heads).map((i) => [i, `Head ${i + 1}`]));
    this.tokens = null;
  }

  async load() {
    if (!this.models.length) return;
    const body = { model: $("pos-rope-model").value, text: $("pos-rope-text").value, layer: Number($("pos-rope-layer").value),
      head: Number($("pos-rope-head").value), query: Number($("pos-rope-query").value || 0),
      key: Number($("pos-rope-key").value || 0), positions: P };
    if (!this.tokens) { body.query = 0; body.key = 0; }
    this.loader ||= createLoader((b, signal) => api("/api/rope-demo", b, { signal }), { size: 16,
      error: (text) => { $("pos-rope-error").textContent = text; $("pos-rope-error").hidden = !text; },
      stale: markStale($("pos-rope-dots")) });
    const got = await this.loader.load(body);
    if (!got || got.error) return; // replaced by a newer request, or the error is on screen (the figure marked stale)
    const res = got.data;
    if (!this.tokens || JSON.stringify(this.tokens) !== JSON.stringify(res.tokens)) {
      this.tokens = res.tokens;
      const opts = res.tokens.map((t, i) => [i, tokenOption(t, i)]);
      fill($("pos-rope-query"), opts);
      fill($("pos-rope-key"), opts);
      // a pronoun and an earlier noun make a readable pair: default to the last two content tokens apart
      const find = (w) => res.tokens.findIndex((t) => t.trim().toLowerCase() === w);
      const she = find("she"), alice = find("alice");
      const q = she >= 0 ? she : Math.max(0, res.tokens.length - 1), k = alice >= 0 ? alice : 0;
      $("pos-rope-query").value = String(q);
      $("pos-rope-key").value = String(k);
      return this.load();
    }
    this.res = res;
    this.render();
  }

  render() {
    const r = this.res;
    const qt = r.tokens[r.query], kt = r.tokens[r.key];
    const d2 = r.d_head / 2;
    // pair 0 is (dim 0, dim d/2) in LLaMA's layout: it turns fastest (θ_0 = 1 radian per position)
    const pair = (rows) => rows.map((v) => [v[0], v[d2]]);
    const qp = pair(r.q_rotated), kp = pair(r.k_rotated);
    const arrows = (pts, color, name) => ({ type: "scatter", mode: "lines+markers+text", name,
      x: pts.flatMap((p) => [0, p[0], null]), y: pts.flatMap((p) => [0, p[1], null]),
      text: pts.flatMap((_, i) => ["", String(i), ""]), textposition: "top center", textfont: plotFont(10),
      line: { color, width: 1.5 }, marker: { size: 5, color } });
    const lim = Math.max(...qp.flat().map(Math.abs), ...kp.flat().map(Math.abs)) * 1.25;
    Plotly.react($("pos-rope-pair"), [arrows(qp.slice(0, 8), "#3b4cca", `q “${esc(qt)}”`), arrows(kp.slice(0, 8), "#f59e0b", `k “${esc(kt)}”`)], {
      title: { text: "pair 1 of q and k at positions 0–7", font: plotFont(14), x: 0 }, height: 380,
      xaxis: { range: [-lim, lim], zeroline: true, title: { text: `dim 1` } },
      yaxis: { range: [-lim, lim], zeroline: true, scaleanchor: "x", title: { text: `dim ${d2 + 1}` } },
      margin: plotMargin({ t: 40, l: 50, r: 10, b: 70 }), legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    }, CONFIG);
    $("pos-rope-pair-cap").textContent = `The same q (blue) and k (orange) at positions 0, 1, 2…: each step turns pair 1 by ` +
      `θ₁ = ${r.angles[0].toFixed(3)} rad; its length never changes. Later pairs turn slower (the last by ${r.angles[d2 - 1].toExponential(1)} rad).`;
    const z = r.dots;
    Plotly.react($("pos-rope-dots"), [{ type: "heatmap", z, colorscale: SCALE,
      hovertemplate: "m = %{y}, n = %{x}: q·k = %{z:.3f}<extra></extra>", colorbar: { thickness: 10 } }], {
      title: { text: "q at m · k at n", font: plotFont(14), x: 0 }, height: 380,
      xaxis: { title: { text: "key position n" }, side: "top" }, yaxis: { title: { text: "query position m" }, autorange: "reversed", scaleanchor: "x" },
      margin: plotMargin({ t: 70, l: 50, r: 10, b: 10 }), paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    }, CONFIG);
    $("pos-rope-dots-cap").textContent = `Every diagonal has one colour: moving both tokens by the same amount does not change ` +
      `their score. Largest difference along a diagonal: ${r.spread.toExponential(1)} (float32 rounding).`;
    Plotly.react($("pos-rope-offset"), [{ type: "scatter", mode: "lines+markers", x: r.offsets, y: r.by_offset,
      line: { color: "#3b4cca" }, hovertemplate: "m − n = %{x}: %{y:.3f}<extra></extra>" },
    { type: "scatter", mode: "markers", x: [r.query - r.key], y: [r.actual], marker: { size: 14, color: "#f59e0b", symbol: "diamond" },
      hovertemplate: "the model's own score: %{y:.3f}<extra></extra>" }], {
      title: { text: "q · k against the offset m − n", font: plotFont(14), x: 0 }, height: 380, showlegend: false,
      xaxis: { title: { text: "m − n" }, zeroline: true }, yaxis: { title: { text: "q · k" } },
      margin: plotMargin({ t: 40, l: 60, r: 10, b: 50 }), paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    }, CONFIG);
    $("pos-rope-offset-cap").textContent = `One number per offset. The diamond is the model's own score for “${qt}” → “${kt}” ` +
      `at their real positions ${r.query} and ${r.key}, counting from 0 (offset ${r.query - r.key}): ${r.actual.toFixed(3)}.`;
    $("pos-rope-check").textContent = `${r.model} · layer ${r.layer + 1} · head ${r.head + 1} · d_head ${r.d_head} · base ${r.base.toLocaleString("en-US")} · ` +
      `q of “${qt}”, k of “${kt}” (before rotation: x · W_Q and x · W_K)`;
  }
}
