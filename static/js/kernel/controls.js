// Controls declared once: which state key each form control holds, how it reads and writes, and when it counts.
// show(state) puts the state into the controls and read() gives the state back from them, so no view writes its
// own show/save pair. And a memory of each model's own sentence, so switching models never loses what was typed.

/**
 * `specs`: [{key, el, kind?, fallback?, when?}] with `el` the control (an element, or a function giving it),
 * `kind` "text" (default), "select", "check" (state "1" or absent), "int" (a whole number) or "csv" (a list),
 * `fallback` the value shown when the state has none (undefined: leave the control as it is), `when()` false
 * when the control does not apply (hidden): read() gives null for it, which removes the key.
 */
export function declare(specs) {
  const node = (s) => (typeof s.el === "function" ? s.el() : s.el);

  function write(s, value) {
    const el = node(s);
    if (!el) return;
    if (s.kind === "check") { el.checked = value === "1" || value === true; return; }
    if (value === undefined || value === null) return;
    if (s.kind === "select" && ![...el.options].some((o) => o.value === String(value))) return; // not offered
    el.value = String(value);
  }

  function value(s) {
    const el = node(s);
    if (!el || (s.when && !s.when())) return null;
    if (s.kind === "check") return el.checked ? "1" : null;
    if (s.kind === "int") return /^-?\d+$/.test(el.value) ? String(Number(el.value)) : null;
    return el.value === "" ? null : el.value;
  }

  return {
    keys: specs.map((s) => s.key),
    /** The state into the controls (keys the state lacks get their fallback, or stay as they are). */
    show(state) {
      for (const s of specs) write(s, state[s.key] ?? s.fallback);
    },
    /** The controls as a state patch: {key: string | null}. */
    read() {
      return Object.fromEntries(specs.map((s) => [s.key, value(s)]));
    },
    /** `fn(key, patch)` whenever a control changes (input for text, change for the rest). */
    listen(fn) {
      for (const s of specs) {
        const el = node(s);
        if (!el) continue;
        el.addEventListener(s.kind === "text" || !s.kind ? "change" : "change", () => fn(s.key, this.read()));
      }
    },
  };
}

/**
 * Each model's own sentence, kept in `storage` (sessionStorage on the page; anything with getItem/setItem in
 * tests). remember(model, text) when leaving a model; recall(model) gives its sentence back (or undefined).
 */
export function sentenceMemory(storage, prefix = "attnscope.sentence.") {
  return {
    remember(model, text) {
      if (!model || typeof text !== "string") return;
      try { storage.setItem(prefix + model, text); } catch { /* storage full or refused: keep going */ }
    },
    recall(model) {
      try { return storage.getItem(prefix + model) ?? undefined; } catch { return undefined; }
    },
  };
}

/**
 * The sentence for model `to` when the text box (holding `text`) leaves model `from`: `to`'s own sentence if it
 * has one that suits it, else `text` if it suits `to`, else `fallback(to)`. `suits(model, text)` says whether
 * a sentence fits a model (the textbook model's French vocabulary, say). The memory keeps `text` for `from`.
 */
export function switchSentence(memory, from, to, text, suits, fallback) {
  if (from && from !== to) memory.remember(from, text);
  const own = from !== to ? memory.recall(to) : undefined;
  if (own !== undefined && own.trim() && suits(to, own)) return own;
  return suits(to, text) ? text : fallback(to);
}
