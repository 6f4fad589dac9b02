// The step-by-step view: one head, one query token, from the layer's input x to the module's output,
// one step at a time, with the formula and the model's own numbers (POST /api/steps).
import { exportBar } from "../export.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { CONFIG, SCALE, esc, plotFont, tickLabels, tickStep } from "../plot.js";
import { fill, range } from "../ui.js";

const DEFAULT_TEXT = "The animal didn't cross the street because it was too tired";
const FRENCH = /^(je|le|la|il|elle|nous|vous|tu|ils|elles|les|un|une)\b/i;
const STEPS = [
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
const ACCENT = "#3b4cca", GREY = "#9aa1ad", HIGHLIGHT = "#f59e0b";

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new StepsView(ctx);
  return { show: (s) => view.show(s) };
}


class StepsView {
  constructor({ models, state, api }) {
    this.all = models;
    this.models = usable(models);
    this.state = state;
    this.api = api;
    this.cache = new Map(); // request JSON -> response
    this.pending = null;
    this.res = null;
    this.step = 0;
    this.query = null; // null: pick the first ordinary token once the tokens are known
    this.tokensKey = "";
    this.current = null; // what figure A shows, for export
    modelSelect($("steps-model"), models, (ok) => { this.models = ok; });
    this.onModel();
    this.bind();
  }

  get model() { return this.models.find((m) => m.id === $("steps-model").value); }

  bind() {
    $("steps-form").addEventListener("submit", (e) => { e.preventDefault(); this.query = null; this.save(true); this.load(); });
    $("steps-model").addEventListener("change", () => { this.onModel(); this.query = null; this.save(true); this.load(); });
    $("steps-block").addEventListener("change", () => { this.query = null; this.save(); this.load(); });
    $("steps-layer").addEventListener("change", () => { this.save(); this.load(); });
    $("steps-head").addEventListener("change", () => { this.save(); this.load(); });
    $("steps-query").addEventListener("change", () => { this.query = Number($("steps-query").value); this.save(); this.load(); });
    $("steps-prev").addEventListener("click", () => this.goStep(this.step - 1));
    $("steps-next").addEventListener("click", () => this.goStep(this.step + 1));
    const list = $("steps-list");
    STEPS.forEach((s, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.step = String(i);
      b.textContent = `${i + 1} ${s.short}`;
      b.title = s.title;
      b.addEventListener("click", () => this.goStep(i));
      list.append(b);
    });
    keys.register("steps", [
      { keys: ["ArrowRight"], label: "Next step", fn: () => this.goStep(this.step + 1) },
      { keys: ["ArrowLeft"], label: "Previous step", fn: () => this.goStep(this.step - 1) },
      { keys: ["ArrowDown"], label: "Next query token", fn: () => this.moveQuery(1) },
      { keys: ["ArrowUp"], label: "Previous query token", fn: () => this.moveQuery(-1) },
      { keys: ["Home"], label: "First step", fn: () => this.goStep(0) },
      { keys: ["End"], label: "Last step", fn: () => this.goStep(STEPS.length - 1) },
    ]);
    window.addEventListener("presentation", () => { if (this.res && !$("steps-fig-a").closest("section").hidden) this.render(); });
    exportBar($("steps-fig-a"), () => this.current);
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("steps-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("steps-head"), range(m.heads).map((i) => [i, `Head ${i + 1}`]));
    const names = { encoder: m.kind === "encoder" ? "Self-attention" : "Encoder self-attention",
      decoder: "Decoder self-attention (causal)", cross: "Cross-attention (decoder → encoder)" };
    fill($("steps-block"), m.blocks.map((b) => [b, names[b] || b]));
    $("steps-block-field").hidden = m.blocks.length < 2;
    $("steps-target-field").hidden = !m.blocks.includes("cross");
    const text = $("steps-text");
    if (m.kind === "encoder-decoder" && !FRENCH.test(text.value)) text.value = "je suis étudiant";
    else if (m.kind !== "encoder-decoder" && FRENCH.test(text.value)) text.value = DEFAULT_TEXT;
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("steps-model").value) {
      $("steps-model").value = s.model;
      this.onModel();
    }
    if (s.text !== undefined) $("steps-text").value = s.text;
    $("steps-target").value = s.target ?? "";
    for (const id of ["block", "layer", "head"]) {
      const sel = $(`steps-${id}`);
      if (s[id] !== undefined && [...sel.options].some((o) => o.value === s[id])) sel.value = s[id];
    }
    this.query = /^\d+$/.test(s.query ?? "") ? Number(s.query) : this.res ? this.query : null;
    this.step = clampStep(Number(s.step) || 0);
    await this.load();
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false) {
    const target = $("steps-target").value.trim();
    this.state.set({
      view: "steps", model: $("steps-model").value, text: $("steps-text").value,
      block: $("steps-block-field").hidden ? null : $("steps-block").value,
      layer: $("steps-layer").value, head: $("steps-head").value, query: this.query, step: this.step,
      target: $("steps-target-field").hidden || !target ? null : target,
    }, { push });
  }

  goStep(i) {
    const next = clampStep(i);
    if (next === this.step || !this.res) return;
    this.step = next;
    this.save();
    this.render();
  }

  moveQuery(delta) {
    if (!this.res) return;
    const n = this.res.query_tokens.length;
    const next = Math.max(0, Math.min(n - 1, this.res.query + delta));
    if (next === this.res.query) return;
    this.query = next;
    this.save();
    this.load();
  }

  request() {
    const body = {
      model: $("steps-model").value,
      text: $("steps-text").value,
      layer: Number($("steps-layer").value),
      head: Number($("steps-head").value),
      query: this.query ?? 0,
      block: $("steps-block-field").hidden ? undefined : $("steps-block").value,
    };
    const target = $("steps-target").value.trim();
    if (!$("steps-target-field").hidden && target) body.target = target;
    return body;
  }

  async load() {
    if (!this.model) { setError("No model is available: see the message at the top of the page."); return; }
    const body = this.request();
    const key = JSON.stringify(body);
    setError("");
    let res = this.cache.get(key);
    if (!res) {
      if (this.pending) this.pending.abort();
      this.pending = new AbortController();
      setStatus("Running the model…", true);
      try {
        res = await this.api("/api/steps", body, { signal: this.pending.signal });
      } catch (err) {
        if (err.name === "AbortError") return;
        setStatus("");
        setError(err.detail || String(err));
        return;
      }
      this.cache.set(key, res);
      if (this.cache.size > 48) this.cache.delete(this.cache.keys().next().value);
    }
    if (this.query === null) {
      // first ordinary token: skip [CLS] / <s>
      const first = res.query_special[0] && res.query_tokens.length > 1 ? 1 : 0;
      this.query = first;
      this.save();
      if (first !== res.query) return this.load();
    }
    this.res = res;
    if (res.target && !$("steps-target").value.trim()) $("steps-target").placeholder = res.target;
    this.render();
  }

  fillQueries() {
    const r = this.res;
    const key = JSON.stringify(r.query_tokens);
    if (key !== this.tokensKey) {
      fill($("steps-query"), r.query_tokens.map((t, i) => [i, `${i + 1}: ${t}`]));
      this.tokensKey = key;
    }
    $("steps-query").value = String(r.query);
  }

  render() {
    const r = this.res;
    if (!r) return;
    this.fillQueries();
    const qt = r.query_tokens;
    setStatus(`${r.model} · ${r.block} · layer ${r.layer + 1} · head ${r.head + 1} · query “${qt[r.query]}” ` +
      `(token ${r.query + 1} of ${qt.length})`);
    $("steps-indicator").textContent = `Step ${this.step + 1} of ${STEPS.length}`;
    $("steps-prev").disabled = this.step === 0;
    $("steps-next").disabled = this.step === STEPS.length - 1;
    for (const b of $("steps-list").children) {
      if (Number(b.dataset.step) === this.step) b.setAttribute("aria-current", "step");
      else b.removeAttribute("aria-current");
    }
    $("steps-title").textContent = `${this.step + 1}. ${STEPS[this.step].title}`;
    const f = new Figures(r);
    if (STEPS[this.step].block) {
      const b = this.blockFor(r);
      if (!b) { f.finish(); return; }
      if (b.error) {
        text("steps-formula", "");
        text("steps-explain", b.error);
        f.finish();
        return;
      }
      $("steps-title").textContent = `${this.step + 1}. ${this.blockTitle(b)}`;
      [this.renderResidual, this.renderNorm, this.renderFfn, this.renderBlockOut, this.renderAxes][this.step - 9].call(this, r, b, f);
      f.finish();
      this.current = f.exportInfo(`attnscope_${r.model}_L${r.layer + 1}_q${r.query + 1}_step${this.step + 1}`);
      return;
    }
    [this.renderX, this.renderQKV, this.renderScores, this.renderScaled, this.renderMask, this.renderSoftmax,
      this.renderZ, this.renderConcat, this.renderOut][this.step].call(this, r, f);
    f.finish();
    this.current = f.exportInfo(`attnscope_${r.model}_${r.block}_L${r.layer + 1}_H${r.head + 1}_q${r.query + 1}_step${this.step + 1}`);
  }

  // ------------------------------------------------------------------ after attention: POST /api/block-steps

  /** The block steps of the current model, layer and token (fetched once, then re-render); null while loading. */
  blockFor(r) {
    const body = { model: r.model, text: r.text, layer: r.layer, query: r.query };
    if (r.block !== (this.model?.blocks || [r.block])[0]) {
      return { error: `Add & Norm and the feed-forward step are shown for the first block of ${r.model} ` +
        `(${(this.model?.blocks || [])[0]}); choose it above. The ${r.block} block's sublayers follow the same pattern.` };
    }
    const key = JSON.stringify(body);
    this.blocks = this.blocks || new Map();
    if (this.blocks.has(key)) return this.blocks.get(key);
    this.blocks.set(key, null);
    setStatus("Running the rest of the layer…", true);
    this.api("/api/block-steps", body).then((b) => {
      this.blocks.set(key, b);
    }).catch((err) => {
      this.blocks.set(key, { error: err.detail || String(err) });
    }).finally(() => { if (this.res === r) this.render(); });
    return null;
  }

  // How the block-steps answer is labelled: the norm kind, the activation, the wiring (placement, parallel
  // residual, Gemma 2's norms of each sublayer's output) all come from the response, never from a family name.

  blockTitle(b) {
    const n = b.norm1, name = normName(n);
    const sandwich = Boolean(b.attn_out_norm);
    return [`Add: the residual connection (x + ${sandwich ? `${normName(b.attn_out_norm)}(out)` : "out"})`,
      b.placement === "post" ? `Add & Norm: ${n.kind === "rmsnorm" ? "RMS" : "layer"} normalisation`
        : b.parallel ? `Norm: ${name} of x for the feed-forward layer (parallel residual)`
          : `Norm: ${name} before the feed-forward layer (pre-norm)`,
      `Feed-forward layer (${b.gated ? gluName(b) : actName(b)})`,
      b.placement === "post" ? "Add & Norm again: the block's output"
        : b.parallel ? "Add both: the block's output (parallel residual)" : "Add again: the block's output",
      "Batch norm vs layer norm: which axis each normalises over"][this.step - 9];
  }

  renderResidual(r, b, f) {
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

  renderNorm(r, b, f) {
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

  renderFfn(r, b, f) {
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

  renderBlockOut(r, b, f) {
    const tok = quote(r.query_tokens[r.query]);
    const last = r.layer === (b.layers || this.model?.layers || 0) - 1;
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

  renderAxes(r, b, f) {
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

  // ------------------------------------------------------------------ the nine steps

  renderX(r, f) {
    const i = r.query, tok = quote(r.query_tokens[i]);
    text("steps-formula", `x = X[${i + 1}]   — the row of ${tok} in X (${r.query_tokens.length} tokens × d_model = ${r.d_model} numbers)`);
    const info = this.all.find((m) => m.id === r.model) || {};
    const kind = info.positional;
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

  renderQKV(r, f) {
    const b = (n) => (r[`b_${n}`] ? ` + b_${n.toUpperCase()}` : "");
    const src = r.block === "cross" ? "m_j" : "x_j";
    const rotary = this.all.find((m) => m.id === r.model)?.positional === "rotary";
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

  renderScores(r, f) {
    const d = r.d_head;
    text("steps-formula", `score_j = q · k_j = q_1·k_j,1 + q_2·k_j,2 + … + q_${d}·k_j,${d}`);
    const j = argmax(r.scores);
    text("steps-explain", `One number per key token: how well the query of ${quote(r.query_tokens[r.query])} matches each key. ` +
      `The largest is ${quote(r.key_tokens[j])}: q · k = ${fmt(r.scores[j])}.`);
    f.bars("a", r.scores, "score", `q · k_j for each key token`);
  }

  renderScaled(r, f) {
    const root = Math.abs(r.scale - Math.sqrt(r.d_head)) < 1e-3 ? `√${r.d_head} = ${fmt(r.scale, 3)}` : fmt(r.scale, 3);
    text("steps-formula", `scaled_j = score_j / √d_k = score_j / ${root}`);
    const j = argmax(r.scores);
    text("steps-explain", `Dot products of long vectors grow with d_k; dividing by √d_k keeps them in a range where the ` +
      `softmax does not put all the weight on one key. For ${quote(r.key_tokens[j])}: ` +
      `${fmt(r.scores[j])} / ${fmt(r.scale, 3)} = ${fmt(r.scores[j] / r.scale)}.`);
    f.bars("a", r.scores.map((s) => s / r.scale), "scaled", `score_j / ${fmt(r.scale, 3)}`);
  }

  renderMask(r, f) {
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

  renderSoftmax(r, f) {
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

  renderZ(r, f) {
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

  renderConcat(r, f) {
    const H = r.heads, d = r.d_head, h = r.head;
    text("steps-formula", `concat = [ z_head 1 | z_head 2 | … | z_head ${H} ]   (${H} heads × ${d} = ${H * d} numbers)`);
    text("steps-explain", `Every head of layer ${r.layer + 1} computes its own z for ${quote(r.query_tokens[r.query])}, in parallel; ` +
      `they are laid side by side. Head ${h + 1}'s part (numbers ${h * d + 1} to ${(h + 1) * d}) is outlined — it is the z of step 7.`);
    f.strip("a", r.concat, "concat", `concat — ${H * d} numbers`, {
      box: [h * d, (h + 1) * d], groups: d,
    });
  }

  renderOut(r, f) {
    text("steps-formula", `out = concat · W_O + b_O      (W_O: ${r.heads * r.d_head} × ${r.d_model})`);
    text("steps-explain", `W_O mixes the heads back into ${r.d_model} numbers: the attention module's output for ` +
      `${quote(r.query_tokens[r.query])}. Next it is added back into the residual stream (the residual connection), and the feed-forward layer follows.`);
    f.strip("a", r.out, "out", `out of ${quote(r.query_tokens[r.query])} — ${r.d_model} numbers`);
    f.strip("b", r.x[r.query], "x", `x of ${quote(r.query_tokens[r.query])}, the input of step 1, for comparison`, { wide: true });
  }
}

/** Draws up to three figures (a, b, c) for one step; boxes not drawn are hidden. */
class Figures {
  constructor(res) {
    this.res = res;
    this.used = new Set();
    this.data = null;
  }

  el(slot) { return $(`steps-fig-${slot}`); }

  place(slot, wide) {
    this.used.add(slot);
    const box = this.el(slot).closest("figure");
    box.hidden = false;
    text(`steps-cap-${slot}`, "");
    if (slot !== "a" && box.classList.contains("steps-wide") !== Boolean(wide)) {
      box.classList.toggle("steps-wide", Boolean(wide));
      Plotly.purge(this.el(slot)); // re-measure the new width
    }
  }

  caption(slot, s) { text(`steps-cap-${slot}`, s); }

  finish() {
    for (const slot of ["a", "b", "c"]) {
      if (!this.used.has(slot)) {
        const el = this.el(slot);
        Plotly.purge(el);
        el.closest("figure").hidden = true;
      }
    }
  }

  draw(slot, traces, layout, name, label) {
    Plotly.react(this.el(slot), traces, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: plotFont(13), ...layout }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
    this.el(slot).setAttribute("aria-label", label);
  }

  title(s) { return { text: s, font: plotFont(15), x: 0, xanchor: "left" }; }

  /** A long vector as a one-row heatmap strip (values on hover); `groups` splits it into heads of that width. */
  strip(slot, values, name, title, { box = null, groups = 0, wide = false } = {}) {
    this.place(slot, wide);
    if (slot === "a") this.data = { kind: "vector", name, values };
    const lim = robustMax(values);
    const n = values.length;
    const trace = { type: "heatmap", z: [values], x: range(n).map((k) => k + 1), y: [name], colorscale: SCALE,
      zmin: -lim, zmax: lim, xgap: n <= 64 ? 1 : 0,
      colorbar: { thickness: 10, len: 1.1, nticks: 3, outlinewidth: 0, tickformat: ".2~f" },
      hovertemplate: `${name}[%{x}] = %{z:.4f}<extra></extra>` };
    const shapes = [];
    let xaxis = { title: { text: "dimension" }, showgrid: false, zeroline: false };
    if (groups) {
      const count = Math.round(n / groups);
      for (let g = 1; g < count; g++) {
        shapes.push({ type: "line", xref: "x", yref: "paper", x0: g * groups + 0.5, x1: g * groups + 0.5, y0: 0, y1: 1,
          line: { color: "#ffffff", width: 2 } });
      }
      xaxis = { tickvals: range(count).map((g) => g * groups + (groups + 1) / 2), ticktext: range(count).map((g) => `H${g + 1}`),
        showgrid: false, zeroline: false };
    }
    if (box) shapes.push({ type: "rect", xref: "x", yref: "paper", x0: box[0] + 0.5, x1: box[1] + 0.5, y0: -0.08, y1: 1.08,
      line: { color: HIGHLIGHT, width: 3 } });
    this.draw(slot, [trace], { title: this.title(esc(title)), height: 150, margin: { t: 40, b: 44, l: 70, r: 10 },
      xaxis, yaxis: { showgrid: false, tickfont: plotFont(15) }, shapes }, `steps_${name}`, `${title}: a strip of ${n} coloured cells`);
  }

  /** A tokens × numbers matrix as a heatmap, token labels on the rows; `row` is outlined. */
  matrix(slot, z, tokens, special, title, { row = null, wide = false } = {}) {
    this.place(slot, wide);
    const n = z.length, cols = z[0].length;
    const lim = robustMax(z.flat());
    const step = tickStep(n, 40);
    const yt = range(n).filter((i) => i % step === 0);
    const custom = z.map((rowv, i) => rowv.map(() => esc(tokens[i])));
    const trace = { type: "heatmap", z, x: range(cols).map((k) => k + 1), y: range(n), colorscale: SCALE, zmin: -lim, zmax: lim,
      customdata: custom, colorbar: { thickness: 10, outlinewidth: 0 },
      hovertemplate: "%{customdata} · [%{x}] = %{z:.4f}<extra></extra>" };
    const shapes = row === null ? [] : [{ type: "rect", xref: "paper", yref: "y", x0: -0.005, x1: 1.005,
      y0: row - 0.5, y1: row + 0.5, line: { color: HIGHLIGHT, width: 3 } }];
    this.draw(slot, [trace], {
      title: this.title(esc(title)), height: Math.max(240, Math.min(560, 20 * n + 110)),
      margin: { t: 40, b: 44, l: 10, r: 10 },
      xaxis: { title: { text: "dimension" }, showgrid: false, zeroline: false },
      yaxis: { tickvals: yt, ticktext: tickLabels(yt.map((i) => tokens[i]), yt.map((i) => special[i])),
        autorange: "reversed", automargin: true, showgrid: false, zeroline: false },
      shapes,
    }, `steps_matrix`, `${title}: heatmap, one row per token`);
  }

  /** One value per key token as bars labelled with the values; masked keys get a grey "−∞". */
  bars(slot, values, name, title, { masked = null, digits = 2, zeroBased = false } = {}) {
    this.place(slot, false);
    const r = this.res, n = values.length;
    const labels = r.key_tokens;
    if (slot === "a") this.data = { kind: "keys", name, values, labels };
    const y = values.map((v, j) => (masked && masked[j] ? null : v));
    const showText = n <= 30;
    const trace = { type: "bar", x: range(n), y, marker: { color: y.map((_, j) => (r.key_special[j] ? GREY : ACCENT)) },
      text: showText ? y.map((v) => (v === null ? "" : fmt(v, digits))) : undefined,
      textposition: "outside", cliponaxis: false, textfont: plotFont(n > 18 ? 11 : 13),
      customdata: labels.map(esc), hovertemplate: `%{customdata}: ${name} = %{y:.4f}<extra></extra>` };
    const live = y.filter((v) => v !== null);
    const hi = Math.max(0, ...live), lo = Math.min(0, ...live);
    const pad = (hi - lo || 1) * 0.18;
    const annotations = masked ? range(n).filter((j) => masked[j]).map((j) => ({
      x: j, y: 0, text: "−∞", showarrow: false, yanchor: "bottom", font: { ...plotFont(18), color: GREY } })) : [];
    const step = tickStep(n, 48);
    const xt = range(n).filter((j) => j % step === 0);
    this.draw(slot, [trace], {
      title: this.title(esc(title)), height: 380, margin: { t: 44, b: 10, l: 56, r: 10 },
      xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => labels[j]), xt.map((j) => r.key_special[j])),
        tickangle: n > 8 ? -40 : 0, automargin: true, title: { text: "key token" } },
      yaxis: { range: [zeroBased ? 0 : lo - (lo < 0 ? pad : 0), hi + pad], zeroline: true, title: { text: name } },
      annotations, bargap: 0.25,
    }, `steps_${name}`, `${title}: bar chart over ${n} key tokens`);
  }

  exportInfo(name) {
    const d = this.data;
    if (!d) return null;
    if (d.kind === "keys") {
      const lines = ["key_token," + d.name, ...d.labels.map((t, j) => `${csvCell(t)},${d.values[j] ?? ""}`)];
      return { name, csv: lines.join("\n") + "\n", json: { key_tokens: d.labels, [d.name]: d.values } };
    }
    const lines = ["index," + d.name, ...d.values.map((v, k) => `${k + 1},${v}`)];
    return { name, csv: lines.join("\n") + "\n", json: { [d.name]: d.values } };
  }
}

// ------------------------------------------------------------------ helpers

function clampStep(i) { return Math.max(0, Math.min(STEPS.length - 1, i)); }


/** Symmetric colour limit: the 99th percentile of |v|, so one outlier does not wash out the rest. */
function robustMax(values) {
  const abs = values.map(Math.abs).sort((a, b) => a - b);
  const k = Math.min(abs.length - 1, Math.floor(abs.length * 0.99));
  return abs[k] || abs[abs.length - 1] || 1;
}

function fmt(x, digits = 2) {
  if (x === null || x === undefined) return "−∞";
  const s = Number(x.toFixed(digits)).toString();
  return s.startsWith("-") ? `−${s.slice(1)}` : s;
}

/** "a" or "an" before a number read aloud: an 8, an 11, an 18, an 80…, a 32. */
function an(n) { return /^8/.test(String(n)) || n === 11 || n === 18 ? "an" : "a"; }

function quote(t) { return `“${t}”`; }

function csvCell(v) {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function text(id, s) { $(id).textContent = s; }


function setStatus(s, busy = false) {
  const el = $("steps-status");
  el.textContent = s;
  el.classList.toggle("busy", busy);
}

function setError(s) {
  const el = $("steps-error");
  el.textContent = s;
  el.hidden = !s;
}

function sum(a) { return a.reduce((s, x) => s + (x ?? 0), 0); }

function argmax(a) {
  let best = 0;
  a.forEach((v, j) => { if (v !== null && v > a[best]) best = j; });
  return best;
}

// ------------------------------------------------------------------ block steps: labels from the answer

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
