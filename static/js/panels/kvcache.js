// The KV-cache panel of the Generate view: GET /api/kv-cache for the model in use (multi-head, grouped-query,
// multi-query bytes per token and for N tokens), and the cache growing over the steps of the last generation.
import { api } from "../api.js";
import { createLoader } from "../kernel/load.js";
import { CONFIG, esc, plotFont, plotMargin, presenting } from "../plot.js";

const $ = (id) => document.getElementById(id);
const COLORS = { "multi-head": "#aab0bb", "grouped-query": "#3b4cca", "multi-query": "#0f9d58" };

/** Bytes as B / KB / MB / GB (powers of 1000), with the exact count alongside for small numbers. */
export function bytes(n) {
  const units = [["GB", 1e9], ["MB", 1e6], ["KB", 1e3]];
  for (const [u, f] of units) if (n >= f) return `${(n / f).toLocaleString("en-US", { maximumFractionDigits: 2 })} ${u}`;
  return `${n.toLocaleString("en-US")} B`;
}

export class KvCachePanel {
  constructor() {
    this.loader = createLoader((q, signal) => api(`/api/kv-cache?${new URLSearchParams(q)}`, undefined, { signal }),
      { size: 16, error: (text) => { $("gen-kv-error").textContent = text; $("gen-kv-error").hidden = !text; } });
    this.model = null;
    this.res = null;
    this.steps = [];
    this.current = 0;
    this.timer = 0;
    $("gen-kv-tokens").addEventListener("input", () => { clearTimeout(this.timer); this.timer = setTimeout(() => this.load(), 250); });
    $("gen-kv-dtype").addEventListener("change", () => this.load());
  }

  /** The model in use changed (or first show). */
  setModel(id) {
    if (!id || id === this.model) return;
    this.model = id;
    this.load();
  }

  async load() {
    if (!this.model) return;
    const got = await this.loader.load({ model: this.model, tokens: $("gen-kv-tokens").value || "0", dtype: $("gen-kv-dtype").value });
    if (!got || got.error) return; // replaced by a newer request, or the error is on screen
    this.res = got.data;
    this.renderTable();
    this.renderGrowth();
  }

  /** Steps of the generation (each with kv_cache) and the step in view. */
  setSteps(steps, current) {
    this.steps = (steps || []).filter((s) => s.kv_cache);
    this.current = current;
    this.renderGrowth();
  }

  renderTable() {
    const r = this.res;
    const body = $("gen-kv-table").querySelector("tbody");
    body.replaceChildren();
    $("gen-kv-total-head").textContent = `for N = ${r.tokens.toLocaleString("en-US")} tokens`;
    for (const v of r.variants) {
      const tr = document.createElement("tr");
      const own = v.name === r.kind;
      if (own) tr.className = "kv-own";
      const cells = [
        own ? `${v.name} (${r.model})` : v.name,
        `${v.kv_heads} for ${r.heads} query heads`,
        `2 × ${r.layers} × ${v.kv_heads} × ${r.d_head} = ${v.values_per_token.toLocaleString("en-US")}`,
        `${v.bytes_per_token.toLocaleString("en-US")} B`,
        bytes(v.bytes_total),
        v.ratio_to_mha === 1 ? "1" : `1/${Math.round(1 / v.ratio_to_mha)}`,
      ];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      body.append(tr);
    }
    const mha = r.variants.find((v) => v.name === "multi-head");
    const mqa = r.variants.find((v) => v.name === "multi-query");
    const own = r.variants.find((v) => v.name === r.kind);
    let text = `${r.model}: ${r.layers} layers, ${r.heads} query heads, ${r.kv_heads} K/V head${r.kv_heads === 1 ? "" : "s"}, ` +
      `d_head ${r.d_head}, ${r.bytes_per_value} byte${r.bytes_per_value === 1 ? "" : "s"} per number. `;
    if (r.kind === "grouped-query") {
      text += `Its ${r.kv_heads} K/V heads cache ${bytes(own.bytes_total)} for ${r.tokens.toLocaleString("en-US")} tokens, ` +
        `${Math.round(1 / own.ratio_to_mha)}× less than the ${bytes(mha.bytes_total)} multi-head attention would need; ` +
        `multi-query (one K/V head) would need ${bytes(mqa.bytes_total)}.`;
    } else if (r.kind === "multi-head") {
      text += `Every head has its own K and V; multi-query attention would cache ${Math.round(1 / mqa.ratio_to_mha)}× less.`;
    }
    if (r.note) text += ` ${r.note}`;
    $("gen-kv-note").textContent = text;
  }

  renderGrowth() {
    const r = this.res;
    const el = $("gen-kv-growth");
    if (!r) return;
    const steps = this.steps;
    const traces = [];
    let xTitle, title;
    if (steps.length) {
      const x = steps.map((s, i) => i + 1);
      const tokens = steps.map((s) => s.kv_cache.tokens);
      for (const v of r.variants) {
        traces.push({ type: "scatter", mode: "lines+markers", name: `${v.name} (${v.kv_heads} KV)`, x,
          y: tokens.map((n) => n * v.bytes_per_token), line: { color: COLORS[v.name], width: v.name === r.kind ? 4 : 2 },
          customdata: tokens, hovertemplate: `${v.name}: %{customdata} tokens → %{y:,} B<extra></extra>` });
      }
      const i = Math.min(this.current, steps.length - 1);
      const own = r.variants.find((v) => v.name === r.kind) || r.variants[0];
      const s = steps[i];
      traces.push({ type: "scatter", mode: "markers", name: "this step", x: [i + 1], y: [s.kv_cache.tokens * own.bytes_per_token],
        marker: { size: 16, color: "#f59e0b", line: { width: 2, color: "#1d2330" } }, hoverinfo: "skip" });
      xTitle = "generation step";
      title = `Step ${i + 1}: ${s.kv_cache.tokens} tokens cached = ${bytes(s.kv_cache.tokens * own.bytes_per_token)} (${r.dtype})` +
        (s.kv_cache.beams > 1 ? ` per beam, × ${s.kv_cache.beams} beams` : "");
    } else {
      const n = Math.max(1, r.tokens);
      const x = Array.from({ length: 21 }, (_, k) => Math.round((k * n) / 20));
      for (const v of r.variants) {
        traces.push({ type: "scatter", mode: "lines", name: `${v.name} (${v.kv_heads} KV)`, x, y: x.map((t) => t * v.bytes_per_token),
          line: { color: COLORS[v.name], width: v.name === r.kind ? 4 : 2 } });
      }
      xTitle = "tokens in the cache";
      title = `Cache size against tokens (generate to see it grow step by step)`;
    }
    Plotly.react(el, traces, {
      title: { text: esc(title), font: plotFont(14), x: 0, xanchor: "left" },
      font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", height: presenting() ? 420 : 340,
      // the legend at the bottom of the figure, under the x title
      margin: plotMargin({ t: 40, b: 80, l: 80, r: 10 }), legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
      xaxis: { title: { text: xTitle }, zeroline: false, tickformat: "d", ...(steps.length ? { dtick: 1 } : {}) }, yaxis: { title: { text: "bytes" }, rangemode: "tozero" },
    }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: "kv_cache" } });
  }
}
