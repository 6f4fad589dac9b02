// The heads view's figures of one layer, as functions of its answer: the head view of lines (queries left, keys
// right, one colour a head), the layer's mean and the attention rollout up to it. Events are the view's (heads.js).
import { decodeWeights, matrix } from "../api.js";
import { $, headColour, meanOf, range, tokenHeatmap } from "../analysis.js";
import { matrixCsv } from "../export.js";
import { WEIGHT_SCALE, colorbarTitle, fontColor } from "../plot.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_LINES = 20000;
/** The colour bar title of attention weights (and rollout shares, also rows summing to 1): the √ scale said. */
const WEIGHT_TITLE = (text) => colorbarTitle(text, "weight").text;

/** The layer's answer, shaped for its figures: {att, H, Tq, Tk, heads: per-head matrices, roll}. */
export function layerData(att, roll) {
  const [H, Tq, Tk] = att.shape;
  const flat = decodeWeights(att);
  return { att, H, Tq, Tk, heads: range(H).map((h) => matrix(flat, h * Tq * Tk, Tq, Tk)), roll };
}

/**
 * Draw the layer's figures. `state`: {shownHeads: Set, selected: Set of query rows}; `layer`: layerData().
 */
export function render(state, layer) {
  renderHeadBoxes(state, layer);
  renderLines(state, layer);
  renderAggregates(layer);
}

/** One checkbox a head (its colour beside it), kept when the model and the count are the same. */
export function renderHeadBoxes(state, layer) {
  const box = $("hd-head-boxes");
  const { H } = layer;
  if (box.childElementCount === H && box.dataset.model === layer.att.model) {
    for (const input of box.querySelectorAll("input")) input.checked = state.shownHeads.has(Number(input.value));
    return;
  }
  box.dataset.model = layer.att.model;
  box.replaceChildren(...range(H).map((h) => {
    const label = document.createElement("label");
    label.className = "hd-head-box";
    label.style.setProperty("--head", headColour(h));
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = String(h);
    input.checked = state.shownHeads.has(h);
    label.append(input, `H${h + 1}`);
    return label;
  }));
}

/** The head view: a line from each query to each key above a small weight, its opacity the weight. */
export function renderLines(state, layer) {
  for (const input of $("hd-head-boxes").querySelectorAll("input")) input.checked = state.shownHeads.has(Number(input.value));
  const { att, heads, Tq, Tk } = layer;
  const n = Math.max(Tq, Tk);
  const row = n <= 24 ? 26 : n <= 64 ? 18 : Math.max(4, Math.min(12, 2400 / n));
  const font = n <= 24 ? 15 : n <= 64 ? 12 : 9;
  const every = Math.ceil(10 / row); // label every k-th token when rows get thinner than the type
  const scale = document.body.classList.contains("presenting") ? 1.4 : 1;
  const width = Math.min(760, Math.max(420, $("hd-lines").clientWidth || 700));
  const labelW = Math.round(140 * scale);
  const x1 = labelW + 8, x2 = width - labelW - 8;
  const top = 30;
  const height = top + n * row * scale + 10;
  const svg = el("svg", { width, height: Math.round(height), viewBox: `0 0 ${width} ${Math.round(height)}`, class: "hd-svg",
    "font-size": Math.round(font * scale), fill: fontColor() });
  const yq = (i) => top + (i + 0.5) * row * scale * (n / Tq);
  const yk = (j) => top + (j + 0.5) * row * scale * (n / Tk);
  const title = (x, text, anchor) => {
    const t = el("text", { x, y: 16, "text-anchor": anchor, class: "hd-col-title" });
    t.textContent = text;
    svg.append(t);
  };
  title(labelW, "query", "end");
  title(width - labelW, "key", "start");
  // every line above a small weight, at most MAX_LINES (the strongest) so long inputs stay responsive
  const threshold = Tq * Tk > 2000 ? 0.02 : 0.005;
  const shown = [...state.shownHeads].sort((a, b) => a - b);
  const picked = [];
  for (const h of shown) {
    const z = heads[h];
    for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) if (z[i][j] >= threshold) picked.push([z[i][j], h, i, j]);
  }
  if (picked.length > MAX_LINES) picked.sort((a, b) => b[0] - a[0]).length = MAX_LINES;
  $("hd-lines-note").textContent = picked.length === MAX_LINES
    ? `Long input: only the ${MAX_LINES.toLocaleString("en")} strongest lines are drawn.` : "";
  const lines = el("g", { class: "hd-lines-all" });
  const groups = new Map();
  for (const h of shown) {
    const g = el("g", { stroke: headColour(h), "stroke-width": 2 * scale });
    g.dataset.head = String(h);
    groups.set(h, g);
    lines.append(g);
  }
  for (const [w, h, i, j] of picked) {
    const line = el("line", { x1, y1: yq(i).toFixed(1), x2, y2: yk(j).toFixed(1), "stroke-opacity": w.toFixed(3) });
    line.dataset.q = String(i);
    line.dataset.k = String(j);
    groups.get(h).append(line);
  }
  svg.append(lines);
  const token = (text, x, y, anchor, side, index, special) => {
    const t = el("text", { x, y: y.toFixed(1), "text-anchor": anchor, "dominant-baseline": "middle",
      class: `hd-tok hd-${side}${special ? " hd-special" : ""}` });
    t.dataset.index = String(index);
    t.textContent = text.length > 18 ? text.slice(0, 17) + "…" : text;
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `${side === "q" ? "query" : "key"} ${index}: ${text}`;
    t.append(tip);
    svg.append(t);
  };
  att.query_tokens.forEach((t, i) => { if (i % every === 0) token(t, labelW, yq(i), "end", "q", i, att.query_special[i]); });
  att.key_tokens.forEach((t, j) => { if (j % every === 0) token(t, width - labelW, yk(j), "start", "k", j, att.key_special[j]); });
  $("hd-lines").replaceChildren(svg);
  applyFocus(state);
}

/** An SVG element with attributes. */
function el(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Show only the lines of the hovered token (`side` "q" or "k", `index`), else of the selected query tokens, else all. */
export function applyFocus(state, side = null, index = null) {
  const svg = $("hd-lines").querySelector("svg");
  if (!svg) return;
  for (const t of svg.querySelectorAll(".hd-q")) t.classList.toggle("hd-selected", state.selected.has(Number(t.dataset.index)));
  for (const t of svg.querySelectorAll(".hd-tok")) {
    t.classList.toggle("hd-hover", side !== null && t.classList.contains(`hd-${side}`) && Number(t.dataset.index) === index);
  }
  const keep = side === "q" ? (l) => Number(l.dataset.q) === index
    : side === "k" ? (l) => Number(l.dataset.k) === index
      : state.selected.size ? (l) => state.selected.has(Number(l.dataset.q)) : null;
  for (const l of svg.querySelectorAll("line")) l.style.display = !keep || keep(l) ? "" : "none";
}

/** Save the head view as an SVG file. */
export function downloadSvg(layer) {
  const svg = $("hd-lines").querySelector("svg");
  if (!svg || !layer) return;
  const clone = svg.cloneNode(true);
  clone.setAttribute("xmlns", SVG);
  clone.setAttribute("font-family", "system-ui, sans-serif");
  const { att } = layer;
  const a = document.createElement("a");
  const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(clone)], { type: "image/svg+xml" }));
  a.href = url;
  a.download = `attnscope_${att.model}_${att.block}_L${att.layer + 1}_lines.svg`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The export bar exportBar() put after a figure, or null. */
function barOf(fig) {
  const b = fig.nextElementSibling;
  return b && b.classList.contains("export-bar") ? b : null;
}

/** The layer's mean over its heads, and the rollout up to it (self-attention only: a note for cross-attention). */
export function renderAggregates(layer) {
  const { att, heads, roll } = layer;
  const L = att.layer;
  const mean = roll ? roll.mean : meanOf(heads);
  tokenHeatmap("hd-mean", mean, att.query_tokens, att.key_tokens, att.query_special, att.key_special, {
    title: `Mean of ${heads.length} heads · layer ${L + 1}`, colorscale: WEIGHT_SCALE, colorbarTitle: WEIGHT_TITLE("weight"),
    filename: `attnscope_${att.model}_${att.block}_L${L + 1}_mean` });
  const note = $("hd-rollout-note"), fig = $("hd-rollout"), bar = barOf(fig);
  if (roll) {
    note.hidden = true;
    fig.hidden = false;
    if (bar) bar.hidden = false;
    // rollout rows are shares of the input that sum to 1, like weights: the same √ scale
    tokenHeatmap("hd-rollout", roll.rollout, roll.tokens, roll.tokens, roll.special, roll.special, {
      title: `Rollout · layers 1–${L + 1}`, hoverLabel: "share", colorscale: WEIGHT_SCALE, colorbarTitle: WEIGHT_TITLE("share"),
      filename: `attnscope_${att.model}_${att.block}_L${L + 1}_rollout` });
  } else {
    fig.hidden = true;
    if (bar) bar.hidden = true;
    note.hidden = false;
    note.textContent = "Rollout needs self-attention: cross-attention maps decoder tokens to encoder tokens, "
      + "so its layers cannot be multiplied. Choose the encoder or decoder attention to see it.";
  }
}

/** What the mean or the rollout figure shows, for export (CSV, JSON, file names). */
export function aggExport(layer, kind) {
  if (!layer) return null;
  const { att, heads, roll } = layer;
  if (kind === "rollout" && !roll) return null;
  const z = kind === "rollout" ? roll.rollout : roll ? roll.mean : meanOf(heads);
  const q = kind === "rollout" ? roll.tokens : att.query_tokens, k = kind === "rollout" ? roll.tokens : att.key_tokens;
  return { name: `attnscope_${att.model}_${att.block}_L${att.layer + 1}_${kind}`, csv: matrixCsv(q, k, z),
    json: { model: att.model, text: att.text, block: att.block, layer: att.layer, kind, query_tokens: q, key_tokens: k, weights: z } };
}
