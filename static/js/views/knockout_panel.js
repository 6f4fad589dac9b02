// The Attention view's "block it → animal" panel: a readout of the hovered or selected cell, a button that
// blocks that query → key edge in every layer (POST /api/knockout), and the model's output before and after.
import { api } from "../api.js";
import { createLoader } from "../kernel/load.js";
import { fill } from "../ui.js";
import { tokenOption } from "../plot.js";

const $ = (id) => document.getElementById(id);
const TOP = 5;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const pct = (p) => `${(100 * p).toFixed(1)}%`;
const shown = (t) => JSON.stringify(t); // the token with its spaces visible

export class KnockoutPanel {
  /**
   * context(): {model, text, block, target} of the answer in view; values(i, j): {weight, share?, label?} of the
   * cell in view, or null when the numbers are hidden (the quiz).
   */
  constructor({ context, values }) {
    this.context = context;
    this.values = values;
    this.tokens = null; // {query, key} of the answer in view
    const st = () => $("ko-status");
    this.loader = createLoader((body, signal) => api("/api/knockout", body, { signal }), {
      size: 32, busy: "Running the model twice…", error: (text) => this.error(text),
      status: (text, busy = false) => { st().textContent = text; st().classList.toggle("busy", busy); } });
    $("ko-query").addEventListener("change", () => this.refresh());
    $("ko-key").addEventListener("change", () => this.refresh());
    $("ko-block").addEventListener("click", () => this.block());
  }

  get cell() { return [Number($("ko-query").value) || 0, Number($("ko-key").value) || 0]; }

  /** A new answer: fill the selects; a new sentence also clears the result and picks a default cell. */
  setTokens(res, z) {
    const sig = JSON.stringify([res.model, res.text, res.block, res.query_tokens, res.key_tokens]);
    if (sig === this.sig) { this.refresh(); return; }
    this.sig = sig;
    this.tokens = { query: res.query_tokens, key: res.key_tokens };
    fill($("ko-query"), res.query_tokens.map((t, i) => [i, tokenOption(t, i)]));
    fill($("ko-key"), res.key_tokens.map((t, j) => [j, tokenOption(t, j)]));
    // default: the last ordinary query and its most attended other ordinary key in the head in view
    const ordinary = (special) => (i) => !special?.[i];
    const qs = res.query_tokens.map((_, i) => i).filter(ordinary(res.query_special));
    const i = qs.length ? qs[qs.length - 1] : 0;
    let j = 0, best = -1;
    (z[i] || []).forEach((w, k) => {
      if (k !== i && !res.key_special?.[k] && w > best) { best = w; j = k; }
    });
    this.select(i, j);
    this.loader.cancel(); // a knockout of the previous sentence is no answer for this one
    this.clear();
  }

  select(i, j) {
    $("ko-query").value = String(i);
    $("ko-key").value = String(j);
    this.refresh();
  }

  /** The readout shows the hovered cell (i, j), or the selected one when `i` is null. */
  hover(i = null, j = null) {
    this.readout(...(i === null ? this.cell : [i, j]), i !== null);
  }

  refresh() {
    if (!this.tokens) return;
    const [i, j] = this.cell;
    $("ko-block").textContent = `Block “${this.tokens.query[i].trim()}” → “${this.tokens.key[j].trim()}” in every layer`;
    this.readout(i, j, false);
  }

  readout(i, j, hovered) {
    if (!this.tokens) return;
    const out = $("cell-readout");
    const v = this.values(i, j);
    out.dataset.query = String(i);
    out.dataset.key = String(j);
    out.replaceChildren(el("strong", `${this.tokens.query[i]} → ${this.tokens.key[j]}`));
    delete out.dataset.weight;
    delete out.dataset.share;
    if (v) {
      out.dataset.weight = String(v.weight);
      out.append(` · weight ${v.weight.toFixed(3)}`);
      if (v.share !== undefined) {
        out.dataset.share = String(v.share);
        out.append(` · ${v.label} ${v.share.toFixed(3)}`);
      }
    }
    if (hovered) out.append(el("span", " · shift-click to block it", "ko-hint"));
  }

  clear() {
    $("ko-result").replaceChildren();
    this.error("");
  }

  error(text) {
    $("ko-error").textContent = text;
    $("ko-error").hidden = !text;
  }

  /** Block the selected query → key edge in every layer and show the output before and after. */
  async block() {
    if (!this.tokens) return;
    const [i, j] = this.cell;
    const body = { ...this.context(), edges: { from_passage: [i, i + 1], to_passage: [j, j + 1] } };
    this.clear();
    const got = await this.loader.load(body);
    if (got && got.data) this.render(got.data, i, j);
  }

  render(res, i, j) {
    const out = $("ko-result");
    const what = el("p", "", "ko-what");
    what.append("Blocked ", el("strong", `${res.query_tokens[i]} → ${res.key_tokens[j]}`),
      ` in ${res.layers.length} layer${res.layers.length === 1 ? "" : "s"}.`);
    if (!res.blocked) what.append(" The model's own mask hides this key from this query already: nothing changed.");
    if (res.kind === "encoder") { out.replaceChildren(what, this.encoder(res)); return; }
    const t = res.top_token;
    const big = el("p", "", "ko-big");
    big.dataset.probBefore = String(t.prob_before);
    big.dataset.probAfter = String(t.prob_after);
    big.dataset.kl = String(res.kl);
    big.append("Next token ", el("code", shown(t.token)), ": ", el("strong", pct(t.prob_before), "ko-before"), " → ",
      el("strong", pct(t.prob_after), "ko-after"),
      el("span", ` (${t.change >= 0 ? "+" : "−"}${(100 * Math.abs(t.change)).toFixed(1)} points)`, "ko-change"),
      ` · KL ${res.kl.toFixed(4)} nats`);
    const cols = el("div", undefined, "ko-cols");
    for (const [title, list] of [["Before", res.before], ["After", res.after]]) cols.append(this.bars(title, list, t.id));
    out.replaceChildren(what, big, cols);
  }

  /** Top-5 next tokens as bars (plain elements: tokens go in as text). */
  bars(title, list, top) {
    const box = el("div", undefined, "ko-list");
    box.append(el("h4", title));
    const ol = el("ol", undefined, "ko-bars");
    for (const c of list.slice(0, TOP)) {
      const li = el("li", undefined, c.id === top ? "ko-top" : undefined);
      const bar = el("span", undefined, "ko-bar");
      bar.style.setProperty("--p", String(c.prob));
      li.append(el("code", shown(c.token)), bar, el("span", pct(c.prob), "ko-p"));
      ol.append(li);
    }
    box.append(ol);
    return box;
  }

  encoder(res) {
    const q = res.queries[0];
    const big = el("p", "", "ko-big");
    if (!q) return big;
    big.dataset.cosine = String(q.cosine);
    big.append("Final hidden state of ", el("code", shown(q.token)), ": cosine before/after ",
      el("strong", q.cosine.toFixed(4), "ko-cosine"), ` · norm ${q.norm_before.toFixed(2)} → ${q.norm_after.toFixed(2)}`,
      ` · ‖after − before‖ ${q.change_norm.toFixed(3)}`);
    return big;
  }
}
