// The long view's "Ask" panel (RAG): the documents in #lc-text plus a question (its own passage, after a blank
// line) go to POST /api/long/generate; the answer comes back as token chips, and a clicked chip shows which
// passage that token read (mass per passage, mean over layers or one layer), the mass on the answer itself and
// its top keys. The response's trace header becomes the view's trace (onTrace), so the heatmap shows the prompt.
// Token text is set with textContent only.
import { ApiError } from "../api.js";
import { $ } from "../analysis.js";
import { createLoader, markStale } from "../kernel/load.js";
import { post } from "./long_run.js";
import { fmt } from "./long_tiles.js";

const el = (tag, props = {}, ...kids) => { const e = Object.assign(document.createElement(tag), props); e.append(...kids); return e; };
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
/** Spaces and newlines of a token made visible on a chip. */
const shown = (t) => (t === "" ? "∅" : t.replace(/\n/g, "⏎").replace(/^ /, "␣").replace(/ $/, "␣"));

/** One answer: the prompt runs, then the answer's tokens; the response holds them, their steps and the prompt's trace. */
async function generate(request, signal) {
  const res = await post("/api/long/generate", request, signal, `${request.model} cannot answer here: `);
  const data = await res.json().catch(() => null);
  if (!data?.trace) throw new ApiError("The server's answer was not readable.", res.status);
  return data;
}

export class AnswerPanel {
  /** msg: the view's status/error lines; model(): the selected model; onTrace(header): open the prompt's trace. */
  constructor({ msg, model, passagesMode, onTrace, onState }) {
    Object.assign(this, { msg, model, passagesMode, onTrace, onState, res: null, step: null, asks: 0 });
    // nothing kept: each answer runs the model again (its trace lives in the server's memory)
    this.loader = createLoader(generate, { size: 0, error: msg.error, stale: markStale($("lc-answer")),
      status: (text, on) => { msg.status(text, on); this.busy(Boolean(on)); } });
    $("lc-ask-form").addEventListener("submit", (e) => { e.preventDefault(); this.ask(); });
    $("lc-ask-q").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.ask(); } });
    $("lc-ask-q").addEventListener("input", () => { clearTimeout(this.qTimer); this.qTimer = setTimeout(() => this.onState(), 400); });
    $("lc-ans-layer").addEventListener("change", () => this.drawStep());
  }

  get question() { return $("lc-ask-q").value; }
  set question(q) { $("lc-ask-q").value = q; }

  /** Abort the answer in flight, if any (a run replaces it). */
  cancel() { this.loader.cancel(); this.busy(false); }

  busy(on) {
    $("lc-ask").disabled = on;
    $("lc-ask").textContent = on ? "Answering…" : "Answer";
    $("lc-ask-form").classList.toggle("busy", on);
    $("lc-ask-form").setAttribute("aria-busy", String(on));
  }

  async ask() {
    const docs = $("lc-text").value.trim(), q = this.question.trim(), model = this.model();
    const n = Number($("lc-ask-max").value);
    if (!docs) { this.msg.error("Paste or drop the documents first."); return; }
    if (!q) { this.msg.error("Write a question first."); return; }
    if (!model) { this.msg.error("No model is loaded yet."); return; }
    if (!Number.isInteger(n) || n < 1 || n > 64) { this.msg.error("Max new tokens must be a whole number from 1 to 64."); return; }
    const text = `${docs}\n\n${q}`, label = `Answering with ${model}: the whole prompt (${(docs.length + q.length)
      .toLocaleString("en-US")} characters) runs first, then up to ${n} answer tokens… this can take a while.`;
    const res = await this.loader.load({ model, text, passages: this.passagesMode(), max_new_tokens: n },
      { key: String(++this.asks), label }); // each answer its own: a newer one aborts it
    if (!res || res.error) return; // replaced, or the error shows
    this.res = res.data;
    this.onTrace(this.res.trace); // the prompt's trace: heatmap, minimap, passages matrix (it sets the status line)
    this.show();
  }

  show() {
    const { steps, trace } = this.res, L = trace.layers;
    $("lc-answer").hidden = false;
    $("lc-ans-text").textContent = this.res.text;
    const opts = [el("option", { value: "mean", textContent: "Mean over layers" })];
    for (let l = 0; l < L; l++) opts.push(el("option", { value: String(l), textContent: `Layer ${l + 1}` }));
    $("lc-ans-layer").replaceChildren(...opts);
    $("lc-ans-chips").replaceChildren(...steps.map((s, i) => {
      const b = el("button", { type: "button", className: "lc-chip", textContent: shown(s.token), title: `answer token ${i + 1}: id ${s.id}` });
      b.dataset.index = String(i);
      b.dataset.token = s.token;
      b.addEventListener("click", () => this.pick(i));
      return b;
    }));
    if (!steps.length) { $("lc-ans-detail").hidden = true; return; }
    this.pick(0);
  }

  pick(i) {
    this.step = i;
    for (const c of $("lc-ans-chips").children) c.setAttribute("aria-pressed", String(Number(c.dataset.index) === i));
    this.drawStep();
  }

  drawStep() {
    if (!this.res || this.step === null) return;
    const s = this.res.steps[this.step], passages = this.res.trace.passages, sel = $("lc-ans-layer").value;
    const layer = sel === "mean" ? null : Number(sel);
    const values = layer === null ? s.mean_mass : s.mass[layer];
    const own = layer === null ? mean(s.answer_mass) : s.answer_mass[layer];
    const top = values.reduce((b, v, j) => (v > values[b] ? j : b), 0);
    const max = Math.max(own, ...values, 1e-9);
    $("lc-ans-detail").hidden = false;
    $("lc-ans-head").textContent = `Answer token ${this.step + 1} “${s.token}” (${layer === null ? "mean over layers" : `layer ${layer + 1}`}, `
      + `mean over heads): it read P${top + 1} most.`;
    const row = (label, title, v, cls) => {
      const r = el("div", { className: `lc-bar ${cls}` },
        el("span", { className: "lc-bar-label", textContent: label, title }),
        el("span", { className: "lc-bar-track" }, el("span", { className: "lc-bar-fill" })),
        el("span", { className: "lc-bar-value", textContent: v.toFixed(3) }));
      r.querySelector(".lc-bar-fill").style.width = `${(100 * v) / max}%`;
      r.dataset.value = String(v);
      return r;
    };
    const bars = passages.map((p, j) => {
      const r = row(`P${p.index + 1} ${p.title}`, p.title, values[j], j === top ? "lc-read" : "");
      r.dataset.passage = String(j);
      return r;
    });
    const mine = row("The answer itself", "the answer's own tokens so far (and this token)", own, "lc-bar-own");
    mine.dataset.answerMass = String(own);
    $("lc-ans-bars").replaceChildren(...bars, mine);
    Object.assign($("lc-ans-bars").dataset, { step: String(this.step), layer: sel, passage: String(top) });
    $("lc-ans-keys").replaceChildren(...s.top_keys.map((k) => {
      const li = el("li", {}, el("code", { textContent: shown(k.token) }), ` (${k.index}) ${fmt(k.weight)}`);
      Object.assign(li.dataset, { index: String(k.index), weight: String(k.weight) });
      return li;
    }));
  }
}
