// Shared by the analysis views (model view, heads, compare): controls, token heatmaps, head colours.
import { modelSelect } from "./models.js";
import { fill, range } from "./ui.js";
import { sentenceMemory, switchSentence } from "./kernel/controls.js";

import { CONFIG, SCALE, colorbarTitle, esc, maxOf, meanOf, plotFont, plotTitle, tickLabels, tickStep } from "./plot.js";

export { fill, maxOf, meanOf, range };

export const DEFAULT_TEXT = "The animal didn't cross the street because it was too tired";
export const FRENCH_TEXT = "je suis étudiant";
const FRENCH = /^(je|le|la|il|elle|nous|vous|tu|ils|elles|les|un|une)\b/i;

/** Head statistics the API returns, in table order, with a one-line meaning each. */
export const STATS = [
  { id: "entropy", label: "Entropy", help: "−Σ w log w per query row, in nats (high = spread out)" },
  { id: "entropy_norm", label: "Entropy (0–1)", help: "entropy ÷ log(keys): 1 = uniform" },
  { id: "distance", label: "Distance", help: "mean |query − key| in tokens, weighted" },
  { id: "self", label: "Self", help: "weight on the query token itself" },
  { id: "previous", label: "Previous", help: "weight on the token just before" },
  { id: "next", label: "Next", help: "weight on the token just after" },
  { id: "first", label: "First", help: "weight on the first token ([CLS], <s>, BOS)" },
  { id: "special", label: "Special", help: "weight on special tokens ([CLS], [SEP]...)" },
];

/** Twelve distinguishable colours (Tableau 10 + 2); heads beyond 12 cycle through hues. */
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f", "#17becf", "#bcbd22"];
export function headColour(h) {
  return h < PALETTE.length ? PALETTE[h] : `hsl(${(h * 47) % 360} 65% 45%)`;
}

export const $ = (id) => document.getElementById(id);


/** A model select: every configured model, failed ones disabled with the reason as a tooltip. */
/** The shared model selector (static/js/models.js): loading models listed, disabled, updated. */
export function fillModels(select, models) {
  modelSelect(select, models);
}

export function blockOptions(m) {
  const names = { encoder: m.kind === "encoder" ? "Self-attention" : "Encoder self-attention",
    decoder: "Decoder self-attention (causal)", cross: "Cross-attention (decoder → encoder)" };
  return m.blocks.map((b) => [b, names[b] || b]);
}

/** French for the textbook model, English for the others (the view's own defaults when given). */
/** And each model remembers its own sentence: leaving a model keeps the box's sentence for it, and coming back
 * to a model brings its sentence back (never a default in place of what the user typed). */
export function fitText(input, m, { english = DEFAULT_TEXT, french = FRENCH_TEXT } = {}) {
  if (!m) return;
  const from = input.dataset.model; // the model this box's sentence was typed for
  input.dataset.model = m.id;
  input.value = switchSentence(sentences, from, m.id, input.value, (_, text) => fits(m, text),
    () => (m.kind === "encoder-decoder" ? french : english));
}

/** Whether a sentence suits a model: French for the textbook model (its vocabulary), not French for the rest. */
export function fits(m, text) {
  return m.kind === "encoder-decoder" ? FRENCH.test(text) : !FRENCH.test(text);
}

/** Each model's own sentence, for this tab (static/js/kernel/controls.js). */
export const sentences = sentenceMemory(globalThis.sessionStorage || { getItem: () => null, setItem() {} });

/** Loads static/css/analysis.css once (also fine if index.html links it). */
/** Kept for the views that call it: index.html links every view stylesheet. */
export function ensureCss() {}

/** Status and error lines of a view: `${prefix}-status`, `${prefix}-error`. */
export function messages(prefix) {
  return {
    status(text, busy = false) {
      const el = $(`${prefix}-status`);
      el.textContent = text;
      el.classList.toggle("busy", busy);
    },
    error(text) {
      const el = $(`${prefix}-error`);
      el.textContent = text;
      el.hidden = !text;
    },
  };
}

/**
 * Give a responsive figure's container the figure's height: Plotly's resize (window resize, presentation
 * mode) relayouts with autosize, which drops layout.height and reads the container's instead.
 */
export function fixHeight(div, height) {
  const el = typeof div === "string" ? $(div) : div;
  el.style.height = `${Math.round(height)}px`;
}

/**
 * Draw a token x token heatmap into `div`.
 * opts: {title, zmin, zmax, colorscale, showscale, colorbarTitle, hoverLabel, filename, height}
 */
export function tokenHeatmap(div, z, q, k, qSpecial, kSpecial, opts = {}) {
  const Tq = q.length, Tk = k.length;
  const custom = range(Tq).map((i) => range(Tk).map((j) => [esc(q[i]), esc(k[j])]));
  const sx = tickStep(Tk, 40), sy = tickStep(Tq, 40);
  const xt = range(Tk).filter((j) => j % sx === 0), yt = range(Tq).filter((i) => i % sy === 0);
  const trace = {
    type: "heatmap", z, x: range(Tk), y: range(Tq), customdata: custom,
    hovertemplate: `%{customdata[0]} → %{customdata[1]}<br>${opts.hoverLabel || "weight"} %{z:.3f}<extra></extra>`,
    colorscale: opts.colorscale || SCALE, zmin: opts.zmin ?? 0, zmax: opts.zmax ?? 1,
    showscale: opts.showscale ?? true,
    colorbar: { title: colorbarTitle(opts.colorbarTitle || "weight"), thickness: 12 },
  };
  const layout = {
    title: plotTitle(opts.title || "", 15),
    xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => k[j]), xt.map((j) => kSpecial?.[j])), side: "top",
      tickangle: -45, automargin: true },
    yaxis: { tickvals: yt, ticktext: tickLabels(yt.map((i) => q[i]), yt.map((i) => qSpecial?.[i])),
      autorange: "reversed", automargin: true },
    height: opts.height || Math.max(300, Math.min(620, 24 * Math.max(Tq, Tk) + 150)),
    margin: { t: 110, l: 10, r: 10, b: 10 },
    paper_bgcolor: "rgba(0,0,0,0)",
    font: plotFont(12),
  };
  fixHeight(div, layout.height);
  return Plotly.react(div, [trace], layout, { ...CONFIG, toImageButtonOptions: {
    ...CONFIG.toImageButtonOptions, filename: opts.filename || "attnscope" } });
}

/**
 * Draw a layers x heads grid (one cell per head) into `div`; `z[l][h]` may hold null.
 * opts: {title, colorscale, zmin, zmax, zmid, text (labels per cell), hoverValue, cursor: [l, h], filename}
 */
export function headGrid(div, z, opts = {}) {
  const L = z.length, H = z[0]?.length || 0;
  const text = (opts.text || z.map((row) => row.map(() => ""))).map((row) => row.map((t) => esc(t)));
  const trace = {
    type: "heatmap", z, x: range(H), y: range(L), text, xgap: 2, ygap: 2,
    colorscale: opts.colorscale || SCALE, zmin: opts.zmin, zmax: opts.zmax, zmid: opts.zmid,
    colorbar: { thickness: 12, title: colorbarTitle(opts.colorbarTitle || "") },
    hoverongaps: false,
  };
  trace.customdata = z.map((row, l) => row.map((_, h) => [l + 1, h + 1]));
  trace.hovertemplate = `layer %{customdata[0]} · head %{customdata[1]}<br>${opts.hoverValue || "value"} %{z:.3f}`
    + "<br>%{text}<extra></extra>";
  const cell = Math.max(18, Math.min(44, 620 / Math.max(H, 1)));
  const shapes = opts.cursor ? [{ type: "rect", xref: "x", yref: "y", x0: opts.cursor[1] - 0.5, x1: opts.cursor[1] + 0.5,
    y0: opts.cursor[0] - 0.5, y1: opts.cursor[0] + 0.5, line: { color: "#f59e0b", width: 3 } }] : [];
  const layout = {
    title: plotTitle(opts.title || "", 15),
    xaxis: { tickvals: range(H), ticktext: range(H).map((h) => `H${h + 1}`), side: "top", showgrid: false,
      zeroline: false, tickfont: { size: H > 16 ? 9 : 12 } },
    yaxis: { tickvals: range(L), ticktext: range(L).map((l) => `L${l + 1}`), autorange: "reversed",
      showgrid: false, zeroline: false, tickfont: { size: L > 16 ? 9 : 12 } },
    height: Math.max(220, Math.min(1100, cell * L + 120)),
    margin: { t: 70, l: 50, r: 10, b: 10 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: plotFont(12),
    shapes,
  };
  fixHeight(div, layout.height);
  return Plotly.react(div, [trace], layout, { ...CONFIG, toImageButtonOptions: {
    ...CONFIG.toImageButtonOptions, filename: opts.filename || "attnscope_heads" } });
}

/** CSV of a layers x heads table of numbers (null -> empty). */
export function gridCsv(z) {
  const H = z[0]?.length || 0;
  const lines = [["layer", ...range(H).map((h) => `head ${h + 1}`)].join(",")];
  z.forEach((row, l) => lines.push([l + 1, ...row.map((v) => (v === null || v === undefined ? "" : +v.toFixed(6)))].join(",")));
  return lines.join("\n") + "\n";
}
