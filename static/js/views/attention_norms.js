// Value-weighted norms (Kobayashi et al. 2020) beside the weights: the Attention view's
// "weight | norm | norm through W_O" switch, and the Heads view's "sink: weight → norm" column.
// Both read POST /api/norms, one layer per call, cached per (model, text, block, target, layer).
import { api, decodeF16, matrix } from "../api.js";
import { createLoader } from "../kernel/load.js";
import { colorbarTitle } from "../plot.js";
import { range } from "../ui.js";

/** What the Attention view can draw: the URL's `measure`, the /api/norms field, the hover label, the caption. */
export const MEASURES = {
  weight: { label: "weight" },
  norm: {
    field: "norms_normalised", label: "norm share",
    caption: "‖α·f(x)‖ per key, rows normalised to 1: how much of the value vector f(x) = x·W_V + b_V each key " +
      "sends into the query (Kobayashi et al. 2020). Not the head's effect on the output — see patching.",
  },
  norm_wo: {
    field: "norms_with_wo_normalised", label: "norm share through W_O",
    caption: "‖α·f(x)·W_O^h‖ per key, rows normalised to 1: what each key sends through this head's slice of the " +
      "output projection W_O (its bias left out: it is not per head; Kobayashi et al. 2020). Not the head's " +
      "effect on the output — see patching.",
  },
};

const $ = (id) => document.getElementById(id);
const LIMIT = 32; // layers kept

/** The Attention view's measure switch (radios `name="measure"`) and the norms of the layer in view. */
export class Measure {
  /** onChange(value): the user picked a measure; onFallback(): a 422 sent the view back to the weights. */
  constructor({ onChange, onFallback }) {
    this.loader = createLoader((req, signal) => api("/api/norms", req, { signal }), { size: LIMIT }); // f16 answers
    this.onFallback = onFallback;
    for (const input of this.inputs()) {
      input.addEventListener("change", () => { this.say(""); onChange(this.value); });
    }
  }

  inputs() { return [...document.querySelectorAll('input[name="measure"]')]; }

  get value() { return this.inputs().find((i) => i.checked)?.value || "weight"; }

  set value(v) {
    const want = MEASURES[v] ? v : "weight";
    for (const i of this.inputs()) i.checked = i.value === want;
  }

  /** The next measure, wrapping (the view's `n` key). */
  cycle() {
    const ids = Object.keys(MEASURES);
    this.value = ids[(ids.indexOf(this.value) + 1) % ids.length];
    this.inputs().find((i) => i.checked).dispatchEvent(new Event("change"));
  }

  /** Why norms are not shown (a 422's detail), or "" to clear it. */
  say(text) {
    const el = $("measure-error");
    el.textContent = text;
    el.hidden = !text;
  }

  /**
   * The norm shares of the layer `body` names (an /api/attention body), as {head(h), heads}; null in
   * weight mode, or after an error (then the switch is back on "weight" and the reason is on screen).
   * Throws AbortError when a newer call replaced this one.
   */
  async layer(body) {
    const m = MEASURES[this.value];
    this.caption();
    if (!m.field) return null;
    const got = await this.loader.load({ ...body, format: "f16" });
    if (!got) throw new DOMException("a newer request replaced this one", "AbortError");
    if (got.error) {
      this.say(`Norms are not shown: ${got.error.replace(/\.$/, "")}. Showing the weights.`);
      this.value = "weight";
      this.caption();
      this.onFallback();
      return null;
    }
    const res = got.data;
    res.decoded ||= {}; // decoded fields, memoised on the cached answer
    const [H, Tq, Tk] = res.shape;
    const flat = res.decoded[m.field] || (res.decoded[m.field] = decodeF16(res[m.field]));
    const rows = new Array(H);
    return {
      measure: this.value, label: m.label, field: m.field, res,
      head: (h) => rows[h] || (rows[h] = matrix(flat, h * Tq * Tk, Tq, Tk)),
      get heads() { return range(H).map((h) => this.head(h)); },
    };
  }

  /** Show the caption of the measure in view (hidden for the weights). */
  caption() {
    const el = $("measure-caption");
    const text = MEASURES[this.value].caption;
    el.hidden = !text;
    el.textContent = text || "";
  }

  /** Heatmap trace fields for a norm matrix: the hover gives the share and the weight of each cell. */
  trace(custom, weights, label) {
    return {
      customdata: custom.map((row, i) => row.map((c, j) => [c[0], c[1], weights[i][j]])),
      hovertemplate: `%{customdata[0]} → %{customdata[1]}<br>${label} %{z:.3f}<br>weight %{customdata[2]:.3f}<extra></extra>`,
      colorbar: { title: colorbarTitle(label.replace("through W_O", "(W<sub>O</sub>)"), "weight"), thickness: 14 },
    };
  }
}

/** The Heads view's "Sink: weight → norm" column: first_key of /api/norms, one call per layer. */
export class SinkColumn {
  static column = {
    id: "sink", label: "Sink: weight → norm",
    help: "Share of the first token (the usual attention sink), averaged over the query rows: by weight (mean α_i0) " +
      "→ by norm (mean share of ‖α_i0·f(x_0)‖ in its row, Kobayashi et al. 2020). A large weight with a small norm " +
      "share is a sink that moves little of the value. Sorts by the norm share.",
  };

  constructor() {
    // only first_key is kept (256 layers' worth): the full norms of a long input are megabytes each
    this.loader = createLoader(async (req, signal) => (await api("/api/norms", req, { signal })).first_key, { size: 256 });
    this.layers = [];
    this.error = "";
    this.seq = 0;
  }

  /** Fetch every layer's first_key for `base` (an /api/heads body), calling paint() as each one lands. */
  async load(base, layers, paint) {
    const seq = ++this.seq;
    this.layers = new Array(layers).fill(null);
    this.error = "";
    paint();
    for (let l = 0; l < layers; l++) {
      const got = await this.loader.load({ ...base, layer: l, format: "f16" });
      if (seq !== this.seq || !got) return;
      if (got.error) {
        this.error = got.error;
        paint();
        return;
      }
      this.layers[l] = got.data;
      paint();
    }
  }

  /** The norm share of head (l, h), for sorting; null until known. */
  value(l, h) { return this.layers[l] ? this.layers[l].norm[h] : null; }

  /** A table cell's content for head (l, h): filled in by fill() as the layers land. */
  cell(l, h) {
    const span = document.createElement("span");
    span.className = "hd-sink";
    span.dataset.layer = String(l);
    span.dataset.head = String(h);
    this.fillCell(span);
    return span;
  }

  fillCell(span) {
    const l = Number(span.dataset.layer), h = Number(span.dataset.head), fk = this.layers[l];
    span.title = this.error ? `Not available: ${this.error}` : "";
    if (fk) {
      span.dataset.weight = String(fk.weight[h]);
      span.dataset.norm = String(fk.norm[h]);
      span.textContent = `${fk.weight[h].toFixed(3)} → ${fk.norm[h].toFixed(3)}`;
    } else {
      span.textContent = this.error ? "n/a" : "…";
    }
  }

  /** Refresh every cell under `root` and the note saying why the column is empty. */
  paint(root, note) {
    for (const span of root.querySelectorAll(".hd-sink")) this.fillCell(span);
    note.hidden = !this.error;
    note.textContent = this.error ? `Sink by norm not available: ${this.error}` : "";
  }
}
