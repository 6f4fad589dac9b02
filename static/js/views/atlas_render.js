// The atlas view's figures: the layer × head grid (canvas, hover tip, legend, readout), the sortable head table,
// and render(state, data), which draws the view (the grid, the table, the side panel) and tells the live class.
import { cellAt, drawGrid, drawLegend, scaleFor, scaleText } from "../atlas_grid.js";
import { atlasName, difference, fmtScore } from "./atlas_data.js";
import { renderDetail } from "./atlas_detail.js";

const $ = (id) => document.getElementById(id);
const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
const presenting = () => document.body.classList.contains("presenting");

/** The grid of one task: draws it, answers hover and click; `onPick([l, h])` on a click. */
export class GridFigure {
  constructor({ canvas, tip, legend, scale, readout, onPick }) {
    Object.assign(this, { canvas, tip, legend, scale, readout, onPick });
    this.grid = null;
    this.view = null;
    this.task = null;
    this.hover = null;
    canvas.addEventListener("mousemove", (e) => this.move(e));
    canvas.addEventListener("mouseleave", () => { this.hover = null; this.tip.hidden = true; this.say(); });
    canvas.addEventListener("click", (e) => {
      const c = this.grid && cellAt(canvas, this.grid, e.clientX, e.clientY);
      if (c) this.onPick(c);
    });
  }

  /** Draw `view` (a normalised atlas or a difference) for `task`, with `selected` outlined. */
  draw(view, task, selected, { blank = false } = {}) {
    this.view = view;
    this.task = task;
    this.blank = blank;
    const values = view.values[task];
    const sc = scaleFor(task, values, { diff: Boolean(view.diff) });
    const big = presenting();
    const wrap = this.canvas.parentElement;
    const top = wrap.getBoundingClientRect().top + window.scrollY;
    const font = big ? 18 : 12;
    this.grid = { values, layers: view.layers, heads: view.heads, ...sc, selected, blank, task,
      width: wrap.clientWidth, maxHeight: Math.max(200, window.innerHeight - top - (big ? 110 : 90)),
      minCell: big ? 22 : 14, minCellH: big ? 12 : 10, maxCell: big ? 64 : 44, font, fg: css("--fg", "#1d2330") };
    drawGrid(this.canvas, this.grid);
    this.canvas.dataset.task = task;
    this.canvas.dataset.blank = blank ? "1" : "0";
    this.canvas.dataset.drawn = "1";
    this.legend.hidden = blank;
    this.scale.hidden = blank;
    if (!blank) {
      drawLegend(this.legend, { ...sc, width: big ? 300 : 220, height: big ? 44 : 34, font, fg: this.grid.fg });
      this.scale.textContent = scaleText(task, sc, view.diff ? { diff: true, a: "A", b: "B" } : {});
    }
    this.say();
  }

  value(l, h) { return this.view.values[this.task][l * this.view.heads + h]; }

  /** "layer 3 · head 5 · induction 0.821345" (no score while the grid is a class question). */
  text(l, h) {
    const where = `layer ${l} · head ${h}`;
    if (this.blank) return where;
    const name = this.view.diff ? `${this.task} A − B` : this.task;
    return `${where} · ${name} ${fmtScore(this.value(l, h), Boolean(this.view.diff))}`;
  }

  move(e) {
    const c = this.grid && cellAt(this.canvas, this.grid, e.clientX, e.clientY);
    this.hover = c;
    if (!c) { this.tip.hidden = true; this.say(); return; }
    this.tip.textContent = this.text(...c);
    this.tip.hidden = false;
    const r = this.canvas.parentElement.getBoundingClientRect();
    const x = e.clientX - r.left + 14, y = e.clientY - r.top + 14;
    this.tip.style.left = `${Math.min(x, r.width - this.tip.offsetWidth - 4)}px`;
    this.tip.style.top = `${y}px`;
    this.say();
  }

  /** The readout line under the grid: the hovered head, else the selected one. */
  say() {
    const c = this.hover || this.grid?.selected;
    this.readout.textContent = c ? this.text(...c) : "Hover a cell to read its score; click it to select the head.";
    this.readout.dataset.layer = c ? String(c[0]) : "";
    this.readout.dataset.head = c ? String(c[1]) : "";
  }
}

/** The table of heads: a row per head, a column per task, sortable by any header; `onPick` on a row click. */
export class HeadTable {
  constructor(table, onPick) {
    this.table = table;
    this.onPick = onPick;
    this.sort = { key: "layer", dir: 1 };
    this.view = null;
  }

  render(view, selected) {
    this.view = view;
    this.selected = selected;
    const keys = ["layer", "head", ...view.tasks];
    if (!keys.includes(this.sort.key)) this.sort = { key: "layer", dir: 1 };
    const head = document.createElement("tr");
    for (const k of keys) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = k;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "at-sort";
      b.textContent = k === "layer" || k === "head" || !view.diff ? k : `${k} (A − B)`;
      b.addEventListener("click", () => this.sortBy(k));
      th.append(b);
      th.setAttribute("aria-sort", this.sort.key === k ? (this.sort.dir > 0 ? "ascending" : "descending") : "none");
      head.append(th);
    }
    this.table.tHead.replaceChildren(head);
    const rows = [];
    for (let l = 0; l < view.layers; l++) for (let h = 0; h < view.heads; h++) rows.push([l, h]);
    const val = ([l, h], k) => (k === "layer" ? l : k === "head" ? h : view.values[k][l * view.heads + h]);
    const { key, dir } = this.sort;
    rows.sort((a, b) => {
      const x = val(a, key), y = val(b, key);
      const d = Number.isNaN(x) ? 1 : Number.isNaN(y) ? -1 : (x - y) * dir;
      return d || a[0] - b[0] || a[1] - b[1];
    });
    const body = rows.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.layer = String(c[0]);
      tr.dataset.head = String(c[1]);
      if (selected && selected[0] === c[0] && selected[1] === c[1]) { tr.classList.add("at-selected"); tr.setAttribute("aria-selected", "true"); }
      for (const k of keys) {
        const td = document.createElement("td");
        const v = val(c, k);
        if (k === "layer" || k === "head") td.textContent = String(v);
        else { td.textContent = Number.isFinite(v) ? (view.diff && v > 0 ? "+" : "") + v.toFixed(4) : "n/a"; td.dataset.value = String(v); td.title = fmtScore(v, view.diff); }
        tr.append(td);
      }
      tr.addEventListener("click", () => this.onPick(c));
      return tr;
    });
    this.table.tBodies[0].replaceChildren(...body);
  }

  /** Sort by `key`: a task first by its highest score, layer and head from 0; again: the other way. */
  sortBy(key) {
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: key === "layer" || key === "head" ? 1 : -1 };
    if (this.view) this.render(this.view, this.selected);
  }
}

/** Fill the task picker (radio chips) with `tasks`, `task` checked; `onTask(t)` on a change. */
export function taskPicker(box, tasks, task, onTask) {
  box.replaceChildren(...tasks.map((t) => {
    const label = document.createElement("label");
    label.className = "at-task";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "at-task";
    input.value = t;
    input.checked = t === task;
    input.addEventListener("change", () => { if (input.checked) onTask(t); });
    label.append(input, document.createTextNode(t));
    return label;
  }));
}

/** What the view shows of atlas A (`atlas`) and B (`other`, or null): A − B when both are there, else A. */
export function shown(atlas, other) {
  return atlas && other ? difference(atlas, other) : atlas;
}

/**
 * Draw the atlas view. `state`: {task, selected ([l, h] or null)}; `data`: {atlas, other, models} (A, B or null, the
 * configured models); `ui`: {figure (a GridFigure), table (a HeadTable), onPick([l, h]), onTask(task)}. Returns the
 * task shown: `state.task`, or the view's first task when it has no such task. For the live class it sets
 * window.__atlasCurrent and sends "atlas:current"; body[data-class-question="grid"] draws the grid blank.
 */
export function render(state, { atlas, other, models }, { figure, table, onPick, onTask }) {
  const v = shown(atlas, other);
  let { task } = state;
  $("at-empty").hidden = Boolean(v);
  $("at-body").hidden = !v;
  renderDetail($("at-detail"), { view: v, task, selected: state.selected, models, onPick });
  if (!v || $("at-form").closest("section").hidden) return task;
  if (!v.tasks.includes(task)) task = v.tasks[0];
  const blank = document.body.dataset.classQuestion === "grid";
  taskPicker($("at-task-picker"), v.tasks, task, onTask);
  $("at-title").textContent = v.diff ? `${task}: A − B` : `${task} · ${atlasName(v)}`;
  $("at-subtitle").textContent = v.diff ? `A = ${atlasName(v.a)}\nB = ${atlasName(v.b)}` : "";
  $("at-subtitle").hidden = !v.diff;
  figure.draw(v, task, state.selected, { blank });
  $("at-detail-panel").hidden = blank;
  $("at-table-panel").hidden = blank;
  if (!blank) table.render(v, state.selected);
  window.__atlasCurrent = { job: atlas.job, model: atlas.model, task, layers: v.layers, heads: v.heads,
    values: Array.from(v.values[task]), compare: other?.job || null, diff: Boolean(v.diff) };
  window.dispatchEvent(new CustomEvent("atlas:current", { detail: window.__atlasCurrent }));
  return task;
}

export { $ };
