// The long view's form: the text (typed, pasted, dropped or chosen as a .txt / .md file; kept in sessionStorage), its
// length, and the models it offers (encoders and decoders; encoder-decoders listed apart, as the server refuses them).
import { $ } from "../analysis.js";

const STORE = "attnscope.long";
const MAX_FILE = 4_000_000;

/** What this tab kept under `k` (JSON), or null. */
export const stored = (k) => { try { return JSON.parse(sessionStorage.getItem(`${STORE}.${k}`)); } catch { return null; } };
/** Keep `v` under `k` for this tab. */
export const store = (k, v) => { try { sessionStorage.setItem(`${STORE}.${k}`, JSON.stringify(v)); } catch { /* full: the page keeps it */ } };

/** The models into #lc-model, keeping `keep` selected if it is loaded. */
export function fillModels(models, keep) {
  const sel = $("lc-model");
  keep ||= sel.value;
  const opt = (m) => {
    const o = document.createElement("option");
    o.value = m.id;
    o.textContent = m.status === "loaded" ? `${m.name} — ${m.kind}` : `${m.name} (${m.status}…)`;
    o.disabled = m.status !== "loaded";
    return o;
  };
  sel.replaceChildren(...models.filter((m) => m.kind !== "encoder-decoder" || m.status !== "loaded").map(opt));
  const other = models.filter((m) => m.kind === "encoder-decoder" && m.status === "loaded");
  if (other.length) {
    const g = document.createElement("optgroup");
    g.label = "Encoder-decoders (not read by this view)";
    g.append(...other.map(opt));
    sel.append(g);
  }
  const ok = [...sel.options].filter((o) => !o.disabled).map((o) => o.value);
  if (keep && ok.includes(keep)) sel.value = keep;
}

/** The text's length under it (#lc-count). */
export function count() {
  const t = $("lc-text").value, paras = t.split(/\n\s*\n/).filter((p) => p.trim()).length;
  $("lc-count").textContent = `${t.length.toLocaleString("en-US")} characters · ${paras} paragraph${paras === 1 ? "" : "s"}`;
}

async function readFile(file, msg) {
  if (!file) return;
  if (!/\.(txt|md|markdown)$/i.test(file.name) && !(file.type || "").startsWith("text/")) {
    msg.error(`${file.name} is not a .txt or .md file.`);
    return;
  }
  if (file.size > MAX_FILE) { msg.error(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB: the long view reads at most 4 MB.`); return; }
  $("lc-text").value = await file.text();
  count();
  store("text", $("lc-text").value);
  msg.error("");
  msg.status(`Read ${file.name}: ${$("lc-text").value.length.toLocaleString("en-US")} characters. Run to see its attention.`);
}

/** The text box: this tab's text back, its length as it changes, and files chosen or dropped (`msg` says why not). */
export function textBox(msg) {
  const text = stored("text");
  if (typeof text === "string" && text.trim()) $("lc-text").value = text;
  count();
  let timer = 0;
  $("lc-text").addEventListener("input", () => {
    count();
    clearTimeout(timer);
    timer = setTimeout(() => store("text", $("lc-text").value), 400);
  });
  $("lc-file").addEventListener("change", (e) => readFile(e.target.files[0], msg));
  const drop = $("lc-drop"), files = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
  drop.addEventListener("dragover", (e) => { if (files(e)) { e.preventDefault(); drop.classList.add("over"); } });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { drop.classList.remove("over"); if (files(e)) { e.preventDefault(); readFile(e.dataTransfer.files[0], msg); } });
}
