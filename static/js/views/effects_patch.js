// The Effects view's Patching tab: two prompts, a metric and a mode -> POST /api/patch -> the grid of effects
// (effects_grid.js), the token strips with the differing tokens marked, answer vs foil, the selected head with a
// link into the Attention view, and the five most effective heads. URL keys: model, clean, corrupt, metric, mode,
// answer, foil, layer and head (residual mode: layer and pos).
import { exportBar } from "../export.js";
import { EffectsGrid, exportInfo, scaleText, signed, siteName, tok, topSites } from "./effects_grid.js";

const $ = (id) => document.getElementById(id);
const BATCH = 32; // patched runs per forward pass (the API's `batch`)

/** A node with a class and text content (never HTML). */
export function node(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A token strip: one span per token, the differing positions marked. */
export function strip(label, tokens, differing) {
  const row = node("p", "eff-strip");
  row.append(node("span", "eff-strip-label", label));
  tokens.forEach((t, i) => {
    const s = node("span", differing.includes(i) ? "eff-tok eff-diff" : "eff-tok", tok(t));
    s.title = `position ${i}`;
    s.dataset.pos = String(i);
    row.append(s);
  });
  return row;
}

/** The answer, the foil and the metric's clean and corrupt values, from the answer. */
export function pairText(res) {
  const metric = { logit_diff: "logit[answer] − logit[foil]", prob: "p(answer)", kl: "KL(clean ‖ patched), nats" }[res.metric];
  const vs = res.foil ? ` vs foil ‘${tok(res.foil.token)}’` : "";
  return `Answer ‘${tok(res.answer.token)}’${vs} · ${metric}: clean ${res.clean_value.toFixed(3)}, `
    + `corrupt ${res.corrupt_value.toFixed(3)}`;
}

/** What one cell is, for the caption beside the grid. */
const CAPTION = {
  heads: "Each cell runs the corrupt prompt with that one head's output (at every position) copied from the clean run, "
    + "and reads the metric after the last token. A causal effect, for this pair of prompts only: a head can matter "
    + "here and do nothing elsewhere, and heads that share a job can each look small.",
  residual: "Each cell runs the corrupt prompt with the residual stream after that layer, at that one position, copied "
    + "from the clean run, and reads the metric after the last token: where, and from which layer on, the information "
    + "that tells the two prompts apart is carried. For this pair of prompts only.",
};

/** The link into the Attention view of the clean prompt at a head (0-based layer and head in the URL). */
export function attentionHref(res, clean, layer, head) {
  const q = new URLSearchParams({ view: "attention", model: res.model, text: clean, layer: String(layer), head: String(head) });
  return `/?${q}`;
}

export class PatchTab {
  constructor({ models, state, api, onCurrent }) {
    Object.assign(this, { models, state, api, onCurrent });
    this.res = null;
    this.sent = null; // the request of this.res
    this.selected = null;
    this.presets = {};
    this.grid = new EffectsGrid($("eff-grid"), { onPick: (c) => this.pick(c, true) });
    exportBar($("eff-grid"), () => exportInfo(this.res));
    $("eff-caption").textContent = CAPTION.heads;
    this.fillModels();
    window.addEventListener("models:update", (e) => { this.models = e.detail; this.fillModels(); });
    $("eff-form").addEventListener("submit", (e) => { e.preventDefault(); this.run({ push: true, force: true }); });
    for (const id of ["eff-clean", "eff-corrupt"]) { // Enter runs (Shift+Enter: a new line)
      $(id).addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("eff-form").requestSubmit(); }
      });
    }
    this.ready = this.loadPresets();
  }

  fillModels() {
    const sel = $("eff-model"), keep = sel.value;
    const dec = this.models.filter((m) => m.kind === "decoder");
    sel.replaceChildren(...dec.map((m) => {
      const o = node("option", "", m.status === "loaded" ? `${m.name} (${m.layers}×${m.heads})` : `${m.name} (${m.status})`);
      o.value = m.id;
      o.disabled = m.status !== "loaded";
      return o;
    }));
    const ok = dec.filter((m) => m.status === "loaded").map((m) => m.id);
    sel.value = ok.includes(keep) ? keep : ok.includes("smollm2") ? "smollm2" : ok[0] || "";
  }

  async loadPresets() {
    try {
      this.presets = (await this.api("/api/patch/presets")).presets;
    } catch (e) {
      this.error(`The presets did not load: ${e.detail || e}`);
      return;
    }
    $("eff-presets").replaceChildren(...Object.entries(this.presets).map(([id, p]) => {
      const b = node("button", "chip", p.title);
      b.type = "button";
      b.dataset.preset = id;
      b.title = p.note;
      b.addEventListener("click", () => { this.fill(p); this.run({ push: true }); });
      return b;
    }));
  }

  /** Put a preset (or the URL's state) into the form. */
  fill(p) {
    if (p.clean !== undefined) $("eff-clean").value = p.clean;
    if (p.corrupt !== undefined) $("eff-corrupt").value = p.corrupt;
    if (p.metric) $("eff-metric").value = p.metric;
    if (p.mode) $("eff-mode").value = p.mode;
    $("eff-answer-in").value = p.target ?? p.answer ?? "";
    $("eff-foil-in").value = p.foil ?? "";
  }

  request() {
    const body = { model: $("eff-model").value, clean: $("eff-clean").value, corrupt: $("eff-corrupt").value,
      metric: $("eff-metric").value, mode: $("eff-mode").value };
    if ($("eff-answer-in").value) body.target = $("eff-answer-in").value;
    if ($("eff-foil-in").value && body.metric === "logit_diff") body.foil = $("eff-foil-in").value;
    return body;
  }

  error(text) { $("eff-error").textContent = text || ""; $("eff-error").hidden = !text; }

  status(text, busy = false) { $("eff-status").textContent = text; $("eff-status").classList.toggle("busy", busy); }

  save(push = false) {
    const b = this.request(), sel = this.selected, heads = b.mode === "heads";
    this.state.set({ view: "effects", tab: null, model: b.model, clean: b.clean, corrupt: b.corrupt, metric: b.metric,
      mode: b.mode === "heads" ? null : b.mode, answer: b.target || null, foil: b.foil || null,
      layer: sel ? sel[0] : null, head: sel && heads ? this.res?.columns[sel[1]] ?? null : null,
      pos: sel && !heads ? this.res?.columns[sel[1]] ?? null : null }, { push });
  }

  async show(s) {
    await this.ready;
    if (s.model && [...$("eff-model").options].some((o) => o.value === s.model && !o.disabled)) $("eff-model").value = s.model;
    if (s.clean !== undefined || s.corrupt !== undefined) {
      this.fill({ clean: s.clean ?? "", corrupt: s.corrupt ?? "", metric: s.metric || "logit_diff", mode: s.mode || "heads",
        answer: s.answer ?? "", foil: s.foil ?? "" });
    } else if (!$("eff-clean").value && this.presets.ioi) this.fill(this.presets.ioi);
    this.want = s;
    if (s.clean && s.corrupt) await this.run();
    else if (!this.res) this.status("Pick a preset, or write two prompts and press Run.");
    else this.render();
  }

  async run({ push = false, force = false } = {}) {
    const body = this.request();
    const key = JSON.stringify(body);
    if (!force && this.res && key === this.sent) { this.applyWant(); this.render(); return; }
    if (this.inflight && this.inflight.key === key && !force) return this.inflight.promise;
    if (this.inflight) this.inflight.ctrl.abort();
    const ctrl = new AbortController();
    const m = this.models.find((x) => x.id === body.model);
    const n = m ? m.layers * m.heads : 0;
    this.status(body.mode === "heads" && n ? `running: ${n} heads in ${1 + Math.ceil(n / BATCH)} batched passes…`
      : `running: ${m ? m.layers : ""} layers × every position, in batched passes…`, true);
    this.error("");
    $("eff-grid").classList.add("eff-stale");
    const promise = (async () => {
      let res;
      try {
        res = await this.api("/api/patch", body, { signal: ctrl.signal });
      } catch (e) {
        if (e.name === "AbortError") return;
        this.fail(e.detail || String(e));
        return;
      } finally {
        if (this.inflight && this.inflight.ctrl === ctrl) this.inflight = null;
      }
      this.res = res;
      this.sent = key;
      this.selected = null;
      this.applyWant();
      this.status(`done: ${res.forwards} forward passes (${res.batch} patched runs each) in ${res.seconds.toFixed(2)} s`);
      this.save(push);
      this.render();
    })();
    this.inflight = { key, ctrl, promise };
    return promise;
  }

  /** The URL's selected head (or position), once the answer it points into is here. */
  applyWant() {
    const s = this.want;
    this.want = null;
    if (!s) return;
    this.selected = null;
    if (!this.res || s.layer === undefined) return;
    const col = this.res.columns.indexOf(Number(this.res.mode === "heads" ? s.head : s.pos));
    const l = Number(s.layer);
    if (Number.isInteger(l) && l >= 0 && l < this.res.values.length && col >= 0) this.selected = [l, col];
  }

  fail(text) {
    this.error(text);
    this.status("");
    this.res = null;
    this.sent = null;
    this.selected = null;
    this.grid.clear();
    $("eff-grid").classList.remove("eff-stale");
    for (const id of ["eff-pair", "eff-strips", "eff-head", "eff-top-list"]) $(id).replaceChildren();
    $("eff-scale").textContent = "";
    $("eff-reason").hidden = true;
    this.onCurrent();
  }

  pick(c, push = false) {
    this.selected = c;
    this.save(push);
    this.render();
  }

  /** The answer in sight (for the class question), or null. */
  current() { return this.res; }

  render() {
    const res = this.res;
    if (!res) return;
    const blank = document.body.dataset.classQuestion === "grid";
    $("eff-grid").classList.remove("eff-stale");
    $("eff-scale").textContent = blank ? "The class is answering: the grid is hidden until the reveal." : scaleText(res);
    this.grid.draw(res, { selected: this.selected, blank });
    $("eff-reason").textContent = res.reason ? `No effects: ${res.reason}.` : "";
    $("eff-reason").hidden = !res.reason;
    $("eff-pair").replaceChildren(node("p", "eff-pair-line", pairText(res)));
    $("eff-strips").replaceChildren(strip("clean", res.clean_tokens, res.differing),
      strip("corrupt", res.corrupt_tokens, res.differing));
    $("eff-head").hidden = blank;
    $("eff-caption").textContent = CAPTION[res.mode];
    $("eff-top-h").textContent = res.mode === "heads" ? "Top heads" : "Top sites (layer, position)";
    $("eff-top-box").hidden = blank || !res.effects;
    this.renderHead(res);
    $("eff-top-list").replaceChildren(...topSites(res).map((t) => {
      const li = node("li");
      const b = node("button", "eff-top-btn", `${siteName(res, t.layer, t.col)}: ${signed(t.effect)}`);
      b.type = "button";
      b.addEventListener("click", () => this.pick([t.layer, t.col], true));
      li.append(b);
      return li;
    }));
    this.onCurrent();
  }

  renderHead(res) {
    const box = $("eff-head");
    if (!this.selected) {
      box.replaceChildren(node("p", "eff-hint", res.mode === "heads" ? "Click a cell for its effect and a link to its attention."
        : "Click a cell for its effect."));
      delete box.dataset.effect;
      return;
    }
    const [l, c] = this.selected;
    const e = res.effects ? res.effects[l][c] : null, v = res.values[l][c];
    box.dataset.effect = e === null ? "" : String(e);
    box.dataset.layer = String(l);
    box.dataset.col = String(res.columns[c]);
    const line = node("p", "eff-head-line");
    line.append(node("strong", "", siteName(res, l, c)), `: effect ${e === null ? "undefined" : signed(e, 4)}`,
      node("span", "eff-muted", ` · m(patched) ${v === null ? "n/a" : v.toFixed(4)}`));
    const kids = [line];
    if (res.mode === "heads") {
      const a = node("a", "eff-attn-link", `Its attention on the clean prompt → (Attention view: Layer ${l + 1}, Head ${res.columns[c] + 1})`);
      a.id = "eff-attn-link";
      a.href = attentionHref(res, this.sent ? JSON.parse(this.sent).clean : $("eff-clean").value, l, res.columns[c]);
      const p = node("p", "eff-link-line");
      p.append(a);
      kids.push(p);
    }
    box.replaceChildren(...kids);
  }
}
