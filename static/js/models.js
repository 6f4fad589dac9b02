// The model selector every view shares: loaded models are choosable; those still loading
// (a GGUF converting on first run) or failed are listed, disabled, and update as they settle.

const STATE = { loading: "loading…", converting: "converting the weights, first run only…", failed: "unavailable",
  "not loaded": "not loaded" };

/** Models that can be used now. */
export function usable(models) {
  return models.filter((m) => m.status === "loaded");
}

function label(m) {
  if (m.status !== "loaded") return `${m.name} (${STATE[m.status] || m.status})`;
  return `${m.name} — ${m.layers}×${m.heads} heads`;
}

/** Fill `select` with one option per model, keep the choice, and refresh when models settle. */
export function modelSelect(select, models, onUpdate = () => {}) {
  const render = (list) => {
    const keep = select.value;
    select.replaceChildren(...list.map((m) => {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = label(m);
      o.disabled = m.status !== "loaded";
      if (m.error) o.title = m.error;
      return o;
    }));
    const first = usable(list)[0];
    if (keep && usable(list).some((m) => m.id === keep)) select.value = keep;
    else if (first) select.value = first.id;
  };
  render(models);
  window.addEventListener("models:update", (e) => { render(e.detail); onUpdate(usable(e.detail)); });
}
