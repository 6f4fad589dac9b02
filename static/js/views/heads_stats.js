// The heads view's statistics of every head, as functions of the /api/heads answer: the layers × heads grid of one
// statistic, the sortable table (with the sink column of attention_norms.js) and the labelling rules.
import { $, STATS, gridCsv, headGrid } from "../analysis.js";
import { SinkColumn } from "./attention_norms.js";

/** Statistics that are probabilities (0–1 on a fixed scale); the others' range is their own. */
const PROBABILITIES = new Set(["entropy_norm", "self", "previous", "next", "first", "special"]);

/** The table's columns, in order. */
export const COLUMNS = [{ id: "layer", label: "Layer" }, { id: "head", label: "Head" }, { id: "label", label: "Label" }, ...STATS,
  SinkColumn.column];

/**
 * Draw the statistics. `state`: {stat, cursor: [layer, head], sort: {key, dir}, sinks: SinkColumn}; `stats`: the
 * /api/heads answer. Resolves when the grid is drawn.
 */
export function render(state, stats) {
  renderTable(state, stats);
  renderRules(stats);
  return renderGrid(state, stats);
}

/** One statistic of every head, layers × heads. */
export function statMatrix(stats, stat) {
  return stats.stats.map((row) => row.map((s) => s[stat]));
}

/** The grid of `state.stat`, the cursor's head outlined; resolves when drawn. */
export function renderGrid(state, stats) {
  const info = STATS.find((s) => s.id === state.stat);
  $("hd-stat-help").textContent = info.help;
  const probability = PROBABILITIES.has(state.stat);
  return headGrid("hd-grid", statMatrix(stats, state.stat), {
    title: `${info.label} · ${stats.block}`, zmin: probability ? 0 : undefined, zmax: probability ? 1 : undefined,
    text: stats.stats.map((row) => row.map((s) => s.label)), hoverValue: info.label.toLowerCase(),
    cursor: state.cursor, colorbarTitle: `${info.label} · linear`, filename: `attnscope_${stats.model}_${stats.block}_${state.stat}`,
  });
}

/** What the grid shows, for export. */
export function gridExport(stats, stat) {
  if (!stats) return null;
  return { name: `attnscope_${stats.model}_${stats.block}_${stat}`, csv: gridCsv(statMatrix(stats, stat)),
    json: { model: stats.model, block: stats.block, statistic: stat, stats: stats.stats, labels_rules: stats.labels_rules } };
}

/** The next sort after a click on column `key`: the same column flips; a new one starts with its natural order. */
export function nextSort(sort, key) {
  return { key, dir: sort.key === key ? -sort.dir : key === "layer" || key === "head" || key === "label" ? 1 : -1 };
}

/** Every head as a row, sorted by `state.sort` (missing values last); sort buttons and open buttons in it. */
export function renderTable(state, stats) {
  const { sort, sinks } = state;
  $("hd-table-head").replaceChildren(...COLUMNS.map((c) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.key = c.id;
    if (sort.key === c.id) th.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "hd-sort";
    b.textContent = c.label + (sort.key === c.id ? (sort.dir > 0 ? " ▲" : " ▼") : "");
    if (c.help) b.title = c.help;
    th.append(b);
    return th;
  }));
  const rows = [];
  stats.stats.forEach((row, l) => row.forEach((s, h) => rows.push({ ...s, layer: l, head: h, sink: sinks.value(l, h) })));
  const { key, dir } = sort;
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const c = typeof x === "string" ? x.localeCompare(y) : x - y;
    return c * dir || a.layer - b.layer || a.head - b.head;
  });
  $("hd-table-body").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.layer = String(r.layer);
    tr.dataset.head = String(r.head);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "hd-open";
    open.textContent = `L${r.layer + 1}`;
    open.title = `Open layer ${r.layer + 1}, head ${r.head + 1} in the attention view`;
    const cells = [open, `H${r.head + 1}`, r.label, ...STATS.map((s) => (r[s.id] === null ? "—" : r[s.id].toFixed(3))),
      sinks.cell(r.layer, r.head)];
    for (const c of cells) {
      const td = document.createElement("td");
      td.append(c);
      tr.append(td);
    }
    return tr;
  }));
}

/** The rules that label the heads, as the API gives them. */
export function renderRules(stats) {
  $("hd-rules").replaceChildren(...stats.labels_rules.map((r) => {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = r.label;
    const code = document.createElement("code");
    code.textContent = r.rule;
    li.append(b, " — ", code, `: ${r.meaning}`);
    return li;
  }));
}
