// The atlas view's exports, as export.js's bar does them elsewhere: PNG (the grid on an opaque background that
// follows the theme, with its title and colour bar), SVG (atlas_grid.js's gridSvg), CSV (layer,head,task,score)
// and JSON (the atlas result; for a comparison both results and the difference).
import { drawGrid, drawLegend, gridSvg, scaleText } from "../atlas_grid.js";
import { gridCsv } from "./atlas_data.js";

function save(name, url) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  save(name, url);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

/** The grid, its title and its colour bar on one opaque canvas (2× pixels) -> PNG data URL. */
export function gridPng(grid, title, caption) {
  const bg = css("--panel", "#ffffff"), fg = css("--fg", "#1d2330"), font = 13, dpr = 2;
  const g = document.createElement("canvas");
  const L = drawGrid(g, { ...grid, bg, fg, font, dpr, cell: Math.max(18, Math.min(40, Math.floor(720 / grid.heads))), selected: null });
  const leg = document.createElement("canvas");
  if (!grid.blank) drawLegend(leg, { lo: grid.lo, hi: grid.hi, diverging: grid.diverging, width: 240, height: 34, font, fg, dpr });
  const titleH = 36, legH = grid.blank ? 0 : 60;
  const out = document.createElement("canvas");
  const m = out.getContext("2d");
  m.font = `600 ${font + 1}px system-ui, sans-serif`;
  const tw = m.measureText(title).width;
  m.font = `${font - 1}px system-ui, sans-serif`;
  const W = Math.ceil(Math.max(L.width + 20, 320, tw + 20, grid.blank ? 0 : m.measureText(caption).width + 20));
  const H = titleH + L.height + legH + 10;
  out.width = W * dpr;
  out.height = H * dpr;
  const ctx = out.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = fg;
  ctx.font = `600 ${font + 1}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.fillText(title, 10, titleH / 2 + 2, W - 20);
  ctx.drawImage(g, 10, titleH, L.width, L.height);
  if (!grid.blank) {
    ctx.drawImage(leg, 10, titleH + L.height + 6, 240, 34);
    ctx.font = `${font - 1}px system-ui, sans-serif`;
    ctx.fillText(caption, 10, titleH + L.height + 52, W - 20);
  }
  return out.toDataURL("image/png");
}

/** PNG / SVG / CSV / JSON buttons after `figure`; `info()` -> {name, grid, title, view, json} or null. */
export function atlasExportBar(figure, info) {
  const bar = document.createElement("div");
  bar.className = "export-bar";
  bar.id = "at-export";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Export this grid");
  const make = (label, fn) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    b.dataset.export = label.toLowerCase();
    b.addEventListener("click", () => { const i = info(); if (i) fn(i); });
    bar.append(b);
  };
  const caption = (i) => scaleText(i.grid.task, i.grid, i.view.diff ? { diff: true } : {});
  make("PNG", (i) => save(`${i.name}.png`, gridPng(i.grid, i.title, caption(i))));
  make("SVG", (i) => download(`${i.name}.svg`, gridSvg({ ...i.grid, selected: null, bg: css("--panel", "#ffffff"), font: 13, cell: undefined },
    { title: `${i.title} (${caption(i)})` }), "image/svg+xml"));
  make("CSV", (i) => download(`${i.name}.csv`, gridCsv(i.view), "text/csv"));
  make("JSON", (i) => download(`${i.name}.json`, JSON.stringify(i.json, null, 1), "application/json"));
  figure.after(bar);
  return bar;
}

/** The JSON export: the atlas result, or for a difference both results and the A − B scores. */
export function exportJson(view) {
  if (!view.diff) return view.raw;
  const heads = [];
  for (let l = 0; l < view.layers; l++) {
    for (let h = 0; h < view.heads; h++) {
      heads.push({ layer: l, head: h, scores: Object.fromEntries(view.tasks.map((t) => [t, view.values[t][l * view.heads + h]])) });
    }
  }
  return { difference: { a: view.a.job, b: view.b.job, tasks: view.tasks, layers: view.layers, heads_per_layer: view.heads, heads },
    a: view.a.raw, b: view.b.raw };
}
