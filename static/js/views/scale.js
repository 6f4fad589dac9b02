// The scale view: weight counts and attention-matrix sizes from a transformer's shape (GET /api/scale),
// reproducing the lecture's GPT-3 count, and the O(N²) growth of one layer's attention patterns.
import { createLoader, markStale } from "../kernel/load.js";
import { declare } from "../kernel/controls.js";
import { CONFIG, plotFont } from "../plot.js";

const $ = (id) => document.getElementById(id);
const FIELDS = { d_model: "scale-d-model", heads: "scale-heads", layers: "scale-layers", vocab: "scale-vocab",
  tokens: "scale-tokens", d_ff: "scale-d-ff" };
const PRESETS = {
  gpt3: { d_model: 12288, heads: 96, layers: 96, vocab: 50257, tokens: 2048, d_ff: "" },
  base: { d_model: 512, heads: 8, layers: 6, vocab: 37000, tokens: 512, d_ff: 2048 },
  minilm: { d_model: 384, heads: 12, layers: 6, vocab: 30522, tokens: 512, d_ff: 1536 },
  smollm2: { d_model: 576, heads: 9, layers: 30, vocab: 49152, tokens: 2048, d_ff: 1536 },
};
const n = (x) => x.toLocaleString("en-US");

export async function mount(ctx) {
  const view = new ScaleView(ctx);
  return { show: (s) => view.show(s) };
}

class ScaleView {
  constructor({ state, api }) {
    this.state = state;
    this.timer = 0;
    this.res = null;
    // each number field holds one state key (an empty field leaves it to the server's default)
    this.form = declare(Object.entries(FIELDS).map(([key, id]) => ({ key, el: $(id) })));
    this.loader = createLoader((query, signal) => api(`/api/scale?${query}`, undefined, { signal }), {
      busy: "", error: (text) => { $("scale-error").textContent = text; $("scale-error").hidden = !text; },
      stale: markStale($("scale-weights"), $("scale-attention"), $("scale-growth")) });
    for (const id of Object.values(FIELDS)) $(id).addEventListener("input", () => this.later());
    for (const b of $("scale-presets").children) {
      b.addEventListener("click", () => { this.form.show(PRESETS[b.dataset.preset]); this.load(true); });
    }
    $("scale-form").addEventListener("submit", (e) => { e.preventDefault(); this.load(true); });
    window.addEventListener("presentation", () => { if (this.res) render(this.state.get(), this.res); });
  }

  later() { clearTimeout(this.timer); this.timer = setTimeout(() => this.load(), 300); }

  /** The URL's whole numbers into the fields (anything else in the URL is ignored), then load. */
  async show(s) {
    this.form.show(Object.fromEntries(Object.keys(FIELDS).filter((k) => /^\d+$/.test(s[k] ?? "")).map((k) => [k, s[k]])));
    await this.load();
  }

  /** Ask for the fields' shape; the URL keeps it once the server accepts it (a history entry when `push`). */
  async load(push = false) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(this.form.read())) if (v !== null && v.trim()) params.set(k, v.trim());
    const got = await this.loader.load(params.toString());
    if (!got || got.error) return;
    this.res = got.data;
    this.state.set({ view: "scale", ...Object.fromEntries(params) }, { push });
    render(this.state.get(), this.res);
  }
}

/** Draw the scale view's tables and growth curve for `data`, a /api/scale answer (`state` adds nothing yet). */
export function render(state, data) {
  const r = data;
  const body = $("scale-weights").querySelector("tbody");
  body.replaceChildren(...r.weights.map((w) => row([w.name, `${w.factors.map(n).join(" × ")}  (${w.formula})`, n(w.count)])));
  $("scale-matrices").textContent = `${n(r.matrices)} matrices`;
  $("scale-total").textContent = n(r.total);
  const a = r.attention, N = r.tokens;
  $("scale-attention").querySelector("tbody").replaceChildren(
    row(["one head", `${n(N)} × ${n(N)} = ${n(N)}²`, n(a.per_head)]),
    row(["one layer", `${n(N)}² × ${n(r.heads)} heads`, n(a.per_layer)]),
    row(["all layers", `× ${n(r.layers)} layers`, n(a.all_layers)]),
    row(["one layer in float16", "× 2 bytes", bytes(a.per_layer * 2)]),
  );
  const x = r.growth.map((p) => p[0]), y = r.growth.map((p) => p[1]);
  const half = r.growth[Math.floor(r.growth.length / 2)];
  Plotly.react($("scale-growth"), [
    { type: "scatter", mode: "lines", x, y, name: "N² × heads", line: { color: "#3b4cca", width: 3 },
      hovertemplate: "N = %{x:,}: %{y:,} numbers<extra></extra>" },
    { type: "scatter", mode: "markers", x: [half[0], N], y: [half[1], a.per_layer], name: "N/2 and N",
      marker: { size: 12, color: "#f59e0b" }, hovertemplate: "N = %{x:,}: %{y:,}<extra></extra>" },
  ], {
    title: { text: `Attention entries in one layer: ${n(a.per_layer)} at N = ${n(N)}`, font: plotFont(14), x: 0 },
    font: plotFont(12), height: 340, showlegend: false, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    margin: { t: 40, l: 90, r: 10, b: 50 }, xaxis: { title: { text: "N tokens" } }, yaxis: { title: { text: "numbers" } },
  }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: "attention_growth" } });
  $("scale-growth-cap").textContent = `O(N²): halving the context to ${n(half[0])} tokens leaves ${n(half[1])} numbers, ` +
    `a quarter; doubling it would make four times as many. The weights (${n(r.total)}) do not depend on N.`;
}

function row(cells) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const el = document.createElement(i ? "td" : "th");
    if (!i) el.scope = "row";
    el.textContent = c;
    tr.append(el);
  });
  return tr;
}

function bytes(b) {
  for (const [u, f] of [["GB", 1e9], ["MB", 1e6], ["KB", 1e3]]) if (b >= f) return `${(b / f).toFixed(2)} ${u}`;
  return `${b} B`;
}
