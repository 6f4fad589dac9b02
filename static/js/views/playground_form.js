// The matrix playground's form: the matrices' text boxes (built here), the controls declared once, and the
// /api/playground arguments (a preset's, or the URL's `pg`) to and from them.
import { declare } from "../kernel/controls.js";

/** Every matrix the form can hold: [name, label, shape hint]. */
export const MATRICES = [
  ["x", "X", "tokens × d_model"],
  ["w_q", "W_Q", "d_model × d_k"],
  ["w_k", "W_K", "d_model × d_k"],
  ["w_v", "W_V", "d_model × d_v"],
  ["q", "Q", "tokens × d_k"],
  ["k", "K", "tokens × d_k"],
  ["v", "V", "tokens × d_v"],
  ["scores", "Scores", "tokens × tokens"],
];
/** The matrices of each input form ("Start from"), in the order they are shown. */
const FORMS = { x: ["x", "w_q", "w_k", "w_v"], qkv: ["q", "k", "v"], scores: ["scores", "v"] };
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

const $ = (id) => document.getElementById(id);

/** One text box per matrix in #pg-matrices (label #pg-label-NAME, box #pg-m-NAME, shape #pg-shape-NAME). */
export function buildForm() {
  const box = $("pg-matrices");
  for (const [name, label, hint] of MATRICES) {
    const field = document.createElement("div");
    field.className = "field pg-matrix";
    field.dataset.matrix = name;
    const lab = document.createElement("label");
    lab.htmlFor = `pg-m-${name}`;
    lab.id = `pg-label-${name}`;
    lab.textContent = `${label} (${hint})`;
    const ta = document.createElement("textarea");
    ta.id = `pg-m-${name}`;
    ta.rows = 4;
    ta.cols = 26;
    ta.spellcheck = false;
    ta.setAttribute("autocomplete", "off");
    const shape = document.createElement("span");
    shape.className = "pg-shape";
    shape.id = `pg-shape-${name}`;
    field.append(lab, ta, shape);
    box.append(field);
  }
}

/** The form's controls, each holding one field of the arguments (as the text it shows). Call after buildForm(). */
export function formControls() {
  return declare([
    { key: "input", el: () => $("pg-input"), kind: "select" },
    { key: "mask", el: () => $("pg-mask"), kind: "select", fallback: "none" },
    { key: "d_k", el: () => $("pg-dk"), fallback: "" },
    { key: "tokens", el: () => $("pg-tokens"), fallback: "" },
    ...MATRICES.map(([name]) => ({ key: name, el: () => $(`pg-m-${name}`), fallback: "" })),
  ]);
}

/** Put arguments `args` ({x | q, k, v | scores, mask, d_k, tokens}) into the form. */
export function fillForm(controls, args) {
  const shown = {
    input: args.scores ? "scores" : args.x ? "x" : "qkv",
    mask: args.mask === "causal" ? "causal" : "none",
    d_k: typeof args.d_k === "number" ? String(args.d_k) : "",
    tokens: Array.isArray(args.tokens) ? args.tokens.join(" ") : "",
  };
  for (const [name] of MATRICES) shown[name] = Array.isArray(args[name]) ? formatMatrix(args[name]) : "";
  controls.show(shown);
  showFields();
}

/** The POST /api/playground body the form describes (the matrices of its input form only). */
export function formBody(controls) {
  const c = controls.read();
  const body = { mask: c.mask };
  for (const name of FORMS[c.input]) {
    const text = c[name] ?? "";
    if (c.input === "scores" && name === "v" && !text.trim()) continue;
    body[name] = parseMatrix(text);
  }
  const dk = (c.d_k ?? "").trim();
  if (dk !== "") body.d_k = Number(dk);
  const tokens = (c.tokens ?? "").trim();
  if (tokens) body.tokens = tokens.split(/\s+/);
  return body;
}

/** Show the input form's matrices (in its order) and size every text box to its text. */
export function showFields() {
  const form = $("pg-input").value;
  const box = $("pg-matrices");
  for (const el of box.children) el.hidden = !FORMS[form].includes(el.dataset.matrix);
  for (const name of FORMS[form]) box.append($(`pg-m-${name}`).closest(".pg-matrix")); // the form's order
  $("pg-label-v").textContent = form === "scores" ? "V (tokens × d_v) — optional" : "V (tokens × d_v)";
  for (const [name] of MATRICES) {
    const ta = $(`pg-m-${name}`);
    const rows = ta.value.split("\n").filter((l) => l.trim()).length;
    ta.rows = Math.max(3, Math.min(12, rows + 1));
    const widest = Math.max(0, ...ta.value.split("\n").map((l) => l.length));
    ta.cols = Math.max(18, Math.min(60, widest + 4));
  }
}

/** Switching the input form: fill the new form's empty matrices from the last result `r` where possible. */
export function switchForm(r) {
  if (r) {
    for (const name of FORMS[$("pg-input").value]) {
      const ta = $(`pg-m-${name}`);
      if (!ta.value.trim() && Array.isArray(r[name])) ta.value = formatMatrix(r[name].map((row) => row.map((x) => round(x, 4))));
    }
  }
  showFields();
}

/** Rows on lines, numbers separated by spaces, commas or semicolons; brackets ignored. Non-numbers are
 *  kept as strings so the API names the bad cell. */
export function parseMatrix(text) {
  return text.replace(/[−–]/g, "-").split("\n")
    .map((line) => line.replace(/[[\]]/g, " ").trim())
    .filter((line) => line)
    .map((line) => line.split(/[\s,;]+/).filter((t) => t).map((t) => (NUMBER.test(t) ? Number(t) : t)));
}

export function formatMatrix(m) {
  return m.map((row) => row.map((x) => String(x)).join("  ")).join("\n");
}

function round(x, digits) { return Number(x.toFixed(digits)); }
