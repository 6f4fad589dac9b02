// Entry point: load the models, then mount each view on first visit and show the one the URL names.
import { api } from "./api.js";
import * as keys from "./keys.js";
import * as limits from "./limits.js";
import * as state from "./state.js";
import { plotlyReady } from "./vendor.js";

/** Views that start their request before Plotly is parsed (they await plotlyReady() before drawing). */
const EARLY = new Set(["attention"]);

const mounted = new Map();
let models = [];

function sections() {
  return [...document.querySelectorAll("main > section[data-view]")];
}

let shows = 0; // state changes shown so far: a show that waited (Plotly, a module) yields to a newer one

async function show(s) {
  const mine = ++shows;
  const names = sections().map((el) => el.dataset.view);
  const view = names.includes(s.view) ? s.view : names[0];
  for (const el of sections()) el.hidden = el.dataset.view !== view;
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!EARLY.has(view)) {
    try { await plotlyReady(); } catch (err) { globalError(err.message); return; }
  }
  if (!mounted.has(view)) { // mounted once, even when a second state arrives while the first mounts
    mounted.set(view, import(`./views/${view}.js`).then((mod) => mod.mount({ models, state, api }))
      .catch((err) => { mounted.delete(view); throw err; })); // a failed mount is tried again next time
  }
  const v = await mounted.get(view);
  if (mine !== shows) return; // a newer state came in while this one waited: it is shown instead
  await v.show({ ...s, view });
}

function globalError(text) {
  const el = document.getElementById("global-error");
  el.textContent = text;
  el.hidden = !text;
}

/** Models still loading (a GGUF converting on first run): say so, and ask again until they settle. */
async function pollLoading() {
  const note = document.getElementById("global-note");
  const pending = models.filter((m) => m.status === "loading" || m.status === "converting");
  note.hidden = !pending.length;
  if (!pending.length) return;
  note.textContent = pending.map((m) => m.status === "converting"
    ? `${m.name}: converting its weights to safetensors (first run only, about a minute)…`
    : `${m.name}: loading…`).join(" ");
  setTimeout(async () => {
    try {
      const fresh = (await api("/api/models")).models;
      models.splice(0, models.length, ...fresh);
      window.dispatchEvent(new CustomEvent("models:update", { detail: models }));
    } catch { /* the server may be busy: try again */ }
    pollLoading();
  }, 3000);
}

async function main() {
  try {
    models = (await api("/api/models")).models;
  } catch (err) {
    globalError(err.detail || String(err));
    return;
  }
  const failed = models.filter((m) => m.error);
  if (failed.length) globalError(failed.map((m) => `${m.name}: ${m.error}`).join("\n"));
  pollLoading();
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      state.go(a.dataset.view);
    });
  }
  state.onChange((s) => show(s));
  keys.install();
  await show(state.get());
}

limits.install(); // at once: a paste before the models have loaded is announced too
main();
