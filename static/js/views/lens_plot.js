// The logit lens figure as a function of a POST /api/lens answer: one heatmap, layers as rows (the embeddings
// at the bottom, the last layer at the top), positions as columns, each cell labelled with its top-1 token and
// coloured by its probability (or by the rank of the model's final prediction, log scale). No DOM state here.
import { SCALE, esc, plotFont } from "../plot.js";

/** Cells smaller than this (px, either side) get no label: the hover has the tokens. */
export const MIN_CELL = 14;
const LABEL_CHARS = 8; // about six; eight where the cell has room ("␣capital")
const RANK_TICKS = [0, 1, 10, 100, 1000, 10000, 100000, 1000000];

/** A token as shown: a space as ␣ (also the tokenizers' own Ġ / ▁ markers), newlines and tabs visible. */
export function display(t) {
  const s = String(t).replace(/^[Ġ▁]/, " ").replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
  return s || "∅";
}

/** `s` cut to `n` characters (the last one an ellipsis when cut). */
export function cut(s, n) {
  const chars = [...s];
  return chars.length > n ? chars.slice(0, Math.max(1, n - 1)).join("") + "…" : s;
}

/** The input token at each column. */
export function columnTokens(res) {
  return res.positions.map((p) => res.tokens[p] ?? "");
}

/** What a row is, in words. */
export function rowName(layer) {
  return layer === "emb" ? "emb (the embeddings: the first block's input)" : `layer ${layer} (after block ${layer})`;
}

/** The label size for cells of `w` x `h` px at the figure's base font `base`: {size, chars}, or null (too small). */
export function labelFit(w, h, base) {
  if (w < MIN_CELL || h < MIN_CELL) return null;
  let size = Math.min(h * 0.7, base);
  let chars = Math.min(LABEL_CHARS, Math.floor((w - 4) / (size * 0.62)));
  if (chars < 3) {
    size = Math.max(8, (w - 4) / (3 * 0.62));
    chars = Math.floor((w - 4) / (size * 0.62));
  }
  return chars >= 3 ? { size: Math.floor(size), chars } : null; // "␣…" says nothing: leave it to the hover
}

/** The highest rank tick needed (a power of ten at least 10) for the rank colouring. */
function rankTop(res) {
  const max = Math.max(0, ...res.final_rank.flat());
  return RANK_TICKS.find((t) => t >= 10 && t > max) ?? RANK_TICKS[RANK_TICKS.length - 1];
}

function short(n) {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
}

/** The sentence under the figure that says what the colour is. */
export function scaleNote(res, mode, labelled) {
  const rows = "Rows: layers, emb at the bottom, the last layer at the top; columns: input tokens. ";
  const colour = mode === "rank"
    ? `Colour: rank of the final prediction at that layer, log scale, from 0 (it is that layer's top token, bright) to ` +
      `${short(rankTop(res))} (dark). `
    : "Colour: probability of the top token, 0–1 (one fixed scale). ";
  const labels = labelled ? "Each cell: its top-1 token (␣ = a space); hover for the top " + res.top[0][0].length + "."
    : "Cells too small to label: hover for tokens.";
  return rows + colour + labels;
}

function hoverText(res, r, c, inputs) {
  const cell = res.top[r][c];
  const lines = cell.map((t, i) => `${i + 1}. ${esc(display(t.token))}  ${t.prob.toFixed(4)}`);
  const fin = esc(display(res.final_tokens[c]));
  return `<b>${esc(rowName(res.layers[r]))}</b><br>position ${res.positions[c]}: after “${esc(display(inputs[c]))}”<br>` +
    `top ${cell.length}:<br>${lines.join("<br>")}<br>` +
    `final prediction “${fin}”: rank ${res.final_rank[r][c]}, p = ${res.final_prob[r][c].toFixed(4)}`;
}

/** Every `step`-th tick of n, always including the last. */
function ticks(n, step) {
  const v = [];
  for (let i = 0; i < n; i += step) v.push(i);
  if (v[v.length - 1] !== n - 1) v.push(n - 1);
  return v;
}

/**
 * The Plotly figure for `res`: {data, layout, labelled}.
 * `mode`: "prob" | "rank"; `width`, `height`: the figure's size in px.
 */
export function figure(res, mode, width, height) {
  const R = res.layers.length, C = res.positions.length;
  const font = plotFont(12), inputs = columnTokens(res);
  // the input tokens along the top (next to the last layers, and above the fold on a laptop), emb at the bottom
  const margin = { t: Math.round(font.size * 4.5), r: 10, l: Math.round(font.size * 4.2), b: 8 };
  const cellW = (width - margin.l - margin.r - font.size * 6) / C; // the colour bar takes ~6 em
  const cellH = (height - margin.t - margin.b) / R;
  const fit = labelFit(cellW, cellH, Math.round(font.size * 1.05));
  const z = [], text = [], hover = [], custom = [];
  for (let r = 0; r < R; r++) {
    z.push([]); text.push([]); hover.push([]); custom.push([]);
    for (let c = 0; c < C; c++) {
      const top = res.top[r][c][0], rank = res.final_rank[r][c];
      z[r].push(mode === "rank" ? Math.log10(1 + rank) : top.prob);
      text[r].push(fit ? esc(cut(display(top.token), fit.chars)) : "");
      hover[r].push(hoverText(res, r, c, inputs));
      custom[r].push([top.token, top.prob, rank, res.final_prob[r][c]]);
    }
  }
  const top = rankTop(res);
  const rankTicks = RANK_TICKS.filter((t) => t <= top);
  const colorbar = mode === "rank"
    ? { title: { text: "rank · log scale", side: "right" }, tickvals: rankTicks.map((t) => Math.log10(1 + t)), ticktext: rankTicks.map(short),
      thickness: 14 }
    : { title: { text: "p(top-1) · linear", side: "right" }, tickvals: [0, 0.25, 0.5, 0.75, 1], thickness: 14 };
  const trace = {
    type: "heatmap", z, text, hovertext: hover, customdata: custom, x: [...Array(C).keys()], y: [...Array(R).keys()],
    colorscale: SCALE, reversescale: mode === "rank", zmin: 0, zmax: mode === "rank" ? Math.log10(1 + top) : 1,
    xgap: 1, ygap: 1, colorbar, hovertemplate: "%{hovertext}<extra></extra>",
    texttemplate: fit ? "%{text}" : "", textfont: { size: fit ? fit.size : 10 },
  };
  const yStep = Math.max(1, Math.ceil((font.size + 2) / Math.max(cellH, 1)));
  const yt = ticks(R, yStep);
  const xStep = Math.max(1, Math.ceil(font.size * 1.4 / Math.max(cellW, 1)));
  const xt = ticks(C, xStep);
  const rotated = cellW * xStep < font.size * 5;
  const tickChars = rotated ? 10 : Math.max(4, Math.min(12, Math.floor(cellW * xStep / (font.size * 0.7))));
  const layout = {
    font, height, margin, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { side: "top", tickfont: { size: Math.round(font.size * 1.15) }, tickvals: xt, ticktext: xt.map((c) => esc(cut(display(inputs[c]), tickChars))), tickangle: rotated ? -50 : 0,
      title: { text: "input token (the cell predicts the next one)", standoff: 6 }, automargin: true, showgrid: false,
      zeroline: false, fixedrange: true },
    yaxis: { tickvals: yt, ticktext: yt.map((r) => res.layers[r]), title: { text: "layer", standoff: 4 },
      automargin: true, showgrid: false, zeroline: false, fixedrange: true },
    hoverlabel: { align: "left", font: { size: Math.max(12, Math.round(font.size * 0.95)) } },
  };
  return { data: [trace], layout, labelled: Boolean(fit) };
}

/** The CSV export: one row per cell, layer,position,token,rank1_token,prob. */
export function lensCsv(res) {
  const q = (v) => { const s = String(v); return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  const lines = ["layer,position,token,rank1_token,prob"];
  res.layers.forEach((layer, r) => res.positions.forEach((p, c) => {
    const t = res.top[r][c][0];
    lines.push([layer, p, res.tokens[p], t.token, +t.prob.toFixed(6)].map(q).join(","));
  }));
  return lines.join("\n") + "\n";
}

/** The line naming the final prediction after the last input token, and the layer where it settles on top. */
export function finalLine(res) {
  const c = res.positions.length - 1;
  const last = res.layers.length - 1;
  const after = res.tokens[res.positions[c]];
  const prob = res.final_prob[last][c];
  let settled = last;
  while (settled > 0 && res.final_rank[settled - 1][c] === 0) settled--;
  const where = settled === last ? "it becomes the top token only at the last layer"
    : `it is the top token from ${settled === 0 ? "the embeddings" : `layer ${res.layers[settled]}`} on`;
  return `After “${after}” the model predicts “${res.final_tokens[c]}” (${prob.toFixed(2)}): ${where}.`;
}
