// Slide vs computed (GET /api/slides): the lecture's printed numbers beside the true ones, the cells where the
// slide is off by more than its own rounding highlighted. Used by the Playground and the Positions views.
import { api } from "../api.js";
import { createLoader } from "../kernel/load.js";

// one loader per container (each view's slides box): a newer preset replaces the older one's late answer
const loaders = new WeakMap();

function fmtNum(x, decimals) {
  if (x === 0) return "0";
  return x.toFixed(decimals + 2).replace(/0+$/, "").replace(/\.$/, "");
}

/** Fill `container` with the comparisons of `preset` (hide it when there are none). */
export async function showSlides(container, preset) {
  container.replaceChildren();
  container.hidden = true;
  if (!preset) return;
  if (!loaders.has(container)) {
    loaders.set(container, createLoader((p, signal) => api(`/api/slides?preset=${encodeURIComponent(p)}`, undefined, { signal })));
  }
  const got = await loaders.get(container).load(preset);
  if (!got || got.error) return; // replaced, or no comparisons to show (the view's own figure stands)
  const list = got.data.comparisons;
  if (!list.length) return;
  const h = document.createElement("h3");
  h.className = "slides-h3";
  h.textContent = "Slide vs computed";
  const intro = document.createElement("p");
  intro.className = "slides-intro";
  intro.textContent = "Each cell: the slide's number as printed, and under it the computed one (how: after each title). " +
    "Highlighted cells differ by more than the slide's rounding.";
  container.append(h, intro);
  for (const c of list) container.append(table(c));
  container.hidden = false;
}

function table(c) {
  const fig = document.createElement("figure");
  fig.className = "slides-cmp";
  fig.dataset.id = c.id;
  const cap = document.createElement("figcaption");
  const title = document.createElement("strong");
  title.textContent = c.title;
  const count = document.createElement("span");
  count.className = c.mismatches ? "slides-count slides-bad" : "slides-count slides-ok";
  count.textContent = c.mismatches ? ` — ${c.mismatches} cell${c.mismatches === 1 ? "" : "s"} off` : " — every printed number agrees";
  const verdict = document.createElement("span");
  verdict.className = "slides-verdict";
  verdict.textContent = ` ${c.verdict} Computed as: ${c.computed_as}.`;
  cap.append(title, count, verdict);
  const t = document.createElement("table");
  t.className = "slides-table";
  const head = t.createTHead().insertRow();
  head.append(document.createElement("th"));
  for (const col of c.cols) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = col;
    head.append(th);
  }
  const body = t.createTBody();
  c.rows.forEach((r, i) => {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = r;
    tr.append(th);
    c.cols.forEach((_, j) => {
      const td = tr.insertCell();
      const off = c.mismatch[i][j];
      td.className = off ? "slides-off" : "";
      const s = document.createElement("span");
      s.className = "slides-slide";
      s.textContent = c.slide[i][j].toFixed(c.decimals);
      const v = document.createElement("span");
      v.className = "slides-true";
      v.textContent = fmtNum(c.computed[i][j], c.decimals);
      td.append(s, v);
      td.title = `slide ${c.slide[i][j]} − computed ${c.computed[i][j].toFixed(6)} = ${c.diff[i][j].toFixed(4)}`;
    });
  });
  fig.append(cap, t);
  return fig;
}
