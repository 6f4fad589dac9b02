// Live class: the teacher starts a class, students join by code/URL/QR and follow the teacher's view
// (the URL state) over one WebSocket, answer "where does this token look?" (or, in the Atlas view, "which
// head is it?": classroom_grid.js), and see the reveal.
// A host only: the views render as they always do; this module moves URL state over the wire.
import { api, apiBinary } from "./api.js";
import { createLoader } from "./kernel/load.js";
import { asksGrid, gridFigure, gridQuestion, isGrid, legend, markOpen, revealText } from "./classroom_grid.js";
import { fillQuery, markToken, renderBars, rowOf, sentenceInSight, teacherBadge } from "./classroom_panel.js";
import { connect, randomId } from "./classroom_socket.js";
import { learn } from "./classroom_student.js";
import * as state from "./state.js";

const T_KEY = "attnscope.class.teacher";
const S_KEY = "attnscope.class.student";
const LOCAL = new Set(["join", "present"]); // never followed: page-local keys

function sharedState() {
  return Object.fromEntries(Object.entries(state.get()).filter(([k]) => !LOCAL.has(k)));
}

/* ---------------- teacher ---------------- */

async function teach(session) {
  const start = document.getElementById("class-start");
  if (start) start.hidden = true;
  const ui = teacherBadge(session);
  const { members, status, select, ask, reveal, reset, end, answered, hist, note, say } = ui;
  let follow = () => {}; // set once the socket's handlers are in place
  let question = null;
  let asked = null; // {query, layer, head} of the token question open: its answer is hidden on every screen
  let seq = -1;
  let row = null; // the model's weights for the asked row
  let sent = "";
  let fig = null; // a grid question's figure; its scores for the reveal, kept at the ask
  let scores = null;
  let current = null; // the binary /api/attention answer (f32: the model's numbers) for the sentence in sight
  const loader = createLoader((body, signal) => apiBinary("/api/attention", body, { signal }), { size: 4 });
  const rowFor = (q, head) => rowOf(current, q, head);
  const sock = connect(session.code, { type: "hello", role: "teacher", token: session.token, sid: randomId() }, (m) => {
    if (m.type === "members") members.textContent = String(m.count);
    else if (m.type === "error") say(`The class server refused that: ${m.detail}`);
    else if (m.type === "ask") {
      question = m; seq = -1; note.textContent = ""; say("");
      markToken(null);
      markOpen(isGrid(m));
      fig = isGrid(m) ? gridFigure(m, { id: "class-teacher-grid", maxHeight: 640 }) : null;
      if (fig) hist.replaceChildren(fig.el);
      else { // the asked head, as the Ask saw it (or, after a reload, as the view shows it now)
        const src = asked && asked.query === m.query ? asked : { ...sentenceInSight(state.get()), query: m.query };
        asked = { query: m.query, layer: src.layer, head: src.head };
        markToken(asked);
        renderBars(hist, m.tokens, m.tokens.map(() => 0), null, asked);
        if (!row) refreshTokens().then(() => { if (question === m && current) row = rowFor(m.query, asked.head); });
      }
      answered.textContent = isGrid(m) ? m.title : `Where does “${m.query_token}” look?`;
      ui.open();
    } else if (m.type === "tally" && question) {
      if (m.seq !== 0 && m.seq < seq) return; // tallies from other replicas may arrive out of order
      seq = m.seq >= 2 ** 62 ? -1 : m.seq;
      answered.textContent = `${m.answered} answered: ${fig ? question.title : `where does “${question.query_token}” look?`}`;
      if (fig) fig.set({ counts: m.counts });
      else renderBars(hist, question.tokens, m.counts, hist.dataset.revealed ? JSON.parse(hist.dataset.weights) : null, asked);
      hist.dataset.counts = JSON.stringify(m.counts);
    } else if (m.type === "reveal" && question && fig) {
      markOpen(false);
      fig.set({ weights: m.weights, counts: m.counts, top: m.top });
      if (!hist.querySelector(".cl-grid-key")) hist.append(legend(false, question));
      note.textContent = revealText(question, m);
    } else if (m.type === "reveal" && question) {
      markToken(null);
      hist.dataset.revealed = "1";
      hist.dataset.weights = JSON.stringify(m.weights);
      renderBars(hist, question.tokens, m.counts || JSON.parse(hist.dataset.counts || "[]"), m.weights, asked);
      note.textContent = `The model looks most at “${question.tokens[m.top]}”: ${m.top_count} of ${m.answered} guessed it.`;
    } else if (m.type === "reset") {
      question = null; fig = null; asked = null; row = null; markOpen(false); markToken(null);
      hist.replaceChildren(); answered.textContent = ""; note.textContent = ""; delete hist.dataset.revealed;
      ui.close();
    }
  }, (s) => { status.textContent = s; if (s === "live") { sent = ""; follow(); } });

  /** Fetch the tokens of the sentence in sight into the select; returns why not (a message) or null. */
  async function refreshTokens() {
    const src = sentenceInSight(state.get());
    if (src.error) return src.error;
    const body = { model: src.model, text: src.text, layer: Number(src.layer || 0), format: "f32" };
    if (src.block) body.block = src.block;
    const got = await loader.load(body);
    if (!got) return null; // a newer request replaced this one
    if (got.error) {
      current = null;
      return `${src.model} could not run on this sentence: ${got.error}. Change the sentence or the model, then Ask again.`;
    }
    current = got.data;
    const s = state.get();
    fillQuery(select, current.query_tokens, s.query ?? s.q ?? select.value);
    return null;
  }
  const view = () => state.get().view;
  const atlas = () => asksGrid(view()); // the Atlas or the Effects view: a grid question over its heads
  const share = () => { // the URL is the state: send it (once per change)
    const key = JSON.stringify(sharedState());
    if (key !== sent && sock.send({ type: "state", state: sharedState(), ts: Date.now() })) { sent = key; return true; }
    return false;
  };
  follow = () => { // the class follows: the state is sent on every change of it (and after a reconnect)
    ask.textContent = view() === "effects" ? "Ask: which head matters most?" : atlas() ? "Ask: which head?" : "Ask: where does it look?";
    ui.queryLabel.hidden = atlas();
    if (share() || (!current && !atlas())) refreshTokens(); // a fresh page: the sentence its view shows
  };
  select.addEventListener("focus", () => { if (!current && !atlas()) refreshTokens(); }); // the view drew it since
  state.subscribe(follow);
  follow();
  ask.addEventListener("click", async () => {
    say("");
    if (atlas()) { // the grid in sight: which head is the atlas task's head, or which matters most (Effects)?
      const g = gridQuestion(view());
      if (g.error) { say(g.error); return; }
      scores = g.values;
      sock.send(g.ask);
      return;
    }
    const src = sentenceInSight(state.get());
    if (src.error) { say(src.error); return; }
    if (src.fromControls) { // nothing submitted yet: the sentence in sight becomes the class's state
      state.set({ view: view() || "attention", model: src.model, text: src.text, layer: src.layer, head: src.head, block: src.block });
      window.dispatchEvent(new PopStateEvent("popstate")); // this page's view shows it from the URL too
      share();
    }
    const why = await refreshTokens();
    if (why || !current) { say(why || "The sentence's tokens are not in yet: wait a moment, then Ask again."); return; }
    const q = Math.min(Number(select.value) || 0, current.query_tokens.length - 1);
    row = rowFor(q, src.head);
    asked = { query: q, layer: src.layer, head: src.head };
    delete hist.dataset.revealed;
    if (!sock.send({ type: "ask", query: q, query_token: current.query_tokens[q], tokens: current.key_tokens.slice(0, 64) })) {
      say("The class is not connected right now: wait until it says live, then Ask again.");
    }
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
    else if (question) say("The model's answer is still loading: Reveal again in a moment.");
  });
  reset.addEventListener("click", () => sock.send({ type: "reset" }));
  end.addEventListener("click", () => {
    sock.stop(); sessionStorage.removeItem(T_KEY); markOpen(false); markToken(null); ui.remove();
    if (start) start.hidden = false;
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
