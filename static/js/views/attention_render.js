// The Attention view's figures as functions of (state, data): the one-head heatmap (#heatmap) and every head of
// the layer as small multiples (#heads). `data` is the layer's answer ({res, H, Tq, Tk, head(h), heads, norms});
// `state` is what the controls and the class say: {head ("0".. or "mean"), fit, quiz: {on, guess, query},
// ask: a live-class token question ({query, layer, head}) or null, measure (the norms switch), lecture}.
import { CONFIG, WEIGHT_SCALE, colorbarTitle, downsample, esc, maxOf, meanOf, plotFont, presenting, tickLabels, tickStep } from "../plot.js";
import { range } from "../ui.js";
import { sinkNote } from "../sink.js";

export { firstPaint } from "./attention_preview.js"; // a cold load's first figure, before Plotly is parsed

const $ = (id) => document.getElementById(id);

/** A live class's open token question (body[data-class-question="token"], set by classroom_panel.js): its query
 * row, and the thumbnail of its layer's head, stay hidden until Reveal. {query, layer, head} or null. */
export function classAsk() {
  const d = document.body.dataset;
  return d.classQuestion === "token" ? { query: Number(d.classQuery), layer: Number(d.classLayer), head: d.classHead } : null;
}
export const CLASS_ATTRS = ["data-class-question", "data-class-query", "data-class-layer", "data-class-head"];


/** The matrix drawn: head `hv`'s (or the heads' mean) weights, or its norm shares in a norm mode. */
export function matrixOf(src, hv) {
  return hv === "mean" ? meanOf(src.heads) : src.head(Number(hv));
}

/** Both figures; returns what the one-head figure shows (the readout and the quiz read it). */
export function render(state, data) {
  const shown = renderHead(state, data);
  renderGrid(state, data);
  return shown;
}

/** The one-head heatmap: the class question's row blank until Reveal, the quiz's row outlined. */
export function renderHead(state, data) {
  const { res, H, Tq, Tk, norms } = data;
  const mean = state.head === "mean";
  const h = mean ? -1 : Number(state.head);
  const z = matrixOf(norms || data, state.head);
  const hidden = state.quiz.on && state.quiz.guess === null;
  const blank = state.ask && state.ask.query < Tq ? state.ask.query : -1; // a class question's row, until Reveal
  const drawn = blank < 0 ? z : z.map((row, i) => (i === blank ? row.map(() => null) : row));
  const k = res.key_tokens;
  // decoder rows: the query token and the next token it predicts ("a → student"), like the
  // lecture's alignment table whose rows are the words being produced
  const q = res.query_predicts ? res.query_tokens.map((t, i) => `${t} → ${res.query_predicts[i]}`) : res.query_tokens;
  // hover labels (query, key) of every cell: escaped once per token and built once per answer
  // (at 512 tokens that is 262,144 pairs: rebuilding them on every head change cost more than the draw)
  if (!data.custom) {
    const qe = q.map(esc), ke = k.map(esc);
    data.custom = qe.map((a) => { const row = new Array(Tk); for (let j = 0; j < Tk; j++) row[j] = [a, ke[j]]; return row; });
  }
  const trace = {
    type: "heatmap",
    z: hidden ? z.map((row) => row.map(() => 0)) : drawn,
    hoverongaps: false,
    x: range(Tk),
    y: range(Tq),
    customdata: data.custom,
    hovertemplate: hidden ? "%{customdata[0]} → %{customdata[1]}<br>click to guess<extra></extra>"
      : "%{customdata[0]} → %{customdata[1]}<br>weight %{z:.3f}<extra></extra>",
    colorscale: WEIGHT_SCALE,
    zmin: 0,
    zmax: state.fit && !hidden ? maxOf(drawn) || 1 : 1,
    colorbar: { title: colorbarTitle("weight", "weight"), thickness: 14 },
  };
  const shown = { z, w: norms ? matrixOf(data, state.head) : z, norms, hidden, blank };
  if (norms && !hidden) Object.assign(trace, state.measure.trace(data.custom, shown.w, norms.label));
  const sx = tickStep(Tk), sy = tickStep(Tq);
  const xt = range(Tk).filter((j) => j % sx === 0), yt = range(Tq).filter((i) => i % sy === 0);
  // the top margin holds the title, the x title and the key labels at -45° (cut at 14 characters)
  const fs = plotFont(12).size, tfs = plotFont(16).size, maxK = Math.min(14, Math.max(1, ...xt.map((j) => k[j].length)));
  const l = Math.round(fs * (3.7 + 0.62 * Math.min(22, Math.max(1, ...yt.map((i) => q[i].length)))));
  // key labels at -45° while a column is wide enough to keep them apart (a phone's narrow figure: upright, -90°)
  const cell = (($("heatmap").clientWidth || 640) - l - 20 - 90) / xt.length, steep = cell < 1.25 * fs;
  const t = Math.round((steep ? 1 : 0.71) * fs * (0.62 * maxK + 1) + 1.6 * fs + tfs + 16);
  const ytitle = res.query_predicts ? "query → the word it predicts" : "query (attending)";
  // a small heatmap keeps readable rows (28 px presenting, 18 otherwise, for up to 12 rows), and room
  // under them for the y title, which is centred on the rows
  const rows = (presenting() ? 28 : 18) * Math.min(Tq, 12), b = Math.max(20, Math.round(0.3 * fs * ytitle.length - rows / 2 + 6));
  let size = Math.max(320, Math.min(760, 28 * Math.max(Tq, Tk) + 160), Math.min(760, t + b + rows));
  if (presenting()) { // on a projector: fit the screen under the figure's top, as long as every label keeps its row
    const room = window.innerHeight - ($("heatmap").getBoundingClientRect().top + window.scrollY) - 12;
    size = Math.max(Math.min(size, room), t + b + Math.max(rows, Math.ceil(fs * 1.25) * yt.length));
  }
  const layout = {
    title: { text: `${esc(res.model)} · ${res.block} · layer ${res.layer + 1} · ${mean ? `mean of ${H} heads` : `head ${h + 1}`}${norms ? ` · ${norms.label}` : ""}`,
      font: { size: tfs }, x: 0, xanchor: "left", y: 1, yanchor: "top", pad: { t: 6 } },
    xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => k[j]), xt.map((j) => res.key_special[j])), side: "top", tickangle: steep ? -90 : -45,
      title: { text: "key (attended to)" }, automargin: false },
    yaxis: { tickvals: yt, ticktext: tickLabels(yt.map((i) => q[i]), yt.map((i) => res.query_special[i]), 22), autorange: "reversed",
      title: { text: ytitle }, automargin: false },
    height: size,
    shapes: state.quiz.on ? [{ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: Tk - 0.5,
      y0: state.quiz.query - 0.5, y1: state.quiz.query + 0.5, line: { color: "#f59e0b", width: 3 } }] : [],
    ...(blank < 0 ? {} : { // the class question's row, drawn grey and labelled
      annotations: [{ text: "hidden until Reveal", x: (Tk - 1) / 2, y: blank, xref: "x", yref: "y", showarrow: false,
        font: { ...plotFont(12), color: "#1d2330" }, bgcolor: "#c9ced8" }] }),
    // margins from the longest label rather than automargin, which lays the figure out a second
    // time (tick labels are cut at 14 characters on top, 22 on the left)
    margin: { t, l, r: 20, b },
    paper_bgcolor: "rgba(0,0,0,0)",
    font: plotFont(12),
  };
  highlightHead(h, data);
  $("heatmap").querySelector(".attn-preview")?.remove(); // a cold load's canvas preview: the real figure now
  $("heatmap").style.height = `${size}px`; // a fixed box: Plotly's responsive resize keeps it
  Plotly.react("heatmap", [trace], layout, { ...CONFIG, toImageButtonOptions: {
    ...CONFIG.toImageButtonOptions, filename: `attnscope_${res.model}_${res.block}_L${res.layer + 1}_${mean ? "mean" : `H${h + 1}`}` } });
  // rows of ordinary query tokens (not [CLS] / [SEP], which sink onto themselves by construction)
  const ordinary = z.filter((_, i) => (!res.query_special[i] || z.length === 1) && i !== blank);
  sinkNote($("attn-sink-note"), hidden || norms ? [] : (ordinary.length ? ordinary : z), k); // the note is about weights
  $("heatmap").setAttribute("aria-label",
    `Attention heatmap of ${mean ? "the mean of the heads" : `head ${h + 1}`}, layer ${res.layer + 1}: ${Tq} query tokens by ${Tk} key tokens`);
  return shown;
}

/** Outline head `h` (-1: none) in the small multiples. */
export function highlightHead(h, data) {
  const el = $("heads");
  if (!el.data || !data) return;
  if (h < 0) { Plotly.relayout(el, { shapes: [] }); return; }
  const ax = h === 0 ? "" : String(h + 1);
  Plotly.relayout(el, { shapes: [{ type: "rect", xref: `x${ax} domain`, yref: `y${ax} domain`,
    x0: -0.04, x1: 1.04, y0: -0.04, y1: 1.04, line: { color: "#f59e0b", width: 3 } }] });
}

/** Every head of the layer; a class question's head is hidden until Reveal (all of them for the heads' mean). */
export function renderGrid(state, data) {
  const { res, H } = data, heads = (data.norms || data).heads;
  const cols = H <= 4 ? H : H % 4 === 0 && H > 9 ? 4 : Math.ceil(Math.sqrt(H));
  const rows = Math.ceil(H / cols);
  const ask = state.ask;
  const hide = (h) => ask !== null && ask.layer === res.layer && (ask.head === "mean" || Number(ask.head) === h);
  const traces = heads.map((z, h) => ({
    type: "heatmap", z: hide(h) ? z.map((row) => row.map(() => null)) : downsample(z), hoverongaps: false, colorscale: WEIGHT_SCALE,
    zmin: 0, zmax: state.fit ? maxOf(z) || 1 : 1, showscale: false,
    xaxis: `x${h + 1}`, yaxis: `y${h + 1}`,
    hovertemplate: `head ${h + 1}<extra></extra>`,
  }));
  const layout = {
    grid: { rows, columns: cols, pattern: "independent", xgap: 0.08, ygap: 0.12 },
    height: 150 * rows + 40,
    margin: { t: 30, l: 10, r: 10, b: 10 },
    paper_bgcolor: "rgba(0,0,0,0)",
    font: plotFont(11),
    annotations: [],
  };
  for (let h = 0; h < H; h++) {
    const ax = h === 0 ? "" : String(h + 1);
    layout[`xaxis${ax}`] = { showticklabels: false, ticks: "", showgrid: false, zeroline: false };
    layout[`yaxis${ax}`] = { showticklabels: false, ticks: "", showgrid: false, zeroline: false, autorange: "reversed" };
    layout.annotations.push({ text: `H${h + 1}`, xref: `x${ax} domain`, yref: `y${ax} domain`, x: 0.5, y: 1.0,
      yanchor: "bottom", showarrow: false, font: { size: 11 } });
    if (hide(h)) layout.annotations.push({ text: "hidden until<br>Reveal", xref: `x${ax} domain`, yref: `y${ax} domain`,
      x: 0.5, y: 0.5, showarrow: false, font: { size: 11, color: "#1d2330" }, bgcolor: "#c9ced8" });
  }
  const el = $("heads");
  el.style.height = `${layout.height}px`;
  const sel = Number(state.head), sax = sel === 0 ? "" : String(sel + 1);
  layout.shapes = Number.isNaN(sel) ? [] : [{ type: "rect", xref: `x${sax} domain`, yref: `y${sax} domain`,
    x0: -0.04, x1: 1.04, y0: -0.04, y1: 1.04, line: { color: "#f59e0b", width: 3 } }];
  Plotly.react(el, traces, layout, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions,
    filename: `attnscope_${res.model}_${res.block}_L${res.layer + 1}_all_heads` } });
}

/** The view's status line (busy: a spinner, and the page marked aria-busy). */
export function setStatus(text, busy = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("busy", busy);
  document.body.toggleAttribute("aria-busy", busy);
}

/** The view's error line (empty: hidden). */
export function setError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = !text;
}
