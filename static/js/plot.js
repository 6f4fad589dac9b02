// Shared figure helpers: colour scale, safe labels, Plotly config.

/** Colour-blind-safe sequential scale (viridis), readable on a projector. */
export const SCALE = "Viridis";

/** Plotly renders a small HTML subset in labels; escape user text so it stays text. */
export function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Tick labels: special tokens dimmed; long labels shortened (the full text is in the hover). */
export function tickLabels(tokens, special = [], max = 14) {
  return tokens.map((t, i) => {
    const short = t.length > max ? t.slice(0, max - 1) + "…" : t;
    const s = esc(short);
    return special[i] ? `<span style="color:#8a8f98">${s}</span>` : s;
  });
}

export const CONFIG = {
  responsive: true,
  displaylogo: false,
  toImageButtonOptions: { format: "png", scale: 2 },
};

/** Plotly's font for the current mode: larger in presentation mode. */
export function plotFont(size = 12) {
  const presenting = document.body.classList.contains("presenting");
  return { color: fontColor(), size: presenting ? Math.round(size * 1.6) : size };
}

export function fontColor() {
  return getComputedStyle(document.body).getPropertyValue("--fg").trim() || "#1d2330";
}
