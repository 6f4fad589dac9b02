// Live class, the grid question: "which head is the <task> head?" asked from the Atlas view, or "which head
// matters most?" from the Effects view (its activation-patching grid). Students tap a cell of a blank layer ×
// head grid; the reveal colours it by the model's scores with the class's counts. While a grid question is
// open, body[data-class-question="grid"] tells the view in sight to draw its grid blank.
import { cellAt, drawGrid } from "./atlas_grid.js";

/** Tasks whose scores are not fractions of attention: the reveal shows them divided by their max (patching:
 * the Effects view's effects, negative ones as 0). */
const UNBOUNDED = new Set(["entropy", "distance", "patching"]);
/** The views that ask a grid question, and where each keeps the grid in sight. */
const GRID_VIEWS = { atlas: () => window.__atlasCurrent, effects: () => window.__effectsCurrent };
const MAX_CELLS = 1024;
const TOP = "#e08a2c"; // the model's top head (the class colour of the token question's bars)

export const isGrid = (q) => Boolean(q && q.kind === "grid");

/** Mark a grid question open (asked, not revealed) on this page, or clear the mark. */
export function markOpen(open) {
  if (open) document.body.dataset.classQuestion = "grid";
  else delete document.body.dataset.classQuestion;
}

const where = (i, heads) => `layer ${Math.floor(i / heads)} · head ${i % heads}`;
const taskName = (q) => (q.task || "").replace(/_/g, " ");

/** Whether `view` (the URL's) asks a grid question ("which head?") rather than a token one. */
export const asksGrid = (view) => Object.hasOwn(GRID_VIEWS, view);

/** The grid question of the view in sight (atlasQuestion or effectsQuestion). */
export function gridQuestion(view) {
  return view === "effects" ? effectsQuestion(GRID_VIEWS.effects()) : atlasQuestion(GRID_VIEWS.atlas());
}

/**
 * The teacher's question from the Effects view in sight (window.__effectsCurrent, its heads grid of patching
 * effects): {ask, values} with values the effects divided by their max (negative and undefined ones as 0), or
 * {error} saying why not.
 */
export function effectsQuestion(cur = window.__effectsCurrent) {
  if (!cur || !Number.isInteger(cur.layers) || !Number.isInteger(cur.heads)) {
    return { error: "Run the patching first: the question is asked over the heads grid in sight." };
  }
  if (cur.mode === "residual") return { error: "Patch each head (mode: each head) to ask which head matters most." };
  if (!cur.values) return { error: "These prompts give no effects to ask about (the reason is under the grid)." };
  return gridAsk(cur, "Which head matters most? Tap it.");
}

/**
 * The teacher's question from the Atlas view in sight (window.__atlasCurrent): {ask, values} with values the
 * task's scores in [0, 1] (entropy and distance divided by their max), or {error} saying why not.
 */
export function atlasQuestion(cur = window.__atlasCurrent) {
  if (!cur || !Number.isInteger(cur.layers) || !Number.isInteger(cur.heads) || !cur.values) {
    return { error: "Open an atlas first: the question is asked over the grid in sight." };
  }
  if (cur.diff) return { error: "Show one atlas, not a difference of two, to ask which head it is." };
  return gridAsk(cur);
}

/** {ask, values} for a grid {layers, heads, values, task}; `title` defaults to "Which head is the <task> head?". */
function gridAsk(cur, title = null) {
  const n = cur.layers * cur.heads;
  if (n > MAX_CELLS || cur.values.length < n) return { error: `A grid question has at most ${MAX_CELLS} heads.` };
  const task = String(cur.task || "");
  const raw = Array.from(cur.values, Number).slice(0, n).map((v) => (Number.isFinite(v) ? v : 0));
  const max = Math.max(...raw);
  const values = raw.map((v) => {
    const x = UNBOUNDED.has(task) ? (max > 0 ? v / max : 0) : v;
    return Math.round(Math.min(1, Math.max(0, x)) * 1e4) / 1e4; // 1,024 scores stay a few kB
  });
  const tokens = [];
  for (let l = 0; l < cur.layers; l++) for (let h = 0; h < cur.heads; h++) tokens.push(`L${l} H${h}`);
  const ask = { type: "ask", kind: "grid", layers: cur.layers, heads: cur.heads, tokens,
    title: title || `Which head is the ${task.replace(/_/g, " ") || "top"} head? Tap it.` };
  if (/^[a-z_]{1,40}$/.test(task)) ask.task = task;
  return { ask, values };
}

/** The sentence under a revealed grid; `mine` adds the student's own pick. */
export function revealText(q, m, mine) {
  const task = taskName(q);
  const who = q.task === "patching" ? "The most effective head (activation patching)"
    : `The model's top ${task ? `${task} ` : ""}head`;
  let s = `${who} is ${where(m.top, q.heads)}: ${m.top_count} of ${m.answered} found it.`;
  if (mine !== undefined) {
    s += mine === null ? " You did not pick one." : ` You picked ${where(mine, q.heads)}${mine === m.top ? ": that's it!" : "."}`;
  }
  return s;
}

const node = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

/**
 * A grid question's figure: a canvas grid (blank while open; coloured by the model's scores once revealed),
 * the class's counts drawn in the cells that got votes, the pick outlined. `onPick(index)` (students) makes it
 * tappable until the reveal; `maxHeight` (CSS px) shrinks tall grids (cells of 22 px at least).
 * Returns {el, set(patch)} with patch of {mine, counts, weights, top}.
 */
export function gridFigure(q, { onPick = null, id = "", maxHeight = 0 } = {}) {
  const el = node("div", "cl-grid");
  const wrap = node("div", "cl-grid-scroll");
  const canvas = node("canvas", "cl-grid-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${q.layers} layers × ${q.heads} heads${onPick ? ": tap a head" : ""}`);
  if (id) canvas.id = id;
  wrap.append(canvas);
  el.append(wrap);
  const st = { mine: null, counts: null, weights: null, top: null };
  let grid = null;
  let width = 0;
  const draw = () => {
    width = wrap.clientWidth;
    const n = q.layers * q.heads;
    grid = { values: st.weights || new Array(n).fill(0), layers: q.layers, heads: q.heads, lo: 0, hi: 1,
      diverging: false, blank: !st.weights, width: width || 340, minCell: 22, maxCell: 44, font: 13, maxHeight,
      selected: st.mine === null ? null : [Math.floor(st.mine / q.heads), st.mine % q.heads] };
    const L = drawGrid(canvas, grid);
    const ctx = canvas.getContext("2d");
    const box = (i, colour, w) => {
      // a tall grid's cells (the teacher's, under maxHeight) are wider than they are high
      const x = L.left + (i % q.heads) * L.cellW, y = L.top + Math.floor(i / q.heads) * L.cellH;
      ctx.lineWidth = w;
      ctx.strokeStyle = colour;
      ctx.strokeRect(x + w / 2, y + w / 2, L.cellW - 1 - w, L.cellH - 1 - w);
    };
    if (st.top !== null) box(st.top, TOP, 4);
    if (st.counts) {
      ctx.font = `700 ${Math.max(10, Math.min(16, Math.floor(Math.min(L.cellW, L.cellH) * 0.55)))}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.lineJoin = "round";
      st.counts.forEach((c, i) => {
        if (!c) return;
        const x = L.left + ((i % q.heads) + 0.5) * L.cellW - 0.5, y = L.top + (Math.floor(i / q.heads) + 0.5) * L.cellH;
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#111";
        ctx.strokeText(String(c), x, y);
        ctx.fillStyle = "#fff";
        ctx.fillText(String(c), x, y);
      });
    }
    Object.assign(canvas.dataset, { x0: String(L.left), y0: String(L.top), cell: String(L.cell),
      mine: st.mine === null ? "" : String(st.mine), top: st.top === null ? "" : String(st.top),
      counts: st.counts ? JSON.stringify(st.counts) : "", revealed: st.weights ? "1" : "" });
  };
  if (onPick) {
    canvas.classList.add("cl-grid-tap");
    canvas.addEventListener("click", (e) => {
      if (st.weights || !grid) return;
      const c = cellAt(canvas, grid, e.clientX, e.clientY);
      if (c) onPick(c[0] * q.heads + c[1]);
    });
  }
  // drawn once it is in the page (its width decides the cells' size), again when that width changes
  const ro = new ResizeObserver(() => {
    if (!wrap.isConnected) ro.disconnect(); // replaced by the next question
    else if (wrap.clientWidth && wrap.clientWidth !== width) draw();
  });
  ro.observe(wrap);
  return { el, set: (patch) => { Object.assign(st, patch); if (el.isConnected) draw(); } };
}

/** A student's grid question: the title, the blank grid to tap, the pick, then the reveal. */
export function studentGrid(q, mine, send) {
  const title = node("p", "cl-ask", q.title);
  const pick = node("p", "cl-pick");
  pick.id = "class-grid-pick";
  const say = () => {
    pick.textContent = st.mine === null ? "Tap a head." : `Your pick: ${where(st.mine, q.heads)}. Tap another to change your mind.`;
  };
  const st = { mine };
  const fig = gridFigure(q, {
    id: "class-grid",
    onPick: (i) => { if (send(i)) { st.mine = i; fig.set({ mine: i }); say(); } },
  });
  fig.set({ mine });
  say();
  const nodes = [title, pick, fig.el];
  return {
    nodes,
    reveal(m) {
      fig.set({ weights: m.weights, counts: m.counts, top: m.top });
      pick.hidden = true;
      const note = node("p", "cl-note", revealText(q, m, st.mine));
      note.id = "class-grid-note";
      fig.el.after(note, legend(true, q));
    },
  };
}

/** What the revealed grid's colours, numbers and boxes mean (`pick`: a student's page, with a pick of its own). */
export function legend(pick = true, q = null) {
  const score = q && q.task === "patching" ? "the head's patching effect ÷ the largest (dark low, yellow high)"
    : "the model's score (dark low, yellow high)";
  return node("p", "cl-grid-key", `Colour: ${score} · numbers: the class's taps · `
    + `orange box: the model's top head${pick ? " · black box: your pick" : ""}`);
}
