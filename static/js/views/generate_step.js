// The generate view's step panels: the text so far with one chip per token and the step scrubber, and the
// attention of the query that produced the current step's token (one row per layer; #gen-step-attn).
import { matrixCsv } from "../export.js";
import { WEIGHT_SCALE, colorbarTitle, esc, plotFont, tickLabels, tickStep } from "../plot.js";
import { sinkNote } from "../sink.js";
import { range } from "../ui.js";
import { $, fmt, plotConfig, shown } from "./generate_common.js";

/**
 * The prompt and the output, a chip per generated token (button.gen-token[data-step]; the current one
 * aria-current="step") and the scrubber, for `run` ({head, steps}) at step `state.step`.
 */
export function renderOutput(state, run) {
  const steps = run?.steps || [];
  $("gen-output-prompt").textContent = run?.head?.prompt ?? $("gen-text").value;
  $("gen-output-prompt").classList.toggle("gen-source", run?.head?.kind === "encoder-decoder");
  $("gen-output-new").textContent = steps.length ? steps[steps.length - 1].text : "";
  const chips = $("gen-tokens");
  while (chips.children.length > steps.length) chips.lastChild.remove();
  for (let i = chips.children.length; i < steps.length; i++) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip gen-token";
    b.dataset.step = String(i);
    b.textContent = shown(steps[i].token);
    b.title = `step ${i + 1}: p = ${steps[i].prob.toFixed(3)}`;
    chips.append(b);
  }
  for (const b of chips.children) {
    if (Number(b.dataset.step) === state.step) b.setAttribute("aria-current", "step");
    else b.removeAttribute("aria-current");
  }
  const scrub = $("gen-step");
  scrub.disabled = steps.length < 2;
  scrub.max = String(Math.max(0, steps.length - 1));
  scrub.value = String(state.step);
  const s = steps[state.step];
  $("gen-step-label").textContent = s
    ? `Step ${state.step + 1} of ${steps.length}: “${shown(s.token)}”, p = ${fmt(s.prob)}` +
      (Math.abs(s.prob_sampled - s.prob) > 5e-4 ? ` (${fmt(s.prob_sampled)} after temperature / top-k / top-p)` : "")
    : state.streaming ? "Waiting for the first token…" : "Generate to see each step.";
}

/** The status line after a run: the model, the strategy (and seed), how many tokens and why it ended. */
export function runSummary(run) {
  const n = run.steps.length, h = run.head;
  if (!h) return "";
  const tokens = `${n} token${n === 1 ? "" : "s"}`;
  const seed = h.seed !== null && h.seed !== undefined ? ` · seed ${h.seed}` : "";
  const why = run.stopped ? `Stopped after ${tokens}` : run.error ? `Failed after ${tokens}`
    : run.done?.finished ? `${tokens}, ended with the end-of-sequence token` : tokens;
  return `${h.model} · ${h.strategy}${seed} · ${why}.`;
}

/** Key tokens of step i: what its query could see. */
function stepKeys(run, i, kind) {
  const h = run.head;
  const out = run.steps.slice(0, i).map((x) => x.token);
  if (h.kind === "encoder-decoder") return kind === "cross" ? h.prompt_tokens : ["<s>", ...out];
  return [...h.prompt_tokens, ...out];
}

/** (layers x keys) rows of step s: head `hv`, or the mean of the heads. */
function stepMatrix(s, kind, hv) {
  const [L, H, p] = kind === "cross" ? s.cross_shape : s.shape;
  const flat = kind === "cross" ? s.cross : s.att;
  const rows = [];
  for (let l = 0; l < L; l++) {
    if (hv === "mean") {
      const row = new Array(p).fill(0);
      for (let h = 0; h < H; h++) for (let j = 0; j < p; j++) row[j] += flat[(l * H + h) * p + j] / H;
      rows.push(row);
    } else {
      rows.push(Array.from(flat.subarray((l * H + Number(hv)) * p, (l * H + Number(hv) + 1) * p)));
    }
  }
  return rows;
}

/**
 * #gen-step-attn: the attention of step `state.step` of `run` (self-attention, or for the textbook model the
 * kind #gen-attn-kind says), for the head #gen-step-head says. Returns what it drew, for the export.
 */
export function renderStepAttention(state, run) {
  const s = run?.steps[state.step];
  if (!s) return null;
  const kind = run.head.kind === "encoder-decoder" ? $("gen-attn-kind").value : "self";
  const hv = $("gen-step-head").value;
  const z = stepMatrix(s, kind, hv);
  const cols = stepKeys(run, state.step, kind).map(shown);
  const L = z.length, p = cols.length;
  const who = hv === "mean" ? "mean of the heads" : `head ${Number(hv) + 1}`;
  let zmax = 1;
  if ($("gen-fit").checked && p > 1) zmax = Math.max(1e-6, ...z.map((r) => Math.max(...r.slice(1))));
  const step = tickStep(p, 40);
  const xt = range(p).filter((j) => j % step === 0);
  const yt = range(L).filter((l) => l % tickStep(L, 16) === 0);
  const custom = z.map((r, l) => r.map((_, j) => `L${l + 1} → ${esc(cols[j])}`));
  const title = kind === "cross"
    ? `Step ${state.step + 1}: “${shown(s.token)}” — cross-attention over the source (${who})`
    : `Step ${state.step + 1}: which earlier tokens produced “${shown(s.token)}” (${who})`;
  Plotly.react($("gen-step-attn"), [{
    type: "heatmap", z, x: range(p), y: range(L), colorscale: WEIGHT_SCALE, zmin: 0, zmax, customdata: custom,
    xgap: p <= 40 ? 1 : 0, ygap: L <= 40 ? 1 : 0,
    colorbar: { thickness: 12, outlinewidth: 0, title: colorbarTitle("weight", "weight") },
    hovertemplate: "%{customdata}: %{z:.3f}<extra></extra>",
  }], {
    title: { text: esc(title), font: plotFont(15), x: 0, xanchor: "left" },
    font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    height: Math.max(320, Math.min(620, 15 * L + 150)), margin: { t: 44, b: 10, l: 10, r: 10 },
    xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => cols[j])), tickangle: p > 6 ? -45 : 0, automargin: true,
      title: { text: kind === "cross" ? "source token" : "earlier token (key)" }, showgrid: false, zeroline: false },
    yaxis: { tickvals: yt, ticktext: yt.map((l) => `L${l + 1}`), autorange: "reversed",
      automargin: true, title: { text: "layer" }, showgrid: false, zeroline: false },
  }, plotConfig("gen_step_attention"));
  sinkNote($("gen-sink-note"), kind === "cross" ? [] : z, cols);
  return { z, cols, rows: range(L).map((l) => `layer ${l + 1}`), kind, head: hv };
}

/** The export of #gen-step-attn: `drawn`, what renderStepAttention returned. */
export function stepExport(state, drawn) {
  const run = state.run;
  if (!drawn || !run) return null;
  const d = drawn;
  const name = `attnscope_${run.head.model}_step${state.step + 1}_${d.kind}_${d.head === "mean" ? "mean" : `H${Number(d.head) + 1}`}`;
  return { name, csv: matrixCsv(d.rows, d.cols, d.z),
    json: { model: run.head.model, step: state.step, token: run.steps[state.step].token, attention: d.kind,
      head: d.head, layers: d.rows, key_tokens: d.cols, weights: d.z } };
}
