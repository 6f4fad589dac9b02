// The step-by-step view's figures (a, b, c: strips, token matrices, bars over the keys) and the number formatting
// its formulas and explanations share. Vectors and matrices are not attention weights: linear scale, said on the bar.
import { CONFIG, SCALE, colorbarTitle, esc, plotFont, tickLabels, tickStep } from "../plot.js";
import { range } from "../ui.js";

const ACCENT = "#3b4cca", GREY = "#9aa1ad", HIGHLIGHT = "#f59e0b";

export const $ = (id) => document.getElementById(id);

/** Set the text of element `id` (always as text, never HTML). */
export function text(id, s) { $(id).textContent = s; }

/** A number for the formulas: `digits` decimals, trailing zeros dropped, a real minus sign; null is −∞. */
export function fmt(x, digits = 2) {
  if (x === null || x === undefined) return "−∞";
  const s = Number(x.toFixed(digits)).toString();
  return s.startsWith("-") ? `−${s.slice(1)}` : s;
}

/** "a" or "an" before a number read aloud: an 8, an 11, an 18, an 80…, a 32. */
export function an(n) { return /^8/.test(String(n)) || n === 11 || n === 18 ? "an" : "a"; }

export function quote(t) { return `“${t}”`; }

export function sum(a) { return a.reduce((s, x) => s + (x ?? 0), 0); }

export function argmax(a) {
  let best = 0;
  a.forEach((v, j) => { if (v !== null && v > a[best]) best = j; });
  return best;
}

/** Symmetric colour limit: the 99th percentile of |v|, so one outlier does not wash out the rest. */
function robustMax(values) {
  const abs = values.map(Math.abs).sort((a, b) => a - b);
  const k = Math.min(abs.length - 1, Math.floor(abs.length * 0.99));
  return abs[k] || abs[abs.length - 1] || 1;
}

function csvCell(v) {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Draws up to three figures (a, b, c) for one step of answer `res`; boxes not drawn are hidden by finish(). */
export class Figures {
  constructor(res) {
    this.res = res;
    this.used = new Set();
    this.data = null; // what figure A shows, for export
  }

  el(slot) { return $(`steps-fig-${slot}`); }

  place(slot, wide) {
    this.used.add(slot);
    const box = this.el(slot).closest("figure");
    box.hidden = false;
    text(`steps-cap-${slot}`, "");
    if (slot !== "a" && box.classList.contains("steps-wide") !== Boolean(wide)) {
      box.classList.toggle("steps-wide", Boolean(wide));
      Plotly.purge(this.el(slot)); // re-measure the new width
    }
  }

  caption(slot, s) { text(`steps-cap-${slot}`, s); }

  /** Hide (and empty) the figures this step did not draw. */
  finish() {
    for (const slot of ["a", "b", "c"]) {
      if (!this.used.has(slot)) {
        const el = this.el(slot);
        Plotly.purge(el);
        el.closest("figure").hidden = true;
      }
    }
  }

  draw(slot, traces, layout, name, label) {
    Plotly.react(this.el(slot), traces, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: plotFont(13), ...layout }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
    this.el(slot).setAttribute("aria-label", label);
  }

  title(s) { return { text: s, font: plotFont(15), x: 0, xanchor: "left" }; }

  /** A long vector as a one-row heatmap strip (values on hover); `groups` splits it into heads of that width. */
  strip(slot, values, name, title, { box = null, groups = 0, wide = false } = {}) {
    this.place(slot, wide);
    if (slot === "a") this.data = { kind: "vector", name, values };
    const lim = robustMax(values);
    const n = values.length;
    const trace = { type: "heatmap", z: [values], x: range(n).map((k) => k + 1), y: [name], colorscale: SCALE,
      zmin: -lim, zmax: lim, xgap: n <= 64 ? 1 : 0,
      colorbar: { thickness: 10, len: 1.1, nticks: 3, outlinewidth: 0, tickformat: ".2~f",
        title: { text: "linear", side: "right" } }, // a strip is too short for a title on top
      hovertemplate: `${name}[%{x}] = %{z:.4f}<extra></extra>` };
    const shapes = [];
    let xaxis = { title: { text: "dimension" }, showgrid: false, zeroline: false };
    if (groups) {
      const count = Math.round(n / groups);
      for (let g = 1; g < count; g++) {
        shapes.push({ type: "line", xref: "x", yref: "paper", x0: g * groups + 0.5, x1: g * groups + 0.5, y0: 0, y1: 1,
          line: { color: "#ffffff", width: 2 } });
      }
      xaxis = { tickvals: range(count).map((g) => g * groups + (groups + 1) / 2), ticktext: range(count).map((g) => `H${g + 1}`),
        showgrid: false, zeroline: false };
    }
    if (box) shapes.push({ type: "rect", xref: "x", yref: "paper", x0: box[0] + 0.5, x1: box[1] + 0.5, y0: -0.08, y1: 1.08,
      line: { color: HIGHLIGHT, width: 3 } });
    this.draw(slot, [trace], { title: this.title(esc(title)), height: 150, margin: { t: 40, b: 44, l: 70, r: 10 },
      xaxis, yaxis: { showgrid: false, tickfont: plotFont(15) }, shapes }, `steps_${name}`, `${title}: a strip of ${n} coloured cells`);
  }

  /** A tokens × numbers matrix as a heatmap, token labels on the rows; `row` is outlined. */
  matrix(slot, z, tokens, special, title, { row = null, wide = false } = {}) {
    this.place(slot, wide);
    const n = z.length, cols = z[0].length;
    const lim = robustMax(z.flat());
    const step = tickStep(n, 40);
    const yt = range(n).filter((i) => i % step === 0);
    const custom = z.map((rowv, i) => rowv.map(() => esc(tokens[i])));
    const trace = { type: "heatmap", z, x: range(cols).map((k) => k + 1), y: range(n), colorscale: SCALE, zmin: -lim, zmax: lim,
      customdata: custom, colorbar: { thickness: 10, outlinewidth: 0, title: colorbarTitle("value", "linear") },
      hovertemplate: "%{customdata} · [%{x}] = %{z:.4f}<extra></extra>" };
    const shapes = row === null ? [] : [{ type: "rect", xref: "paper", yref: "y", x0: -0.005, x1: 1.005,
      y0: row - 0.5, y1: row + 0.5, line: { color: HIGHLIGHT, width: 3 } }];
    this.draw(slot, [trace], {
      title: this.title(esc(title)), height: Math.max(240, Math.min(560, 20 * n + 110)),
      margin: { t: 40, b: 44, l: 10, r: 10 },
      xaxis: { title: { text: "dimension" }, showgrid: false, zeroline: false },
      yaxis: { tickvals: yt, ticktext: tickLabels(yt.map((i) => tokens[i]), yt.map((i) => special[i])),
        autorange: "reversed", automargin: true, showgrid: false, zeroline: false },
      shapes,
    }, `steps_matrix`, `${title}: heatmap, one row per token`);
  }

  /** One value per key token as bars labelled with the values; masked keys get a grey "−∞". */
  bars(slot, values, name, title, { masked = null, digits = 2, zeroBased = false } = {}) {
    this.place(slot, false);
    const r = this.res, n = values.length;
    const labels = r.key_tokens;
    if (slot === "a") this.data = { kind: "keys", name, values, labels };
    const y = values.map((v, j) => (masked && masked[j] ? null : v));
    const showText = n <= 30;
    const trace = { type: "bar", x: range(n), y, marker: { color: y.map((_, j) => (r.key_special[j] ? GREY : ACCENT)) },
      text: showText ? y.map((v) => (v === null ? "" : fmt(v, digits))) : undefined,
      textposition: "outside", cliponaxis: false, textfont: plotFont(n > 18 ? 11 : 13),
      customdata: labels.map(esc), hovertemplate: `%{customdata}: ${name} = %{y:.4f}<extra></extra>` };
    const live = y.filter((v) => v !== null);
    const hi = Math.max(0, ...live), lo = Math.min(0, ...live);
    const pad = (hi - lo || 1) * 0.18;
    const annotations = masked ? range(n).filter((j) => masked[j]).map((j) => ({
      x: j, y: 0, text: "−∞", showarrow: false, yanchor: "bottom", font: { ...plotFont(18), color: GREY } })) : [];
    const step = tickStep(n, 48);
    const xt = range(n).filter((j) => j % step === 0);
    this.draw(slot, [trace], {
      title: this.title(esc(title)), height: 380, margin: { t: 44, b: 10, l: 56, r: 10 },
      xaxis: { tickvals: xt, ticktext: tickLabels(xt.map((j) => labels[j]), xt.map((j) => r.key_special[j])),
        tickangle: n > 8 ? -40 : 0, automargin: true, title: { text: "key token" } },
      yaxis: { range: [zeroBased ? 0 : lo - (lo < 0 ? pad : 0), hi + pad], zeroline: true, title: { text: name } },
      annotations, bargap: 0.25,
    }, `steps_${name}`, `${title}: bar chart over ${n} key tokens`);
  }

  /** Figure A's numbers for the export bar: {name, csv, json}, or null when nothing was drawn. */
  exportInfo(name) {
    const d = this.data;
    if (!d) return null;
    if (d.kind === "keys") {
      const lines = ["key_token," + d.name, ...d.labels.map((t, j) => `${csvCell(t)},${d.values[j] ?? ""}`)];
      return { name, csv: lines.join("\n") + "\n", json: { key_tokens: d.labels, [d.name]: d.values } };
    }
    const lines = ["index," + d.name, ...d.values.map((v, k) => `${k + 1},${v}`)];
    return { name, csv: lines.join("\n") + "\n", json: { [d.name]: d.values } };
  }
}
