// The generate view's candidate panels: a step's candidates for its token (#gen-cands) and the next-token
// candidates for the prompt as typed (#gen-next, POST /api/next-token), as bars; and their CSV/JSON exports.
import { esc, plotFont, plotMargin } from "../plot.js";
import { $, ACCENT, CHOSEN, GREY, csvCell, fmt, plotConfig, shown } from "./generate_common.js";

/** Horizontal grouped bars: the model's probability (grey) and the sampled one (colour); `chosen` outlined. */
function candidateBars(el, cands, chosen, title, name) {
  const labels = cands.map((c, i) => `${i + 1}. “${esc(shown(c.token))}”`);
  const top = Math.max(...cands.map((c) => Math.max(c.prob, c.prob_sampled)), 0.01);
  const k = cands.findIndex((c) => c.id === chosen);
  const shapes = k < 0 ? [] : [{ type: "rect", xref: "x", yref: "y", x0: 0, y0: k - 0.45, y1: k + 0.45,
    x1: Math.max(cands[k].prob, cands[k].prob_sampled), line: { color: CHOSEN, width: 3 } }];
  const hover = cands.map((c) => `${esc(shown(c.token))} (id ${c.id}) · logit ${c.logit.toFixed(2)}`);
  const f = plotFont(13).size / 13;
  Plotly.react(el, [
    { type: "bar", orientation: "h", name: "p at temperature 1", y: labels, x: cands.map((c) => c.prob),
      marker: { color: GREY }, customdata: hover,
      text: cands.map((c) => fmt(c.prob)), textposition: "outside", cliponaxis: false,
      hovertemplate: "%{customdata}<br>p = %{x:.4f}<extra>temperature 1</extra>" },
    { type: "bar", orientation: "h", name: "p sampled (after T, top-k, top-p)", y: labels, x: cands.map((c) => c.prob_sampled),
      marker: { color: ACCENT }, customdata: hover,
      text: cands.map((c) => fmt(c.prob_sampled)), textposition: "outside", cliponaxis: false,
      hovertemplate: "%{customdata}<br>p = %{x:.4f}<extra>sampled</extra>" },
  ], {
    title: { text: esc(title), font: plotFont(15), x: 0, xanchor: "left", y: 0.98, yanchor: "top" },
    font: plotFont(13), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", barmode: "group", bargap: 0.25,
    // bars as thick as their labels: the rows and the margins grow with the font (presentation mode)
    height: Math.max(320, Math.round(34 * f) * cands.length + 130), margin: { ...plotMargin({ b: 44, l: 10, r: 40 }), t: Math.round(72 + 24 * (f - 1)) },
    yaxis: { autorange: "reversed", automargin: true, type: "category" },
    xaxis: { range: [0, Math.min(1, top) * 1.22], title: { text: "probability" }, zeroline: true },
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: plotFont(12) }, shapes,
  }, plotConfig(name));
}

function candidatesExport(name, cands, extra) {
  const csv = ["rank,token,id,logit,prob,prob_sampled",
    ...cands.map((c, i) => [i + 1, csvCell(c.token), c.id, c.logit, c.prob, c.prob_sampled].join(","))].join("\n") + "\n";
  return { name, csv, json: { ...extra, candidates: cands } };
}

/** #gen-cands: the candidates of step `state.step` (`s`, one streamed step), its chosen token outlined. */
export function renderStepCandidates(state, s) {
  const title = `Step ${state.step + 1}: candidates for the next token — chose “${shown(s.token)}”`;
  candidateBars($("gen-cands"), s.candidates, s.id, title, "gen_candidates");
}

/** #gen-next: the next-token candidates `next` = {res, body} (the /api/next-token answer and its request). */
export function renderNext(state, next) {
  if (!next) return;
  const { res: r, body: b } = next;
  const what = r.target_tokens ? "first word of the translation" : "next token";
  const title = `The ${what} — T = ${b.temperature.toFixed(2)}, top-k ${b.top_k || "off"}, top-p ${b.top_p < 1 ? b.top_p.toFixed(2) : "off"}`;
  candidateBars($("gen-next"), r.candidates, null, title, "gen_next_token");
}

/** The export of #gen-cands: the current step's candidates. */
export function candsExport(state) {
  const s = state.run?.steps[state.step];
  if (!s) return null;
  return candidatesExport(`attnscope_${state.run.head.model}_step${state.step + 1}_candidates`, s.candidates,
    { step: state.step, chosen: s.token });
}

/** The export of #gen-next. */
export function nextExport(state, next) {
  if (!next) return null;
  const { res, body } = next;
  return candidatesExport(`attnscope_${res.model}_next_token`, res.candidates, { text: res.text, ...body });
}
