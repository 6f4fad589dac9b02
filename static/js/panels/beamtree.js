// The beam tree of the Generate view: every step's hypotheses ranked by cumulative log-probability (kept in
// colour, pruned in grey), the winning path in bold, and greedy decoding's path beside it with its total.
// Data: the `beam_tree` of POST /api/generate(/stream) with strategy "beam".
import { CONFIG, esc, plotFont } from "../plot.js";

const $ = (id) => document.getElementById(id);
const KEPT = "#3b4cca", PRUNED = "#c3c7cf", BEST = "#0f9d58", GREEDY = "#f59e0b";

const show = (t) => JSON.stringify(String(t)).slice(1, -1).replace(/\\"/g, "\"");

/** Show the tree (or hide the panel when there is none). */
export function renderBeamTree(tree) {
  const panel = $("gen-beam-panel");
  if (!tree || !tree.steps.length) {
    panel.hidden = true;
    if (window.Plotly) Plotly.purge($("gen-beam-tree"));
    return;
  }
  panel.hidden = false;
  const k = tree.beam_width;
  const rows = Math.max(...tree.steps.map((s) => s.length));
  const gy = rows + 0.8; // greedy's row, below the tree
  const onBest = new Set(tree.best.map((i, t) => `${t}:${i}`));
  const edges = { kept: { x: [], y: [] }, pruned: { x: [], y: [] }, best: { x: [], y: [] } };
  const nodes = { kept: [], pruned: [], best: [] };
  tree.steps.forEach((step, t) => {
    step.forEach((n, i) => {
      const kind = onBest.has(`${t}:${i}`) ? "best" : n.kept ? "kept" : "pruned";
      nodes[kind].push({ x: t + 1, y: i, n });
      const px = t, py = t ? tree.kept[t - 1][n.parent] : null;
      const e = edges[kind];
      if (t) { e.x.push(px, t + 1, null); e.y.push(py, i, null); }
      else { e.x.push(0, 1, null); e.y.push((rows - 1) / 2, i, null); }
    });
  });
  const label = (n) => `${esc(show(n.token))} ${n.score.toFixed(2)}`;
  const traces = [];
  const style = { kept: [KEPT, 2], pruned: [PRUNED, 1], best: [BEST, 5] };
  for (const kind of ["pruned", "kept", "best"]) {
    const [color, width] = style[kind];
    traces.push({ type: "scatter", mode: "lines", x: edges[kind].x, y: edges[kind].y, line: { color, width },
      hoverinfo: "skip", showlegend: false });
  }
  const names = { pruned: "pruned (not in the top k)", kept: `kept (top ${k})`, best: "the beam's winner" };
  for (const kind of ["pruned", "kept", "best"]) {
    const ns = nodes[kind];
    const [color] = style[kind];
    traces.push({ type: "scatter", mode: "markers+text", name: names[kind], x: ns.map((p) => p.x), y: ns.map((p) => p.y),
      text: ns.map((p) => label(p.n)), textposition: "middle right",
      textfont: { ...plotFont(12), color: kind === "pruned" ? "#9aa0aa" : plotFont().color },
      marker: { size: kind === "best" ? 14 : 10, color, line: { width: 1, color: "#1d2330" } },
      customdata: ns.map((p) => `step ${p.n.step + 1}: “${esc(show(p.n.token))}” log p = ${p.n.logprob.toFixed(3)}, ` +
        `total ${p.n.score.toFixed(3)}${p.n.kept ? "" : " (pruned)"}${p.n.finished ? " (finished)" : ""}`),
      hovertemplate: "%{customdata}<extra></extra>" });
  }
  const g = tree.greedy;
  traces.push({ type: "scatter", mode: "lines+markers+text", name: `greedy (total ${tree.greedy_score.toFixed(2)})`,
    x: [0, ...g.map((_, t) => t + 1)], y: [gy, ...g.map(() => gy)],
    text: ["greedy", ...g.map((s) => `${esc(show(s.token))} ${s.score.toFixed(2)}`)], textposition: "bottom center",
    textfont: plotFont(12), line: { color: GREEDY, width: 3, dash: "dot" }, marker: { size: 11, color: GREEDY, symbol: "diamond" },
    customdata: ["start", ...g.map((s, t) => `greedy step ${t + 1}: “${esc(show(s.token))}” log p = ${s.logprob.toFixed(3)}, total ${s.score.toFixed(3)}`)],
    hovertemplate: "%{customdata}<extra></extra>" });
  const shapes = [], annotations = [];
  const d = tree.diverge_step;
  if (d !== null && d !== undefined) {
    shapes.push({ type: "rect", xref: "x", yref: "paper", x0: d + 0.6, x1: d + 1.4, y0: 0, y1: 1,
      fillcolor: "rgba(245,158,11,0.12)", line: { color: GREEDY, width: 2, dash: "dash" }, layer: "below" });
    annotations.push({ xref: "x", yref: "paper", x: d + 1, y: 0, yanchor: "top", showarrow: false,
      text: `<b>step ${d + 1}: beam and greedy part</b>`, font: { ...plotFont(13), color: "#b45309" } });
  }
  const steps = tree.steps.length;
  Plotly.react($("gen-beam-tree"), traces, {
    font: plotFont(12), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    height: Math.max(380, 44 * (rows + 2) + 110), margin: { t: 34, b: 60, l: 40, r: 10 }, shapes, annotations,
    legend: { orientation: "h", y: -0.1 },
    xaxis: { range: [-0.3, steps + 0.9], tickvals: [0, ...tree.steps.map((_, t) => t + 1)],
      ticktext: ["prompt", ...tree.steps.map((_, t) => `step ${t + 1}`)], zeroline: false, showgrid: false, side: "top" },
    yaxis: { autorange: "reversed", showticklabels: false, zeroline: false, showgrid: false },
  }, { ...CONFIG, toImageButtonOptions: { ...CONFIG.toImageButtonOptions, filename: "beam_tree" } });
  const best = tree.best.map((i, t) => tree.steps[t][i]);
  let text = `Beam search with k = ${k}: at every step each kept hypothesis proposes its ${k} most likely next tokens, ` +
    `all are ranked by their total log-probability (the number after each token), the top ${k} are kept (blue) and the rest ` +
    `pruned (grey). The winner (green) totals ${tree.best_score.toFixed(3)}; greedy (orange, one hypothesis, always the most likely ` +
    `token) totals ${tree.greedy_score.toFixed(3)}.`;
  if (d !== null && d !== undefined) {
    const b = best[d], gs = g[d];
    text += ` They part at step ${d + 1}: greedy takes “${show(gs ? gs.token : "(end)")}” (log p ${gs ? gs.logprob.toFixed(3) : "–"}), ` +
      `the winning beam “${show(b ? b.token : "(end)")}” (log p ${b ? b.logprob.toFixed(3) : "–"}), a less likely token that leads to a more likely sequence.`;
  } else {
    text += " Here beam and greedy choose the same tokens.";
  }
  $("gen-beam-note").textContent = text;
}
