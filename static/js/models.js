// The model selector every view shares: loaded models are choosable; those still loading
// (a GGUF converting on first run) or failed are listed, disabled, and update as they settle. A model
// that cannot serve the view around the select (its /api/models `capabilities`) is greyed out too,
// and a note under the select says why.

const STATE = { loading: "loading…", converting: "converting the weights, first run only…", failed: "unavailable",
  "not loaded": "not loaded" };

/** Which capability of /api/models each view needs (views not listed need none beyond loading). */
const NEEDS = { attention: "attention", model: "model_view", heads: "heads", compare: "compare", steps: "steps",
  generate: "generate" };

/** Models that can be used now (and, given a capability, that offer it). */
export function usable(models, capability = null) {
  return models.filter((m) => m.status === "loaded" && !(capability && missing(m, capability)));
}

/** Why `m` does not offer `capability` (from /api/models), or null when it does. */
export function missing(m, capability) {
  const caps = m.capabilities;
  if (!capability || !caps || caps[capability] !== false) return null;
  return (m.reasons && m.reasons[capability]) || "this model does not offer this view";
}

/** The capability the view around `el` needs, or null. */
function needed(el) {
  const section = el.closest("section[data-view]");
  return section ? NEEDS[section.dataset.view] || null : null;
}

/** A note after `select` naming the loaded models this view cannot serve, and why (greyed out above). */
function explain(select, list, capability) {
  const id = `${select.id}-unavailable`;
  let note = document.getElementById(id);
  const lines = list.filter((m) => m.status === "loaded" && missing(m, capability))
    .map((m) => `${m.name}: ${missing(m, capability)}`);
  if (!lines.length) {
    if (note) note.remove();
    return;
  }
  if (!note) {
    note = document.createElement("p");
    note.id = id;
    note.className = "note unavailable";
    select.insertAdjacentElement("afterend", note);
  }
  note.textContent = `Not available in this view — ${lines.join(" · ")}`;
}

function label(m) {
  if (m.status !== "loaded") return `${m.name} (${STATE[m.status] || m.status})`;
  return `${m.name} — ${m.layers}×${m.heads} heads`;
}

/** Fill `select` with one option per model, keep the choice, and refresh when models settle. */
export function modelSelect(select, models, onUpdate = () => {}) {
  const capability = needed(select);
  const render = (list) => {
    const keep = select.value;
    select.replaceChildren(...list.map((m) => {
      const o = document.createElement("option");
      const why = m.status === "loaded" ? missing(m, capability) : null;
      o.value = m.id;
      o.textContent = why ? `${m.name} (not available here)` : label(m);
      o.disabled = m.status !== "loaded" || Boolean(why);
      if (m.error || why) o.title = m.error || why;
      return o;
    }));
    const ok = usable(list, capability);
    if (keep && ok.some((m) => m.id === keep)) select.value = keep;
    else if (ok[0]) select.value = ok[0].id;
    explain(select, list, capability);
  };
  render(models);
  window.addEventListener("models:update", (e) => { render(e.detail); onUpdate(usable(e.detail)); });
}
