// The generate view's whole-sequence panels: the prompt and output as one causal heatmap (#gen-causal) and the
// chosen layer's heads in their key/value groups (#gen-gqa), both from one binary /api/attention answer.
import { decodeWeights, matrix } from "../api.js";
import { matrixCsv } from "../export.js";
import { WEIGHT_SCALE, colorbarTitle, esc, plotFont, tickLabels, tickStep } from "../plot.js";
import { range } from "../ui.js";
import { $, ACCENT, CHOSEN, MASKED, masked, plotConfig, shown } from "./generate_common.js";

/**
 * The /api/attention request for the text of `run` so far at `layer` (decoders: prompt + output; the textbook
 * model: source + translation), asked for as binary float16 (apiBinary); null before there is any output.
 */
export function fullRequest(run, layer) {
  if (!run?.head || !run.steps.length) return null;
  const h = run.head;
  const out = run.steps[run.steps.length - 1].text;
  if (h.kind === "encoder-decoder") {
    if (!out.trim()) return null;
    return { model: h.model, text: h.prompt, target: out, block: "decoder", layer, format: "f16" };
  }
  return { model: h.model, text: h.prompt + out, block: "decoder", layer, format: "f16" };
}

/** A binary attention answer (res.shape [H, T, T]) -> {res, heads: H matrices T x T}. */
export function decodeFull(res) {
  const [H, T] = res.shape;
  const flat = decodeWeights(res);
  return { res, heads: range(H).map((h) => matrix(flat, h * T * T, T, T)) };
}

/** The causal matrix of head #gen-head, or the mean of the heads. */
function causalMatrix(full) {
  const { heads } = full;
  const hv = $("gen-head").value;
  if (hv !== "mean") return heads[Number(hv)];
  const T = heads[0].length;
  return range(T).map((i) => range(T).map((j) => heads.reduce((a, m) => a + m[i][j], 0) / heads.length));
}

/** The query row of the current step in the full heatmap. */
function currentRow(state, full) {
  const head = state.run?.head;
  if (!head) return null;
  const row = head.kind === "encoder-decoder" ? state.step : head.prompt_tokens.length - 1 + state.step;
  return row < full.res.query_tokens.length ? row : null;
}

/** #gen-causal: `full` (decodeFull's answer) for head #gen-head, masked above the diagonal, the step's row outlined. */
export function renderCausal(state, full) {
  if (!full || !state.run?.head) return;
  const { res } = full;
  const z = masked(causalMatrix(full));
  const tokens = res.query_tokens.map(shown);
  const T = tokens.length;
  const step = tickStep(T, 40);
  const ticks = range(T).filter((i) => i % step === 0);
  const labels = tickLabels(ticks.map((i) => tokens[i]), ticks.map((i) => res.query_special[i]));
  const p0 = state.run.head.kind === "encoder-decoder" ? 1 : state.run.head.prompt_tokens.length;
  const row = currentRow(state, full);
  const shapes = [
    // where the generated tokens start
    { type: "line", xref: "x", yref: "paper", x0: p0 - 0.5, x1: p0 - 0.5, y0: 0, y1: 1, line: { color: "#ffffff", width: 2, dash: "dot" } },
  ];
  if (row !== null) {
    shapes.push({ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: T - 0.5, y0: row - 0.5, y1: row + 0.5,
      line: { color: CHOSEN, width: 3 } });
  }
  const hv = $("gen-head").value;
  const who = hv === "mean" ? "mean of the heads" : `head ${Number(hv) + 1}`;
  const custom = z.map((r, i) => r.map((_, j) => `${esc(tokens[i])} → ${esc(tokens[j])}`));
  Plotly.react($("gen-causal"), [{
    type: "heatmap", z, x: range(T), y: range(T), colorscale: WEIGHT_SCALE, zmin: 0, zmax: 1, hoverongaps: false,
    customdata: custom, xgap: T <= 40 ? 1 : 0, ygap: T <= 40 ? 1 : 0,
    colorbar: { thickness: 12, outlinewidth: 0, title: colorbarTitle("weight", "weight") },
    hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>",
  }], {
    title: { text: esc(`${res.model} · layer ${res.layer + 1} · ${who} · ${T} tokens (grey: masked)`), font: plotFont(15), x: 0, xanchor: "left" },
    font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: MASKED,
    // square cells that grow with the font (presenting, the rotated key labels need the room)
    height: Math.max(460, Math.min(760, Math.round(22 * plotFont(12).size / 12) * T + 170)), margin: { t: 44, b: 10, l: 10, r: 10 },
    xaxis: { tickvals: ticks, ticktext: labels, tickangle: -45, automargin: true, showgrid: false, zeroline: false,
      title: { text: "key" }, range: [-0.5, T - 0.5], constrain: "domain" },
    yaxis: { tickvals: ticks, ticktext: labels, autorange: "reversed", automargin: true, showgrid: false, zeroline: false,
      title: { text: "query" }, scaleanchor: "x", constrain: "domain" },
    shapes,
  }, plotConfig("gen_causal"));
}

/** #gen-gqa: the layer's heads of `full` in their key/value groups (grouped-query attention); a click picks a head. */
export function renderGroups(state, full) {
  if (!full || !state.run?.head) return;
  const { res, heads } = full;
  const H = heads.length;
  const info = state.models.find((m) => m.id === res.model) || {};
  const kv = res.model === state.run.head.model ? state.run.head.kv_heads : info.kv_heads || H;
  const G = Math.max(1, Math.min(H, kv));
  const per = Math.ceil(H / G);
  const tokens = res.query_tokens.map(shown);
  const T = tokens.length;
  $("gen-gqa-note").textContent = G < H
    ? `${res.model}: ${H} query heads share ${G} key/value heads, ${per} query heads per group. Each box is one ` +
      `K and V; its ${per} heads compute different queries against the same keys. Layer ${res.layer + 1}. ` +
      `Multi-query attention is the extreme case: one K/V head (one box) for all ${H} query heads, so the cache ` +
      `holds ${G}× less than here and ${H}× less than multi-head attention (${H} boxes of one); see the KV cache below.`
    : `${res.model}: ${H} heads and ${G} key/value heads — ordinary multi-head attention: every head has its own ` +
      `K and V (a group of one). Layer ${res.layer + 1}. Grouped-query attention would put several heads in one box ` +
      `(one shared K and V); multi-query attention puts all ${H} in one box, caching ${H}× less (see the KV cache below).`;
  $("gen-gqa-note").textContent += " Colours: the weight on a √ scale, as in the causal heatmap.";
  const groupGap = 0.035, headGap = 0.01;
  const width = (1 - groupGap * (G - 1) - headGap * (H - G)) / H;
  const traces = [], layout = {}, annotations = [], shapes = [];
  let x = 0;
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / per);
    if (h > 0) x += Math.floor((h - 1) / per) === g ? headGap : groupGap;
    const n = h + 1;
    const xa = n === 1 ? "x" : `x${n}`, ya = n === 1 ? "y" : `y${n}`;
    layout[n === 1 ? "xaxis" : `xaxis${n}`] = { domain: [x, x + width], showticklabels: false, showgrid: false,
      zeroline: false, range: [-0.5, T - 0.5], fixedrange: true };
    layout[n === 1 ? "yaxis" : `yaxis${n}`] = { domain: [0, 0.8], showticklabels: false, showgrid: false, zeroline: false,
      autorange: "reversed", fixedrange: true };
    traces.push({ type: "heatmap", z: masked(heads[h]), xaxis: xa, yaxis: ya, colorscale: WEIGHT_SCALE, zmin: 0, zmax: 1,
      showscale: false, hoverongaps: false, name: `head ${h + 1}`,
      customdata: heads[h].map((r, i) => r.map((_, j) => `head ${h + 1} (KV ${g + 1}): ${esc(tokens[i])} → ${esc(tokens[j])}`)),
      hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>" });
    annotations.push({ xref: "paper", yref: "paper", x: x + width / 2, y: 0.8, yanchor: "bottom", showarrow: false,
      text: `Q head ${h + 1}`, font: plotFont(12) });
    if (h % per === 0) {
      const last = Math.min(H, (g + 1) * per);
      const x1 = x + (last - h) * width + (last - h - 1) * headGap;
      shapes.push({ type: "rect", xref: "paper", yref: "paper", x0: x - 0.004, x1: x1 + 0.004, y0: -0.03, y1: 1.0,
        line: { color: ACCENT, width: 2 }, fillcolor: "rgba(59,76,202,0.05)", layer: "below" });
      annotations.push({ xref: "paper", yref: "paper", x: (x + x1) / 2, y: 0.9, yanchor: "bottom", showarrow: false,
        text: G < H ? `<b>KV group ${g + 1}</b>: shared K, V` : `<b>KV head ${g + 1}</b>`, font: { ...plotFont(13), color: ACCENT } });
    }
    x += width;
  }
  const el = $("gen-gqa");
  const px = el.clientWidth || 1200;
  Plotly.react(el, traces, {
    ...layout, annotations, shapes, font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: MASKED,
    height: Math.max(200, Math.min(420, Math.round((px * width) / 0.8) + 40)), margin: { t: 10, b: 10, l: 6, r: 6 },
  }, plotConfig("gen_kv_groups"));
  if (!el.dataset.bound) {
    el.dataset.bound = "1";
    el.on("plotly_click", (ev) => {
      const n = Number((ev.points[0].data.name || "").replace("head ", ""));
      if (!n) return;
      $("gen-head").value = String(n - 1);
      $("gen-head").dispatchEvent(new Event("change"));
    });
  }
}

/** The export of #gen-causal. */
export function causalExport(state, full) {
  if (!full) return null;
  const { res } = full;
  const z = causalMatrix(full);
  const hv = $("gen-head").value;
  return { name: `attnscope_${res.model}_causal_L${res.layer + 1}_${hv === "mean" ? "mean" : `H${Number(hv) + 1}`}`,
    csv: matrixCsv(res.query_tokens, res.key_tokens, z),
    json: { model: res.model, text: res.text, target: res.target, layer: res.layer, head: hv, tokens: res.query_tokens, weights: z } };
}

/** The export of #gen-gqa. */
export function gqaExport(state, full) {
  if (!full) return null;
  const { res, heads } = full;
  const lines = heads.map((m, h) => `# head ${h + 1}\n` + matrixCsv(res.query_tokens, res.key_tokens, m)).join("");
  return { name: `attnscope_${res.model}_kv_groups_L${res.layer + 1}`, csv: lines,
    json: { model: res.model, layer: res.layer, kv_heads: state.run?.head?.kv_heads, tokens: res.query_tokens, heads } };
}
