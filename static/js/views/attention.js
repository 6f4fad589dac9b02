// The attention view: one head as a heatmap, and every head of the layer as small multiples.
import { apiBinary, decodeWeights, matrix } from "../api.js";
import { exportBar, matrixCsv } from "../export.js";
import * as keys from "../keys.js";
import { modelSelect, usable } from "../models.js";
import { CONFIG, SCALE, colorbarTitle, downsample, esc, maxOf, meanOf, plotFont, presenting, tickLabels, tickStep } from "../plot.js";
import { fill, range } from "../ui.js";
import { sinkNote } from "../sink.js";
import { showSlides } from "../panels/slides.js";
import { Measure } from "./attention_norms.js";
import { KnockoutPanel } from "./knockout_panel.js";

const EXAMPLES = {
  default: [
    "The animal didn't cross the street because it was too tired",
    "Yesterday Alice was wearing a jacket and she was freezing",
    "Thinking Machines",
  ],
  textbook: ["je suis étudiant", "le chat noir mange la pomme rouge", "il n'est pas médecin", "nous avons un chien gris"],
};

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new AttentionView(ctx);
  return { show: (s) => view.show(s) };
}

export class AttentionView {
  constructor({ models, state }) {
    this.models = usable(models);
    this.state = state;
    this.layerCache = new Map();
    this.data = null; // {res, H, Tq, Tk, head(h), heads: per-head matrices}
    this.painted = 0; // answers drawn so far (a newer one cancels an older one's deferred grid)
    this.pending = null;
    this.loads = 0;
    modelSelect($("model"), models, (ok) => { this.models = ok; });
    this.measure = new Measure({ onChange: () => { this.save(); this.load(); }, onFallback: () => this.state.set({ measure: null }) });
    this.knock = new KnockoutPanel({ context: () => this.knockContext(), values: (i, j) => this.cellValues(i, j) });
    this.bind();
    this.quiz = { on: false, guess: null };
    exportBar($("heatmap"), () => this.exportInfo());
    window.addEventListener("presentation", () => { if (this.data) { this.renderHead(); this.renderGrid(); } });
    keys.register("attention", [
      { keys: ["ArrowRight", "."], label: "Next head", fn: () => this.stepSelect("head", 1) },
      { keys: ["ArrowLeft", ","], label: "Previous head", fn: () => this.stepSelect("head", -1) },
      { keys: ["ArrowDown", "]"], label: "Next layer", fn: () => this.stepSelect("layer", 1) },
      { keys: ["ArrowUp", "["], label: "Previous layer", fn: () => this.stepSelect("layer", -1) },
      { keys: ["n"], label: "Weight, norm, norm through W_O", fn: () => this.measure.cycle() },
      { keys: ["m"], label: "Mean of the layer's heads", fn: () => { $("head").value = "mean"; $("head").dispatchEvent(new Event("change")); } },
      { keys: ["q"], label: "Quiz: predict, then reveal", fn: () => { $("quiz").click(); } },
      { keys: ["s"], label: "Step by step for the first query token", fn: () => this.openSteps(Number($("quiz-query").value) || 0) },
    ]);
  }

  /** Move a select by `delta` options (wrapping) and act as if the user changed it. */
  stepSelect(id, delta) {
    const sel = $(id);
    const n = sel.options.length;
    sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
    sel.dispatchEvent(new Event("change"));
  }

  /** What the one-head figure shows, for export (CSV, JSON, file names). */
  exportInfo() {
    if (!this.data) return null;
    const { res, norms } = this.data;
    const hv = $("head").value;
    const z = this.currentMatrix();
    const name = `attnscope_${res.model}_${res.block}_L${res.layer + 1}_${hv === "mean" ? "mean" : `H${Number(hv) + 1}`}`;
    return {
      name,
      csv: matrixCsv(res.query_tokens, res.key_tokens, z),
      json: { model: res.model, text: res.text, block: res.block, layer: res.layer, head: hv === "mean" ? "mean" : Number(hv),
        query_tokens: res.query_tokens, key_tokens: res.key_tokens, [norms ? norms.field : "weights"]: z },
    };
  }

  /** The matrix drawn: the head's (or the mean's) weights, or its norm shares in a norm mode. */
  currentMatrix(src = this.data.norms || this.data) {
    const hv = $("head").value;
    return hv === "mean" ? meanOf(src.heads) : src.head(Number(hv));
  }

  /** The readout's numbers for cell (i, j) of the figure in view; null while the quiz hides them. */
  cellValues(i, j) {
    const v = this.shown;
    if (!v || v.hidden || !v.w[i]) return null;
    return v.norms ? { weight: v.w[i][j], share: v.z[i][j], label: v.norms.label } : { weight: v.w[i][j] };
  }

  /** What /api/knockout needs of the answer in view (the decoder input the rows are, for encoder-decoders). */
  knockContext() {
    const { res } = this.data;
    return { model: res.model, text: res.text, block: res.block, target: res.target || undefined };
  }

  /** Apply the URL's state to the controls, then draw. */
  async show(s) {
    if (s.model && this.models.some((m) => m.id === s.model) && s.model !== $("model").value) {
      $("model").value = s.model;
      this.onModel();
    }
    if (s.text !== undefined) $("text").value = s.text;
    $("fit").checked = s.fit === "1";
    this.measure.value = s.measure;
    if (s.target !== undefined) $("target").value = s.target;
    for (const id of ["block", "layer", "head"]) {
      if (s[id] !== undefined && [...$(id).options].some((o) => o.value === s[id])) $(id).value = s[id];
    }
    await this.load();
  }

  /** Write the controls into the URL (a history entry when `push`). */
  save(push = false) {
    this.state.set({
      view: "attention", model: $("model").value, text: $("text").value, block: $("block-field").hidden ? null : $("block").value,
      layer: $("layer").value, head: $("head").value, target: $("target-field").hidden ? null : $("target").value,
      measure: this.measure.value === "weight" ? null : this.measure.value,
    }, { push });
  }

  get model() { return this.models.find((m) => m.id === $("model").value); }

  bind() {
    $("sentence-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(true); this.load(); });
    $("model").addEventListener("change", () => { this.onModel(); this.save(true); this.load(); });
    $("block").addEventListener("change", () => { this.save(); this.load(); });
    $("layer").addEventListener("change", () => { this.save(); this.load(); });
    $("head").addEventListener("change", () => { this.save(); this.renderHead(); });
    const hm = $("heatmap");
    this.bindCellClick = () => {
      if (hm.dataset.bound) return;
      hm.dataset.bound = "1";
      hm.on("plotly_click", (ev) => {
        if (ev.event?.shiftKey) { this.knock.select(ev.points[0].y, ev.points[0].x); this.knock.block(); }
        else if (this.quiz.on && this.quiz.guess === null) this.guess(ev.points[0].x);
        else this.openSteps(ev.points[0].y);
      });
      hm.on("plotly_hover", (ev) => this.knock.hover(ev.points[0].y, ev.points[0].x));
      hm.on("plotly_unhover", () => this.knock.hover());
    };
    $("fit").addEventListener("change", () => {
      this.state.set({ fit: $("fit").checked ? 1 : null });
      if (this.data) { this.renderHead(); this.renderGrid(); }
    });
    $("quiz").addEventListener("change", () => {
      this.quiz = { on: $("quiz").checked, guess: null };
      $("quiz-panel").hidden = !this.quiz.on;
      $("quiz-result").textContent = "";
      this.renderHead();
    });
    $("quiz-query").addEventListener("change", () => { this.quiz.guess = null; $("quiz-result").textContent = ""; this.renderHead(); });
    $("quiz-reset").addEventListener("click", () => { this.quiz.guess = null; $("quiz-result").textContent = ""; this.renderHead(); });
    this.onModel();
  }

  /** Predict, then reveal: the student picked key `j` for the quiz's query row. */
  guess(j) {
    const { res } = this.data;
    const i = Number($("quiz-query").value) || 0;
    const row = this.currentMatrix()[i];
    const order = row.map((w, k) => [w, k]).sort((a, b) => b[0] - a[0]);
    const rank = order.findIndex(([, k]) => k === j) + 1;
    const [bw, bk] = order[0];
    this.quiz.guess = j;
    $("quiz-result").textContent = rank === 1
      ? `Right! “${res.query_tokens[i]}” attends most to “${res.key_tokens[j]}” (${row[j].toFixed(3)}).`
      : `You picked “${res.key_tokens[j]}”: rank ${rank} of ${row.length} (${row[j].toFixed(3)}). ` +
        `The most attended is “${res.key_tokens[bk]}” (${bw.toFixed(3)}).`;
    this.renderHead();
  }

  onModel() {
    const m = this.model;
    if (!m) return;
    fill($("layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
    fill($("head"), [...range(m.heads).map((i) => [i, `Head ${i + 1}`]), ["mean", "Mean of heads"]]);
    const names = { encoder: m.kind === "encoder" ? "Self-attention" : "Encoder self-attention",
      decoder: "Decoder self-attention (causal)", cross: "Cross-attention (decoder → encoder)" };
    fill($("block"), m.blocks.map((b) => [b, names[b] || b]));
    $("block-field").hidden = m.blocks.length < 2;
    $("target-field").hidden = !m.blocks.includes("cross");
    const chips = $("examples");
    chips.replaceChildren();
    for (const text of EXAMPLES[m.id] || EXAMPLES.default) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = text;
      b.addEventListener("click", () => { $("text").value = text; $("target").value = ""; this.save(true); this.load(); });
      chips.append(b);
    }
    if (m.kind === "encoder-decoder" && !/^(je|le|la|il|elle|nous|vous|tu|ils|elles|les|un|une)\b/i.test($("text").value)) {
      $("text").value = EXAMPLES.textbook[0];
    } else if (m.kind !== "encoder-decoder" && EXAMPLES.textbook.includes($("text").value)) {
      $("text").value = EXAMPLES.default[0];
    }
  }

  request() {
    const body = {
      model: $("model").value,
      text: $("text").value,
      layer: Number($("layer").value),
      block: $("block").value || undefined,
      format: "u8", // a byte a weight, sent as binary: exact to 0.002, enough to colour (the API also serves f16 and json)
    };
    const target = $("target").value.trim();
    if (!$("target-field").hidden && target) body.target = target;
    return body;
  }

  async load() {
    const seq = ++this.loads;
    const body = this.request();
    const key = JSON.stringify(body);
    setError("");
    let res = this.layerCache.get(key);
    if (!res) {
      if (this.pending) this.pending.abort();
      this.pending = new AbortController();
      setStatus("Running the model…", true);
      try {
        res = await apiBinary("/api/attention", body, { signal: this.pending.signal });
      } catch (err) {
        if (err.name === "AbortError") return;
        setStatus("");
        setError(err.detail || String(err));
        return;
      }
      this.layerCache.set(key, res);
      if (this.layerCache.size > 64) this.layerCache.delete(this.layerCache.keys().next().value);
    }
    let norms = null;
    if (this.measure.value !== "weight") setStatus("Computing the value norms…", true);
    try { norms = await this.measure.layer(body); } catch (err) { if (err.name === "AbortError") return; throw err; }
    if (seq !== this.loads) return; // a newer load replaced this one
    const [H, Tq, Tk] = res.shape;
    const flat = decodeWeights(res);
    const rows = new Array(H);
    this.data = {
      res, H, Tq, Tk, norms,
      /** one head's matrix, built on first use (at 512 tokens all twelve are 3 M numbers) */
      head: (h) => rows[h] || (rows[h] = matrix(flat, h * Tq * Tk, Tq, Tk)),
      get heads() { return range(H).map((h) => this.head(h)); },
    };
    if (res.target && $("target").value.trim() === "") $("target").placeholder = res.target;
    setStatus(`${res.model} · ${res.block} · layer ${res.layer + 1} · ${Tq} × ${Tk} tokens`);
    this.renderHead();
    // first paint is the one heatmap; the grid of all heads follows once it is on screen
    const painted = ++this.painted;
    requestAnimationFrame(() => {
      document.dispatchEvent(new CustomEvent("attention:painted", { detail: res }));
      setTimeout(() => {
        if (painted !== this.painted) return; // a newer answer is being drawn
        this.renderGrid();
        document.dispatchEvent(new CustomEvent("attention:loaded", { detail: res }));
      }, 0);
    });
  }

  renderHead() {
    if (!this.data) return;
    const { res, H, Tq, Tk, norms } = this.data;
    const hv = $("head").value;
    const mean = hv === "mean";
    const h = mean ? -1 : Number(hv);
    const z = this.currentMatrix();
    fill($("quiz-query"), res.query_tokens.map((t, i) => [i, `${i}: ${t}`]));
    const hidden = this.quiz.on && this.quiz.guess === null;
    const k = res.key_tokens;
    // decoder rows: the query token and the next token it predicts ("a → student"), like the
    // lecture's alignment table whose rows are the words being produced
    const q = res.query_predicts ? res.query_tokens.map((t, i) => `${t} → ${res.query_predicts[i]}`) : res.query_tokens;
    // hover labels (query, key) of every cell: escaped once per token and built once per answer
    // (at 512 tokens that is 262,144 pairs: rebuilding them on every head change cost more than the draw)
    if (!this.data.custom) {
      const qe = q.map(esc), ke = k.map(esc);
      this.data.custom = qe.map((a) => { const row = new Array(Tk); for (let j = 0; j < Tk; j++) row[j] = [a, ke[j]]; return row; });
    }
    const trace = {
      type: "heatmap",
      z: hidden ? z.map((row) => row.map(() => 0)) : z,
      x: range(Tk),
      y: range(Tq),
      customdata: this.data.custom,
      hovertemplate: hidden ? "%{customdata[0]} → %{customdata[1]}<br>click to guess<extra></extra>"
        : "%{customdata[0]} → %{customdata[1]}<br>weight %{z:.3f}<extra></extra>",
      colorscale: SCALE,
      zmin: 0,
      zmax: $("fit").checked && !hidden ? maxOf(z) || 1 : 1,
      colorbar: { title: colorbarTitle("weight"), thickness: 14 },
    };
    this.shown = { z, w: norms ? this.currentMatrix(this.data) : z, norms, hidden };
    if (norms && !hidden) Object.assign(trace, this.measure.trace(this.data.custom, this.shown.w, norms.label));
    const sx = tickStep(Tk), sy = tickStep(Tq);
    const xt = range(Tk).filter((j) => j % sx === 0), yt = range(Tq).filter((i) => i % sy === 0);
    // the top margin holds the title, the x title and the key labels at -45° (cut at 14 characters)
    const fs = plotFont(12).size, tfs = plotFont(16).size, maxK = Math.min(14, Math.max(1, ...xt.map((j) => k[j].length)));
    const t = Math.round(0.71 * fs * (0.62 * maxK + 1) + 1.6 * fs + tfs + 16);
    const ytitle = res.query_predicts ? "query → the word it predicts" : "query (attending)";
    // a small heatmap keeps readable rows (28 px presenting, 18 otherwise, for up to 12 rows), and room
    // under them for the y title, which is centred on the rows
    const rows = (presenting() ? 28 : 18) * Math.min(Tq, 12), b = Math.max(20, Math.round(0.3 * fs * ytitle.length - rows / 2 + 6));
    let size = Math.max(320, Math.min(760, 28 * Math.max(Tq, Tk) + 160), Math.min(760, t + b + rows));
    if (presenting()) { // on a projector: fit the screen under the figure's top, as long as every label keeps its row
      const room = window.innerHeight - ($("heatmap").getBoundingClientRect().top + window.scrollY) - 12;
      size = Math.max(Math.min(size, room), t + b + Math.max(rows, Math.ceil(fs * 1.25) * yt.length));
    }
    const layout = {
      title: { text: `${esc(res.model)} · ${res.block} · layer ${res.layer + 1} · ${mean ? `mean of ${H} heads` : `head ${h + 1}`}${norms ? ` · ${norms.label}` : ""}`,
        font: { size: tfs }, x: 0, xanchor: "left", y: 1, yanchor: "top", pad: { t: 6 } },
      xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => k[j]), xt.map((j) => res.key_special[j])), side: "top", tickangle: -45,
        title: { text: "key (attended to)" }, automargin: false },
      yaxis: { tickvals: yt, ticktext: tickLabels(yt.map((i) => q[i]), yt.map((i) => res.query_special[i]), 22), autorange: "reversed",
        title: { text: ytitle }, automargin: false },
      height: size,
      shapes: this.quiz.on ? [{ type: "rect", xref: "x", yref: "y", x0: -0.5, x1: Tk - 0.5,
        y0: (Number($("quiz-query").value) || 0) - 0.5, y1: (Number($("quiz-query").value) || 0) + 0.5,
        line: { color: "#f59e0b", width: 3 } }] : [],
      // margins from the longest label rather than automargin, which lays the figure out a second
      // time (tick labels are cut at 14 characters on top, 22 on the left)
      margin: { t, l: Math.round(fs * (3.7 + 0.62 * Math.min(22, Math.max(1, ...yt.map((i) => q[i].length))))),
        r: 20, b },
      paper_bgcolor: "rgba(0,0,0,0)",
      font: plotFont(12),
    };
    this.highlightHead(h);
    $("heatmap").style.height = `${size}px`; // a fixed box: Plotly's responsive resize keeps it
    Plotly.react("heatmap", [trace], layout, { ...CONFIG, toImageButtonOptions: {
      ...CONFIG.toImageButtonOptions, filename: `attnscope_${res.model}_${res.block}_L${res.layer + 1}_${mean ? "mean" : `H${h + 1}`}` } });
    this.bindCellClick();
    // rows of ordinary query tokens (not [CLS] / [SEP], which sink onto themselves by construction)
    const ordinary = z.filter((_, i) => !res.query_special[i] || z.length === 1);
    sinkNote($("attn-sink-note"), hidden || norms ? [] : (ordinary.length ? ordinary : z), k); // the note is about weights
    this.knock.setTokens(res, z);
    // the lecture's illustrative "je suis étudiant" row beside the model's own (cross-attention of the model
    // the lectures' numbers are about: /api/models capability "slides", the textbook model)
    const lecture = this.models.find((m) => m.id === res.model)?.capabilities?.slides === true;
    const jeSuis = lecture && res.block === "cross" && res.text.trim().toLowerCase() === "je suis étudiant";
    if (jeSuis !== this.slidesShown) { this.slidesShown = jeSuis; showSlides($("attn-slides"), jeSuis ? "je_suis_etudiant" : null); }
    $("heatmap").setAttribute("aria-label",
      `Attention heatmap of ${mean ? "the mean of the heads" : `head ${h + 1}`}, layer ${res.layer + 1}: ${Tq} query tokens by ${Tk} key tokens`);
  }

  /** Open the step-by-step view for one query token of the head in view. */
  openSteps(query) {
    if (!this.data) return;
    const { res } = this.data;
    this.state.go("steps", { model: res.model, text: res.text, block: res.block, layer: res.layer,
      head: $("head").value === "mean" ? 0 : $("head").value, query, target: $("target-field").hidden ? null : $("target").value || null, step: 0 });
  }

  highlightHead(h) {
    const el = $("heads");
    if (!el.data || !this.data) return;
    if (h < 0) { Plotly.relayout(el, { shapes: [] }); return; }
    const ax = h === 0 ? "" : String(h + 1);
    Plotly.relayout(el, { shapes: [{ type: "rect", xref: `x${ax} domain`, yref: `y${ax} domain`,
      x0: -0.04, x1: 1.04, y0: -0.04, y1: 1.04, line: { color: "#f59e0b", width: 3 } }] });
  }

  renderGrid() {
    const { res, H } = this.data, heads = (this.data.norms || this.data).heads;
    const cols = H <= 4 ? H : H % 4 === 0 && H > 9 ? 4 : Math.ceil(Math.sqrt(H));
    const rows = Math.ceil(H / cols);
    const traces = heads.map((z, h) => ({
      type: "heatmap", z: downsample(z), colorscale: SCALE, zmin: 0, zmax: $("fit").checked ? maxOf(z) || 1 : 1, showscale: false,
      xaxis: `x${h + 1}`, yaxis: `y${h + 1}`,
      hovertemplate: `head ${h + 1}<extra></extra>`,
    }));
    const layout = {
      grid: { rows, columns: cols, pattern: "independent", xgap: 0.08, ygap: 0.12 },
      height: 150 * rows + 40,
      margin: { t: 30, l: 10, r: 10, b: 10 },
      paper_bgcolor: "rgba(0,0,0,0)",
      font: plotFont(11),
      annotations: [],
    };
    for (let h = 0; h < H; h++) {
      const ax = h === 0 ? "" : String(h + 1);
      layout[`xaxis${ax}`] = { showticklabels: false, ticks: "", showgrid: false, zeroline: false };
      layout[`yaxis${ax}`] = { showticklabels: false, ticks: "", showgrid: false, zeroline: false, autorange: "reversed" };
      layout.annotations.push({ text: `H${h + 1}`, xref: `x${ax} domain`, yref: `y${ax} domain`, x: 0.5, y: 1.0,
        yanchor: "bottom", showarrow: false, font: { size: 11 } });
    }
    const el = $("heads");
    el.style.height = `${layout.height}px`;
    const sel = Number($("head").value), sax = sel === 0 ? "" : String(sel + 1);
    layout.shapes = Number.isNaN(sel) ? [] : [{ type: "rect", xref: `x${sax} domain`, yref: `y${sax} domain`,
      x0: -0.04, x1: 1.04, y0: -0.04, y1: 1.04, line: { color: "#f59e0b", width: 3 } }];
    Plotly.react(el, traces, layout, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions,
      filename: `attnscope_${res.model}_${res.block}_L${res.layer + 1}_all_heads` } });
    if (!el.dataset.bound) {
      el.dataset.bound = "1";
      el.on("plotly_click", (ev) => {
        const h = ev.points[0].curveNumber;
        $("head").value = String(h);
        this.save();
        this.renderHead();
        $("heatmap").scrollIntoView({ behavior: "smooth", block: "nearest" });
      });
    }
  }
}

export function setStatus(text, busy = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("busy", busy);
  document.body.toggleAttribute("aria-busy", busy);
}

export function setError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = !text;
}
