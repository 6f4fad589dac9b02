// The atlas view's data: an /api/atlas result as flat per-task grids, the difference of two atlases, names,
// the CSV of a grid and the links from a prompt into the Attention and Long context views.

/** Tasks in the order the page lists them, with what each measures (the checkboxes' titles). */
export const TASKS = [
  ["previous", "weight on the token just before (random repeated prompts)"],
  ["previous_text", "weight on the token just before, on natural text"],
  ["induction", "second copy of a repeated random sequence: weight on the token after the earlier copy"],
  ["duplicate", "second copy: weight on the same token in the earlier copy"],
  ["sink", "weight on position 0"],
  ["entropy", "spread of each row, in nats (natural text)"],
  ["distance", "mean |query − key| in tokens (natural text)"],
  ["retrieval", "needle-in-a-haystack copying (decoders only)"],
];
/** Tasks scored on random repeated token ids: their text is decoded ids, re-tokenised by the other views. */
export const RANDOM_TASKS = ["previous", "induction", "duplicate", "sink"];
/** Prompts longer than this (in tokens) also get a link into the Long context view. */
export const LONG_TOKENS = 400;

/**
 * An atlas result -> {model, tasks, layers, heads, prompts, length, seed, values: {task: Float64Array(L*H)},
 * examples, inputs, texts, raw}. Layers/heads from the result's own keys when present, else from `heads`.
 */
export function normalise(result, job = null) {
  const rows = Array.isArray(result.heads) ? result.heads : [];
  const layers = Number.isInteger(result.layers) ? result.layers : 1 + Math.max(-1, ...rows.map((r) => r.layer));
  const heads = Number.isInteger(result.heads_per_layer) ? result.heads_per_layer
    : Number.isInteger(result.n_heads) ? result.n_heads : 1 + Math.max(-1, ...rows.map((r) => r.head));
  const tasks = (result.tasks || []).map(String);
  const values = {};
  for (const t of tasks) {
    const v = new Float64Array(layers * heads).fill(NaN);
    for (const r of rows) {
      const s = r.scores ? r.scores[t] : undefined;
      if (r.layer < layers && r.head < heads && typeof s === "number") v[r.layer * heads + r.head] = s;
    }
    values[t] = v;
  }
  return { job, model: String(result.model ?? "?"), tasks, layers, heads, prompts: result.prompts, length: result.length,
    seed: result.seed, values, examples: result.examples || {}, head_examples: result.head_examples || null, inputs: result.inputs || {}, texts: result.texts || null,
    raw: result };
}

/** Whether a and b can be compared (same layers × heads, a task in common): null when they can, else why not. */
export function whyNotComparable(a, b) {
  if (a.layers !== b.layers || a.heads !== b.heads) {
    return `These two atlases cannot be compared: ${a.model} has ${a.layers} layers × ${a.heads} heads and `
      + `${b.model} has ${b.layers} × ${b.heads}; a difference needs the same grid.`;
  }
  if (!a.tasks.some((t) => b.tasks.includes(t))) {
    return `These two atlases share no task (${a.tasks.join(", ")} vs ${b.tasks.join(", ")}).`;
  }
  return null;
}

/** The difference a − b on their common tasks, shaped like a normalised atlas (with `a` and `b` kept). */
export function difference(a, b) {
  const tasks = a.tasks.filter((t) => b.tasks.includes(t));
  const values = Object.fromEntries(tasks.map((t) => [t, a.values[t].map((x, i) => x - b.values[t][i])]));
  return { ...a, tasks, values, diff: true, a, b };
}

/** A short human name of an atlas: "minilm · seed 0 · 3 prompts × 8 · 1a2b3c4d". */
export function atlasName(a) {
  const job = a.job ? ` · ${a.job}` : "";
  return `${a.model} · seed ${a.seed} · ${a.prompts} prompts × ${a.length}${job}`;
}

/** A finished atlas of GET /api/atlas as a select option's text. */
export function listLabel(e) {
  const when = e.created ? ` · ${fmtCreated(e.created)}` : "";
  const src = e.source === "upload" ? " · uploaded" : "";
  return `${e.model} · seed ${e.seed} · ${e.prompts}×${e.length}${src}${when} · ${(e.tasks || []).join(", ")}`;
}

function fmtCreated(c) {
  const d = typeof c === "number" ? new Date(c < 1e12 ? c * 1000 : c) : new Date(c);
  if (Number.isNaN(d.getTime())) return String(c);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A score as the page shows it (6 decimals: the API's number to 5e-7). */
export function fmtScore(v, signed = false) {
  if (!Number.isFinite(v)) return "n/a";
  return (signed && v > 0 ? "+" : "") + v.toFixed(6);
}

/** CSV of the grid in view: a header and one `layer,head,task,score` row per head and task. */
export function gridCsv(view) {
  const lines = ["layer,head,task,score"];
  for (const t of view.tasks) {
    for (let l = 0; l < view.layers; l++) {
      for (let h = 0; h < view.heads; h++) {
        const v = view.values[t][l * view.heads + h];
        lines.push(`${l},${h},${t},${Number.isFinite(v) ? v : ""}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/** The prompt behind an example: {text (or null), ids, tokens}. */
export function promptOf(atlas, task, index) {
  const ids = (atlas.inputs[task] || [])[index] || null;
  const text = atlas.texts && atlas.texts[task] ? atlas.texts[task][index] ?? null : null;
  return { text: typeof text === "string" ? text : null, ids, tokens: ids ? ids.length : null };
}

/** Links from a prompt into the other views: [{view, label, href}] (empty without text or a configured model). */
export function promptLinks(atlas, task, index, layer, head, models) {
  const p = promptOf(atlas, task, index);
  if (p.text === null || !models.some((m) => m.id === atlas.model)) return [];
  const q = (o) => `/?${new URLSearchParams(o).toString()}`;
  const out = [{ view: "attention", label: `Attention view: prompt ${index}, layer ${layer}, head ${head}`,
    href: q({ view: "attention", model: atlas.model, text: p.text, layer, head }) }];
  if ((p.tokens || 0) > LONG_TOKENS) {
    out.push({ view: "long", label: `Long context view: prompt ${index} (${p.tokens} tokens)`,
      href: q({ view: "long", model: atlas.model, ltext: p.text, layer, head }) });
  }
  return out;
}
