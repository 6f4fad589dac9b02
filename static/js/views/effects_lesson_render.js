// The lesson's page for one step as a function of that step's data: the title, the captions, the figure (bars for
// the weight, the norm and the knockout; the patching grid for the effect) and the readout with its data-* numbers.
import { gridOf, exportInfo as gridExport, refit, scaleText, signed, tok, topSites } from "./effects_grid.js";
import { barKey, barReadout, captions, drawKnockout, drawNorms, drawWeights, knockoutReadout } from "./effects_lesson_figs.js";
import { node, pairText, topButton } from "./effects_patch_render.js";

const $ = (id) => document.getElementById(id);
const TITLES = [
  (h) => `1 · The weight: where ${h}'s query at ‘it’ looks`,
  (h) => `2 · The norm: how much of each value vector ${h} moves into ‘it’`,
  (h) => `3 · The effect: patching every head, ${h} outlined`,
  () => "4 · The knockout: the next token when ‘it’ cannot see ‘animal’",
];
let frame = 0; // the pending refit of the bar figure

/** The bar figures' height: the room below the figure's top (an export bar under it), 280 to 460 px (620 presenting). */
function figHeight() {
  const top = $("eff-l-fig").getBoundingClientRect().top + window.scrollY;
  const presenting = document.body.classList.contains("presenting"); // no export bar under the figure
  const room = window.innerHeight - Math.min(top, 420) - (presenting ? 16 : 56);
  return Math.round(Math.max(280, Math.min(room, presenting ? 620 : 460)));
}

/** The bar figures' height again once the page has settled (see EffectsGrid.refitLater). */
function refitLater() {
  cancelAnimationFrame(frame);
  frame = requestAnimationFrame(() => requestAnimationFrame(() => refit($("eff-l-fig"), figHeight())));
}

/**
 * Draw step `state.step` of the lesson. `state`: {step, layer, head, blank: a class question hides the grid};
 * `data`: the step's data (Lesson.stepData: the bar steps' context, step 3's /api/patch answer, step 4's knockout).
 */
export function render(state, data) {
  const { step, layer, head, blank } = state;
  const div = $("eff-l-fig"), name = `layer ${layer} · head ${head}`, grid = gridOf(div);
  div.classList.remove("eff-stale");
  $("eff-l-title").textContent = TITLES[step - 1](name);
  $("eff-l-scale").hidden = step === 4;
  $("eff-l-top-box").hidden = step !== 3 || blank;
  $("eff-l-pair").hidden = step !== 3;
  if (step !== 3) $("eff-l-scale").textContent = barKey(step);
  const cap = captions(step, step === 3 ? { i: -1 } : data);
  $("eff-l-shows").textContent = cap.shows;
  $("eff-l-not").textContent = cap.not;
  cancelAnimationFrame(frame); // a refit of the figure drawn before (a grid's height is not a bar chart's)
  cancelAnimationFrame(grid.frame);
  const out = $("eff-l-readout");
  out.replaceChildren();
  for (const k of ["effect", "row", "norm", "before", "after"]) delete out.dataset[k];
  if (step === 3) {
    const res = data, col = res.columns.indexOf(head);
    $("eff-l-scale").textContent = blank ? "The class is answering: the grid is hidden until the reveal." : scaleText(res);
    const e = res.effects && col >= 0 ? res.effects[layer][col] : null;
    out.dataset.effect = e === null ? "" : String(e);
    if (!blank) {
      const gap = res.clean_value - res.corrupt_value;
      out.append(node("strong", "", `${name}: effect ${signed(e, 4)}`), ` — restoring its output alone moves the metric `
        + `by ${e === null ? "n/a" : (e * gap).toFixed(3)} of the ${gap.toFixed(3)} between the twins.`);
    }
    $("eff-l-pair").textContent = `${pairText(res)}.`;
    grid.draw(res, { selected: col >= 0 ? [layer, col] : null, blank }); // after the text above it: its height
    // the lesson picks heads by number (data-col: the head), where the patching tab picks columns
    $("eff-l-top-list").replaceChildren(...topSites(res).map((t) => topButton(res, t, res.columns[t.col])));
  } else if (step === 4) {
    drawKnockout(div, data.ko, figHeight());
    refitLater();
    Object.assign(out.dataset, { before: String(data.ko.top_token.prob_before), after: String(data.ko.top_token.prob_after) });
    out.textContent = knockoutReadout(data.ko);
  } else {
    (step === 1 ? drawWeights : drawNorms)(div, data, figHeight());
    refitLater();
    out.dataset.row = JSON.stringify(data.row);
    if (data.norm) out.dataset.norm = JSON.stringify(data.norm);
    out.textContent = barReadout(data);
  }
}

/** What the step in view shows, for export. `view`: {step, layer, head, data}. */
export function exportInfo(view) {
  const v = view;
  if (!v) return null;
  if (v.step === 3) return gridExport(v.data);
  const base = `attnscope_lesson_step${v.step}_L${v.layer}_H${v.head}`;
  if (v.step === 4) {
    const rows = ["list,rank,token,id,prob", ...["before", "after"].flatMap((w) => v.data.ko[w].map((t, k) =>
      [w, k + 1, JSON.stringify(tok(t.token)), t.id, t.prob].join(",")))];
    return { name: base, csv: rows.join("\n") + "\n", json: v.data.ko };
  }
  const rows = ["position,token,weight" + (v.data.norm ? ",norm_share" : ""), ...v.data.keys.map((t, j) =>
    [j, JSON.stringify(tok(t)), v.data.row[j], ...(v.data.norm ? [v.data.norm[j]] : [])].join(","))];
  return { name: base, csv: rows.join("\n") + "\n", json: { layer: v.layer, head: v.head, query: v.data.i, keys: v.data.keys,
    weights: v.data.row, norm_share: v.data.norm } };
}
