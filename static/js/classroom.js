// Live class: the teacher starts a class, students join by code/URL/QR and follow the teacher's view
// (the URL state) over one WebSocket, answer "where does this token look?" (or, in the Atlas view, "which
// head is it?": classroom_grid.js), and see the reveal.
// A host only: the views render as they always do; this module moves URL state over the wire.
import { api } from "./api.js";
import { asksGrid, gridFigure, gridQuestion, isGrid, legend, markOpen, revealText, studentGrid } from "./classroom_grid.js";
import * as state from "./state.js";

const T_KEY = "attnscope.class.teacher";
const S_KEY = "attnscope.class.student";
const LOCAL = new Set(["join", "present"]); // never followed: page-local keys

const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};

function randomId() {
  const a = new Uint8Array(12);
  crypto.getRandomValues(a);
  return [...a].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function sharedState() {
  return Object.fromEntries(Object.entries(state.get()).filter(([k]) => !LOCAL.has(k)));
}

/**
 * One socket that reconnects and says hello again; the server replays the current state (catch-up).
 * Backoff 0.3 s doubling to 5 s, with jitter so a class whose server died does not return all at once;
 * behind a load balancer the same URL reaches a live replica. Stops for good when the class is gone
 * (4404) or the token is wrong (4403); waits a minute when its address is rate-limited (4429).
 */
function connect(code, hello, onMsg, onStatus) {
  let ws = null;
  let delay = 300;
  let stopped = false;
  let timer = null;
  const open = () => {
    timer = null;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const sock = new WebSocket(`${proto}//${location.host}/api/class/${code}/ws`);
    ws = sock;
    sock.onopen = () => {
      delay = 300;
      window.__classOpens = (window.__classOpens || 0) + 1; // tests: how many times this page connected
      sock.send(JSON.stringify(hello));
      onStatus("live");
    };
    sock.onmessage = (e) => { if (sock === ws) onMsg(JSON.parse(e.data)); };
    sock.onclose = (e) => {
      if (stopped || sock !== ws) return;
      if (e.code === 4404 || e.code === 4403) { onStatus("ended"); return; }
      onStatus("reconnecting");
      const wait = e.code === 4429 ? 60_000 : delay * (0.5 + Math.random());
      delay = Math.min(delay * 2, 5000);
      timer = setTimeout(open, wait);
    };
  };
  // a phone waking up or coming back online reconnects at once rather than after the backoff
  const now = () => { if (!stopped && timer !== null) { clearTimeout(timer); open(); } };
  window.addEventListener("online", now);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) now(); });
  open();
  return {
    send: (m) => { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(m)); return true; } return false; },
    stop: () => { stopped = true; if (timer !== null) clearTimeout(timer); if (ws) ws.close(); },
  };
}

/** Bars over the tokens: the class's counts, and the model's weights once revealed. */
function renderBars(box, tokens, counts, weights) {
  box.replaceChildren();
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  tokens.forEach((tok, i) => {
    const row = el("div", { class: "cl-row" });
    row.append(el("span", { class: "cl-tok", text: tok }));
    const bars = el("span", { class: "cl-bars" });
    const c = el("span", { class: "cl-bar cl-class" });
    c.style.width = `${(100 * counts[i]) / total}%`;
    bars.append(c);
    if (weights) {
      const w = el("span", { class: "cl-bar cl-model" });
      w.style.width = `${100 * weights[i]}%`;
      bars.append(w);
    }
    row.append(bars, el("span", { class: "cl-num", text: weights ? `${counts[i]} · ${weights[i].toFixed(2)}` : String(counts[i]) }));
    box.append(row);
  });
}

function panel() {
  let p = document.getElementById("class-panel");
  if (!p) {
    p = el("aside", { id: "class-panel", class: "class-panel", "aria-label": "Live class" });
    document.querySelector("main").prepend(p);
  }
  return p;
}

/* ---------------- teacher ---------------- */

async function teach(session) {
  const p = panel();
  p.replaceChildren();
  const qr = el("img", { class: "cl-qr", alt: `QR code for ${session.join_url}`, src: session.qr, width: "150", height: "150" });
  const members = el("strong", { id: "class-members", text: "0" });
  const status = el("span", { id: "class-status", class: "cl-status", text: "connecting…" });
  const select = el("select", { id: "class-query", "aria-label": "Query token" });
  const ask = el("button", { type: "button", id: "class-ask", class: "primary", text: "Ask: where does it look?" });
  const reveal = el("button", { type: "button", id: "class-reveal", text: "Reveal" });
  const reset = el("button", { type: "button", id: "class-reset", text: "Reset" });
  const end = el("button", { type: "button", id: "class-end", text: "End class" });
  const answered = el("p", { id: "class-answered", class: "cl-answered" });
  const hist = el("div", { id: "class-hist", class: "cl-hist" });
  const note = el("p", { id: "class-reveal-note", class: "cl-note" });
  p.append(
    el("div", { class: "cl-join" }, qr, el("div", {},
      el("p", { class: "cl-code-line" }, "Join code ", el("strong", { id: "class-code", class: "cl-code", text: session.code })),
      el("p", { class: "cl-url" }, el("span", { id: "class-url", text: session.join_url })),
      el("p", {}, members, " joined · ", status))),
    el("div", { class: "cl-controls" }, el("label", { id: "class-query-label" }, "Query token ", select), ask, reveal, reset, end),
    answered, hist, note,
  );
  let question = null;
  let seq = -1;
  let row = null; // the model's weights for the asked row
  let sent = "";
  let fig = null; // a grid question's figure; its scores for the reveal, kept at the ask
  let scores = null;
  const sock = connect(session.code, { type: "hello", role: "teacher", token: session.token, sid: randomId() }, (m) => {
    if (m.type === "members") members.textContent = String(m.count);
    else if (m.type === "ask") {
      question = m; seq = -1; note.textContent = "";
      markOpen(isGrid(m));
      fig = isGrid(m) ? gridFigure(m, { id: "class-teacher-grid", maxHeight: 640 }) : null;
      if (fig) hist.replaceChildren(fig.el);
    } else if (m.type === "tally" && question) {
      if (m.seq !== 0 && m.seq < seq) return; // tallies from other replicas may arrive out of order
      seq = m.seq >= 2 ** 62 ? -1 : m.seq;
      answered.textContent = `${m.answered} answered: ${fig ? question.title : `where does “${question.query_token}” look?`}`;
      if (fig) fig.set({ counts: m.counts });
      else renderBars(hist, question.tokens, m.counts, m.type === "tally" && hist.dataset.revealed ? row : null);
      hist.dataset.counts = JSON.stringify(m.counts);
    } else if (m.type === "reveal" && question && fig) {
      markOpen(false);
      fig.set({ weights: m.weights, counts: m.counts, top: m.top });
      if (!hist.querySelector(".cl-grid-key")) hist.append(legend(false, question));
      note.textContent = revealText(question, m);
    } else if (m.type === "reveal" && question) {
      hist.dataset.revealed = "1";
      renderBars(hist, question.tokens, JSON.parse(hist.dataset.counts || "[]"), m.weights);
      note.textContent = `The model looks most at “${question.tokens[m.top]}”: ${m.top_count} of ${m.answered} guessed it.`;
    } else if (m.type === "reset") {
      question = null; fig = null; markOpen(false);
      hist.replaceChildren(); answered.textContent = ""; note.textContent = ""; delete hist.dataset.revealed;
    }
  }, (s) => { status.textContent = s; if (s === "live") sent = ""; });

  let current = null; // /api/attention answer for the view in sight
  async function refreshTokens() {
    const s = state.get();
    if (!s.model || !s.text) return;
    try {
      const body = { model: s.model, text: s.text, layer: Number(s.layer || 0) };
      if (s.block) body.block = s.block;
      current = await api("/api/attention", body);
    } catch { current = null; return; }
    const prev = select.value;
    select.replaceChildren(...current.query_tokens.map((t, i) => el("option", { value: String(i), text: `${i}: ${t}` })));
    const want = s.query ?? s.q ?? prev;
    if (want !== undefined && want !== "" && Number(want) < current.query_tokens.length) select.value = String(want);
  }
  const view = () => state.get().view;
  const atlas = () => asksGrid(view()); // the Atlas or the Effects view: a grid question over its heads
  setInterval(() => { // follow: the URL is the state; send it whenever it changes (and after a reconnect)
    ask.textContent = view() === "effects" ? "Ask: which head matters most?" : atlas() ? "Ask: which head?" : "Ask: where does it look?";
    document.getElementById("class-query-label").hidden = atlas();
    const key = JSON.stringify(sharedState());
    if (key !== sent && sock.send({ type: "state", state: sharedState(), ts: Date.now() })) {
      sent = key;
      refreshTokens();
    }
  }, 150);
  ask.addEventListener("click", async () => {
    if (atlas()) { // the grid in sight: which head is the atlas task's head, or which matters most (Effects)?
      const g = gridQuestion(view());
      if (g.error) { note.textContent = g.error; return; }
      scores = g.values;
      sock.send(g.ask);
      return;
    }
    if (!current) await refreshTokens();
    if (!current) return;
    const q = Number(select.value) || 0;
    const s = state.get();
    const head = Number(s.head || 0);
    const heads = current.weights;
    row = Number.isInteger(head) && heads[head] ? heads[head][q]  // "mean" (or no head): the heads' average
      : heads[0][q].map((_, j) => heads.reduce((a, h) => a + h[q][j], 0) / heads.length);
    delete hist.dataset.revealed;
    sock.send({ type: "ask", query: q, query_token: current.query_tokens[q], tokens: current.key_tokens.slice(0, 64) });
  });
  reveal.addEventListener("click", () => {
    if (isGrid(question)) { // after a reload the scores come from the grid in sight, if it is the same size
      const n = question.tokens.length;
      const w = scores && scores.length === n ? scores : gridQuestion(view()).values;
      if (w && w.length === n) sock.send({ type: "reveal", weights: w });
      else note.textContent = "Show the grid this question was asked on to reveal it.";
      return;
    }
    if (row) sock.send({ type: "reveal", weights: row.slice(0, 64).map((x) => Math.min(1, Math.max(0, x))) });
  });
  reset.addEventListener("click", () => sock.send({ type: "reset" }));
  end.addEventListener("click", () => { sock.stop(); sessionStorage.removeItem(T_KEY); markOpen(false); p.remove(); });
}

/* ---------------- student ---------------- */

function learn(code, sid) {
  const p = panel();
  p.classList.add("student");
  p.replaceChildren();
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
    const btns = el("div", { class: "cl-tokens" });
    question.tokens.forEach((t, i) => {
      const b = el("button", { type: "button", class: "cl-token", "data-index": String(i), text: t });
      if (mine === i) b.classList.add("chosen");
      b.addEventListener("click", () => {
        if (question.revealed) return;
        mine = i;
        sock.send({ type: "answer", index: i });
        for (const o of btns.children) o.classList.toggle("chosen", o === b);
      });
      btns.append(b);
    });
    qbox.replaceChildren(el("p", { class: "cl-ask" }, "Where does ", el("strong", { text: `“${question.query_token}”` }), " look? Tap a token."), btns);
  };
  const sock = connect(code, { type: "hello", role: "student", sid }, (m) => {
    if (m.type === "state") { last = m; if (following) apply(m); }
    else if (m.type === "ask") { // a catch-up re-sends the same question: keep this student's pick
      const key = (q) => JSON.stringify([q.kind, q.query, q.layers, q.heads, q.title, q.tokens]);
      const same = question && key(question) === key(m);
      question = m;
      if (!same) mine = null;
      markOpen(isGrid(m));
      showQuestion();
    }
    else if (m.type === "reset") { question = null; markOpen(false); showQuestion(); }
    else if (m.type === "reveal" && isGrid(question)) { question.revealed = true; markOpen(false); grid.reveal(m); }
    else if (m.type === "reveal" && question) {
      question.revealed = true;
      const hist = el("div", { id: "class-student-reveal", class: "cl-hist" });
      renderBars(hist, question.tokens, m.counts, m.weights);
      const you = mine === null ? "" : mine === m.top ? " You guessed it!" : ` You picked “${question.tokens[mine]}”.`;
      qbox.append(el("p", { class: "cl-note", text: `The model looks most at “${question.tokens[m.top]}”: ${m.top_count} of ${m.answered} guessed it.${you}` }), hist);
    }
  }, (s) => { status.textContent = s === "live" ? (following ? "following" : "exploring alone") : s; });
  toggle.addEventListener("click", () => {
    following = !following;
    toggle.textContent = following ? "Explore alone" : "Rejoin class";
    status.textContent = following ? "following" : "exploring alone";
    if (following && last) apply(last);
  });
}

/* ---------------- entry ---------------- */

function init() {
  const s = state.get();
  if (s.join) {
    sessionStorage.setItem(S_KEY, JSON.stringify({ code: s.join, sid: randomId() }));
    state.set({ join: null });
  }
  const student = JSON.parse(sessionStorage.getItem(S_KEY) || "null");
  const teacher = JSON.parse(sessionStorage.getItem(T_KEY) || "null");
  const start = document.getElementById("class-start");
  if (student) { if (start) start.hidden = true; learn(student.code, student.sid); return; }
  if (teacher) teach(teacher);
  if (start) start.addEventListener("click", async () => {
    const session = await api("/api/class", {});
    sessionStorage.setItem(T_KEY, JSON.stringify(session));
    teach(session);
  });
}

init();
