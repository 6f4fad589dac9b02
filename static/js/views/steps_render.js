// The step-by-step view's drawing: render(state, data) puts one step of one answer on the page (the navigation,
// the title, the formula and explanation with the model's numbers, figures a-c) and gives figure A's export.
import { fill } from "../ui.js";
import { tokenOption } from "../plot.js";
import { ATTENTION_STEPS } from "./steps_attention.js";
import { BLOCK_STEPS, blockTitle } from "./steps_block.js";
import { $, Figures, text } from "./steps_figures.js";

/** The fourteen steps: nine of attention (POST /api/steps), five of the rest of the block (POST /api/block-steps). */
export const STEPS = [
  { short: "x", title: "The input x" },
  { short: "q, k, v", title: "Query, keys and values" },
  { short: "q · k", title: "Dot products q · k" },
  { short: "÷ √d_k", title: "Scale by √d_k" },
  { short: "mask", title: "Mask" },
  { short: "softmax", title: "Softmax" },
  { short: "Σ w·v", title: "Weighted sum of the values" },
  { short: "concat", title: "Concatenate the heads" },
  { short: "W_O", title: "Output projection W_O" },
  { short: "x + out", title: "Add: the residual connection", block: true },
  { short: "norm", title: "Norm", block: true },
  { short: "FFN", title: "Feed-forward layer", block: true },
  { short: "block out", title: "The block's output", block: true },
  { short: "BN vs LN", title: "Batch norm vs layer norm", block: true },
];

/** Step `i` kept within 0 .. STEPS.length - 1. */
export function clampStep(i) { return Math.max(0, Math.min(STEPS.length - 1, i)); }

let tokensKey = ""; // the query tokens the query select holds now

/** The query select: one option per query token of `r` (refilled only when the tokens change), `r.query` chosen. */
function fillQueries(r) {
  const key = JSON.stringify(r.query_tokens);
  if (key !== tokensKey) {
    fill($("steps-query"), r.query_tokens.map((t, i) => [i, tokenOption(t, i)]));
    tokensKey = key;
  }
  $("steps-query").value = String(r.query);
}

/** The step indicator, Previous / Next and the step chips for step `step`. */
function showNav(step) {
  $("steps-indicator").textContent = `Step ${step + 1} of ${STEPS.length}`;
  $("steps-prev").disabled = step === 0;
  $("steps-next").disabled = step === STEPS.length - 1;
  for (const b of $("steps-list").children) {
    if (Number(b.dataset.step) === step) b.setAttribute("aria-current", "step");
    else b.removeAttribute("aria-current");
  }
}

/**
 * Draw step `state.step` (from 0) of `data.res`, the /api/steps answer. For steps 10-14 `data.block` is the
 * /api/block-steps answer of the same token, or {error} (then the explanation says it and no figure is drawn);
 * `data.info` is the model's /api/models entry (its positional encoding, its layers). Returns the export of
 * figure A ({name, csv, json}) or null.
 */
export function render(state, { res: r, block = null, info = null }) {
  const step = clampStep(Number(state.step) || 0);
  fillQueries(r);
  const qt = r.query_tokens, status = $("steps-status");
  status.textContent = `${r.model} · ${r.block} · layer ${r.layer + 1} · head ${r.head + 1} · query “${qt[r.query]}” ` +
    `(token ${r.query + 1} of ${qt.length})`;
  status.classList.remove("busy");
  showNav(step);
  text("steps-title", `${step + 1}. ${STEPS[step].title}`);
  const f = new Figures(r);
  if (STEPS[step].block) {
    if (!block || block.error) {
      text("steps-formula", "");
      text("steps-explain", block?.error || "");
      f.finish();
      return null;
    }
    text("steps-title", `${step + 1}. ${blockTitle(block, step)}`);
    BLOCK_STEPS[step - 9](r, block, f, info);
    f.finish();
    return f.exportInfo(`attnscope_${r.model}_L${r.layer + 1}_q${r.query + 1}_step${step + 1}`);
  }
  ATTENTION_STEPS[step](r, f, info);
  f.finish();
  return f.exportInfo(`attnscope_${r.model}_${r.block}_L${r.layer + 1}_H${r.head + 1}_q${r.query + 1}_step${step + 1}`);
}
