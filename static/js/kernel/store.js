// The page's state, observable and backed by the URL (?view=...&model=...&text=...): a link reopens the same
// view, back/forward work, and whoever subscribes hears every change (the live class follows the teacher by
// subscribing, not by polling). No DOM here: `win` is the window (or, in node's tests, anything with location,
// history and addEventListener), so the store is tested without a browser.

/** A store over `win`'s URL. */
export function createStore(win) {
  const subscribers = new Set(); // every change: set(), go(), back/forward
  const navigators = new Set(); // navigation only: go(), back/forward (the app shows the view the URL names)
  const read = () => Object.fromEntries(new URLSearchParams(win.location.search));
  let last = read();

  /** Keys whose values differ between two states. */
  const changed = (a, b) => [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);

  function emit(source) {
    const now = read(), keys = changed(last, now);
    last = now;
    if (!keys.length) return;
    for (const fn of [...subscribers]) {
      try { fn(now, { keys, source }); } catch (err) { console.error(err); } // one listener's bug stops no other
    }
  }

  /** The current state: a plain object of strings. */
  const get = () => read();

  /**
   * Merge `patch` into the URL (null, undefined or "" removes a key); a history entry when `push`. Subscribers
   * hear of it (`silent`: they do not). Returns whether the URL changed.
   */
  function set(patch, { push = false, silent = false } = {}) {
    const params = new URLSearchParams(win.location.search);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === undefined || v === "") params.delete(k);
      else params.set(k, String(v));
    }
    const query = params.toString();
    const url = `${win.location.pathname}${query ? `?${query}` : ""}`;
    if (url === `${win.location.pathname}${win.location.search}`) return false;
    if (push) win.history.pushState(null, "", url);
    else win.history.replaceState(null, "", url);
    if (silent) last = read();
    else emit("set");
    return true;
  }

  /** Go to another view (a history entry), carrying `patch`; the navigators show it. */
  function go(view, patch = {}) {
    set({ ...patch, view }, { push: true });
    const s = read();
    for (const fn of [...navigators]) fn(s);
  }

  /** `fn(state, {keys, source})` on every change of the state; returns the unsubscribe function. */
  function subscribe(fn) {
    subscribers.add(fn);
    return () => subscribers.delete(fn);
  }

  /** `fn(state)` on navigation (go(), back, forward); returns the unsubscribe function. */
  function onChange(fn) {
    navigators.add(fn);
    return () => navigators.delete(fn);
  }

  win.addEventListener("popstate", () => {
    emit("history");
    const s = read();
    for (const fn of [...navigators]) fn(s);
  });

  return { get, set, go, subscribe, onChange };
}
