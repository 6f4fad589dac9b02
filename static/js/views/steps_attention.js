// The nine attention steps of the step-by-step view (one head, one query token, POST /api/steps): each writes its
// formula and explanation with the model's own numbers and draws figures a-c. `info` is the model's /api/models entry.
import { an, argmax, fmt, quote, sum, text } from "./steps_figures.js";

function renderX(r, f, info) {
  const i = r.query, tok = quote(r.query_tokens[i]);
  text("steps-formula", `x = X[${i + 1}]   — the row of ${tok} in X (${r.query_tokens.length} tokens × d_model = ${r.d_model} numbers)`);
  const kind = info?.positional;
  let where;
  if (kind === "rotary") {
    // LLaMA-family: pre-norm, no position added; RoPE rotates q and k in step 2
    where = (r.layer === 0
      ? "X is what enters the attention of layer 1: each token's embedding, normalised by RMSNorm (divided by its " +
        "root-mean-square, times the learned γ). No position is added to it: this model rotates q and k by their " +
        "positions instead (RoPE, step 2)."
      : `X is what enters the attention of layer ${r.layer + 1}: each token's vector after the ${r.layer} earlier ` +
        `layer${r.layer > 1 ? "s" : ""} (the residual stream), normalised by RMSNorm. No position is in it: RoPE rotates q and k (step 2).`);
  } else {
    const how = { learned: "plus its learned position embedding (then LayerNorm)",
      sinusoidal: "plus its sinusoidal positional encoding" }[kind] || "combined with its position";
    where = r.layer === 0
      ? `X is what enters the attention of layer 1: each token's embedding ${how}.`
      : `X is what enters the attention of layer ${r.layer + 1}: each token's vector after the ${r.layer} earlier ` +
        `layer${r.layer > 1 ? "s" : ""} (the residual stream).`;
  }
  const cross = r.block === "cross"
    ? " In cross-attention X holds the decoder's vectors (one per target token); the keys and values come from the encoder's output." : "";
  text("steps-explain", `${where}${cross} The query token ${tok} is row ${i + 1}; hover a cell to read a number.`);
  f.strip("a", r.x[i], "x", `x of ${tok} — ${r.d_model} numbers`);
  f.matrix("b", r.x, r.query_tokens, r.query_special, `X — ${r.query_tokens.length} × ${r.d_model}`, { row: i, wide: true });
  f.caption("b", `Every token's input vector. The outlined row is ${tok}.`);
}

function renderQKV(r, f, info) {
  const b = (n) => (r[`b_${n}`] ? ` + b_${n.toUpperCase()}` : "");
  const src = r.block === "cross" ? "m_j" : "x_j";
  const rotary = info?.positional === "rotary";
  const rot = (e) => (rotary ? `RoPE(${e})` : e);
  const qk = r.qk_norm;  // Qwen3, Gemma 3: a per-head RMSNorm of q and k before RoPE
  const norm = (e, n) => (qk ? `RMSNorm_${n}(${e})` : e);
  text("steps-formula", `q = ${rot(norm(`x · W_Q${b("q")}`, "q"))}      k_j = ${rot(norm(`${src} · W_K${b("k")}`, "k"))}      ` +
    `v_j = ${src} · W_V${b("v")}`);
  let cross = r.block === "cross" ? " Here m is the encoder's output: the keys and values describe the source sentence." : "";
  if (qk) {
    cross += ` This model normalises each head's q and k on their own: RMSNorm over the head's ${r.d_head} numbers ` +
      `(divided by their root-mean-square, ε = ${qk.eps}), times a learned γ${qk.offset ? " (as 1 + γ)" : ""}, ` +
      "before the rotation.";
  }
  if (rotary) cross += " This model then rotates q and k by their positions (RoPE); the numbers shown are after the rotation.";
  text("steps-explain", `W_Q, W_K and W_V of head ${r.head + 1} are ${r.d_model} × ${r.d_head}: they turn each ` +
    `${r.d_model}-number vector into ${an(r.d_head)} ${r.d_head}-number query, key and value. Only the query of ` +
    `${quote(r.query_tokens[r.query])} is needed; every key token gives a key and a value.${cross}`);
  f.strip("a", r.q, "q", `q of ${quote(r.query_tokens[r.query])} — d_k = ${r.d_head} numbers`);
  f.matrix("b", r.k, r.key_tokens, r.key_special, `K — ${r.key_tokens.length} × ${r.d_head}`);
  f.matrix("c", r.v, r.key_tokens, r.key_special, `V — ${r.key_tokens.length} × ${r.d_head}`);
  f.caption("b", "One key per token: what it offers to be matched against.");
  f.caption("c", "One value per token: what it passes on when attended to.");
}

function renderScores(r, f) {
  const d = r.d_head;
  text("steps-formula", `score_j = q · k_j = q_1·k_j,1 + q_2·k_j,2 + … + q_${d}·k_j,${d}`);
  const j = argmax(r.scores);
  text("steps-explain", `One number per key token: how well the query of ${quote(r.query_tokens[r.query])} matches each key. ` +
    `The largest is ${quote(r.key_tokens[j])}: q · k = ${fmt(r.scores[j])}.`);
  f.bars("a", r.scores, "score", `q · k_j for each key token`);
}

function renderScaled(r, f) {
  const root = Math.abs(r.scale - Math.sqrt(r.d_head)) < 1e-3 ? `√${r.d_head} = ${fmt(r.scale, 3)}` : fmt(r.scale, 3);
  text("steps-formula", `scaled_j = score_j / √d_k = score_j / ${root}`);
  const j = argmax(r.scores);
  text("steps-explain", `Dot products of long vectors grow with d_k; dividing by √d_k keeps them in a range where the ` +
    `softmax does not put all the weight on one key. For ${quote(r.key_tokens[j])}: ` +
    `${fmt(r.scores[j])} / ${fmt(r.scale, 3)} = ${fmt(r.scores[j] / r.scale)}.`);
  f.bars("a", r.scores.map((s) => s / r.scale), "scaled", `score_j / ${fmt(r.scale, 3)}`);
}

function renderMask(r, f) {
  text("steps-formula", "masked_j = scaled_j where key j may be seen,   −∞ where the mask removes it");
  const gone = r.masked.map((m, j) => (m ? j : -1)).filter((j) => j >= 0);
  const tok = quote(r.query_tokens[r.query]);
  if (!gone.length) {
    const why = r.kind === "causal" ? `${tok} is the last token: it may see every earlier one`
      : "every token may look at every token";
    text("steps-explain", `Nothing is masked here: ${why}, so the scaled scores go on unchanged.`);
  } else {
    const names = gone.slice(0, 8).map((j) => quote(r.key_tokens[j])).join(", ") + (gone.length > 8 ? ", …" : "");
    const why = r.kind === "causal" ? `they come after ${tok}, and a decoder may not look at future tokens` : "they are padding";
    text("steps-explain", `${gone.length} of ${r.masked.length} keys are removed (${names}): ${why}. ` +
      "Their score becomes −∞, so the softmax gives them exactly 0.");
  }
  f.bars("a", r.scaled, "masked", "scaled scores after the mask (−∞ = removed)", { masked: r.masked });
}

function renderSoftmax(r, f) {
  text("steps-formula", "weight_j = e^(masked_j) / Σ_k e^(masked_k)        e^(−∞) = 0, and the weights add up to 1");
  const order = r.weights.map((w, j) => [w, j]).sort((a, b) => b[0] - a[0]);
  const top = order.slice(0, 2).map(([w, j]) => `${quote(r.key_tokens[j])} (${w < 0.0005 ? "≈ 0" : fmt(w, 3)})`).join(", then ");
  const sink = order[0][1] === 0 && r.key_tokens.length > 1
    ? ` The top key is the first token: first-token “attention sinks” are common (heads park weight there when nothing ` +
      `else fits), and they do not mean ${quote(r.query_tokens[r.query])} refers to it.` : "";
  text("steps-explain", `${quote(r.query_tokens[r.query])} attends most to ${top}. These are the numbers in row ` +
    `${quote(r.query_tokens[r.query])} of the attention heatmap; together they add up to ${fmt(sum(r.weights), 3)}.${sink}`);
  f.bars("a", r.weights, "weight", "attention weights (softmax)", { masked: r.masked, digits: 3, zeroBased: true });
}

function renderZ(r, f) {
  const order = r.weights.map((w, j) => [w, j]).sort((a, b) => b[0] - a[0]);
  const terms = order.slice(0, 3).map(([w, j]) => `${fmt(w, 2)} · v(${r.key_tokens[j]})`).join(" + ");
  text("steps-formula", `z = Σ_j weight_j · v_j = ${terms}${r.weights.length > 3 ? " + …" : ""}`);
  text("steps-explain", `z mixes the values of all key tokens, each in proportion to its weight: ` +
    `${r.d_head} numbers that carry what ${quote(r.query_tokens[r.query])} gathered from the sentence in this head.`);
  f.strip("a", r.z, "z", `z of ${quote(r.query_tokens[r.query])} — ${r.d_head} numbers`);
  const contrib = r.v.map((row, j) => row.map((x) => x * r.weights[j]));
  f.matrix("b", contrib, r.key_tokens, r.key_special, `weight_j · v_j — ${r.key_tokens.length} × ${r.d_head}`, { wide: true });
  f.caption("b", "Row j is v_j scaled by its weight; adding up the rows column by column gives z.");
}

function renderConcat(r, f) {
  const H = r.heads, d = r.d_head, h = r.head;
  text("steps-formula", `concat = [ z_head 1 | z_head 2 | … | z_head ${H} ]   (${H} heads × ${d} = ${H * d} numbers)`);
  text("steps-explain", `Every head of layer ${r.layer + 1} computes its own z for ${quote(r.query_tokens[r.query])}, in parallel; ` +
    `they are laid side by side. Head ${h + 1}'s part (numbers ${h * d + 1} to ${(h + 1) * d}) is outlined — it is the z of step 7.`);
  f.strip("a", r.concat, "concat", `concat — ${H * d} numbers`, {
    box: [h * d, (h + 1) * d], groups: d,
  });
}

function renderOut(r, f) {
  text("steps-formula", `out = concat · W_O + b_O      (W_O: ${r.heads * r.d_head} × ${r.d_model})`);
  text("steps-explain", `W_O mixes the heads back into ${r.d_model} numbers: the attention module's output for ` +
    `${quote(r.query_tokens[r.query])}. Next it is added back into the residual stream (the residual connection), and the feed-forward layer follows.`);
  f.strip("a", r.out, "out", `out of ${quote(r.query_tokens[r.query])} — ${r.d_model} numbers`);
  f.strip("b", r.x[r.query], "x", `x of ${quote(r.query_tokens[r.query])}, the input of step 1, for comparison`, { wide: true });
}

/** The steps in order: render(r, f, info) for x, q k v, q·k, ÷√d_k, mask, softmax, Σ w·v, concat, W_O. */
export const ATTENTION_STEPS = [renderX, renderQKV, renderScores, renderScaled, renderMask, renderSoftmax, renderZ,
  renderConcat, renderOut];
