// The lesson's figures and words, as functions of its API answers: the attention row of "it" (step 1), weight
// beside norm share (step 2), and the next-token distribution before and after the knockout (step 4). Every
// number on screen is read from the answer passed in.
import { CONFIG, esc, plotFont } from "../plot.js";
import { range } from "../ui.js";
import { tok } from "./effects_grid.js";

const C = { other: "#8f9bb3", animal: "#e08a2c", street: "#3b4cca", norm: "#21918c", weight: "#8f9bb3" };
const word = (t) => String(t).trim().toLowerCase();

/** The first token whose text is `w` (case first exact, then any case), or -1. */
export function findToken(tokens, w) {
  const exact = tokens.findIndex((t) => String(t).trim() === w);
  return exact >= 0 ? exact : tokens.findIndex((t) => word(t) === w.toLowerCase());
}

const num = (v) => v.toFixed(3);
/** A token quoted in prose (its leading space dropped). */
export const q = (t) => `‘${tok(t).trim()}’`;

function colours(keys, a, s) {
  return keys.map((_, j) => (j === a ? C.animal : j === s ? C.street : C.other));
}

function baseLayout(height, extra = {}) {
  return { height, font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    margin: { t: 16, l: 56, r: 10, b: 70 }, bargap: 0.18, ...extra };
}

function react(div, data, layout, name) {
  div.style.height = `${layout.height}px`;
  Plotly.react(div, data, layout, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
}

/** The keys "it" can see (0..i) as x ticks: position and token. */
function keyAxis(keys) {
  return { tickvals: range(keys.length), ticktext: keys.map((t) => esc(tok(t))), tickangle: -40, title: { text: "key token" },
    fixedrange: true };
}

/** Step 1: the row of "it" in one head, over the tokens it can see. ctx: {keys, row, i, a, s, layer, head}. */
export function drawWeights(div, ctx, height) {
  const { keys, row, a, s } = ctx;
  react(div, [{ type: "bar", name: "weight α", x: range(keys.length), y: row, marker: { color: colours(keys, a, s) },
    customdata: keys.map((t) => esc(tok(t))), hovertemplate: "%{customdata}: weight %{y:.4f}<extra></extra>" }],
  baseLayout(height, { xaxis: keyAxis(keys), yaxis: { title: { text: "attention weight α" }, rangemode: "tozero", fixedrange: true } }),
  `attnscope_lesson_weight_L${ctx.layer}_H${ctx.head}`);
}

/** Step 2: the weight and the norm share side by side. ctx adds {norm}. */
export function drawNorms(div, ctx, height) {
  const { keys, row, norm } = ctx;
  const hover = (what) => `%{customdata}: ${what} %{y:.4f}<extra></extra>`;
  const cd = keys.map((t) => esc(tok(t)));
  react(div, [
    { type: "bar", name: "weight α", x: range(keys.length), y: row, marker: { color: C.weight }, customdata: cd, hovertemplate: hover("weight") },
    { type: "bar", name: "norm share ‖α·f(x)‖ / row sum", x: range(keys.length), y: norm, marker: { color: C.norm }, customdata: cd,
      hovertemplate: hover("norm share") },
  ], baseLayout(height, { barmode: "group", xaxis: keyAxis(keys), legend: { orientation: "h", y: 1.08, x: 0 },
    margin: { t: 36, l: 56, r: 10, b: 70 }, yaxis: { title: { text: "share of the row" }, rangemode: "tozero", fixedrange: true } }),
  `attnscope_lesson_norm_L${ctx.layer}_H${ctx.head}`);
}

/** Step 4: the top next tokens before and after, as two bar charts. */
export function drawKnockout(div, ko, height) {
  const side = (list, ax, name, colour) => ({ type: "bar", orientation: "h", name, xaxis: ax.x, yaxis: ax.y,
    x: list.map((t) => t.prob), y: list.map((_, k) => k), customdata: list.map((t) => esc(tok(t.token))),
    marker: { color: list.map((t) => (t.id === ko.top_token.id ? C.animal : colour)) },
    hovertemplate: `%{customdata}: p %{x:.4f}<extra>${name}</extra>` });
  const yax = (list) => ({ tickvals: range(list.length), ticktext: list.map((t) => esc(tok(t.token))), autorange: "reversed",
    fixedrange: true, automargin: true });
  const max = Math.max(...ko.before.map((t) => t.prob), ...ko.after.map((t) => t.prob));
  react(div, [side(ko.before, { x: "x", y: "y" }, "before", C.other), side(ko.after, { x: "x2", y: "y2" }, "after", C.street)],
    baseLayout(height, { showlegend: false, grid: { rows: 1, columns: 2, pattern: "independent" }, margin: { t: 40, l: 80, r: 10, b: 40 },
      xaxis: { domain: [0, 0.44], range: [0, max * 1.05], title: { text: "p before" }, fixedrange: true },
      xaxis2: { domain: [0.56, 1], range: [0, max * 1.05], title: { text: "p after the knockout" }, fixedrange: true },
      yaxis: yax(ko.before), yaxis2: { ...yax(ko.after), anchor: "x2" },
      annotations: [["before", 0.22], ["after blocking ‘it’ → ‘animal’", 0.78]].map(([t, x]) => ({ text: esc(t), x, y: 1.02,
        xref: "paper", yref: "paper", showarrow: false, yanchor: "bottom", font: plotFont(13) })) }),
    "attnscope_lesson_knockout");
}

/** What each step shows and does not show; the data-driven sentences use the step's answer. */
export function captions(step, ctx) {
  const { keys, a, i } = ctx;
  const it = i >= 0 ? q(keys?.[i] ?? " it") : "‘it’";
  if (step === 1) {
    return {
      shows: `Where layer ${ctx.layer} · head ${ctx.head}'s query at ${it} looks: the softmax weights α over the tokens it can see. `
        + "A decoder's ‘it’ sees only the tokens before it, so ‘tired’ and ‘wide’ cannot change this row.",
      not: "What the head moves from each token, or whether the prediction uses it: where the head looks, not what it moves.",
    };
  }
  if (step === 2) {
    const sink = ctx.norm && ctx.row[0] > ctx.norm[0]
      ? ` Here the first token ${q(keys[0])} gets weight ${num(ctx.row[0])} but sends only ${num(ctx.norm[0])} of the row's norm.` : "";
    return {
      shows: "‖α·f(x)‖ normalised: how much of the value vector each token sends into "
        + `${it} through this head (Kobayashi et al. 2020), beside the weight.${sink}`,
      not: "The effect on the prediction: what that vector does after W_O, the later layers and the MLPs is not in the norm.",
    };
  }
  if (step === 3) {
    return {
      shows: "How much copying this head's output from the ‘tired’ run into the ‘wide’ run restores the answer over the foil: "
        + "a causal effect, for this pair of prompts only.",
      not: "Why the head matters, or whether it does so for other sentences; heads that share a job can each look small.",
    };
  }
  return {
    shows: `What the prediction loses when ${it} cannot attend to ${a >= 0 ? q(keys[a]) : "‘animal’"} in any head of any layer `
      + "(the edge's score set to −∞ before the softmax).",
    not: "That this edge is where the meaning lives: the other weights renormalise, and other paths (the last token "
      + "reading ‘animal’ directly, the MLPs) can carry the same information.",
  };
}

/** The readout under a bar step: the weight (and norm share) on 'animal', 'street' and the first token. */
export function barReadout(ctx) {
  const { keys, row, norm, a, s, i } = ctx;
  const part = (j, name) => (j < 0 ? null : `${name ?? q(keys[j])} ${num(row[j])}${norm ? ` → norm share ${num(norm[j])}` : ""}`);
  const top = row.indexOf(Math.max(...row));
  const parts = [part(a), part(s), part(0, `first token ${q(keys[0])}`)];
  if (![a, s, 0].includes(top)) parts.push(part(top, `largest: ${q(keys[top])}`));
  return `${q(keys[i])} (position ${i}) → ` + parts.filter(Boolean).join(" · ");
}

/** The readout over step 4. */
export function knockoutReadout(ko) {
  const t = ko.top_token;
  const sign = t.change < 0 ? "\u2212" : "+";
  return `${q(t.token)} (the top next token): p ${t.prob_before.toFixed(4)} before → ${t.prob_after.toFixed(4)} after `
    + `(${sign}${Math.abs(t.change).toFixed(4)}) · KL(before ‖ after) ${ko.kl.toFixed(4)} nats · ${ko.blocked} edges blocked `
    + `in ${ko.layers.length} layers`;
}

/** The colour key of the bar steps. */
export function barKey(step) {
  return step === 2 ? "grey: the weight α · green: the norm share; the keys ‘it’ can see, left to right"
    : "orange: ‘animal’ · blue: ‘street’ · grey: the other tokens ‘it’ can see";
}

/** The two prompts, one per line, the words where they differ marked. */
export function sentencePair(clean, corrupt) {
  const a = clean.split(/(\s+)/), b = corrupt.split(/(\s+)/);
  const line = (label, words, other) => {
    const p = document.createElement("span");
    words.forEach((w, k) => {
      if (w !== other[k] && w.trim()) {
        const m = document.createElement("mark");
        m.className = "eff-word-diff";
        m.textContent = w;
        p.append(m);
      } else p.append(w);
    });
    const l = document.createElement("span");
    l.className = "eff-strip-label";
    l.textContent = label;
    return [l, p];
  };
  return [...line("clean", a, b), ...line("corrupt", b, a)];
}
