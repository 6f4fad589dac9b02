// The atlas view's side panel: the selected head's scores, the task's top examples (prompt text or ids)
// and links from a prompt into the Attention and Long context views at that layer and head.
import { RANDOM_TASKS, fmtScore, promptLinks, promptOf } from "./atlas_data.js";

const EXCERPT = 180;

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

/** Draw the panel for head `selected` ([l, h] or null) of `view` on `task`; `onPick([l, h])` selects another. */
export function renderDetail(box, { view, task, selected, models, onPick }) {
  if (!view) { box.replaceChildren(el("p", { className: "at-hint", textContent: "No atlas yet: run one, upload a file or pick a finished one." })); return; }
  if (!selected) { box.replaceChildren(el("p", { className: "at-hint", textContent: "Click a head in the grid or the table to see its scores and its top examples." })); return; }
  const [l, h] = selected, i = l * view.heads + h;
  const out = [el("h3", { className: "at-h3", textContent: `layer ${l} · head ${h}` })];
  out.push(scoreList(view, i, task));
  const src = view.diff ? view.a : view;
  const examples = (src.examples[task] || []);
  const own = src.head_examples?.[task]?.[i];  // this head's best prompts (atlases written since head_examples)
  const mine = own ? own.map((e) => ({ ...e, layer: l, head: h })) : examples.filter((e) => e.layer === l && e.head === h);
  const best = mine[0]?.prompt_index ?? 0;
  const links = promptLinks(src, task, best, l, h, models);
  const open = el("div", { className: "at-links" });
  if (links.length) {
    open.append(el("p", { className: "at-sub", textContent: `Open this head on prompt ${best}${mine.length ? " (its best)" : ""}:` }));
    for (const k of links) open.append(el("a", { href: k.href, className: "at-link", textContent: k.label, dataset: { link: k.view } }));
  } else {
    open.append(el("p", { className: "at-sub", textContent: whyNoLink(src, task, models) }));
  }
  out.push(open);
  out.push(el("h4", { className: "at-h4", textContent: mine.length ? `This head's top ${task} examples` : `Top ${task} examples (all heads)` }));
  if (!mine.length && examples.length) {
    out.push(el("p", { className: "at-sub", textContent: `This head is not among the ${examples.length} (layer, head, prompt) triples with the highest ${task} score; these are:` }));
  }
  const list = el("ol", { className: "at-examples" });
  for (const e of mine.length ? mine : examples) list.append(example(src, task, e, models, onPick));
  if (!examples.length) list.append(el("li", { textContent: "This atlas keeps no examples for this task." }));
  out.push(list);
  if (RANDOM_TASKS.includes(task)) {
    out.push(el("p", { className: "at-note", textContent: "The prompts of this task are random token ids. The links send their decoded text, which the other views tokenise again: the tokens there can differ from the atlas's ids." }));
  }
  box.replaceChildren(...out);
}

function scoreList(view, i, task) {
  const dl = el("dl", { className: "at-scores" });
  for (const t of view.tasks) {
    const dt = el("dt", { textContent: t });
    const v = view.values[t][i];
    const dd = el("dd", { textContent: view.diff ? `${fmtScore(view.a.values[t][i])} − ${fmtScore(view.b.values[t][i])} = ${fmtScore(v, true)}` : fmtScore(v) });
    dd.dataset.task = t;
    dd.dataset.value = String(v);
    if (t === task) { dt.className = "at-current"; dd.classList.add("at-current"); }
    dl.append(dt, dd);
  }
  return dl;
}

function whyNoLink(atlas, task, models) {
  if (!models.some((m) => m.id === atlas.model)) return `The model "${atlas.model}" is not configured on this server: no link into the other views.`;
  return "This atlas has no decoded prompt text (an older file): the ids are below, but no link.";
}

function example(atlas, task, e, models, onPick) {
  const p = promptOf(atlas, task, e.prompt_index);
  const li = el("li", { className: "at-example" });
  const head = el("button", { type: "button", className: "small at-pick", textContent: `layer ${e.layer} · head ${e.head}` });
  head.addEventListener("click", () => onPick([e.layer, e.head]));
  li.append(el("div", { className: "at-ex-head" }, head,
    el("span", { textContent: ` prompt ${e.prompt_index} · ${task} ${fmtScore(e.score)}${p.tokens ? ` · ${p.tokens} tokens` : ""}` })));
  const body = p.text !== null ? p.text : p.ids ? `ids: ${p.ids.join(" ")}` : "(the prompt is not in this atlas)";
  li.append(el("code", { className: "at-prompt", textContent: body.length > EXCERPT ? `${body.slice(0, EXCERPT)}…` : body, title: body.slice(0, 2000) }));
  const links = promptLinks(atlas, task, e.prompt_index, e.layer, e.head, models);
  if (links.length) {
    const row = el("div", { className: "at-links" });
    for (const k of links) row.append(el("a", { href: k.href, className: "at-link", textContent: k.label, dataset: { link: k.view } }));
    li.append(row);
  }
  return li;
}
