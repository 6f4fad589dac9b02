// The page's state lives in the URL (?view=...&model=...&text=...), so a link reopens the same view
// and back/forward work. Views read it with get() and change it with set().

const listeners = new Set();

/** The current state as a plain object of strings. */
export function get() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

/** Merge `patch` into the URL (null/undefined/"" removes a key); push a history entry when `push`. */
export function set(patch, { push = false } = {}) {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || v === undefined || v === "") params.delete(k);
    else params.set(k, String(v));
  }
  const url = `${location.pathname}?${params.toString()}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** Go to another view (a history entry), carrying `patch`, and tell the listeners. */
export function go(view, patch = {}) {
  set({ ...patch, view }, { push: true });
  for (const fn of listeners) fn(get());
}

/** Called with the new state on navigation (go(), back, forward). */
export function onChange(fn) {
  listeners.add(fn);
}

window.addEventListener("popstate", () => {
  for (const fn of listeners) fn(get());
});
