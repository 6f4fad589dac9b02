// Shared figure helpers: colour scales, safe labels, Plotly config.
import { plotlyScale } from "./heatmap.js";

/**
 * One colour scale per quantity, viridis (colour-blind safe, readable on a projector), the same mapping in canvas
 * (heatmap.js level(), the square root) and in Plotly: attention weights (and the norms' shares of a row) on a
 * square-root scale, so a faint previous-token line of 0.05 still shows; everything else linear. `scale` is what
 * the figure says about it, under its colour bar's title.
 */
export const QUANTITIES = {
  weight: { gamma: 0.5, scale: "√ scale" },
  linear: { gamma: 1, scale: "linear" },
};

/** The Plotly colour scale of quantity `q` ("weight" or "linear"). */
export function colours(q = "weight") {
  return plotlyScale((QUANTITIES[q] || QUANTITIES.linear).gamma);
}

/** Attention weights' colour scale (√, as the canvas thumbnails); SCALE is the linear one for other values. */
export const WEIGHT_SCALE = colours("weight");
export const SCALE = colours("linear");

/** Plotly renders a small HTML subset in labels; escape user text so it stays text. */
export function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Tick labels: special tokens dimmed; long labels shortened (the full text is in the hover). */
export function tickLabels(tokens, special = [], max = 14) {
  return tokens.map((raw, i) => {
    const t = tokenText(raw);
    const short = t.length > max ? t.slice(0, max - 1) + "…" : t;
    const s = esc(short);
    return special[i] ? `<span style="color:#8a8f98">${s}</span>` : s;
  });
}

/**
 * A token label as shown: a leading space (a "Ġ" / "▁" piece, decoded by the server) as ␣, and newlines and
 * tabs as signs, so " it" and "it" look different; the rest as it is (the server merged byte-level pieces).
 */
export function tokenText(t) {
  return String(t).replace(/^ /, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

/** A token's entry in a list or select, numbered from 0 in every view (as the API's positions are). */
export function tokenOption(t, i) {
  return `${i}: ${tokenText(t)}`;
}

/** Tick positions for `n` tokens: every token up to `max`, then every k-th (the hover has them all). */
export function tickStep(n, max = 48) {
  return Math.max(1, Math.ceil(n / max));
}

/**
 * Shrink a matrix to at most `max` x `max` cells for a thumbnail of a long input: each cell keeps
 * the largest weight of its block ("max", the default: a one-token-wide diagonal or a sink column
 * survives the shrinking) or their mean ("mean").
 */
export function downsample(z, max = 96, mode = "max") {
  const r = Math.ceil(z.length / max), c = Math.ceil((z[0]?.length || 0) / max);
  if (r <= 1 && c <= 1) return z;
  const out = [];
  for (let i = 0; i < z.length; i += r) {
    const row = [];
    for (let j = 0; j < z[0].length; j += c) {
      let s = 0, n = 0, m = 0;
      for (let a = i; a < Math.min(i + r, z.length); a++) {
        for (let b = j; b < Math.min(j + c, z[0].length); b++) { const v = z[a][b]; s += v; n++; if (v > m) m = v; }
      }
      row.push(mode === "mean" ? s / n : m);
    }
    out.push(row);
  }
  return out;
}

/** The largest entry of a matrix (0 for an empty or all-zero one). */
export function maxOf(z) {
  let m = 0;
  for (const row of z) for (const v of row) if (v > m) m = v;
  return m;
}

/** The element-wise mean of equally shaped matrices (the mean over heads). */
export function meanOf(mats) {
  return mats[0].map((row, i) => row.map((_, j) => mats.reduce((acc, m) => acc + m[i][j], 0) / mats.length));
}

export const CONFIG = {
  responsive: true,
  displaylogo: false,
  toImageButtonOptions: { format: "png", scale: 2 },
};

/** How much larger the figures' type is in presentation mode (on a phone-sized screen, less: its figures are narrow). */
export function presentScale() {
  return window.innerWidth < 700 ? 1.2 : 1.6;
}

/** Whether the page is in presentation mode (static/js/present.js). */
export function presenting() {
  return document.body.classList.contains("presenting");
}

/** Plotly's font for the current mode: larger in presentation mode. */
export function plotFont(size = 12) {
  return { color: fontColor(), size: presenting() ? Math.round(size * presentScale()) : size };
}

/**
 * A figure's margins for the current mode. Presenting, the type grows by presentScale() and the room
 * that holds tick labels and axis titles (left, bottom, top) grows with it; the right one a little.
 */
export function plotMargin({ t = 0, l = 0, r = 0, b = 0, ...rest } = {}) {
  if (!presenting()) return { t, l, r, b, ...rest };
  const k = presentScale();
  return { t: Math.round(t * k), l: Math.round(l * k), r: Math.round(r * (1 + (k - 1) / 2)), b: Math.round(b * k), ...rest };
}

/**
 * A figure title at the top left that keeps clear of what is under it: Plotly widens the top margin
 * (title.automargin) so tick labels on top, which grow with the font, never run into it.
 */
export function plotTitle(text, size = 15, extra = {}) {
  return { text, font: plotFont(size), x: 0, xanchor: "left", y: 1, yanchor: "top", yref: "container",
    automargin: true, pad: { t: 6, b: 6 }, ...extra };
}

/**
 * A colour bar's title: above the bar, or presenting along its right side (the larger top tick would run into
 * it). With a quantity `q`, the title says its scale ("weight · √ scale").
 */
export function colorbarTitle(text, q) {
  const scale = q && QUANTITIES[q] ? ` · ${QUANTITIES[q].scale}` : "";
  return { text: `${text}${scale}`, side: presenting() ? "right" : "top" };
}

export function fontColor() {
  return getComputedStyle(document.body).getPropertyValue("--fg").trim() || "#1d2330";
}
