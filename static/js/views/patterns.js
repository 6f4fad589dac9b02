// Efficient attention (lecture: local, strided, global): a mask on the textbook encoder's
// self-attention, the attention with and without it, and both translations (POST /api/patterns).
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { createLoader, markStale } from "../kernel/load.js";
import { declare } from "../kernel/controls.js";
import { CONFIG, WEIGHT_SCALE, colorbarTitle, esc, plotFont, plotTitle, tickLabels } from "../plot.js";

const $ = (id) => document.getElementById(id);
const MASK_SCALE = [[0, "#dde1ea"], [1, "#3b4cca"]];

export async function mount(ctx) {
  const view = new PatternsView(ctx);
  return { show: (s) => view.show(s) };
}

class PatternsView {
  constructor({ models, state, api }) {
    this.models = models; // app.js keeps this list current as models load
    this.state = state;
    this.res = null;
    const kind = () => $("pat-kind").value;
    // each control holds one state key; a pattern's own parameter counts only for that pattern
    this.form = declare([
      { key: "text", el: $("pat-text") },
      { key: "pattern", el: $("pat-kind"), kind: "select" },
      { key: "window", el: $("pat-window"), when: () => kind() === "local" },
      { key: "stride", el: $("pat-stride"), when: () => kind() === "strided" },
      { key: "tokens", el: $("pat-tokens"), when: () => kind() === "global" },
      { key: "layer", el: $("pat-layer"), kind: "select" },
      { key: "head", el: $("pat-head"), kind: "select" },
    ]);
    this.loader = createLoader((body, signal) => api("/api/patterns", body, { signal }), {
      busy: "Running the textbook model twice…",
      status: (text) => { $("pat-status").textContent = text; },
      error: (text) => { $("pat-error").textContent = text; $("pat-error").hidden = !text; },
      stale: markStale($("pat-mask"), $("pat-full"), $("pat-masked")) });
    $("pat-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    for (const id of ["pat-kind", "pat-window", "pat-stride", "pat-tokens"]) {
      $(id).addEventListener("change", () => { this.fields(); this.save(); this.load(); });
    }
    for (const id of ["pat-layer", "pat-head"]) $(id).addEventListener("change", () => { this.save(); this.render(); });
    for (const [id, name] of [["pat-full", "full"], ["pat-masked", "patterned"]]) {
      exportBar($(id), () => this.res && this.exportInfo(name));
    }
    window.addEventListener("presentation", () => this.render());
    keys.register("patterns", [
      { keys: ["ArrowRight"], label: "Next head", fn: () => this.move("pat-head", 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.move("pat-head", -1) },
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.move("pat-layer", 1) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.move("pat-layer", -1) },
    ]);
    this.fields();
  }

  move(id, delta) {
    const sel = $(id);
    const n = sel.options.length;
    if (!n) return;
    sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
    sel.dispatchEvent(new Event("change"));
  }

  fields() {
    const kind = $("pat-kind").value;
    $("pat-window-field").hidden = kind !== "local";
    $("pat-stride-field").hidden = kind !== "strided";
    $("pat-tokens-field").hidden = kind !== "global";
  }

  /** The URL's state into the controls (layer and head once an answer says how many there are), then load. */
  async show(s) {
    this.form.show({ ...s, layer: undefined, head: undefined });
    this.fields();
    this.wanted = { layer: s.layer, head: s.head };
    await this.load();
  }

  save(push = false) {
    this.state.set({ view: "patterns", ...this.form.read() }, { push });
  }

  body() {
    const tokens = $("pat-tokens").value.split(",").map((t) => t.trim()).filter(Boolean).map(Number);
    // the model that offers efficient-attention patterns (/api/models capability "patterns"); while none is
    // loaded yet the request names none and the server's default (the textbook model) answers
    const m = this.models.find((x) => x.capabilities?.patterns === true);
    return { ...(m ? { model: m.id } : {}), text: $("pat-text").value, pattern: $("pat-kind").value,
      window: Number($("pat-window").value), stride: Number($("pat-stride").value), tokens };
  }

  async load() {
    const got = await this.loader.load(this.body());
    if (!got || got.error) return; // replaced by a newer load, or the error is shown
    const res = this.res = got.data;
    const [L, H] = [res.full.weights.length, res.full.weights[0].length];
    fillSelect($("pat-layer"), L, "Layer", this.wanted?.layer);
    fillSelect($("pat-head"), H, "Head", this.wanted?.head);
    this.wanted = null;
    $("pat-full-text").textContent = res.full.translation;
    $("pat-masked-text").textContent = res.patterned.translation;
    const S = res.tokens.length;
    $("pat-status").textContent = `${res.pattern}: ${res.kept} of ${S * S} query-key pairs kept`;
    this.render();
  }

  render() {
    if (this.res) render(this.form.read(), this.res);
  }

  exportInfo(which) {
    const l = Number($("pat-layer").value), h = Number($("pat-head").value);
    const z = this.res[which].weights[l][h];
    return { name: `attnscope_${this.res.model}_${which === "full" ? "full" : this.res.pattern}_L${l + 1}_H${h + 1}`,
      csv: matrixCsv(this.res.tokens, this.res.tokens, z),
      json: { pattern: this.res.pattern, layer: l, head: h, tokens: this.res.tokens, mask: this.res.mask, weights: z,
        translation: this.res[which].translation } };
  }
}

/**
 * Draw the mask and head `state.head` of layer `state.layer` with and without it, for `data`, an
 * /api/patterns answer. The weights on the attention weights' √ scale, as every heatmap of weights.
 */
export function render(state, data) {
  const res = data;
  const l = Number(state.layer) || 0, h = Number(state.head) || 0;
  const allowed = res.mask.map((row) => row.map((m) => (m ? 0 : 1)));
  heatmap("pat-mask", allowed, res.tokens, "mask (blue = visible)", { colorscale: MASK_SCALE, fmt: "%{z}" });
  heatmap("pat-full", res.full.weights[l][h], res.tokens, `full · layer ${l + 1} · head ${h + 1}`, { weights: true });
  heatmap("pat-masked", res.patterned.weights[l][h], res.tokens, `${esc(res.pattern)} · layer ${l + 1} · head ${h + 1}`, { weights: true });
}

function fillSelect(sel, n, label, wanted) {
  const keep = wanted ?? sel.value;
  sel.replaceChildren(...Array.from({ length: n }, (_, i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = `${label} ${i + 1}`;
    return o;
  }));
  if (keep !== undefined && keep !== "" && Number(keep) < n) sel.value = String(keep);
}

/** A token × token heatmap in `id`: attention weights (`weights`, with their colour bar) or the mask. */
function heatmap(id, z, tokens, title, { colorscale = WEIGHT_SCALE, fmt = "%{z:.3f}", weights = false } = {}) {
  const n = tokens.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const el = $(id);
  el.style.height = "380px";
  Plotly.react(el, [{
    type: "heatmap", z, x: idx, y: idx, zmin: 0, zmax: 1, colorscale, showscale: weights,
    colorbar: { thickness: 10, title: colorbarTitle("weight", "weight") },
    customdata: idx.map((i) => idx.map((j) => [esc(tokens[i]), esc(tokens[j])])),
    hovertemplate: `%{customdata[0]} → %{customdata[1]}<br>${fmt}<extra></extra>`,
  }], {
    title: plotTitle(title, 14),
    xaxis: { tickvals: idx, ticktext: tickLabels(tokens), side: "top", tickangle: -45, automargin: true },
    yaxis: { tickvals: idx, ticktext: tickLabels(tokens), autorange: "reversed", automargin: true },
    height: 380, margin: { t: 90, l: 10, r: 10, b: 10 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
  }, CONFIG);
}
