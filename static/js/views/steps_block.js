// The step-by-step view past attention (POST /api/block-steps): the residual connection, the norm, the feed-forward
// layer, the block's output, batch norm vs layer norm. Labels (norm kind, activation, wiring) come from the answer.
import { fmt, quote, text } from "./steps_figures.js";

// How the block-steps answer is labelled: the norm kind, the activation, the wiring (placement, parallel
// residual, Gemma 2's norms of each sublayer's output) all come from the response, never from a family name.

/** The title of block step `step` (9-13, from 0) for answer `b`. */
export function blockTitle(b, step) {
  const n = b.norm1, name = normName(n);
  const sandwich = Boolean(b.attn_out_norm);
  return [`Add: the residual connection (x + ${sandwich ? `${normName(b.attn_out_norm)}(out)` : "out"})`,
    b.placement === "post" ? `Add & Norm: ${n.kind === "rmsnorm" ? "RMS" : "layer"} normalisation`
      : b.parallel ? `Norm: ${name} of x for the feed-forward layer (parallel residual)`
        : `Norm: ${name} before the feed-forward layer (pre-norm)`,
    `Feed-forward layer (${b.gated ? gluName(b) : actName(b)})`,
    b.placement === "post" ? "Add & Norm again: the block's output"
      : b.parallel ? "Add both: the block's output (parallel residual)" : "Add again: the block's output",
    "Batch norm vs layer norm: which axis each normalises over"][step - 9];
}

function renderResidual(r, b, f) {
  const tok = quote(r.query_tokens[r.query]);
  const on = b.attn_out_norm;
  text("steps-formula", `r = x + ${on ? `${normName(on)}(out)` : "out"}      (${b.d_model} numbers, added element by element)`);
  let more = "";
  if (b.placement === "pre") {
    const a = b.attn_in;
    more = ` In this pre-norm model x is the residual stream itself; attention read ${normName(a)}(x) (step 1's numbers: ` +
      `${normShort(a, "x")}, ${a.kind === "rmsnorm" ? "rms" : "σ"} = ${fmt(a.std, 3)}; ${a.path}), but what is added back is x, not its normalised copy.`;
  }
  if (on) {
    more += ` This model also normalises the attention output before adding it (${on.path}: ${normShort(on, "out")}), ` +
      "so each sublayer has a norm on both sides.";
  }
  if (b.parallel) {
    more += ` Its feed-forward runs in parallel with attention (a parallel residual): it reads ${normName(b.norm1)}(x) of ` +
      "the same x, not r, and both outputs are added to x.";
  }
  text("steps-explain", `The attention output of ${tok} is added to the vector that went in: the residual connection. ` +
    `The layer only has to learn a change to x, and gradients flow straight through the addition.${more}`);
  f.strip("a", b.residual, on ? "x + N(out)" : "x + out", `r = x + ${on ? `${normName(on)}(out)` : "out"} of ${tok}`);
  f.strip("b", b.x, "x", `x — the layer's input${b.placement === "pre" ? " (residual stream)" : ""}`);
  if (on) f.strip("c", on.output, "N(out)", `${normName(on)}(out) — step 9's out, normalised`);
  else f.strip("c", b.out, "out", "out — attention after W_O (step 9)");
}

function renderNorm(r, b, f) {
  const n = b.norm1, tok = quote(r.query_tokens[r.query]), name = normName(n);
  const v = b.parallel ? "x" : "r", o = b.placement === "post" ? "h" : "n";
  text("steps-formula", normFormula(n, v, o));
  const what = n.kind === "rmsnorm"
    ? `each token's vector is divided by its root-mean-square and scaled by the learned γ${n.scale_offset ? " (by 1 + γ: the model stores γ − 1, so γ = 0 keeps the scale)" : ""}. ` +
      "Unlike LayerNorm it does not subtract the mean μ and has no shift β"
    : `the ${b.d_model} numbers of ${tok} are shifted by their mean μ and divided by their standard deviation σ, so they have ` +
      `mean 0 and variance 1, then scaled by the learned γ${n.beta ? " and shifted by the learned β" : ""} — one per dimension, the model's own`;
  const mod = `The module is ${n.path} (${n.module}${n.kind === "rmsnorm" && !/rms/i.test(n.module) ? ": an RMSNorm under another name" : ""}).`;
  if (b.placement === "post") {
    text("steps-explain", `${name === "LayerNorm" ? "Layer" : "RMS"} normalisation after the addition (post-LN, the lecture's "Add & Norm"): ${what}. ${mod}`);
  } else {
    const input = b.parallel
      ? " It normalises x, the layer's input, not r: with the parallel residual the feed-forward does not see this layer's attention output."
      : " The sum r itself stays in the residual stream.";
    text("steps-explain", `${r.model} normalises with ${name} before the sublayer (pre-norm): ${what}. ${mod}${input}`);
  }
  f.strip("a", n.output, o, `${name}(${v}) of ${tok}`);
  if (n.beta) {
    f.strip("b", n.gamma, "γ", "γ — learned scale, one per dimension");
    f.strip("c", n.beta, "β", "β — learned shift, one per dimension");
  } else {
    f.strip("b", n.normalized, n.kind === "rmsnorm" ? `${v}/rms` : `(${v}−μ)/σ`, `${n.kind === "rmsnorm" ? `${v} / rms(${v})` : `(${v} − μ) / σ`}, before γ`);
    f.strip("c", n.gamma, "γ", `γ — learned scale, one per dimension${n.scale_offset ? " (the output is scaled by 1 + γ)" : ""}`);
  }
}

function renderFfn(r, b, f) {
  const tok = quote(r.query_tokens[r.query]);
  const s = b.ffn_shapes, m = b.ffn_modules, act = actName(b), h = b.placement === "post" ? "h" : "n";
  const bias = (k, name) => (b.ffn_bias[k] ? ` + ${name}` : "");
  const how = actHow(b);
  if (b.gated) {
    text("steps-formula", `ffn = (${act}(${h} · W_gate${bias("W_gate", "b_gate")}) ⊙ (${h} · W_up${bias("W_up", "b_up")})) · W_down` +
      `${bias("W_down", "b_down")}      W_gate, W_up: ${s.W_gate.join(" × ")}   W_down: ${s.W_down.join(" × ")}`);
    const fused = m.W_gate.split("[")[0] === m.W_up.split("[")[0]
      ? ` W_gate and W_up are the two halves of one matrix here (${m.W_gate.split("[")[0]}).` : "";
    text("steps-explain", `The feed-forward layer works on each token alone. ${gluName(b)}: two matrices take the ${b.d_model} numbers up ` +
      `to ${b.d_ff}; ${act} of the first gates the second, element by element (${how}); W_down brings them back to ${b.d_model}.${fused}`);
    f.strip("a", b.ffn_out, "ffn", `ffn of ${tok} — back to ${b.d_model} numbers`);
    f.strip("b", b.ffn_pre, "gate", `${h} · W_gate — ${b.d_ff} numbers`);
    f.strip("c", b.ffn_act, "act", `${act}(gate) ⊙ up — ${b.d_ff} numbers`);
  } else {
    text("steps-formula", `ffn = ${act}(${h} · W_1${bias("W_1", "b_1")}) · W_2${bias("W_2", "b_2")}      ` +
      `W_1: ${s.W_1.join(" × ")}   W_2: ${s.W_2.join(" × ")}`);
    const zero = b.ffn_act.filter((v) => v === 0).length;
    const effect = b.act === "relu" ? `sets the negative ones to 0 (${zero} of ${b.d_ff} here)`
      : `keeps the positive ones and squashes the negative ones towards 0 (${how})`;
    text("steps-explain", `The feed-forward layer works on each token alone: W_1 (${m.W_1}) takes the ${b.d_model} numbers up to ` +
      `${b.d_ff}, ${act} ${effect}, W_2 (${m.W_2}) brings them back to ${b.d_model}.`);
    f.strip("a", b.ffn_out, "ffn", `ffn of ${tok} — back to ${b.d_model} numbers`);
    f.strip("b", b.ffn_pre, "pre", `${h} · W_1${bias("W_1", "b_1")} — ${b.d_ff} numbers`);
    f.strip("c", b.ffn_act, act, `${act}(…) — ${b.d_ff} numbers`);
  }
}

function renderBlockOut(r, b, f, info) {
  const tok = quote(r.query_tokens[r.query]);
  const last = r.layer === (b.layers || info?.layers || 0) - 1;
  const check = `The model's own output of layer ${r.layer + 1} for ${tok} differs from this by at most ${b.max_diff.toExponential(1)}.`;
  if (b.placement === "post") {
    const n = b.norm2;
    text("steps-formula", `y = ${normName(n)}(h + ffn)      ${n.mean === null ? "" : `μ = ${fmt(n.mean, 4)}   `}` +
      `${n.kind === "rmsnorm" ? "rms" : "σ"} = ${fmt(n.std, 4)}`);
    text("steps-explain", `Add & Norm again: the feed-forward output is added to its input h and normalised with a second ` +
      `${normName(n)} (${n.path}, its own γ${n.beta ? " and β" : ""}). y is ${tok}'s vector after layer ${r.layer + 1}: the x of the next layer. ${check}`);
  } else {
    const next = normName(b.attn_in), fo = b.ffn_out_norm;
    const sum = b.parallel ? "x + out + ffn" : fo ? `r + ${normName(fo)}(ffn)` : "r + ffn";
    const note = b.parallel ? "attention and the feed-forward both start from the same x" : `no norm after: the next layer's ${next} comes first`;
    text("steps-formula", `y = ${sum}      (${note})`);
    const added = b.parallel ? "Add both: the attention output and the feed-forward output are added to x"
      : fo ? `Add again: the feed-forward output, normalised once more (${fo.path}), is added to the residual stream r`
        : "Add again: the feed-forward output is added to the residual stream r";
    text("steps-explain", `${added}. y is ${tok}'s vector after layer ${r.layer + 1}, the x of the next layer.` +
      `${last ? ` After the last layer the model applies one final ${next} before the output is used.` : ""} ${check}`);
  }
  f.strip("a", b.block_out, "y", `y — ${tok} after layer ${r.layer + 1} (computed here)`);
  f.strip("b", b.model_out, "model", `the model's own hidden state after layer ${r.layer + 1}`, { wide: true });
}

function renderAxes(r, b, f) {
  const ax = b.norm_axes;
  const toks = r.query_tokens, cols = ax.input[0].length;
  const sum = b.attn_out_norm ? `x + ${normName(b.attn_out_norm)}(out)` : "x + out";
  text("steps-formula", "layer norm: each token (row) over its features      batch norm: each feature (column) over the batch");
  text("steps-explain", `The same numbers (${sum} of layer ${r.layer + 1}, every token, the first ${cols} of ${b.d_model} features) normalised two ways. ` +
    `Layer norm makes every row mean 0, variance 1, one token at a time, so it works for any sentence length and a batch of one: ` +
    `transformers use it. Batch norm makes every column mean 0, variance 1 across the tokens (here standing in for a batch): ` +
    `a token's result depends on the others. (Statistics over these ${cols} features only; the model's ${normName(b.norm1)} uses all ${b.d_model}` +
    `${b.norm1.kind === "rmsnorm" ? ", and divides by the root-mean-square without subtracting the mean" : ""}.)`);
  f.matrix("a", ax.input, toks, r.query_special, `${sum} — ${toks.length} tokens × ${cols} features`, { wide: true });
  f.matrix("b", ax.layer_norm, toks, r.query_special, "layer norm: every row → mean 0, var 1");
  f.matrix("c", ax.batch_norm, toks, r.query_special, "batch norm: every column → mean 0, var 1");
  f.caption("b", `μ per token: ${ax.layer_mean.slice(0, 4).map((v) => fmt(v, 2)).join(", ")}${toks.length > 4 ? ", …" : ""}`);
  f.caption("c", `μ per feature: ${ax.batch_mean.slice(0, 4).map((v) => fmt(v, 2)).join(", ")}${cols > 4 ? ", …" : ""}`);
}

/** Steps 10-14 in order: render(r, b, f, info), `b` the block-steps answer. */
export const BLOCK_STEPS = [renderResidual, renderNorm, renderFfn, renderBlockOut, renderAxes];

// ------------------------------------------------------------------ labels from the answer

/** "LayerNorm" or "RMSNorm" (T5's T5LayerNorm is an RMSNorm: no mean, no β). */
function normName(n) { return n.kind === "rmsnorm" ? "RMSNorm" : "LayerNorm"; }

/** The scale a norm multiplies by: γ, or Gemma's (1 + γ). */
function normScale(n) { return n.scale_offset ? `(${n.scale_offset} + γ)` : "γ"; }

/** A norm of `v` in a few symbols: "x / rms(x) · γ", "(x − μ) / σ · γ + β". */
function normShort(n, v) {
  return n.kind === "rmsnorm" ? `${v} / rms(${v}) · ${normScale(n)}` : `(${v} − μ) / σ · ${normScale(n)}${n.beta ? " + β" : ""}`;
}

/** The formula line of one norm with its numbers: `o = N(v)`, μ, σ or rms, ε. */
function normFormula(n, v, o) {
  const eps = `ε = ${n.eps.toExponential(0)}`;
  if (n.kind === "rmsnorm") {
    return `${o} = ${normShort(n, v)}      rms(${v}) = √(mean(${v}²) + ε) = ${fmt(n.std, 4)}      (${eps}; no μ, no β)`;
  }
  return `${o} = ${normShort(n, v)}      μ = ${fmt(n.mean, 4)}   σ = √(var(${v}) + ε) = ${fmt(n.std, 4)}   (${eps})`;
}

const ACT_NAMES = { gelu: "GELU", gelu_tanh: "GELU", relu: "ReLU", silu: "SiLU", quick_gelu: "QuickGELU" };

/** The activation as written in a formula ("GELU", "SiLU"). */
function actName(b) { return ACT_NAMES[b.act] || b.act; }

/** The activation's definition, with the config's name where it is an approximation. */
function actHow(b) {
  return {
    gelu: "GELU(g) = g · Φ(g), Φ the normal distribution's CDF",
    gelu_tanh: `GELU(g) ≈ ½ g (1 + tanh(√(2/π) (g + 0.044715 g³))): the tanh approximation, the config's ${b.act_name}`,
    relu: "ReLU(g) = max(0, g)",
    silu: `SiLU(g) = g · σ(g)${b.act_name !== "silu" ? `, the config's ${b.act_name}` : ""}`,
    quick_gelu: "QuickGELU(g) = g · σ(1.702 g)",
  }[b.act] || b.act_name;
}

/** The gated feed-forward's name: SwiGLU, GeGLU... (the server's label "silu (SwiGLU)"). */
function gluName(b) { return (/\(([^)]+)\)/.exec(b.activation) || [null, `gated ${actName(b)}`])[1]; }
