// The patching grid of the Effects view (a /api/patch answer drawn as a Plotly heatmap): layers × heads, or
// layers × positions for the residual stream; a diverging scale centred on 0 (1 = fully restored); null cells
// grey; the selected head outlined; drawn blank while a class question is open. A function of the answer only.
import { CONFIG, esc, plotFont } from "../plot.js";
import { range } from "../ui.js";

// ColorBrewer RdBu (the Atlas view's diverging scale): blue below 0, near white at 0, red above
const RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
  "#d6604d", "#b2182b", "#67001f"];
export const COLORSCALE = RDBU.map((c, i) => [i / (RDBU.length - 1), c]);
const MISSING = "#9aa0aa";
const BLANK = "#e6e8ee";
const MARK = "#e08a2c"; // the differing positions

/** A token as it reads on screen (a newline as ↵). */
export const tok = (t) => String(t).replace(/\n/g, "↵");

/** The symmetric colour range of a grid: the largest |effect| (1e-9 when there is none). */
export function effectRange(effects) {
  let m = 0;
  for (const row of effects || []) for (const v of row) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return Math.max(m, 1e-9);
}

/** The sign-aware short number: +0.304, −0.205. */
export function signed(v, d = 3) {
  if (v === null || v === undefined) return "n/a";
  const t = Math.abs(v).toFixed(d);
  return v < 0 && Number(t) !== 0 ? `\u2212${t}` : `+${t}`;
}

/** What the colour means, for the screen. */
export function scaleText(res) {
  const what = "colour: share of the clean−corrupt difference restored, 1 = fully";
  if (!res.effects) return `${what} (undefined here: grey)`;
  const m = effectRange(res.effects);
  const diff = res.mode === "residual" && res.differing.length ? "; orange frame: where the prompts differ" : "";
  return `${what}; ${signed(-m, 2)} blue … 0 white … ${signed(m, 2)} red (centred on 0); grey: undefined${diff}`;
}

/** The `n` most effective sites, most effective first: [{layer, col, effect}] (nulls left out). */
export function topSites(res, n = 5) {
  if (!res || !res.effects) return [];
  const all = [];
  res.effects.forEach((row, l) => row.forEach((v, c) => { if (v !== null) all.push({ layer: l, col: c, effect: v }); }));
  return all.sort((a, b) => b.effect - a.effect).slice(0, n);
}

/** A site's name: "layer 22 · head 8", or "layer 3 · position 9 ‘ John’". */
export function siteName(res, l, c) {
  if (res.mode === "heads") return `layer ${l} · head ${res.columns[c]}`;
  const p = res.columns[c];
  return `layer ${l} · position ${p} ‘${tok(res.clean_tokens[p]).trim()}’`;
}

/** The grid's effects flat, layer-major, nulls as 0 (the class question's values). */
export function flatEffects(res) {
  return (res.effects || res.values.map((r) => r.map(() => 0))).flat().map((v) => (v === null ? 0 : v));
}

/** What the grid shows, for export: CSV layer,head,effect (or layer,position,token,effect; empty: undefined) and the
 * whole answer as JSON (m(patched) in `values`). */
export function exportInfo(res) {
  if (!res) return null;
  const heads = res.mode === "heads";
  const lines = [heads ? "layer,head,effect" : "layer,position,token,effect"];
  res.values.forEach((row, l) => row.forEach((v, c) => {
    const e = res.effects ? res.effects[l][c] : null;
    const cells = heads ? [l, res.columns[c]] : [l, res.columns[c], res.clean_tokens[res.columns[c]]];
    lines.push([...cells, e === null ? "" : +e.toFixed(8)]
      .map((x) => (/[",\n]/.test(String(x)) ? `"${String(x).replace(/"/g, '""')}"` : x)).join(","));
  }));
  const name = `attnscope_${res.model}_patch_${res.mode}_${res.metric}`.replace(/[^A-Za-z0-9_.-]+/g, "_");
  return { name, csv: lines.join("\n") + "\n", json: res };
}

export class EffectsGrid {
  /** `div`: the Plotly div; `onPick([layer, col])` on a click. */
  constructor(div, { onPick = () => {} } = {}) {
    this.div = div;
    this.onPick = onPick;
    this.res = null;
  }

  /** Height: the room left in the window below the figure's top (≥ 300 px), at most ~26 px per layer. */
  height(layers) {
    const top = this.div.getBoundingClientRect().top + window.scrollY;
    const presenting = document.body.classList.contains("presenting");
    const room = window.innerHeight - Math.min(top, 420) - (presenting ? 16 : 56); // presenting: no export bar
    return Math.round(Math.max(300, Math.min(room, layers * (presenting ? 34 : 26) + 120)));
  }

  /** Draw `res` (a /api/patch answer). opts: {selected: [l, c] | null, blank}. */
  draw(res, { selected = null, blank = false } = {}) {
    this.res = res;
    const L = res.values.length, C = res.columns.length, heads = res.mode === "heads";
    const eff = res.effects;
    const m = effectRange(eff);
    const xs = range(C), ys = range(L);
    const xt = heads ? res.columns.map(String) : res.columns.map((p) => {
      const t = esc(tok(res.clean_tokens[p]).slice(0, 12));
      return res.differing.includes(p) ? `<b style="color:${MARK}">${t}</b>` : t;
    });
    const custom = ys.map((l) => xs.map((c) => [res.values[l][c] ?? NaN, heads ? `head ${res.columns[c]}`
      : `pos ${res.columns[c]} ${esc(tok(res.clean_tokens[res.columns[c]]))}`]));
    const main = {
      type: "heatmap", name: "effects", x: xs, y: ys, xgap: 1, ygap: 1, customdata: custom,
      z: blank ? ys.map(() => xs.map(() => 0)) : eff || ys.map(() => xs.map(() => null)),
      colorscale: blank ? [[0, BLANK], [1, BLANK]] : COLORSCALE, zmin: -m, zmax: m, zmid: 0,
      showscale: !blank && Boolean(eff), hoverinfo: blank ? "skip" : undefined,
      hovertemplate: blank ? undefined : `layer %{y} · %{customdata[1]}<br>effect %{z:.4f}<br>`
        + `m(patched) %{customdata[0]:.4f}<extra></extra>`,
      colorbar: { thickness: 12, len: 0.9, title: { text: "effect · linear", side: "right" }, tickfont: plotFont(11) },
    };
    const missing = {
      type: "heatmap", name: "undefined", x: xs, y: ys, xgap: 1, ygap: 1, showscale: false,
      z: ys.map((l) => xs.map((c) => (!blank && (!eff || eff[l][c] === null) ? 1 : null))),
      colorscale: [[0, MISSING], [1, MISSING]], zmin: 0, zmax: 1, customdata: custom,
      hovertemplate: `layer %{y} · %{customdata[1]}<br>effect undefined<br>m(patched) %{customdata[0]:.4f}<extra></extra>`,
    };
    const shapes = [];
    if (!heads && !blank) for (const p of res.differing) {
      const c = res.columns.indexOf(p);
      if (c >= 0) shapes.push(box(c, -0.5, L - 0.5, MARK, 3));
    }
    if (selected && !blank && selected[0] < L && selected[1] < C) {
      shapes.push(box(selected[1], selected[0] - 0.5, selected[0] + 0.5, "#111111", 3));
      shapes.push(box(selected[1], selected[0] - 0.5, selected[0] + 0.5, "#ffffff", 1, 0.12));
    }
    const height = this.height(L), font = plotFont(12), top = heads ? Math.round(font.size * 3.7) : 70;
    this.div.style.height = `${height}px`; // Plotly's responsive relayout reads the container's height
    const rowPx = (height - top - 10) / L, every = [1, 2, 5, 10].find((k) => k * rowPx >= font.size * 1.15) || 10;
    const layout = {
      height, font, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      margin: { t: top, l: 58, r: 10, b: 10 }, shapes,
      xaxis: { title: { text: heads ? "head" : "position (clean token)" }, side: "top", tickvals: xs, ticktext: xt,
        tickangle: heads ? 0 : -40, showgrid: false, zeroline: false, fixedrange: true, automargin: true },
      yaxis: { title: { text: "layer" }, autorange: "reversed", tickvals: ys.filter((l) => l % every === 0),
        showgrid: false, zeroline: false, fixedrange: true },
    };
    const name = `attnscope_${res.model}_patch_${res.mode}`;
    Plotly.react(this.div, [main, missing], layout,
      { ...CONFIG, responsive: true, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: name } });
    Object.assign(this.div.dataset, { layers: String(L), columns: String(C), cells: String(L * C), mode: res.mode,
      blank: blank ? "1" : "", selected: selected ? selected.join(",") : "" });
    this.refitLater(L);
    if (!this.div.dataset.bound) {
      this.div.dataset.bound = "1";
      this.div.on("plotly_click", (ev) => {
        const p = ev.points && ev.points[0];
        if (p && this.res && this.div.dataset.blank !== "1") this.onPick([p.y, p.x]);
      });
    }
  }

  /** Once the page has settled (text above the figure wrapping anew, presentation mode's layout), fit the height again. */
  refitLater(layers) {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => requestAnimationFrame(() => refit(this.div, this.height(layers))));
  }

  clear() {
    this.res = null;
    if (this.div.data) Plotly.purge(this.div);
    this.div.replaceChildren();
    this.div.style.height = "";
    Object.assign(this.div.dataset, { cells: "", layers: "", columns: "", selected: "", bound: "" });
  }
}

const GRIDS = new WeakMap();

/** The one EffectsGrid of `div`, made on first use; a click on a cell dispatches "effects:pick" on the div
 * (detail: [layer, col]), so that render(state, data) functions can draw it and the view listen. */
export function gridOf(div) {
  if (!GRIDS.has(div)) GRIDS.set(div, new EffectsGrid(div, { onPick: (c) => div.dispatchEvent(new CustomEvent("effects:pick", { detail: c })) }));
  return GRIDS.get(div);
}

/** Give a drawn Plotly figure `height` (CSS px) when it is more than a few px off. */
export function refit(div, height) {
  if (!div._fullLayout || !div.offsetParent || Math.abs(div._fullLayout.height - height) < 4) return;
  div.style.height = `${height}px`;
  Plotly.relayout(div, { height });
}

/** A rectangle around column c from y0 to y1 (data coordinates), inset by `inset` cells. */
function box(c, y0, y1, color, width, inset = 0) {
  return { type: "rect", xref: "x", yref: "y", x0: c - 0.5 + inset, x1: c + 0.5 - inset, y0: y0 + inset, y1: y1 - inset,
    line: { color, width }, fillcolor: "rgba(0,0,0,0)" };
}
