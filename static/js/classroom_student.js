// A student's side of the live class: follow the teacher's URL state (or explore alone), answer the open
// question (a token, or a head on a grid), and see the reveal; the asked row stays hidden until then.
import { isGrid, markOpen, studentGrid } from "./classroom_grid.js";
import { el, markToken, studentReveal, studentTokens } from "./classroom_panel.js";
import { connect } from "./classroom_socket.js";
import * as state from "./state.js";

/** Join class `code` as student `sid`. */
export function learn(code, sid) {
  const p = el("aside", { id: "class-panel", class: "class-panel student", "aria-label": "Live class" });
  document.querySelector("main").prepend(p);
  let following = true;
  let last = null;
  const status = el("span", { id: "class-status", class: "cl-status", text: "connecting…" });
  const toggle = el("button", { type: "button", id: "class-follow", text: "Explore alone" });
  const qbox = el("div", { id: "class-question", class: "cl-question", hidden: "" });
  p.append(el("p", { class: "cl-bar-line" }, "Class ", el("strong", { id: "class-code", text: code }), " · ", status, " ", toggle), qbox);
  window.__classFollow = { count: 0 };
  const apply = (m) => {
    const params = new URLSearchParams(m.state);
    if (state.get().present) params.set("present", "1");
    const url = `${location.pathname}?${params}`;
    if (url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      window.dispatchEvent(new PopStateEvent("popstate"));
    }
    window.__classFollow = { count: window.__classFollow.count + 1, ts: m.ts, at: Date.now(), state: m.state };
  };
  let question = null;
  let mine = null;
  let grid = null; // a grid question's tap grid
  let asked = null; // {query, layer, head} of a token question: the teacher's head when it was asked
  const showQuestion = () => {
    if (!question) { qbox.hidden = true; qbox.replaceChildren(); return; }
    qbox.hidden = false;
    if (isGrid(question)) {
      grid = studentGrid(question, mine, (i) => {
        if (question.revealed || !sock.send({ type: "answer", index: i })) return false;
        mine = i;
        return true;
      });
      qbox.replaceChildren(...grid.nodes);
      return;
    }
    qbox.replaceChildren(...studentTokens(question, mine, (i) => {
      if (question.revealed) return false;
      mine = i;
      sock.send({ type: "answer", index: i });
      return true;
    }));
  };
  const sock = connect(code, { type: "hello", role: "student", sid }, (m) => {
    if (m.type === "state") { last = m; if (following) apply(m); }
    else if (m.type === "ask") { // a catch-up re-sends the same question: keep this student's pick
      const key = (q) => JSON.stringify([q.kind, q.query, q.layers, q.heads, q.title, q.tokens]);
      const same = question && key(question) === key(m);
      question = m;
      if (!same) mine = null;
      markToken(null);
      markOpen(isGrid(m));
      const t = { ...state.get(), ...(last ? last.state : {}) };
      asked = isGrid(m) ? null : { query: m.query, layer: t.layer ?? "0", head: t.head ?? "0" };
      if (asked) markToken(asked); // this page hides the answer too, until the reveal
      showQuestion();
    }
    else if (m.type === "reset") { question = null; markOpen(false); markToken(null); showQuestion(); }
    else if (m.type === "reveal" && isGrid(question)) { question.revealed = true; markOpen(false); grid.reveal(m); }
    else if (m.type === "reveal" && question) {
      question.revealed = true;
      markToken(null);
      qbox.append(...studentReveal(question, m, mine, asked));
    }
  }, (s) => { status.textContent = s === "live" ? (following ? "following" : "exploring alone") : s; });
  toggle.addEventListener("click", () => {
    following = !following;
    toggle.textContent = following ? "Explore alone" : "Rejoin class";
    status.textContent = following ? "following" : "exploring alone";
    if (following && last) apply(last);
  });
}
