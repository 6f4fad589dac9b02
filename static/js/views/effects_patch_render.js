// The Patching tab's page as a function of its /api/patch answer: the grid (effects_grid.js), the token strips with
// the differing tokens marked, answer vs foil, the selected head with its link into the Attention view, and the five
// most effective sites (buttons with data-layer and data-col: the tab's one click handler picks them).
import { gridOf, scaleText, signed, siteName, tok, topSites } from "./effects_grid.js";

const $ = (id) => document.getElementById(id);

/** A node with a class and text content (never HTML). */
export function node(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A token strip: one span per token, the differing positions marked. */
export function strip(label, tokens, differing) {
  const row = node("p", "eff-strip");
  row.append(node("span", "eff-strip-label", label));
  tokens.forEach((t, i) => {
    const s = node("span", differing.includes(i) ? "eff-tok eff-diff" : "eff-tok", tok(t));
    s.title = `position ${i}`;
    s.dataset.pos = String(i);
    row.append(s);
  });
  return row;
}

/** The answer, the foil and the metric's clean and corrupt values, from the answer. */
export function pairText(res) {
  const metric = { logit_diff: "logit[answer] − logit[foil]", prob: "p(answer)", kl: "KL(clean ‖ patched), nats" }[res.metric];
  const vs = res.foil ? ` vs foil ‘${tok(res.foil.token)}’` : "";
  return `Answer ‘${tok(res.answer.token)}’${vs} · ${metric}: clean ${res.clean_value.toFixed(3)}, `
    + `corrupt ${res.corrupt_value.toFixed(3)}`;
}

/** What one cell is, for the caption beside the grid. */
export const CAPTION = {
  heads: "Each cell runs the corrupt prompt with that one head's output (at every position) copied from the clean run, "
    + "and reads the metric after the last token. A causal effect, for this pair of prompts only: a head can matter "
    + "here and do nothing elsewhere, and heads that share a job can each look small.",
  residual: "Each cell runs the corrupt prompt with the residual stream after that layer, at that one position, copied "
    + "from the clean run, and reads the metric after the last token: where, and from which layer on, the information "
    + "that tells the two prompts apart is carried. For this pair of prompts only.",
};

/** The link into the Attention view of the clean prompt at a head (0-based layer and head in the URL). */
export function attentionHref(res, clean, layer, head) {
  const q = new URLSearchParams({ view: "attention", model: res.model, text: clean, layer: String(layer), head: String(head) });
  return `/?${q}`;
}

/** A button of a top-sites list: picks [layer, col] (data-layer, data-col). */
export function topButton(res, t, col = t.col) {
  const li = node("li");
  const b = node("button", "eff-top-btn", `${siteName(res, t.layer, t.col)}: ${signed(t.effect)}`);
  b.type = "button";
  Object.assign(b.dataset, { layer: String(t.layer), col: String(col) });
  li.append(b);
  return li;
}

/**
 * Draw the tab. `state`: {selected: [layer, col] | null, blank: a class question hides the grid, clean: the clean
 * prompt of the answer}; `res`: the /api/patch answer.
 */
export function render(state, res) {
  const { blank } = state;
  $("eff-scale").textContent = blank ? "The class is answering: the grid is hidden until the reveal." : scaleText(res);
  gridOf($("eff-grid")).draw(res, { selected: state.selected, blank });
  $("eff-reason").textContent = res.reason ? `No effects: ${res.reason}.` : "";
  $("eff-reason").hidden = !res.reason;
  $("eff-pair").replaceChildren(node("p", "eff-pair-line", pairText(res)));
  $("eff-strips").replaceChildren(strip("clean", res.clean_tokens, res.differing),
    strip("corrupt", res.corrupt_tokens, res.differing));
  $("eff-head").hidden = blank;
  $("eff-caption").textContent = CAPTION[res.mode];
  $("eff-top-h").textContent = res.mode === "heads" ? "Top heads" : "Top sites (layer, position)";
  $("eff-top-box").hidden = blank || !res.effects;
  renderHead(state, res);
  $("eff-top-list").replaceChildren(...topSites(res).map((t) => topButton(res, t)));
}

/** The selected site: its effect, m(patched), and for a head the link to its attention. */
function renderHead(state, res) {
  const box = $("eff-head");
  if (!state.selected) {
    box.replaceChildren(node("p", "eff-hint", res.mode === "heads" ? "Click a cell for its effect and a link to its attention."
      : "Click a cell for its effect."));
    delete box.dataset.effect;
    return;
  }
  const [l, c] = state.selected;
  const e = res.effects ? res.effects[l][c] : null, v = res.values[l][c];
  box.dataset.effect = e === null ? "" : String(e);
  box.dataset.layer = String(l);
  box.dataset.col = String(res.columns[c]);
  const line = node("p", "eff-head-line");
  line.append(node("strong", "", siteName(res, l, c)), `: effect ${e === null ? "undefined" : signed(e, 4)}`,
    node("span", "eff-muted", ` · m(patched) ${v === null ? "n/a" : v.toFixed(4)}`));
  const kids = [line];
  if (res.mode === "heads") {
    const a = node("a", "eff-attn-link", `Its attention on the clean prompt → (Attention view: Layer ${l + 1}, Head ${res.columns[c] + 1})`);
    a.id = "eff-attn-link";
    a.href = attentionHref(res, state.clean, l, res.columns[c]);
    const p = node("p", "eff-link-line");
    p.append(a);
    kids.push(p);
  }
  box.replaceChildren(...kids);
}
