// The lesson "Attention is not explanation": four steps on the lectures' sentence (the `animal` preset of
// /api/patch/presets: "…because it was too tired. It refers to the", and its "…too wide" twin), each with the
// model's own numbers fetched live: (1) the weight (/api/attention), (2) the norm (/api/norms), (3) the head's
// patching effect (/api/patch), (4) the knockout of "it" → "animal" (/api/knockout). URL: tab=lesson, step=1..4,
// layer and head (the head in question; absent = the most effective head of step 3's patching).
import { exportBar } from "../export.js";
import { EffectsGrid, exportInfo, refit, scaleText, signed, siteName, tok, topSites } from "./effects_grid.js";
import { barKey, barReadout, captions, drawKnockout, drawNorms, drawWeights, findToken, knockoutReadout, sentencePair }
  from "./effects_lesson_figs.js";
import { node, pairText } from "./effects_patch.js";

const $ = (id) => document.getElementById(id);
const STEPS = ["The weight", "The norm", "The effect", "The knockout"];
const TITLES = [
  (h) => `1 · The weight: where ${h}'s query at ‘it’ looks`,
  (h) => `2 · The norm: how much of each value vector ${h} moves into ‘it’`,
  (h) => `3 · The effect: patching every head, ${h} outlined`,
  () => "4 · The knockout: the next token when ‘it’ cannot see ‘animal’",
];

export class Lesson {
  constructor({ models, state, api, onCurrent }) {
    Object.assign(this, { models, state, api, onCurrent });
    this.step = 1;
    this.chosen = null; // [layer, head] from the URL, or null: the most effective head
    this.cache = new Map();
    this.seq = 0;
    this.view = null; // what the figure shows now: {step, data}
    this.grid = new EffectsGrid($("eff-l-fig"), { onPick: (c) => { if (this.step === 3) this.choose(c, true); } });
    exportBar($("eff-l-fig"), () => this.exportInfo());
    $("eff-steps").replaceChildren(...STEPS.map((name, k) => {
      const li = node("li");
      const b = node("button", "eff-step", `${k + 1} ${name}`);
      b.type = "button";
      b.dataset.step = String(k + 1);
      b.addEventListener("click", () => this.go(k + 1));
      li.append(b);
      return li;
    }));
    $("eff-back").addEventListener("click", () => this.go(this.step - 1));
    $("eff-next").addEventListener("click", () => this.go(this.step + 1));
    const pickHead = () => this.choose([Number($("eff-l-layer").value), Number($("eff-l-head").value)], true);
    $("eff-l-layer").addEventListener("change", pickHead);
    $("eff-l-head").addEventListener("change", pickHead);
    $("eff-l-top").addEventListener("click", () => this.choose(null, true));
  }

  get model() {
    const dec = this.models.filter((m) => m.kind === "decoder" && m.status === "loaded");
    return dec.find((m) => m.id === "smollm2") || dec[0] || null;
  }

  /** One API answer per request, fetched once (a failed one is forgotten, to be asked again). */
  fetch(path, body) {
    const key = path + JSON.stringify(body);
    if (!this.cache.has(key)) {
      const p = this.api(path, body);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return this.cache.get(key);
  }

  async preset() {
    if (!this.animal) this.animal = (await this.fetch("/api/patch/presets")).presets.animal;
    return this.animal;
  }

  patchBody(p) {
    return { model: this.model.id, clean: p.clean, corrupt: p.corrupt, target: p.target, foil: p.foil, metric: p.metric, mode: "heads" };
  }

  go(step, push = true) {
    this.step = Math.min(4, Math.max(1, step));
    this.save(push);
    this.render();
  }

  choose(head, push = false) {
    this.chosen = head;
    this.picked = Boolean(head);
    this.save(push);
    this.render();
  }

  save(push = false) {
    this.state.set({ view: "effects", tab: "lesson", step: this.step, model: this.model?.id,
      layer: this.chosen ? this.chosen[0] : null, head: this.chosen ? this.chosen[1] : null }, { push });
  }

  async show(s) {
    this.step = Math.min(4, Math.max(1, Number.parseInt(s.step, 10) || 1));
    const l = Number.parseInt(s.layer, 10), h = Number.parseInt(s.head, 10);
    const m = this.model;
    const chosen = m && l >= 0 && l < m.layers && h >= 0 && h < m.heads ? [l, h] : null;
    if (String(chosen) !== String(this.chosen)) this.picked = false; // a link's or the class's head
    this.chosen = chosen;
    await this.render();
  }

  error(text) { $("eff-l-error").textContent = text || ""; $("eff-l-error").hidden = !text; }

  status(text, busy = false) { $("eff-l-status").textContent = text; $("eff-l-status").classList.toggle("busy", busy); }

  /** The answer in sight for the class question: step 3's patching grid, else null. */
  current() { return this.step === 3 && this.view?.step === 3 ? this.view.data : null; }

  /**
   * The head in question: the URL's, or the patching's most effective one (running the patching for it, once;
   * then written into the URL, so that a class following this page need not run it for steps 1, 2 and 4).
   */
  async head(p, seq) {
    const known = this.top; // {head, effect} once this page has run the patching
    if (this.chosen) {
      const same = known && known.head.join() === this.chosen.join();
      return { head: this.chosen, why: same ? "top" : this.picked ? "picked" : "link", effect: same ? known.effect : null };
    }
    this.status(`patching ${this.model.layers * this.model.heads} heads to find the most effective one…`, true);
    const res = await this.fetch("/api/patch", this.patchBody(p));
    if (seq !== this.seq) return null;
    const top = topSites(res, 1)[0];
    if (!top) throw new Error(res.reason || "the patching gave no effects");
    this.top = { head: [top.layer, res.columns[top.col]], effect: top.effect };
    this.chosen = this.top.head;
    this.save();
    return { ...this.top, why: "top" };
  }

  async render() {
    const seq = ++this.seq, step = this.step;
    for (const b of $("eff-steps").querySelectorAll("button")) {
      b.setAttribute("aria-current", b.dataset.step === String(step) ? "step" : "false");
    }
    $("eff-back").disabled = step === 1;
    $("eff-next").disabled = step === 4;
    this.error("");
    const m = this.model;
    if (!m) { this.error("The lesson needs a decoder (SmolLM2): none is loaded."); return; }
    this.fillHeads(m);
    $("eff-l-fig").classList.add("eff-stale");
    try {
      const p = await this.preset();
      if (seq !== this.seq) return;
      $("eff-l-sentence").replaceChildren(...sentencePair(p.clean, p.corrupt));
      $("eff-l-sentence").title = `${m.name}: the lectures' sentence and its twin, with "It refers to the" after them`;
      const h = await this.head(p, seq);
      if (!h || seq !== this.seq) return;
      const [layer, head] = h.head;
      $("eff-l-layer").value = String(layer);
      $("eff-l-head").value = String(head);
      $("eff-l-why").textContent = `layer ${layer} · head ${head}` + { top: `: the most effective head of step 3's patching `
        + `(${signed(h.effect)})`, picked: ": your choice", link: "" }[h.why];
      this.status("asking the model…", true);
      const data = await this.stepData(step, p, layer, head);
      if (seq !== this.seq) return;
      this.draw(step, data, layer, head);
      this.status("");
    } catch (e) {
      if (seq !== this.seq) return;
      this.status("");
      this.error(e.detail || e.message || String(e));
      this.view = null;
      this.grid.clear();
      $("eff-l-readout").textContent = "";
      this.onCurrent();
    }
  }

  fillHeads(m) {
    const fill = (sel, n, label) => {
      if (sel.options.length === n) return;
      sel.replaceChildren(...Array.from({ length: n }, (_, i) => { const o = node("option", "", `${label} ${i}`); o.value = String(i); return o; }));
    };
    fill($("eff-l-layer"), m.layers, "layer");
    fill($("eff-l-head"), m.heads, "head");
  }

  /** The step's API answer, shaped for its figure. */
  async stepData(step, p, layer, head) {
    const model = this.model.id;
    if (step === 3) return this.fetch("/api/patch", this.patchBody(p));
    if (step === 4) {
      const toks = (await this.fetch("/api/attention", { model, text: p.clean, layer })).query_tokens;
      const i = findToken(toks, "it"), a = findToken(toks, "animal");
      if (i < 0 || a < 0) throw new Error("‘it’ or ‘animal’ is not a token of this sentence for this model");
      const ko = await this.fetch("/api/knockout", { model, text: p.clean, edges: { from_passage: [i, i + 1], to_passage: [a, a + 1] } });
      return { ko, keys: toks, i, a, s: findToken(toks, "street") };
    }
    const res = step === 1 ? await this.fetch("/api/attention", { model, text: p.clean, layer })
      : await this.fetch("/api/norms", { model, text: p.clean, layer });
    const keys = res.key_tokens, i = findToken(res.query_tokens, "it");
    if (i < 0) throw new Error("‘it’ is not a token of this sentence for this model");
    const seen = keys.slice(0, i + 1);
    const ctx = { res, keys: seen, i, a: findToken(seen, "animal"), s: findToken(seen, "street"), layer, head,
      row: res.weights[head][i].slice(0, i + 1) };
    if (step === 2) ctx.norm = res.norms_normalised[head][i].slice(0, i + 1);
    return ctx;
  }

  /** The bar figures' height: the room below the figure's top (an export bar under it), 280 to 460 px (620 presenting). */
  figHeight() {
    const top = $("eff-l-fig").getBoundingClientRect().top + window.scrollY;
    const presenting = document.body.classList.contains("presenting"); // no export bar under the figure
    const room = window.innerHeight - Math.min(top, 420) - (presenting ? 16 : 56);
    return Math.round(Math.max(280, Math.min(room, presenting ? 620 : 460)));
  }

  draw(step, data, layer, head) {
    this.view = { step, data, layer, head };
    const div = $("eff-l-fig"), name = `layer ${layer} · head ${head}`;
    const blank = document.body.dataset.classQuestion === "grid";
    div.classList.remove("eff-stale");
    $("eff-l-title").textContent = TITLES[step - 1](name);
    $("eff-l-scale").hidden = step === 4;
    $("eff-l-top-box").hidden = step !== 3 || blank;
    $("eff-l-pair").hidden = step !== 3;
    if (step !== 3) $("eff-l-scale").textContent = barKey(step);
    const cap = captions(step, step === 3 ? { i: -1 } : data);
    $("eff-l-shows").textContent = cap.shows;
    $("eff-l-not").textContent = cap.not;
    cancelAnimationFrame(this.frame); // a refit of the figure drawn before (a grid's height is not a bar chart's)
    cancelAnimationFrame(this.grid.frame);
    const out = $("eff-l-readout");
    out.replaceChildren();
    for (const k of ["effect", "row", "norm", "before", "after"]) delete out.dataset[k];
    if (step === 3) {
      const res = data, col = res.columns.indexOf(head);
      $("eff-l-scale").textContent = blank ? "The class is answering: the grid is hidden until the reveal." : scaleText(res);
      const e = res.effects && col >= 0 ? res.effects[layer][col] : null;
      out.dataset.effect = e === null ? "" : String(e);
      if (!blank) {
        const gap = res.clean_value - res.corrupt_value;
        out.append(node("strong", "", `${name}: effect ${signed(e, 4)}`), ` — restoring its output alone moves the metric `
          + `by ${e === null ? "n/a" : (e * gap).toFixed(3)} of the ${gap.toFixed(3)} between the twins.`);
      }
      $("eff-l-pair").textContent = `${pairText(res)}.`;
      this.grid.draw(res, { selected: col >= 0 ? [layer, col] : null, blank }); // after the text above it: its height
      this.renderTop(res);
    } else if (step === 4) {
      drawKnockout(div, data.ko, this.figHeight());
      this.refitLater();
      Object.assign(out.dataset, { before: String(data.ko.top_token.prob_before), after: String(data.ko.top_token.prob_after) });
      out.textContent = knockoutReadout(data.ko);
    } else {
      (step === 1 ? drawWeights : drawNorms)(div, data, this.figHeight());
      this.refitLater();
      out.dataset.row = JSON.stringify(data.row);
      if (data.norm) out.dataset.norm = JSON.stringify(data.norm);
      out.textContent = barReadout(data);
    }
    this.onCurrent();
  }

  /** The bar figures' height again once the page has settled (see EffectsGrid.refitLater). */
  refitLater() {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => requestAnimationFrame(() => refit($("eff-l-fig"), this.figHeight())));
  }

  renderTop(res) {
    $("eff-l-top-list").replaceChildren(...topSites(res).map((t) => {
      const li = node("li");
      const b = node("button", "eff-top-btn", `${siteName(res, t.layer, t.col)}: ${signed(t.effect)}`);
      b.type = "button";
      b.addEventListener("click", () => this.choose([t.layer, res.columns[t.col]], true));
      li.append(b);
      return li;
    }));
  }

  /** Redraw what is in view (presentation mode, a class question opening or closing). */
  redraw() { if (this.view) this.draw(this.view.step, this.view.data, this.view.layer, this.view.head); }

  exportInfo() {
    const v = this.view;
    if (!v) return null;
    if (v.step === 3) return exportInfo(v.data);
    const base = `attnscope_lesson_step${v.step}_L${v.layer}_H${v.head}`;
    if (v.step === 4) {
      const rows = ["list,rank,token,id,prob", ...["before", "after"].flatMap((w) => v.data.ko[w].map((t, k) =>
        [w, k + 1, JSON.stringify(tok(t.token)), t.id, t.prob].join(",")))];
      return { name: base, csv: rows.join("\n") + "\n", json: v.data.ko };
    }
    const rows = ["position,token,weight" + (v.data.norm ? ",norm_share" : ""), ...v.data.keys.map((t, j) =>
      [j, JSON.stringify(tok(t)), v.data.row[j], ...(v.data.norm ? [v.data.norm[j]] : [])].join(","))];
    return { name: base, csv: rows.join("\n") + "\n", json: { layer: v.layer, head: v.head, query: v.data.i, keys: v.data.keys,
      weights: v.data.row, norm_share: v.data.norm } };
  }
}
