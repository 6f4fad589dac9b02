// The positions view: positional encodings (GET /api/positional) as a heatmap, curves, a position-similarity
// matrix, the kinds side by side, the lecture's "I am a Robot" table, and PE(pos + k) = PE(pos) · M_k.
import * as keys from "../keys.js";
import { usable } from "../models.js";
import { CONFIG, SCALE, esc, plotFont, plotMargin, presenting } from "../plot.js";
import { RopePanel } from "../panels/rope.js";
import { showSlides } from "../panels/slides.js";

const KINDS = ["sinusoidal", "integer", "binary", "rotary", "learned"];
const DEFAULTS = { kind: "sinusoidal", d: 64, n: 10000, positions: 50, k: 3, pos: 0 };
const ROBOT = { kind: "sinusoidal", d: 4, n: 100, positions: 4, k: 1, pos: 0, dims: [0, 1, 2, 3], preset: "robot" };
const ROBOT_TOKENS = ["I", "am", "a", "Robot"];
const PRESETS = {
  "pos-robot": ROBOT,
  "pos-paper": { kind: "sinusoidal", d: 512, n: 10000, positions: 100, k: 5, pos: 0, dims: null, preset: null },
  "pos-bits": { kind: "binary", d: 8, n: 10000, positions: 64, k: 3, pos: 0, dims: [4, 5, 6, 7], preset: null },
  "pos-d50": { kind: "sinusoidal", d: 50, n: 10000, positions: 4, k: 1, pos: 0, dims: [0, 1, 2, 3], preset: "pe_d50" },
};
const LIMITS = { d: [2, 512], positions: [1, 512], k: [0, 512] };
const TABLE_ROWS = 12, TABLE_COLS = 8, ROT_ROWS = 16, ROT_BLOCKS = 8, FULL_MATRIX = 16;
const DIVERGING = "RdBu";

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new PositionsView(ctx);
  return { show: (s) => view.show(s) };
}


class PositionsView {
  constructor({ models, state, api }) {
    this.state = state;
    this.api = api;
    this.cache = new Map(); // query string -> response
    this.seq = 0;
    this.timer = null;
    this.res = null;
    this.learned = usable(models).filter((m) => m.positional === "learned");
    this.rotary = usable(models).filter((m) => m.positional === "rotary");
    if (!this.learned.length) $("pos-kind").querySelector('option[value="learned"]').disabled = true;
    this.s = { ...DEFAULTS, model: this.learned[0]?.id || null, rmodel: null, dims: null, preset: null };
    this.bind();
    this.rope = new RopePanel(this.rotary);
    this.rope.load();
    window.addEventListener("presentation", () => { if (this.res) this.render(); });
    keys.register("positions", [
      { keys: ["r"], label: "The “I am a Robot” table (d = 4, n = 100)", fn: () => $("pos-robot").click() },
      { keys: ["ArrowRight", "."], label: "Offset k + 1", fn: () => this.step("k", 1) },
      { keys: ["ArrowLeft", ","], label: "Offset k − 1", fn: () => this.step("k", -1) },
      { keys: ["]"], label: "Position pos + 1", fn: () => this.step("pos", 1) },
      { keys: ["["], label: "Position pos − 1", fn: () => this.step("pos", -1) },
    ]);
  }

  /** Read the URL's state (invalid values fall back to the defaults), then draw. */
  async show(u) {
    const s = { ...this.s };
    if (KINDS.includes(u.kind)) s.kind = u.kind;
    s.d = int(u.d, ...LIMITS.d) ?? s.d;
    s.positions = int(u.positions, ...LIMITS.positions) ?? s.positions;
    s.k = int(u.k, ...LIMITS.k) ?? s.k;
    s.pos = int(u.pos, 0, LIMITS.positions[1] - 1) ?? s.pos;
    const n = Number(u.n);
    if (u.n !== undefined && Number.isFinite(n) && n > 1) s.n = n;
    if (u.model && this.learned.some((m) => m.id === u.model)) s.model = u.model;
    s.rmodel = this.rotary.some((m) => m.id === u.rmodel) ? u.rmodel : null;
    s.dims = u.dims ? u.dims.split(",").map(Number).filter((j) => Number.isInteger(j) && j >= 0) : s.dims;
    s.preset = ["robot", "pe_d50"].includes(u.preset) ? u.preset : null;
    this.s = s;
    this.controls();
    await this.load();
  }

  /** Write the state into the URL (a history entry when `push`). */
  save(push = false) {
    const s = this.s;
    this.state.set({ view: "positions", kind: s.kind, d: s.d, n: s.n, positions: s.positions, k: s.k, pos: s.pos,
      model: s.kind === "learned" ? s.model : null, rmodel: s.kind === "rotary" ? s.rmodel : null, dims: s.dims ? s.dims.join(",") : null, preset: s.preset }, { push });
  }

  /** The state -> the controls (sliders, visible values, which fields apply). */
  controls() {
    const s = this.s;
    $("pos-kind").value = s.kind;
    this.fillModels();
    setSlider("pos-d", s.d, s.d);
    setSlider("pos-n", Math.log10(s.n), fmtN(s.n));
    setSlider("pos-positions", s.positions, s.positions);
    $("pos-pos").max = String(Math.max(0, s.positions - 1));
    s.pos = Math.min(s.pos, s.positions - 1);
    setSlider("pos-pos", s.pos, s.pos);
    setSlider("pos-k", s.k, s.k);
    const fromModel = s.kind === "learned" || (s.kind === "rotary" && s.rmodel);
    $("pos-d").disabled = Boolean(fromModel);
    $("pos-n").disabled = Boolean(fromModel) || !["sinusoidal", "rotary"].includes(s.kind);
    $("pos-d").step = s.kind === "rotary" ? "2" : "1";
  }

  bind() {
    $("pos-form").addEventListener("submit", (e) => e.preventDefault());
    $("pos-kind").addEventListener("change", () => {
      this.s.kind = $("pos-kind").value;
      if (this.s.kind === "rotary" && this.s.d % 2) this.s.d += 1;
      this.changed(true);
    });
    $("pos-model").addEventListener("change", () => {
      if (this.s.kind === "learned") this.s.model = $("pos-model").value;
      else this.s.rmodel = $("pos-model").value || null;
      this.changed(true);
    });
    const live = [
      ["pos-d", (v) => { this.s.d = Math.round(v); this.s.dims = null; }],
      ["pos-n", (v) => { this.s.n = Math.round(10 ** v); }],
      ["pos-positions", (v) => { this.s.positions = Math.round(v); }],
      ["pos-k", (v) => { this.s.k = Math.round(v); }],
      ["pos-pos", (v) => { this.s.pos = Math.round(v); }],
    ];
    for (const [id, apply] of live) {
      $(id).addEventListener("input", () => {
        apply(Number($(id).value));
        if (id !== "pos-k" && id !== "pos-pos") this.s.preset = null;
        this.controls();
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.changed(false), 120);
      });
    }
    $("pos-dims").addEventListener("change", () => {
      this.s.dims = [...$("pos-dims").selectedOptions].map((o) => Number(o.value));
      this.save();
      if (this.res) this.renderCurves();
    });
    for (const [id, preset] of Object.entries(PRESETS)) {
      $(id).addEventListener("click", () => {
        this.s = { ...this.s, ...preset };
        this.controls();
        this.changed(true);
      });
    }
  }

  /** The model select: learned tables for kind=learned; for rotary, the formula or a rotary model's base. */
  fillModels() {
    const s = this.s, sel = $("pos-model");
    const opts = s.kind === "learned" ? this.learned.map((m) => [m.id, m.name])
      : s.kind === "rotary" && this.rotary.length
        ? [["", "The formula (set d and n)"], ...this.rotary.map((m) => [m.id, `${m.name} (its head size and base)`])] : [];
    sel.replaceChildren(...opts.map(([v, label]) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label;
      return o;
    }));
    sel.value = (s.kind === "learned" ? s.model : s.rmodel) || "";
    $("pos-model-field").hidden = !opts.length;
  }

  step(name, delta) {
    const el = $(`pos-${name}`);
    el.value = String(Number(el.value) + delta);
    el.dispatchEvent(new Event("input"));
  }

  changed(push) {
    this.controls();
    this.save(push);
    this.load();
  }

  query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, String(v));
    return `/api/positional?${q}`;
  }

  async get(params) {
    const url = this.query(params);
    let res = this.cache.get(url);
    if (!res) {
      res = await this.api(url);
      this.cache.set(url, res);
      if (this.cache.size > 48) this.cache.delete(this.cache.keys().next().value);
    }
    return res;
  }

  mainParams() {
    const s = this.s;
    const p = { kind: s.kind, positions: s.positions };
    if (s.kind === "learned") return { ...p, model: s.model };
    if (s.kind === "rotary" && s.rmodel) return { ...p, model: s.rmodel }; // the model's head size and base
    p.d = s.d;
    if (s.kind === "sinusoidal" || s.kind === "rotary") p.n = s.n;
    return p;
  }

  async load() {
    const seq = ++this.seq;
    const s = this.s;
    setError("pos-error", "");
    setStatus("Computing…", true);
    let res;
    try {
      res = await this.get(this.mainParams());
    } catch (err) {
      if (seq !== this.seq) return;
      setStatus("");
      setError("pos-error", err.detail || String(err));
      return;
    }
    if (seq !== this.seq) return;
    this.res = res;
    if (res.kind === "rotary" && res.model) { // the model chose d and n: show them on the (disabled) sliders
      $("pos-d-val").textContent = String(res.d);
      $("pos-n-val").textContent = fmtN(res.n);
    }
    setStatus(`${res.kind}${res.model ? ` (${res.model})` : ""} · ${res.positions} positions × ${res.d} dimensions` +
      (res.n ? ` · n = ${fmtN(res.n)}` : ""));
    this.fillDims(res.d);
    this.render();
    this.loadKinds(seq, s);
    this.loadRotation(seq, s);
  }

  render() {
    const d50 = this.s.preset === "pe_d50" && this.res.kind === "sinusoidal" && this.res.d === 50;
    if (d50 !== this.slidesShown) { this.slidesShown = d50; showSlides($("pos-slides"), d50 ? "pe_d50" : null); }
    $("pos-heatmap-cap").textContent = "One row per position, one column per dimension: " + {
      sinusoidal: "the vector added to the token embedding at that position.",
      integer: "the vector that would be added to the token embedding (the position itself in every column).",
      binary: "the position's bits, a vector that would be added to the token embedding.",
      rotary: "the cos and sin of the angle pos · θ_i by which pair i of q and k is rotated inside attention. Nothing is " +
        "added to the token embedding: a rotary model rotates the queries and keys instead (see the RoPE demo below).",
      learned: "the model's trained position embedding, added to the token embedding at that position.",
    }[this.res.kind];
    this.renderHeatmap();
    this.renderSimilarity();
    this.renderCurves();
    this.renderTable();
  }

  /** Token labels of the rows: the lecture's sentence for the "I am a Robot" preset, else positions. */
  rowLabels(n) {
    const robot = this.s.preset === "robot" && n === ROBOT_TOKENS.length;
    return range(n).map((i) => (robot ? `${ROBOT_TOKENS[i]} (${i})` : String(i)));
  }

  colLabel(j, kind = this.res.kind) {
    if (kind === "sinusoidal") return `${j % 2 ? "cos" : "sin"}, i=${j >> 1}`;
    if (kind === "rotary") return `${j % 2 ? "sin" : "cos"}, pair ${j >> 1}`;
    if (kind === "binary") return `bit ${this.res.d - 1 - j}`;
    return `dim ${j}`;
  }

  renderHeatmap() {
    const { res } = this;
    const P = res.positions, d = res.d;
    const labels = this.rowLabels(P);
    const trace = {
      type: "heatmap", z: res.values, x: range(d), y: range(P),
      ...colours(res.kind, res.values),
      customdata: range(P).map((i) => range(d).map((j) => [esc(labels[i]), esc(this.colLabel(j))])),
      hovertemplate: "position %{customdata[0]} · dim %{x} (%{customdata[1]})<br>value %{z:.4f}<extra></extra>",
      colorbar: { thickness: 12 },
    };
    const few = P <= 24;
    const layout = {
      title: { text: `${res.kind}${res.model ? ` — ${esc(res.model)}` : ""}: ${P} positions (rows) × ${d} dimensions (columns)`, font: plotFont(15), x: 0 },
      xaxis: { showticklabels: d <= 32, dtick: d <= 32 ? 1 : undefined, side: "top" },
      yaxis: { title: { text: "position" }, autorange: "reversed", automargin: true,
        tickvals: few ? range(P) : undefined, ticktext: few ? labels.map(esc) : undefined },
      height: Math.max(320, Math.min(560, 14 * P + 160)),
      margin: { t: 80, l: 60, r: 10, b: 20 },
      paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    draw("pos-heatmap", [trace], layout, { ...CONFIG, toImageButtonOptions: {
      ...CONFIG.toImageButtonOptions, filename: `attnscope_pe_${res.kind}_${P}x${d}` } });
    $("pos-heatmap").setAttribute("aria-label", `${res.kind} positional encoding: ${P} positions by ${d} dimensions`);
  }

  renderSimilarity() {
    const { res } = this;
    const P = res.positions;
    const labels = this.rowLabels(P);
    const few = P <= 24;
    const trace = {
      type: "heatmap", z: res.similarity, x: range(P), y: range(P), colorscale: SCALE, ...simRange(res),
      customdata: range(P).map((i) => range(P).map((j) => [esc(labels[i]), esc(labels[j]), Math.abs(i - j)])),
      hovertemplate: "PE(%{customdata[0]}) · PE(%{customdata[1]}) = %{z:.3f}<br>distance %{customdata[2]}<extra></extra>",
      colorbar: { thickness: 12 },
    };
    const ticks = few ? { tickvals: range(P), ticktext: labels.map(esc) } : {};
    const layout = {
      title: { text: "PE(i) · PE(j)", font: plotFont(15), x: 0 },
      xaxis: { title: { text: "position j" }, side: "top", constrain: "domain", range: [-0.5, P - 0.5], ...ticks },
      yaxis: { title: { text: "position i" }, range: [P - 0.5, -0.5], automargin: true, ...ticks, scaleanchor: "x", constrain: "domain" },
      height: 420, margin: { t: 80, l: 60, r: 10, b: 20 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    draw("pos-sim", [trace], layout, CONFIG);
    const cap = {
      sinusoidal: "Each diagonal has one colour: the dot product depends only on the distance |i − j|, not on where the pair sits.",
      rotary: "Each diagonal has one colour: only the offset i − j counts — the reason RoPE gives relative positions.",
      integer: "i · j · d: it grows with the positions themselves, not with their distance.",
      binary: "The number of 1-bits the two positions share: nearby positions are not always similar.",
      learned: "Learned by the model: nearby positions end up more alike, though nothing forced it.",
    }[res.kind];
    $("pos-sim-cap").textContent = `Dot product PE(i) · PE(j) for every pair of positions. ${cap}`;
  }

  fillDims(d) {
    const sel = $("pos-dims");
    if (sel.options.length !== d || sel.dataset.kind !== this.res.kind) {
      sel.replaceChildren(...range(d).map((j) => {
        const o = document.createElement("option");
        o.value = String(j);
        o.textContent = `${j}: ${this.colLabel(j)}`;
        return o;
      }));
      sel.dataset.kind = this.res.kind;
    }
    const dims = (this.s.dims || defaultDims(d)).filter((j) => j < d);
    for (const o of sel.options) o.selected = dims.includes(Number(o.value));
  }

  renderCurves() {
    const { res } = this;
    const P = res.positions;
    const dims = [...$("pos-dims").selectedOptions].map((o) => Number(o.value));
    const labels = this.rowLabels(P);
    const traces = dims.map((j) => ({
      type: "scatter", mode: P <= 30 ? "lines+markers" : "lines", x: range(P), y: res.values.map((row) => row[j]),
      name: esc(this.colLabel(j).startsWith("dim") ? this.colLabel(j) : `dim ${j} (${this.colLabel(j)})`), customdata: labels.map(esc),
      hovertemplate: "position %{customdata}: %{y:.3f}<extra>dim " + j + "</extra>",
    }));
    const layout = {
      xaxis: { title: { text: "position" } }, yaxis: { title: { text: "value" }, zeroline: true },
      // the legend at the bottom of the figure, under the x title
      height: presenting() ? 420 : 360, margin: plotMargin({ t: 20, l: 60, r: 10, b: 80 }),
      legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" },
      paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    if (P <= 24) Object.assign(layout.xaxis, { tickvals: range(P), ticktext: labels.map(esc) });
    draw("pos-curves", traces, layout, CONFIG);
    $("pos-curves-cap").textContent = "Each selected column as a curve over position. " + {
      sinusoidal: "Low dimensions oscillate fast, high ones slowly: together they tell every position apart, and stay in [−1, 1].",
      rotary: "Pair i turns by the angle pos·θ_i: fast for the first pairs, slow for the last.",
      integer: "Every column is the position itself: a straight line that never stops growing.",
      binary: "The last bit flips every position, the one before every 2, then every 4…",
      learned: "Learned by training: no formula, but smooth in many dimensions.",
    }[res.kind];
  }

  /** The first rows and columns of the values, to 2 decimals, built with textContent. */
  renderTable() {
    const { res } = this;
    const rows = Math.min(res.positions, TABLE_ROWS), cols = Math.min(res.d, TABLE_COLS);
    const labels = this.rowLabels(rows);
    const robot = this.s.preset === "robot" && res.positions === ROBOT_TOKENS.length;
    const head = ["token", "k", ...range(cols).map((j) => this.colLabel(j))];
    const body = range(rows).map((i) => [robot ? ROBOT_TOKENS[i] : "", String(i), ...range(cols).map((j) => fix2(res.values[i][j]))]);
    buildTable($("pos-table"), head, body);
    $("pos-table-title").textContent = robot ? "Positional encoding matrix for the sequence “I am a Robot” (d = 4, n = 100)"
      : `Values of the ${res.kind} encoding`;
    $("pos-table-cap").textContent = (rows < res.positions || cols < res.d)
      ? `The first ${rows} of ${res.positions} positions and ${cols} of ${res.d} dimensions, to 2 decimals.`
      : "Every value, to 2 decimals." + (res.kind === "sinusoidal" ? " P(k, 2i) = sin(k / n^(2i/d)), P(k, 2i+1) = cos(k / n^(2i/d))." : "");
  }

  /** Small multiples: every kind at the same positions (and d, except the model's learned table). */
  async loadKinds(seq, s) {
    const d = s.d;
    const asks = [
      ["sinusoidal", { kind: "sinusoidal", positions: s.positions, d, n: s.n }],
      ["integer", { kind: "integer", positions: s.positions, d }],
      ["binary", { kind: "binary", positions: s.positions, d }],
      ["rotary", { kind: "rotary", positions: s.positions, d: d + (d % 2), n: s.n }],
    ];
    if (s.model) asks.push([`learned (${s.model})`, { kind: "learned", positions: s.positions, model: s.model }]);
    let results;
    try {
      results = await Promise.all(asks.map(([, p]) => this.get(p)));
    } catch (err) {
      if (seq === this.seq) $("pos-kinds-cap").textContent = err.detail || String(err);
      return;
    }
    if (seq !== this.seq) return;
    const n = results.length;
    const traces = results.map((r, i) => ({
      type: "heatmap", z: r.values, showscale: false, xaxis: `x${i ? i + 1 : ""}`, yaxis: `y${i ? i + 1 : ""}`,
      ...colours(r.kind, r.values),
      hovertemplate: `${esc(asks[i][0])}<br>position %{y} · dim %{x}: %{z:.3f}<extra></extra>`,
    }));
    const layout = {
      grid: { rows: 1, columns: n, pattern: "independent", xgap: 0.06 },
      height: 300, margin: { t: 40, l: 40, r: 10, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(11),
      annotations: asks.map(([name], i) => ({ text: `<b>${esc(name)}</b>`, xref: `x${i ? i + 1 : ""} domain`, yref: `y${i ? i + 1 : ""} domain`,
        x: 0.5, y: 1.02, yanchor: "bottom", showarrow: false })),
    };
    for (let i = 0; i < n; i++) {
      const ax = i ? String(i + 1) : "";
      layout[`xaxis${ax}`] = { showticklabels: false, ticks: "", title: { text: `${results[i].d} dims`, font: { size: 11 } } };
      layout[`yaxis${ax}`] = { autorange: "reversed", showticklabels: i === 0, ticks: "" };
    }
    draw("pos-kinds", traces, layout, CONFIG);
  }

  /** The rotation demo: always the sinusoidal encoding at this d and n. */
  async loadRotation(seq, s) {
    setError("pos-rot-error", "");
    const d = s.d;
    if (d % 2) {
      setError("pos-rot-error", `d = ${d} is odd: the rotation works on sin/cos pairs, so it needs an even d.`);
      return;
    }
    let res;
    try {
      res = await this.get({ kind: "sinusoidal", positions: s.positions, d, n: s.n, k: s.k });
    } catch (err) {
      if (seq === this.seq) setError("pos-rot-error", err.detail || String(err));
      return;
    }
    if (seq !== this.seq) return;
    this.rot = res;
    this.renderRotation();
  }

  renderRotation() {
    const res = this.rot;
    const { k, matrix, shifted, rotated, check } = res.rotation;
    const d = res.d, pos = Math.min(this.s.pos, res.positions - 1);
    const m = d <= FULL_MATRIX ? d : 2 * ROT_BLOCKS;
    const trace = {
      type: "heatmap", z: matrix.slice(0, m).map((row) => row.slice(0, m)), colorscale: DIVERGING,
      zmin: -1, zmax: 1, x: range(m), y: range(m), hovertemplate: "M[%{y}, %{x}] = %{z:.4f}<extra></extra>",
      colorbar: { thickness: 12 },
    };
    const layout = {
      title: { text: `M<sub>${k}</sub> (${d} × ${d})${m < d ? `: the top-left ${m} × ${m}` : ""}`, font: plotFont(15), x: 0 },
      xaxis: { side: "top", dtick: 1, constrain: "domain", range: [-0.5, m - 0.5] },
      yaxis: { range: [m - 0.5, -0.5], scaleanchor: "x", constrain: "domain", dtick: 1 },
      height: 380, margin: { t: 70, l: 40, r: 10, b: 20 }, paper_bgcolor: "rgba(0,0,0,0)", font: plotFont(12),
    };
    draw("pos-rot-matrix", [trace], layout, CONFIG);
    const robot = this.s.preset === "robot";
    const name = (p) => (robot && p < ROBOT_TOKENS.length ? `${p} “${ROBOT_TOKENS[p]}”` : String(p));
    const rows = Math.min(d, ROT_ROWS);
    const pe = res.values[pos];
    buildTable($("pos-rot-table"), ["dim", `PE(${pos})`, `PE(${pos} + ${k})`, `PE(${pos}) · M${sub(k)}`],
      range(rows).map((j) => [`${j}: ${this.colLabel(j, "sinusoidal")}`, fix4(pe[j]), fix4(shifted[pos][j]), fix4(rotated[pos][j])]));
    $("pos-rot-table-cap").textContent = `Position ${name(pos)} moved by k = ${k}: the encoding of position ${pos + k}, computed from`
      + ` the formula (middle) and by rotating PE(${pos}) (right), agree${rows < d ? ` (first ${rows} of ${d} dimensions)` : ""}.`;
    const theta = range(Math.min(d / 2, ROT_BLOCKS)).map((i) => res.n ** (-2 * i / d));
    buildTable($("pos-rot-blocks"), ["pair i", "θ_i = n^(−2i/d)", "angle k·θ_i", "block [[cos, −sin], [sin, cos]]"],
      theta.map((t, i) => [String(i), fix4(t), fix4(k * t),
        `[[${fix2(Math.cos(k * t))}, ${fix2(-Math.sin(k * t))}], [${fix2(Math.sin(k * t))}, ${fix2(Math.cos(k * t))}]]`]));
    $("pos-check").textContent = `max |PE(pos + ${k}) − PE(pos) · M${sub(k)}| over ${res.positions} positions = ${check.toExponential(1)}`;
  }
}

/** Colour scale of a kind: sequential for integer and binary, diverging around 0 for the rest.
 * A learned table has a few outlier dimensions: its range is the 99th percentile of |value|. */
function colours(kind, values) {
  if (kind === "integer" || kind === "binary") return { colorscale: SCALE };
  if (kind !== "learned") return { colorscale: DIVERGING, zmin: -1, zmax: 1 };
  const abs = values.flat().map(Math.abs).sort((a, b) => a - b);
  const lim = abs[Math.floor(0.99 * (abs.length - 1))] || 1;
  return { colorscale: DIVERGING, zmin: -lim, zmax: lim };
}

/** A learned table's position 0 can dwarf the rest: clip the similarity colours to the 1st-99th percentile. */
function simRange(res) {
  if (res.kind !== "learned") return {};
  const v = res.similarity.flat().sort((a, b) => a - b);
  return { zmin: v[Math.floor(0.01 * (v.length - 1))], zmax: v[Math.floor(0.99 * (v.length - 1))] };
}

function buildTable(table, head, rows) {
  const thead = document.createElement("thead");
  const tr = document.createElement("tr");
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.append(th);
  }
  thead.append(tr);
  const tbody = document.createElement("tbody");
  for (const row of rows) {
    const r = document.createElement("tr");
    row.forEach((v, i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      td.textContent = v;
      r.append(td);
    });
    tbody.append(r);
  }
  table.replaceChildren(thead, tbody);
}

function defaultDims(d) {
  if (d <= 6) return range(d);
  return [...new Set([0, 1, 2 * Math.round(d / 16), 2 * Math.round(d / 8)])].filter((j) => j < d);
}

function setSlider(id, value, shown) {
  const el = $(id);
  el.value = String(value);
  $(`${id}-val`).textContent = String(shown);
}

function int(v, lo, hi) {
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= lo && n <= hi ? n : null;
}

function fmtN(n) { return Number.isInteger(n) ? String(n) : n.toPrecision(4); }
function fix2(v) { return Math.abs(v) < 0.005 ? "0.00" : v.toFixed(2); }
function fix4(v) { return Math.abs(v) < 0.00005 ? "0.0000" : v.toFixed(4); }
function sub(k) { return String(k).replace(/\d/g, (c) => "₀₁₂₃₄₅₆₇₈₉"[c]); }
/** Plotly.react with the div's CSS height set to the layout's: the responsive resize (window resize,
 * presentation mode) autosizes from the div, so without it a figure would collapse to 0 px. */
function draw(id, traces, layout, config = CONFIG) {
  const el = typeof id === "string" ? $(id) : id;
  el.style.height = `${layout.height}px`;
  // square figures (scaleanchor + constrain "domain"): Plotly.react keeps the old shrunken domain and
  // widens the range instead when the size changes, so those are drawn afresh
  if (layout.yaxis?.constrain === "domain") return Plotly.newPlot(el, traces, layout, config);
  return Plotly.react(el, traces, layout, config);
}

function range(n) { return Array.from({ length: n }, (_, i) => i); }

function setStatus(text, busy = false) {
  const el = $("pos-status");
  el.textContent = text;
  el.classList.toggle("busy", busy);
}

function setError(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}
