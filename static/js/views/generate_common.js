// What the generate view's panels share: their colours, token labels, number formats and Plotly config.
import { CONFIG, tokenText } from "../plot.js";

export const ACCENT = "#3b4cca", GREY = "#aab0bb", CHOSEN = "#f59e0b", MASKED = "#d3d7de";

export const $ = (id) => document.getElementById(id);

/** A token as every view shows it (tokenText: a leading space as ␣, ↵, ⇥), also from raw byte-level pieces
 * ("Ġ" a space, "Ċ" a newline, "ĉ" a tab). */
export function shown(t) {
  return tokenText(String(t).replace(/^[Ġ▁]/, " ").replace(/Ċ/g, "\n").replace(/ĉ/g, "\t"));
}

/** A probability in three decimals, or in exponent notation when it is tiny. */
export function fmt(x) {
  if (x === 0) return "0";
  if (x < 0.001) return x.toExponential(1);
  return x.toFixed(3);
}

/** Upper triangle (keys after the query) as null: drawn as the grey plot background. */
export function masked(m) {
  return m.map((row, i) => row.map((v, j) => (j > i ? null : v)));
}

/** Plotly's config with the PNG named `name`. */
export function plotConfig(name) {
  return { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } };
}

/** One CSV cell, quoted when it holds a comma, a quote or a newline. */
export function csvCell(v) {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
