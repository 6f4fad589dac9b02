// The "attention sink" note: when a view's most-attended key is the first token, say on screen that
// first-token sinks are common and do not mean the word refers to that token.

/** Index of the key with the largest mean weight over `rows` (each a weight per key). */
export function mostAttended(rows) {
  if (!rows.length || !rows[0].length) return -1;
  const n = rows[0].length, acc = new Array(n).fill(0);
  for (const r of rows) for (let j = 0; j < n; j++) acc[j] += r[j] ?? 0;
  let best = 0;
  for (let j = 1; j < n; j++) if (acc[j] > acc[best]) best = j;
  return best;
}

/** Show or hide the note in `el` for attention `rows` over `keys`. Returns whether it is shown. */
export function sinkNote(el, rows, keys) {
  const j = mostAttended(rows);
  const show = j === 0 && keys.length > 1;
  el.hidden = !show;
  if (show) {
    const w = rows.reduce((s, r) => s + (r[0] ?? 0), 0) / rows.length;
    el.textContent = `The most-attended key here is the first token, “${keys[0]}” (mean weight ${w.toFixed(2)}). ` +
      "First-token “attention sinks” are common: many heads park weight on the first token when nothing else " +
      "fits. It does not mean the word refers to that token — look at how the rest of the weight is shared.";
  }
  return show;
}
