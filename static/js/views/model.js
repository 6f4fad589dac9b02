// The model view: every layer x head as a canvas thumbnail (static/js/heatmap.js, the renderer the notebook
// shares). Layers are fetched and drawn one at a time: the first layer runs the model and is on screen while the
// others (cached on the server by then) arrive. Thumbnails are peak-keeping pools with a square-root colour scale,
// so a diagonal, a previous-token line and a [CLS] sink stay apart at 510 tokens. `#mv-fig[data-drawn]` counts
// the heads drawn so far.
import { usable } from "../models.js";
import { apiBinary, decodeWeights, matrix } from "../api.js";
import { $, blockOptions, ensureCss, fill, fillModels, fitText, messages, range } from "../analysis.js";
import { exportBar } from "../export.js";
import { declare } from "../kernel/controls.js";
import { createLoader, markStale } from "../kernel/load.js";
import { grid } from "../heatmap.js";
import * as keys from "../keys.js";
import { fontColor } from "../plot.js";

const msg = messages("mv");

/** A live class's open token question (body[data-class-question="token"], set by classroom_panel.js): the
 * thumbnail of its layer · head stays hidden until Reveal. {layer, head} or null. */
function classAsk() {
  const d = document.body.dataset;
  return d.classQuestion === "token" ? { layer: Number(d.classLayer), head: d.classHead } : null;
}

/**
 * Every layer × head of `data` ({res, L, H, Tq, Tk, layers: [Promise<{flat}>]}) as thumbnails in #mv-fig, drawn
 * layer by layer; `state`: {px, fit, cursor, ask (a class question's {layer, head} or null), onPick(l, h)}.
 * Returns the grid's drawing ({done, canvases}).
 */
export function render(state, data) {
  const { res, L, H, Tq, Tk, layers } = data;
  const fig = $("mv-fig");
  const layer = async (l) => {
    const { flat } = await layers[l];
    return { flat, offset: (h) => h * Tq * Tk };
  };
  const drawing = grid(fig, { L, H, rows: Tq, cols: Tk, layer, px: state.px, fit: state.fit,
    cursor: state.cursor, colour: fontColor(), onPick: state.onPick });
  hideAsked(drawing, state.ask);
  fig.setAttribute("aria-label", `Every head of ${res.model}: ${L} layers by ${H} heads, ${Tq} by ${Tk} tokens each`);
  return drawing;
}

/** A class question's head (every head of its layer for the heads' mean): a grey tile in place of its thumbnail. */
function hideAsked(drawing, ask) {
  const row = ask && drawing.canvases[ask.layer];
  if (!row) return;
  row.forEach((c, h) => {
    if (ask.head !== "mean" && Number(ask.head) !== h) return;
    const b = document.createElement("canvas");
    b.width = 1; b.height = 1;
    const ctx = b.getContext("2d");
    ctx.fillStyle = "#c9ced8";
    ctx.fillRect(0, 0, 1, 1);
    b.style.cssText = c.style.cssText;
    b.style.cursor = "default";
    Object.assign(b.dataset, { layer: c.dataset.layer, head: c.dataset.head, classHidden: "1" });
    b.title = `layer ${ask.layer + 1} · head ${h + 1}: hidden until Reveal`;
    c.replaceWith(b); // the drawn one (which the grid still paints) stays out of the page and of the PNG
  });
}

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  ensureCss();
  const view = new ModelView(ctx);
  return { show: (s) => view.show(s) };
}

class ModelView {
  constructor({ models, state }) {
    Object.defineProperty(this, "models", { get: () => usable(models) }); // the live list: models finish loading later
    this.state = state;
    this.data = null; // {key, model, text, block, L, H, Tq, Tk, q, k, layers: [Promise<{res, flat}>]}
    this.cursor = [0, 0];
    // 75 MB an answer at 510 tokens: two kept
    this.loader = createLoader((body, signal) => this.fetchAll(body, signal),
      { size: 2, status: msg.status, error: msg.error, stale: markStale($("mv-fig")) });
    this.controls = declare([
      { key: "text", el: $("mv-text") },
      { key: "block", el: $("mv-block"), kind: "select", when: () => !$("mv-block-field").hidden },
      { key: "fit", el: $("mv-fit"), kind: "check" },
    ]);
    this.drawing = null;
    fillModels($("mv-model"), models);
    this.onModel();
    $("mv-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("mv-model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("mv-block").addEventListener("change", () => { this.save(); this.load(); });
    $("mv-fit").addEventListener("change", () => { this.state.set({ fit: $("mv-fit").checked ? 1 : null }); this.render(); });
    exportBar($("mv-fig"), () => this.exportInfo());
    window.addEventListener("presentation", () => { if (this.visible()) this.render(); });
    new MutationObserver(() => { if (this.visible() && this.data) this.render(); }).observe(document.body,
      { attributes: true, attributeFilter: ["data-class-question", "data-class-layer", "data-class-head"] });
    keys.register("model", [
      { keys: ["ArrowRight"], label: "Next head", fn: () => this.move(0, 1) },
      { keys: ["ArrowLeft"], label: "Previous head", fn: () => this.move(0, -1) },
      { keys: ["ArrowDown"], label: "Next layer", fn: () => this.move(1, 0) },
      { keys: ["ArrowUp"], label: "Previous layer", fn: () => this.move(-1, 0) },
      { keys: ["Enter"], label: "Open the marked head in the attention view", fn: () => this.open(...this.cursor) },
    ]);
  }

  get model() { return this.models.find((m) => m.id === $("mv-model").value); }

  visible() { return !$("mv-fig").closest("section").hidden; }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("mv-block"), blockOptions(m));
    $("mv-block-field").hidden = m.blocks.length < 2;
    fitText($("mv-text"), m);
  }

  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("mv-model").value) {
      $("mv-model").value = s.model;
      this.onModel();
    }
    this.controls.show(s);
    fitText($("mv-text"), this.model);
    this.target = s.target || null;
    if (/^\d+$/.test(s.layer ?? "") && /^\d+$/.test(s.head ?? "")) this.cursor = [Number(s.layer), Number(s.head)];
    await this.load();
  }

  save(push = false) {
    const { text, block } = this.controls.read();
    this.state.set({ view: "model", model: $("mv-model").value, text, block }, { push });
  }

  /** One layer of attention: {res, flat} with res.shape = [H, Tq, Tk]. */
  async fetchLayer(body, layer, signal) {
    const res = await apiBinary("/api/attention", { ...body, layer }, { signal });
    return { res, flat: decodeWeights(res) };
  }

  /** Every layer of `body`: the first runs the model; the others (cached on the server by then) follow. */
  async fetchAll(body, signal) {
    // f16 sent as binary (no base64): CSV exports keep 3 significant digits; u8 would not sum rows to 1
    const first = await apiBinary("/api/attention", { ...body, layer: 0 }, { signal }); // runs the model
    const L = this.model.layers; // every block of today's models has the model's layer count
    const [H, Tq, Tk] = first.shape;
    // the trace is cached on the server now: ask for the other layers before decoding the first
    const rest = [];
    for (let l = 1; l < L; l++) rest.push(this.fetchLayer(body, l, signal));
    const layers = [Promise.resolve({ res: first, flat: decodeWeights(first) }), ...rest];
    layers.forEach((p) => p.catch(() => {})); // awaited (and reported) by render
    return { key: JSON.stringify(body), res: first, L, H, Tq, Tk, layers };
  }

  async load() {
    const m = this.model;
    if (!m) { msg.error("No model is available."); return; }
    const body = { model: m.id, text: $("mv-text").value, block: $("mv-block").value || undefined, format: "f16" };
    if (this.target && body.block !== "encoder") body.target = this.target;
    const t0 = performance.now();
    $("mv-fig").dataset.drawn = "0";
    delete $("mv-fig").dataset.ms;
    const got = await this.loader.load(body);
    if (!got || got.error) return; // replaced, or the error is on screen and the figure marked stale
    const data = got.data;
    this.data = data;
    const { res, L, H, Tq, Tk } = data;
    this.cursor = [Math.min(this.cursor[0], L - 1), Math.min(this.cursor[1], H - 1)];
    msg.status(`${res.model} · ${res.block} · ${L} layers × ${H} heads = ${L * H} heads · ${Tq} × ${Tk} tokens`);
    try {
      await this.render();
    } catch (err) {
      if (err.name === "AbortError") return;
      this.loader.forget(body);
      msg.error(err.detail || String(err));
      return;
    }
    if (this.data !== data) return;
    $("mv-fig").dataset.ms = String(Math.round(performance.now() - t0));
  }

  /** Thumbnail size in CSS pixels: the grid fills the panel, at most 120 px a thumbnail. */
  thumbPx(L, H) {
    const width = Math.max(400, $("mv-fig").clientWidth || 1200);
    return Math.floor(Math.max(28, Math.min(120, (width - 60) / (H * 1.13), 1800 / L)));
  }

  async render() {
    if (!this.data) return;
    this.drawing = render({ px: this.thumbPx(this.data.L, this.data.H), fit: $("mv-fit").checked, cursor: this.cursor,
      ask: classAsk(), onPick: (l, h) => this.open(l, h) }, this.data);
    await this.drawing.done;
  }

  fileName() {
    const { res } = this.data;
    return `attnscope_${res.model}_${res.block}_all_heads`;
  }

  move(dl, dh) {
    if (!this.data) return;
    const { L, H } = this.data;
    this.cursor = [(this.cursor[0] + dl + L) % L, (this.cursor[1] + dh + H) % H];
    const [l, h] = this.cursor;
    this.drawing?.cursor(l, h);
    msg.status(`layer ${l + 1} · head ${h + 1} — Enter opens it`);
  }

  /** Open head (layer, head) in the attention view. */
  open(layer, head) {
    if (!this.data) return;
    const { res } = this.data;
    this.state.go("attention", { model: res.model, text: res.text, block: res.block, layer, head,
      target: res.block === "encoder" ? null : this.target });
  }

  /** The drawn grid as one PNG data URL (the thumbnails as drawn, on a white background, with labels). */
  png() {
    const cv = this.drawing.canvases, L = cv.length, H = cv[0].length, s = 96, g = 10, m = 40;
    const out = document.createElement("canvas");
    out.width = m + H * (s + g);
    out.height = m + L * (s + g);
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#1d2330";
    ctx.font = "13px sans-serif";
    for (let l = 0; l < L; l++) ctx.fillText(`L${l + 1}`, 6, m + l * (s + g) + s / 2);
    for (let h = 0; h < H; h++) ctx.fillText(`H${h + 1}`, m + h * (s + g) + s / 2 - 10, 24);
    cv.forEach((row, l) => row.forEach((c, h) => { if (c.isConnected) ctx.drawImage(c, m + h * (s + g), m + l * (s + g), s, s); }));
    return { url: out.toDataURL("image/png"), width: out.width, height: out.height };
  }

  async exportInfo() {
    if (!this.data) return null;
    const { res, L, H, Tq, Tk, layers } = this.data;
    const flats = (await Promise.all(layers)).map((x) => x.flat);
    const lines = ["layer,head,query_index,query,key_index,key,weight"];
    const cell = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) {
      const w = flats[l][(h * Tq + i) * Tk + j];
      lines.push(`${l + 1},${h + 1},${i},${cell(res.query_tokens[i])},${j},${cell(res.key_tokens[j])},${+w.toFixed(5)}`);
    }
    const weights = range(L).map((l) => range(H).map((h) => matrix(flats[l], h * Tq * Tk, Tq, Tk)));
    return { name: this.fileName(), csv: lines.join("\n") + "\n", image: () => this.png(),
      json: { model: res.model, text: res.text, block: res.block, shape: [L, H, Tq, Tk], query_tokens: res.query_tokens,
        key_tokens: res.key_tokens, weights } };
  }
}
