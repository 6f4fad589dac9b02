// Entry point: load the models, then start the views.
import { api } from "./api.js";
import { AttentionView, setError, setStatus } from "./views/attention.js";

async function main() {
  let models = [];
  try {
    models = (await api("/api/models")).models;
  } catch (err) {
    setError(err.detail || String(err));
    return;
  }
  const select = document.getElementById("model");
  for (const m of models) {
    const o = document.createElement("option");
    o.value = m.id;
    o.textContent = m.error ? `${m.name} (unavailable)` : `${m.name} — ${m.layers}×${m.heads} heads`;
    o.disabled = Boolean(m.error);
    if (m.error) o.title = m.error;
    select.append(o);
  }
  const ok = models.filter((m) => !m.error);
  if (!ok.length) { setError("No model could be loaded: see /healthz."); return; }
  select.value = ok[0].id;
  const view = new AttentionView(ok);
  setStatus("");
  await view.load();
}

main();
