// Small DOM helpers shared by the views.

/** [0, 1, ..., n - 1] */
export function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

/** Replace a select's options with [value, label] pairs, keeping the current value when it is still offered. */
export function fill(select, options) {
  const prev = select.value;
  select.replaceChildren(...options.map(([v, label]) => {
    const o = document.createElement("option");
    o.value = String(v);
    o.textContent = label;
    return o;
  }));
  if (options.some(([v]) => String(v) === prev)) select.value = prev;
}
