// The matrix playground: type small matrices, see every step of scaled dot-product attention
// (POST /api/playground), recomputed as you type. Presets are the lectures' worked examples.
import { CONFIG, SCALE, esc, plotFont, plotTitle } from "../plot.js";
import { showSlides } from "../panels/slides.js";

/** Every matrix the form can hold: [name, label, shape hint]. */
const MATRICES = [
  ["x", "X", "tokens × d_model"],
  ["w_q", "W_Q", "d_model × d_k"],
  ["w_k", "W_K", "d_model × d_k"],
  ["w_v", "W_V", "d_model × d_v"],
  ["q", "Q", "tokens × d_k"],
  ["k", "K", "tokens × d_k"],
  ["v", "V", "tokens × d_v"],
  ["scores", "Scores", "tokens × tokens"],
];
const FORMS = { x: ["x", "w_q", "w_k", "w_v"], qkv: ["q", "k", "v"], scores: ["scores", "v"] };
const FIGURES = [
  ["q", "Q"], ["k", "K"], ["v", "V"],
  ["scores", "scores = Q · Kᵀ"], ["scaled", "scaled, masked"], ["weights", "weights = softmax (rows)"],
  ["output", "output = weights · V"],
];
const DEFAULT_PRESET = "thinking_machines";
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

const $ = (id) => document.getElementById(id);

/** View contract: mount(ctx) once, then show(state) on every visit or URL change. */
export async function mount(ctx) {
  const view = new PlaygroundView(ctx);
  await view.loadPresets();
  return { show: (s) => view.show(s) };
}


class PlaygroundView {
  constructor({ state, api }) {
    this.state = state;
    this.api = api;
    this.presets = {};
    this.result = null;
    this.seq = 0;
    this.timer = null;
    this.lastUrlState = null;
    this.buildForm();
    this.buildFigures();
    this.bind();
  }

  buildForm() {
    const box = $("pg-matrices");
    for (const [name, label, hint] of MATRICES) {
      const field = document.createElement("div");
      field.className = "field pg-matrix";
      field.dataset.matrix = name;
      const lab = document.createElement("label");
      lab.htmlFor = `pg-m-${name}`;
      lab.id = `pg-label-${name}`;
      lab.textContent = `${label} (${hint})`;
      const ta = document.createElement("textarea");
      ta.id = `pg-m-${name}`;
      ta.rows = 4;
      ta.cols = 26;
      ta.spellcheck = false;
      ta.setAttribute("autocomplete", "off");
      const shape = document.createElement("span");
      shape.className = "pg-shape";
      shape.id = `pg-shape-${name}`;
      field.append(lab, ta, shape);
      box.append(field);
    }
  }

  buildFigures() {
    const box = $("pg-figs");
    for (const [name] of FIGURES) {
      const fig = document.createElement("figure");
      fig.className = "panel";
      fig.hidden = true;
      const div = document.createElement("div");
      div.id = `pg-fig-${name}`;
      div.setAttribute("role", "img");
      fig.append(div);
      box.append(fig);
    }
  }

  bind() {
    $("pg-form").addEventListener("submit", (e) => { e.preventDefault(); this.compute(true); });
    $("pg-form").addEventListener("input", (e) => {
      if (e.target.id === "pg-input" || e.target.id === "pg-mask") return; // handled on change
      this.edited();
    });
    $("pg-input").addEventListener("change", () => { this.switchForm(); this.edited(0); });
    $("pg-mask").addEventListener("change", () => this.edited(0));
    $("pg-row").addEventListener("change", () => this.renderChain());
    window.addEventListener("presentation", () => { if (this.result && !$("pg-figs").closest("section").hidden) this.render(); });
  }

  async loadPresets() {
    try {
      this.presets = (await this.api("/api/playground/presets")).presets;
    } catch (err) {
      setError(err.detail || String(err));
      return;
    }
    const chips = $("pg-presets");
    chips.replaceChildren();
    for (const [name, p] of Object.entries(this.presets)) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.preset = name;
      b.textContent = p.title;
      b.addEventListener("click", () => { this.usePreset(name); this.state.set({ preset: name, pg: null }, { push: true }); });
      chips.append(b);
    }
  }

  /** Apply the URL's state: a preset by name, or the matrices themselves (`pg`, JSON). */
  async show(s) {
    const key = `${s.preset ?? ""}|${s.pg ?? ""}`;
    if (key === this.lastUrlState && this.result) return;
    this.lastUrlState = key;
    if (s.pg) {
      try {
        const args = JSON.parse(s.pg);
        if (args && typeof args === "object") {
          this.fillForm(args);
          this.markPreset(null);
          this.compute(false);
          return;
        }
      } catch { /* fall back to a preset */ }
    }
    this.usePreset(this.presets[s.preset] ? s.preset : DEFAULT_PRESET);
  }

  usePreset(name) {
    const p = this.presets[name];
    if (!p) return;
    const args = Object.fromEntries(Object.entries(p).filter(([k]) => k !== "title" && k !== "note"));
    this.fillForm(args);
    this.markPreset(name);
    this.lastUrlState = `${name}|`;
    this.compute(false);
  }

  markPreset(name) {
    for (const b of $("pg-presets").children) {
      if (b.dataset.preset === name) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    const note = $("pg-note");
    note.textContent = name ? this.presets[name].note : "";
    note.hidden = !name;
    showSlides($("pg-slides"), name);
  }

  fillForm(args) {
    const form = args.scores ? "scores" : args.x ? "x" : "qkv";
    $("pg-input").value = form;
    for (const [name] of MATRICES) $(`pg-m-${name}`).value = Array.isArray(args[name]) ? formatMatrix(args[name]) : "";
    $("pg-mask").value = args.mask === "causal" ? "causal" : "none";
    $("pg-dk").value = typeof args.d_k === "number" ? String(args.d_k) : "";
    $("pg-tokens").value = Array.isArray(args.tokens) ? args.tokens.join(" ") : "";
    this.showFields();
  }

  showFields() {
    const form = $("pg-input").value;
    const box = $("pg-matrices");
    for (const el of box.children) el.hidden = !FORMS[form].includes(el.dataset.matrix);
    for (const name of FORMS[form]) box.append($(`pg-m-${name}`).closest(".pg-matrix")); // the form's order
    $("pg-label-v").textContent = form === "scores" ? "V (tokens × d_v) — optional" : "V (tokens × d_v)";
    for (const [name] of MATRICES) {
      const ta = $(`pg-m-${name}`);
      const rows = ta.value.split("\n").filter((l) => l.trim()).length;
      ta.rows = Math.max(3, Math.min(12, rows + 1));
      const widest = Math.max(0, ...ta.value.split("\n").map((l) => l.length));
      ta.cols = Math.max(18, Math.min(60, widest + 4));
    }
  }

  /** Switching the input form: fill the new form's empty matrices from the last result where possible. */
  switchForm() {
    const r = this.result;
    if (r) {
      for (const name of FORMS[$("pg-input").value]) {
        const ta = $(`pg-m-${name}`);
        if (!ta.value.trim() && Array.isArray(r[name])) ta.value = formatMatrix(r[name].map((row) => row.map((x) => round(x, 4))));
      }
    }
    this.showFields();
  }

  /** The form changed: forget the preset and recompute after a short pause. */
  edited(delay = 250) {
    this.markPreset(null);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compute(true), delay);
  }

  body() {
    const form = $("pg-input").value;
    const body = { mask: $("pg-mask").value };
    for (const name of FORMS[form]) {
      const text = $(`pg-m-${name}`).value;
      if (form === "scores" && name === "v" && !text.trim()) continue;
      body[name] = parseMatrix(text);
    }
    const dk = $("pg-dk").value.trim();
    if (dk !== "") body.d_k = Number(dk);
    const tokens = $("pg-tokens").value.trim();
    if (tokens) body.tokens = tokens.split(/\s+/);
    return body;
  }

  async compute(saveUrl) {
    clearTimeout(this.timer);
    const body = this.body();
    const seq = ++this.seq;
    if (saveUrl) {
      const json = JSON.stringify(body);
      this.lastUrlState = `|${json.length <= 3000 ? json : ""}`;
      this.state.set({ preset: null, pg: json.length <= 3000 ? json : null });
    }
    setStatus("Computing…", true);
    let res;
    try {
      res = await this.api("/api/playground", body);
    } catch (err) {
      if (seq !== this.seq) return;
      setStatus(this.result ? "The figures below show the last input that worked." : "");
      setError(err.detail || String(err));
      return;
    }
    if (seq !== this.seq) return;
    setError("");
    this.result = res;
    setStatus(`${res.tokens.length} queries × ${res.key_tokens.length} keys · d_k = ${fmt(res.d_k, 4)} · √d_k = ${fmt(res.scale, 4)}`);
    this.render();
  }

  render() {
    const r = this.result;
    for (const [name] of MATRICES) {
      const a = r[name];
      $(`pg-shape-${name}`).textContent = Array.isArray(a) ? `${a.length} × ${a[0].length}` : "";
    }
    const rowSel = $("pg-row");
    const prev = rowSel.value;
    rowSel.replaceChildren(...r.tokens.map((t, i) => {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = `${i + 1}: ${t}`;
      return o;
    }));
    rowSel.value = prev !== "" && Number(prev) < r.tokens.length ? prev : "0";
    this.renderChain();
    this.renderFigures();
    this.renderTable();
  }

  /** One query row followed through every step, in numbers. */
  renderChain() {
    const r = this.result;
    if (!r) return;
    const i = Number($("pg-row").value) || 0;
    const list = (row, digits = 2) => row.map((x) => fmt(x, digits)).join(", ");
    const lines = [["keys", r.key_tokens.join(", ")]];
    lines.push([r.form === "scores" ? "scores" : "q · k", list(r.scores[i])]);
    lines.push([`÷ √${fmt(r.d_k, 4)} = ${fmt(r.scale, 4)}`, list(r.scaled[i])]);
    if (r.mask !== "none") lines.push(["mask", list(r.masked[i])]);
    lines.push(["softmax", list(r.weights[i])]);
    if (r.output) lines.push(["output", `[${list(r.output[i])}]`]);
    const width = Math.max(...lines.map(([k]) => k.length)) + 3;
    $("pg-chain").textContent = `Row “${r.tokens[i]}”\n` + lines.map(([k, v]) => `${k.padEnd(width)}${v}`).join("\n");
  }

  renderFigures() {
    const r = this.result;
    const cols = (m) => m[0].map((_, j) => `${j + 1}`);
    const specs = {
      q: r.form === "x" && { z: r.q, rows: r.tokens, cols: cols(r.q), title: "Q = X · W_Q" },
      k: r.form === "x" && { z: r.k, rows: r.key_tokens, cols: cols(r.k), title: "K = X · W_K" },
      v: r.form === "x" && { z: r.v, rows: r.key_tokens, cols: cols(r.v), title: "V = X · W_V" },
      scores: { z: r.scores, rows: r.tokens, cols: r.key_tokens, title: r.form === "scores" ? "scores (given)" : "scores = Q · Kᵀ" },
      scaled: { z: r.masked, rows: r.tokens, cols: r.key_tokens,
        title: `scaled = scores / √${fmt(r.d_k, 4)} = scores / ${fmt(r.scale, 4)}${r.mask === "causal" ? ", future −∞" : ""}` },
      weights: { z: r.weights, rows: r.tokens, cols: r.key_tokens, title: "weights = softmax of each row", zmin: 0, zmax: 1 },
      output: r.output && { z: r.output, rows: r.tokens, cols: cols(r.output), title: "output = weights · V" },
    };
    for (const [name] of FIGURES) {
      const el = $(`pg-fig-${name}`);
      const spec = specs[name];
      el.closest("figure").hidden = !spec;
      if (!spec) { Plotly.purge(el); continue; }
      heatmap(el, spec, name);
    }
  }

  renderTable() {
    const r = this.result;
    const body = $("pg-shapes-body");
    body.replaceChildren(...r.shapes.map((s) => {
      const tr = document.createElement("tr");
      for (const v of [s.name, `${s.shape[0]} × ${s.shape[1]}`, s.floats.toLocaleString("en"), s.bytes.toLocaleString("en")]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }));
    $("pg-total-floats").textContent = r.totals.floats.toLocaleString("en");
    $("pg-total-bytes").textContent = r.totals.bytes.toLocaleString("en");
  }
}

/** A small matrix as a heatmap with its values written in the cells; null (masked) cells read "−∞". */
function heatmap(el, { z, rows, cols, title, zmin, zmax }, name) {
  const n = z.length, m = z[0].length;
  const small = n * m <= 400;
  const text = z.map((row) => row.map((x) => (x === null ? "" : fmt(x))));
  const annotations = [];
  if (small) {
    z.forEach((row, i) => row.forEach((x, j) => {
      if (x === null) annotations.push({ x: j, y: i, text: "−∞", showarrow: false, font: { ...plotFont(14), color: "#8a8f98" } });
    }));
  }
  const trace = {
    type: "heatmap", z, x: cols.map((_, j) => j), y: rows.map((_, i) => i), colorscale: SCALE, zmin, zmax,
    text, texttemplate: small ? "%{text}" : "", textfont: { size: plotFont(n * m <= 36 ? 16 : 12).size }, // colour: auto contrast
    customdata: z.map((row, i) => row.map((_, j) => [esc(rows[i]), esc(cols[j])])),
    hovertemplate: "%{customdata[0]} · %{customdata[1]}: %{z:.4f}<extra></extra>",
    colorbar: { thickness: 10, outlinewidth: 0 }, xgap: 2, ygap: 2, hoverongaps: false,
  };
  const f = plotFont(13).size / 13; // rows and room for the labels grow with the font (presentation mode)
  const height = Math.max(220, Math.min(700, Math.round((44 * n + 130) * f)));
  Plotly.react(el, [trace], {
    title: plotTitle(esc(title), 15),
    height, margin: { t: 70, l: 10, r: 10, b: 20 },
    xaxis: { tickvals: cols.map((_, j) => j), ticktext: cols.map((c) => esc(c)), side: "top", automargin: true,
      showgrid: false, zeroline: false },
    yaxis: { tickvals: rows.map((_, i) => i), ticktext: rows.map((t) => esc(t)), autorange: "reversed", automargin: true,
      showgrid: false, zeroline: false },
    annotations, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: plotFont(13),
  }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: `attnscope_playground_${name}` } });
  el.setAttribute("aria-label", `${title}: ${n} × ${m} matrix`);
}

// ------------------------------------------------------------------ helpers

/** Rows on lines, numbers separated by spaces, commas or semicolons; brackets ignored. Non-numbers are
 *  kept as strings so the API names the bad cell. */
function parseMatrix(text) {
  return text.replace(/[−–]/g, "-").split("\n")
    .map((line) => line.replace(/[[\]]/g, " ").trim())
    .filter((line) => line)
    .map((line) => line.split(/[\s,;]+/).filter((t) => t).map((t) => (NUMBER.test(t) ? Number(t) : t)));
}

function formatMatrix(m) {
  return m.map((row) => row.map((x) => String(x)).join("  ")).join("\n");
}

function round(x, digits) { return Number(x.toFixed(digits)); }

function fmt(x, digits = 2) {
  if (x === null || x === undefined) return "−∞";
  const s = Number(x.toFixed(digits)).toString();
  return s.startsWith("-") ? `−${s.slice(1)}` : s;
}

function setStatus(s, busy = false) {
  const el = $("pg-status");
  el.textContent = s;
  el.classList.toggle("busy", busy);
}

function setError(s) {
  const el = $("pg-error");
  el.textContent = s;
  el.hidden = !s;
}
