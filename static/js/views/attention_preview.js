// The first heatmap of a cold load, before Plotly is parsed: the head's matrix painted on a canvas with the same
// √ colour table the Plotly figure uses (heatmap.js), its token labels as text, replaced by the interactive
// figure (hover, export, clicks) as soon as Plotly is ready. Only for a plain one-head view: a quiz, a class
// question or the heads' mean waits for the full figure.
import { paint } from "../heatmap.js";
import { tickStep, tokenText } from "../plot.js";

function el(tag, cls, text, style = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; // tokens are user text: never HTML
  Object.assign(e.style, style);
  return e;
}

/**
 * Draw the preview into `host` (replacing what it holds). `flat` holds the layer's weights ([H, Tq, Tk]); head
 * `h` is drawn, `vmax` is the top of the colour scale; `title`, `queries` and `keys` label it. Returns the box.
 */
export function preview(host, { flat, h, Tq, Tk, vmax = 1, title, queries, keys, height }) {
  const box = el("div", "attn-preview", undefined, { height: `${height}px` });
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", `${title}: ${Tq} query tokens by ${Tk} key tokens (loading the interactive figure)`);
  const longest = (a) => Math.min(14, Math.max(1, ...a.map((t) => tokenText(t).length)));
  const fs = 12, left = Math.round(fs * (1.2 + 0.62 * longest(queries))), top = Math.round(fs * (3.2 + 0.5 * longest(keys)));
  const width = host.clientWidth || 640;
  const cell = Math.max(2, Math.min((width - left - 40) / Tk, (height - top - 16) / Tq, 48));
  const canvas = el("canvas", "attn-preview-cells", undefined, { left: `${left}px`, top: `${top}px`,
    width: `${cell * Tk}px`, height: `${cell * Tq}px` });
  paint(canvas, flat.subarray(h * Tq * Tk, (h + 1) * Tq * Tk), Tq, Tk, vmax);
  box.append(el("p", "attn-preview-title", title), canvas);
  const sx = tickStep(Tk), sy = tickStep(Tq);
  for (let j = 0; j < Tk; j += sx) {
    box.append(el("span", "attn-preview-key", tokenText(keys[j]).slice(0, 14),
      { left: `${left + (j + 0.5) * cell}px`, top: `${top - 4 - 1.3 * fs}px` }));
  }
  for (let i = 0; i < Tq; i += sy) {
    box.append(el("span", "attn-preview-query", tokenText(queries[i]).slice(0, 22),
      { right: `${width - left + 6}px`, top: `${top + (i + 0.5) * cell}px` }));
  }
  host.replaceChildren(box);
  return box;
}

/**
 * On a cold load (Plotly still being parsed), paint the answer's head at once and announce it painted
 * ("attention:painted"); true when it did. `state` is the view's render state (attention_render.js).
 */
export function firstPaint(res, flat, state) {
  if (window.Plotly || state.quiz.on || state.ask || state.head === "mean" || res.query_predicts) return false;
  const [H, Tq, Tk] = res.shape, h = Number(state.head);
  if (!(h >= 0 && h < H)) return false;
  let vmax = 1;
  if (state.fit) { vmax = 0; for (let i = h * Tq * Tk; i < (h + 1) * Tq * Tk; i++) if (flat[i] > vmax) vmax = flat[i]; vmax ||= 1; }
  preview(document.getElementById("heatmap"), { flat, h, Tq, Tk, vmax, queries: res.query_tokens, keys: res.key_tokens,
    title: `${res.model} · ${res.block} · layer ${res.layer + 1} · head ${h + 1}`,
    height: Math.max(320, Math.min(760, 28 * Math.max(Tq, Tk) + 160)) });
  document.dispatchEvent(new CustomEvent("attention:painted", { detail: res }));
  return true;
}
