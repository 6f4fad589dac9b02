// Live class, what the pages show: the teacher's compact badge (join code, joined count, status, the QR code on
// demand, the question's controls) and the side panel that holds a question's answers; the bars (the teacher's
// histogram and the students' reveal) with their legend and labelled numbers; the sentence in sight that Ask asks
// about; and the body attributes that tell the views to hide a token question's answer until Reveal:
// body[data-class-question="token"] with data-class-query, data-class-layer and data-class-head.
// Tokens and user text go in as text only.
import { tokenOption } from "./plot.js";

/** An element with attributes (`text`: its textContent) and children. */
export const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};

/** Mark a token question open on this page ({query, layer, head}: its answer is hidden), or clear it (null). */
export function markToken(ask) {
  const d = document.body.dataset;
  if (ask) {
    Object.assign(d, { classQuery: String(ask.query), classLayer: String(ask.layer ?? 0),
      classHead: String(ask.head ?? 0), classQuestion: "token" });
    return;
  }
  delete d.classQuery; delete d.classLayer; delete d.classHead;
  if (d.classQuestion === "token") delete d.classQuestion;
}

/** "layer 2 · head 4" (or "the mean of the heads") of an asked {layer, head}, 1-based as the views show them. */
export function headName(ask) {
  if (!ask) return "the head in view";
  const head = ask.head === "mean" ? "mean of the heads" : `head ${Number(ask.head || 0) + 1}`;
  return `layer ${Number(ask.layer || 0) + 1} · ${head}`;
}

const plural = (n, one) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** What the bars mean: the class's answers (orange) and the model's weights (blue, once revealed). */
function legend(revealed, ask) {
  const item = (cls, text) => el("span", { class: "cl-key" }, el("span", { class: `cl-swatch ${cls}`, "aria-hidden": "true" }),
    el("span", { text }));
  return el("p", { class: "cl-legend" },
    item("cl-class", "Class answers: students who picked the token"),
    item("cl-model", revealed ? `Model: attention weight (${headName(ask)})` : "Model: attention weight, shown at Reveal"));
}

/**
 * Bars over the tokens, under their legend: the class's counts (a bar's length: its share of the answers) and,
 * once revealed, the model's weights (0 to 1), each row labelled "2 students · model 0.65".
 * `ask` ({layer, head}) names the head in the legend.
 */
export function renderBars(box, tokens, counts, weights, ask = null) {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  const rows = tokens.map((tok, i) => {
    const c = el("span", { class: "cl-bar cl-class" });
    c.style.width = `${(100 * (counts[i] || 0)) / total}%`;
    const bars = el("span", { class: "cl-bars" }, c);
    const label = el("span", { class: "cl-lab" }, el("span", { class: "cl-num", text: String(counts[i] || 0) }),
      counts[i] === 1 ? " student" : " students");
    const row = el("div", { class: "cl-row", "data-index": String(i), "data-count": String(counts[i] || 0) });
    if (weights) {
      const w = el("span", { class: "cl-bar cl-model" });
      w.style.width = `${100 * weights[i]}%`;
      bars.append(w);
      label.append(" · model ", el("span", { class: "cl-w", text: weights[i].toFixed(2) }));
      row.dataset.weight = String(weights[i]);
    }
    row.append(el("span", { class: "cl-tok", text: tok, title: tok }), label, bars);
    row.setAttribute("aria-label", `${tok}: ${plural(counts[i] || 0, "student")}${weights ? `, model ${weights[i].toFixed(2)}` : ""}`);
    return row;
  });
  box.replaceChildren(legend(Boolean(weights), ask), ...rows);
}

/**
 * The teacher's badge (prepended to <main>: one row of code, count, status, QR button and the question's
 * controls; a message line under it says why Ask could not ask), its QR dialog and the side panel.
 * Returns the parts the teacher's socket code drives.
 */
export function teacherBadge(session) {
  const members = el("strong", { id: "class-members", text: "0" });
  const status = el("span", { id: "class-status", class: "cl-status", text: "connecting…" });
  const qrBtn = el("button", { type: "button", id: "class-qr-open", "aria-haspopup": "dialog", title: "Show the QR code to join", text: "QR" });
  const select = el("select", { id: "class-query", "aria-label": "Query token" });
  const ui = {
    members, status, select,
    ask: el("button", { type: "button", id: "class-ask", class: "primary", text: "Ask: where does it look?" }),
    reveal: el("button", { type: "button", id: "class-reveal", text: "Reveal" }),
    reset: el("button", { type: "button", id: "class-reset", text: "Reset" }),
    end: el("button", { type: "button", id: "class-end", text: "End class" }),
    results: el("button", { type: "button", id: "class-side-toggle", "aria-controls": "class-side", hidden: "", text: "Answers" }),
    message: el("p", { id: "class-message", class: "cl-message", role: "status", hidden: "" }),
    queryLabel: el("label", { id: "class-query-label", class: "cl-query" }, "Query token ", select),
  };
  const badge = el("aside", { id: "class-panel", class: "class-panel class-badge", "aria-label": "Live class" },
    el("div", { class: "cl-badge-row" },
      el("span", { class: "cl-code-line" }, "Class ", el("strong", { id: "class-code", class: "cl-code", text: session.code })),
      el("span", { class: "cl-count" }, members, " joined"), status, qrBtn,
      el("span", { class: "cl-controls" }, ui.queryLabel, ui.ask, ui.reveal, ui.reset, ui.results, ui.end)),
    ui.message);
  const dialog = el("dialog", { id: "class-qr", class: "cl-qr-dialog", "aria-label": "Join the class" },
    el("p", { class: "cl-code-line" }, "Join code ", el("strong", { class: "cl-code", text: session.code })),
    el("img", { class: "cl-qr", alt: `QR code for ${session.join_url}`, src: session.qr, width: "300", height: "300" }),
    el("p", { class: "cl-url" }, el("span", { id: "class-url", text: session.join_url })),
    el("button", { type: "button", class: "primary", id: "class-qr-close", text: "Close" }));
  qrBtn.addEventListener("click", () => dialog.showModal());
  dialog.querySelector("#class-qr-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); }); // a click beside it
  const side = sidePanel(ui.results);
  document.querySelector("main").prepend(badge);
  document.body.append(dialog, side.root);
  ui.say = (text) => { ui.message.textContent = text; ui.message.hidden = !text; };
  Object.assign(ui, side);
  ui.remove = () => { side.close(); badge.remove(); dialog.remove(); side.root.remove(); };
  return ui;
}

/** The side panel over the page's right edge (room is kept for it on wide screens): a question's answers. */
function sidePanel(toggle) {
  const answered = el("p", { id: "class-answered", class: "cl-answered" });
  const hist = el("div", { id: "class-hist", class: "cl-hist" });
  const note = el("p", { id: "class-reveal-note", class: "cl-note" });
  const close = el("button", { type: "button", id: "class-side-close", class: "small", "aria-label": "Hide the answers", text: "Hide" });
  const root = el("aside", { id: "class-side", class: "class-side", "aria-label": "Class answers", hidden: "" },
    el("div", { class: "cl-side-head" }, el("h2", { text: "Class answers" }), close), answered, hist, note);
  const place = () => { // under the badge (its controls stay in reach) while it is in sight, else the whole height
    const top = document.getElementById("class-panel")?.getBoundingClientRect().bottom || 0;
    root.style.top = `${Math.max(0, Math.round(top + 6))}px`;
  };
  const show = (open) => {
    root.hidden = !open;
    toggle.textContent = open ? "Hide answers" : "Answers";
    toggle.setAttribute("aria-expanded", String(open));
    if (document.body.classList.contains("class-side-open") === open) return;
    document.body.classList.toggle("class-side-open", open);
    place();
    window.dispatchEvent(new Event("resize")); // the figures redraw at the width left to them
  };
  addEventListener("scroll", place, { passive: true });
  close.addEventListener("click", () => show(false));
  toggle.addEventListener("click", () => show(root.hidden));
  return {
    root, answered, hist, note,
    /** A question was asked: the panel opens (and its toggle shows). */
    open: () => { toggle.hidden = false; show(true); },
    /** No question any more: the panel closes and its toggle goes. */
    close: () => { toggle.hidden = true; show(false); },
  };
}

/** The query tokens into the teacher's select, keeping the choice `want` (an index) where it still fits. */
export function fillQuery(select, tokens, want) {
  select.replaceChildren(...tokens.map((t, i) => el("option", { value: String(i), text: tokenOption(t, i) })));
  if (want !== undefined && want !== "" && Number(want) < tokens.length) select.value = String(want);
}

/** Row `q` of head `head` of a binary /api/attention answer ({shape: [H, Tq, Tk], values}); "mean" (or none):
 * the heads' mean. */
export function rowOf(res, q, head) {
  const [H, Tq, Tk] = res.shape;
  const at = (h) => Array.from(res.values.subarray((h * Tq + q) * Tk, (h * Tq + q + 1) * Tk));
  const h = Number(head);
  if (Number.isInteger(h) && h >= 0 && h < H) return at(h);
  const rows = Array.from({ length: H }, (_, k) => at(k));
  return rows[0].map((_, j) => rows.reduce((a, w) => a + w[j], 0) / H);
}

/**
 * The sentence Ask asks about, in the view in sight (a view with a model select and its sentence, e.g. #model and
 * #text, #mv-model and #mv-text, #cmp-model-a and #cmp-text-a): the URL's model and text, else the view's controls
 * (before any sentence was submitted, the Attention view's default sentence). Returns {model, text, layer, head,
 * block, fromControls} or {error} saying why there is none and what to do.
 */
export function sentenceInSight(s) {
  const sec = document.querySelector("main > section[data-view]:not([hidden])");
  const field = (sel) => sec.querySelector(`input[id="${sel.id.replace("model", "text")}"], textarea[id="${sel.id.replace("model", "text")}"]`);
  const sel = sec && [...sec.querySelectorAll("select[id]")].find((e) => /(^|-)model(-|$)/.test(e.id) && field(e));
  const url = s.model && s.text ? { model: s.model, text: s.text, layer: s.layer ?? "0", head: s.head ?? "0", block: s.block } : null;
  if (!sel) {
    if (url && !sec) return url;
    const title = sec ? `The ${sec.querySelector("h2")?.textContent || sec.dataset.view} view` : "This view";
    return { error: `${title} shows no sentence to ask about: open the Attention view, show a sentence, then Ask again.` };
  }
  if (url) return url; // what the view shows (its box may hold an edit not shown yet)
  const input = field(sel);
  if (!sel.value) return { error: "No model is loaded yet: wait until the Model list shows one (the models load when the server starts), then Ask again." };
  if (!input.value.trim()) return { error: "There is no sentence yet: type one, show it, then Ask again." };
  const ctl = (name, dflt) => { // the view's own select (#layer, #mv-layer, #cmp-layer), where it shows one
    const prefix = sel.id.slice(0, sel.id.indexOf("model"));
    const e = [sel.id.replace("model", name), prefix + name].map((id) => sec.querySelector(`select[id="${id}"]`)).find(Boolean);
    return e && e.value !== "" && !e.closest("[hidden]") ? e.value : dflt;
  };
  return { model: s.model || sel.value, text: input.value, layer: s.layer ?? ctl("layer", "0"), head: s.head ?? ctl("head", "0"),
    block: s.block ?? ctl("block", undefined), fromControls: true };
}

/** A student's token question: "Where does “it” look?" and a button a token; `pick(i)` sends (false: it did not). */
export function studentTokens(q, mine, pick) {
  const btns = el("div", { class: "cl-tokens" });
  q.tokens.forEach((t, i) => {
    const b = el("button", { type: "button", class: "cl-token", "data-index": String(i), text: t });
    if (mine === i) b.classList.add("chosen");
    b.addEventListener("click", () => {
      if (pick(i)) for (const o of btns.children) o.classList.toggle("chosen", o === b);
    });
    btns.append(b);
  });
  return [el("p", { class: "cl-ask" }, "Where does ", el("strong", { text: `“${q.query_token}”` }), " look? Tap a token."), btns];
}

/** Under a student's revealed token question: what the model looks at most, the student's pick, and the bars. */
export function studentReveal(q, m, mine, ask) {
  const hist = el("div", { id: "class-student-reveal", class: "cl-hist" });
  renderBars(hist, q.tokens, m.counts, m.weights, ask);
  const you = mine === null ? "" : mine === m.top ? " You guessed it!" : ` You picked “${q.tokens[mine]}”.`;
  return [el("p", { class: "cl-note", text: `The model looks most at “${q.tokens[m.top]}”: ${m.top_count} of ${m.answered} guessed it.${you}` }), hist];
}
