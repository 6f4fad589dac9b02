// The long view's exports: the visible part of the deep-zoom heatmap (PNG, CSV, JSON of the cells at the drawn level)
// and the row, passages and distance figures' numbers. Each takes the view's state: {header, layer, head, reduce}.
import { matrixCsv } from "../export.js";

/** The name of an export: model, layer, head and what it is. */
export function fileName({ header, layer, head }, what) {
  const h = head === "mean" ? "mean" : `H${head + 1}`;
  return `attnscope_long_${header.model}_L${layer + 1}_${h}_${what}`;
}

/** The cells `zoom` (a DeepZoom) shows at its current level: labels and values (null where a tile is not loaded). */
export function visibleCells(zoom) {
  if (!zoom.vis || !zoom.head) return null;
  const { k0, q0, k1, q1, z, cell } = zoom.vis, T = zoom.T, toks = zoom.trace.tokens;
  const i0 = Math.max(0, Math.floor(q0 / cell)), i1 = Math.min(Math.ceil(T / cell), Math.ceil(q1 / cell));
  const j0 = Math.max(0, Math.floor(k0 / cell)), j1 = Math.min(Math.ceil(T / cell), Math.ceil(k1 / cell));
  const label = (i) => (cell === 1 ? `${i}:${toks[i]}` : `${i * cell}-${Math.min(T, (i + 1) * cell) - 1}`);
  const values = [];
  for (let i = i0; i < i1; i++) {
    const row = [];
    for (let j = j0; j < j1; j++) row.push(zoom.valueAt(i * cell, j * cell).value);
    values.push(row);
  }
  const span = (a, b) => [a * cell, Math.min(T, b * cell)];
  return { z, cell, rows: span(i0, i1), cols: span(j0, j1), values,
    rowLabels: Array.from({ length: i1 - i0 }, (_, n) => label(i0 + n)),
    colLabels: Array.from({ length: j1 - j0 }, (_, n) => label(j0 + n)) };
}

/** The heatmap's export (exportBar's answer), or null before a trace is open. */
export function exportMap(view, zoom, canvas) {
  const v = view.header && visibleCells(zoom);
  if (!v) return null;
  const { header, layer, head, reduce } = view;
  return { name: fileName(view, `z${v.z}`), csv: matrixCsv(v.rowLabels, v.colLabels, v.values),
    image: () => ({ url: canvas.toDataURL("image/png"), width: canvas.clientWidth, height: canvas.clientHeight }),
    json: { model: header.model, trace_id: header.trace_id, layer, head, reduce,
      z: v.z, cell: v.cell, rows: v.rows, cols: v.cols, query_labels: v.rowLabels, key_labels: v.colLabels, weights: v.values } };
}

/** The numbers of figure `what` ("row", "passages" or "distance"), from `results` (null before it is drawn). */
export function exportPlot(view, results, what) {
  const r = results[what];
  if (!r) return null;
  const { header, layer, head } = view, toks = header.tokens, name = fileName(view, what);
  if (what === "row") return { name: fileName(view, `row${r.query}`), json: { ...r, token: toks[r.query], layer, head },
    csv: "key_index,key,weight\n" + r.weights.map((w, j) => `${j},"${toks[j].replace(/"/g, '""')}",${w}`).join("\n") + "\n" };
  if (what === "passages") {
    const labels = r.passages.map((p) => `P${p.index + 1} ${p.title}`);
    return { name, csv: matrixCsv(labels, labels, r.mass), json: { ...r, layer, head } };
  }
  return { name, json: { ...r, layer, head },
    csv: "lo,hi,mean_weight\n" + r.bins.map(([lo, hi], i) => `${lo},${hi},${r.mean_weight[i]}`).join("\n") + "\n" };
}
