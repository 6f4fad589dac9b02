// The generate view's controls: declared once with their state keys (URL parameters), the request they make,
// what a model changes in them (its examples, layers, heads, strategies), and the view's shared error line.
import { fitText } from "../analysis.js";
import { declare } from "../kernel/controls.js";
import { fill, range } from "../ui.js";
import { $ } from "./generate_common.js";

/** Models that generate: decoders and encoder-decoders (/api/models gives a model still loading the kind of its
 * configured family when it has one; one of unknown kind is listed until it loads). */
export function generative(list) {
  return list.filter((m) => m.kind !== "encoder");
}

/** Keep only the options of `allowed` models; if the choice went, take the first usable one. */
export function prune(select, allowed, usableModels) {
  const ids = new Set(allowed.map((m) => m.id));
  const keep = select.value;
  for (const o of [...select.options]) if (!ids.has(o.value)) o.remove();
  if (!ids.has(keep) || !usableModels.some((m) => m.id === keep)) {
    if (usableModels[0]) select.value = usableModels[0].id;
  }
}

/**
 * The one error line (#gen-error) for its several sources (the model list, the stream, the two loaders): each
 * writes its own slot through slot(name), so one source's success never wipes another's error; the first
 * non-empty slot shows.
 */
export function errorLine(show) {
  const slots = { model: "", stream: "", full: "", next: "" };
  const paint = () => show(Object.values(slots).find(Boolean) || "");
  return {
    slot: (name) => (text) => { slots[name] = text || ""; paint(); },
    clear() { for (const k in slots) slots[k] = ""; paint(); },
  };
}

/** The controls and their state keys (URL parameters), declared once (kernel/controls.js). */
export function controls() {
  const strategy = () => $("gen-strategy").value;
  return declare([
    { key: "model", el: $("gen-model"), kind: "select" },
    { key: "text", el: $("gen-text") },
    { key: "strategy", el: $("gen-strategy"), kind: "select" },
    { key: "temperature", el: $("gen-temperature") },
    { key: "top_k", el: $("gen-top-k") },
    { key: "top_p", el: $("gen-top-p") },
    { key: "beam", el: $("gen-beam"), when: () => strategy() === "beam" },
    { key: "seed", el: $("gen-seed"), when: () => strategy() === "sample" },
    { key: "max", el: $("gen-max") },
    { key: "layer", el: $("gen-layer"), kind: "select" },
    { key: "head", el: $("gen-head"), kind: "select" },
  ]);
}

/**
 * The part of state `s` the controls take: not the model (the view chooses it first), not the text while a
 * stream runs, no empty value (it keeps the control's own, but an empty seed means a random one), and no
 * strategy the model does not offer.
 */
export function controlState(s, streaming) {
  const out = Object.fromEntries(Object.entries(s).filter(([k, v]) => k !== "model" && (v !== "" || k === "text" || k === "seed")));
  if (streaming) delete out.text;
  if ([...$("gen-strategy").options].some((o) => o.value === s.strategy && o.disabled)) delete out.strategy;
  return out;
}

/** The sliders' values beside them. */
export function showValues() {
  $("gen-temperature-out").textContent = Number($("gen-temperature").value).toFixed(2);
  $("gen-top-p-out").textContent = Number($("gen-top-p").value).toFixed(2);
}

/** The beam width for beam search only, the seed for sampling only. */
export function showFields() {
  const s = $("gen-strategy").value;
  $("gen-beam-field").hidden = s !== "beam";
  $("gen-seed-field").hidden = s !== "sample";
}

/** The POST /api/generate/stream request the controls make. */
export function requestBody() {
  const num = (id) => Number($(id).value);
  const b = {
    model: $("gen-model").value, text: $("gen-text").value, strategy: $("gen-strategy").value,
    max_new_tokens: num("gen-max"), temperature: num("gen-temperature"), top_k: num("gen-top-k"),
    top_p: num("gen-top-p"), beam_width: num("gen-beam"),
  };
  if (b.strategy === "sample" && $("gen-seed").value !== "") b.seed = num("gen-seed");
  return b;
}

/** The POST /api/next-token request for the prompt `text` to model `m`, with the sampling controls. */
export function nextBody(m, text) {
  return { model: m.id, text, n: 12, temperature: Number($("gen-temperature").value),
    top_k: Number($("gen-top-k").value) || 0, top_p: Number($("gen-top-p").value) };
}

/** Generate off and Stop on while a stream runs. */
export function showBusy(on) {
  $("gen-run").disabled = on;
  $("gen-stop").disabled = !on;
  $("gen-stop").classList.toggle("primary", on);
}

/** Select the option `delta` away in select #`id` (wrapping round) as if chosen by hand. */
export function stepSelect(id, delta) {
  const sel = $(id);
  const n = sel.options.length;
  if (!n) return;
  sel.selectedIndex = (sel.selectedIndex + delta + n) % n;
  sel.dispatchEvent(new Event("change"));
}

/**
 * The controls for model `m`: a prompt it reads (French for the textbook model), no sampling for a seq2seq
 * model, its layers and heads, and chips of `examples` ({default, textbook}) calling `pick(text)`.
 */
export function fitControls(m, examples, pick) {
  const seq2seq = m.kind === "encoder-decoder";
  fitText($("gen-text"), m, { english: examples.default[0], french: examples.textbook[0] }); // each model's own prompt
  $("gen-strategy").querySelector("option[value=sample]").disabled = seq2seq;
  if (seq2seq && $("gen-strategy").value === "sample") $("gen-strategy").value = "greedy";
  $("gen-attn-kind-field").hidden = !seq2seq;
  fill($("gen-layer"), range(m.layers).map((i) => [i, `Layer ${i + 1}`]));
  fill($("gen-head"), [...range(m.heads).map((i) => [i, `Head ${i + 1}`]), ["mean", "Mean of heads"]]);
  fill($("gen-step-head"), [["mean", "Mean of the heads"], ...range(m.heads).map((i) => [i, `Head ${i + 1}`])]);
  $("gen-examples").replaceChildren(...(seq2seq ? examples.textbook : examples.default).map((t) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.textContent = t;
    b.addEventListener("click", () => pick(t));
    return b;
  }));
  showFields();
}
