// Keyboard everywhere: views register their keys; `?` lists them, `p` toggles presentation mode.
import * as present from "./present.js";

const registry = new Map(); // view -> [{keys, label, fn}]
const GLOBAL = [
  { keys: ["?"], label: "Show these keys", fn: () => toggleHelp() },
  { keys: ["p"], label: "Presentation mode on/off (large type, high contrast, the figure in sight)", fn: () => togglePresentation() },
  { keys: ["c"], label: "Presentation mode: show or hide the controls", fn: () => present.toggleControls() },
  { keys: ["Escape"], label: "Close this help", fn: () => toggleHelp(false) },
];

/** A view's keys: [{keys: ["ArrowRight"], label: "Next step", fn}] — active while the view is shown. */
export function register(view, bindings) {
  registry.set(view, bindings);
}

function typing(target) {
  const tag = target?.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target?.isContentEditable;
}

export function currentView() {
  return document.querySelector("main > section[data-view]:not([hidden])")?.dataset.view;
}

/** Presentation mode on/off (static/js/present.js lays the page out again and refits the figures). */
export function togglePresentation(on) {
  present.toggle(on);
}

function toggleHelp(open) {
  const dlg = document.getElementById("help");
  if (!dlg) return;
  const show = open ?? !dlg.open;
  if (!show) { if (dlg.open) dlg.close(); return; }
  const list = document.getElementById("help-keys");
  list.replaceChildren();
  const rows = [...GLOBAL, ...(registry.get(currentView()) || [])];
  for (const b of rows) {
    const dt = document.createElement("dt");
    for (const k of b.keys) {
      const kbd = document.createElement("kbd");
      kbd.textContent = k.replace("Arrow", "");
      dt.append(kbd, " ");
    }
    const dd = document.createElement("dd");
    dd.textContent = b.label;
    list.append(dt, dd);
  }
  if (!dlg.open) dlg.showModal();
}

export function install() {
  document.getElementById("help-toggle")?.addEventListener("click", () => toggleHelp(true));
  document.getElementById("help-close")?.addEventListener("click", () => toggleHelp(false));
  present.install();
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target) && e.key !== "Escape") return;
    const rows = [...GLOBAL, ...(registry.get(currentView()) || [])];
    const hit = rows.find((b) => b.keys.includes(e.key));
    if (!hit) return;
    e.preventDefault();
    hit.fn(e);
  });
}
