// One load() for every view: a request's answer from the cache or the server, the previous request aborted, the
// status line while it runs, the server's error where the view shows errors, and the figures marked stale from
// the moment their input changed until a new answer replaces them (an error leaves them marked, never silently
// showing the previous sentence's numbers). No DOM lookups here: the view passes its own hooks.

/** Whether `err` is an aborted fetch (a newer request replaced it), which is no error to show. */
export const aborted = (err) => Boolean(err) && (err.name === "AbortError" || err.name === "CanceledError");

/**
 * A loader over `run(request, signal) -> Promise<answer>`.
 * Options: `size`, answers kept (least recently used first out); `status(text, busy)` and `error(text)`, where the
 * view shows them; `stale(on, why)`, which marks (or clears) the view's figures; `busy`, the status while running.
 * `load(request)` resolves to {data, cached} or to null when a newer load replaced it; on an error it resolves to
 * {error} after showing it (the figures stay marked stale).
 */
export function createLoader(run, { size = 8, status = () => {}, error = () => {}, stale = () => {}, busy = "Running the model…" } = {}) {
  const cache = new Map();
  let inflight = null; // {key, controller, promise}
  let seq = 0;

  const remember = (key, data) => {
    cache.delete(key);
    cache.set(key, data);
    while (cache.size > size) cache.delete(cache.keys().next().value);
  };

  async function load(request, { label = busy, key = JSON.stringify(request) } = {}) {
    if (inflight && inflight.key === key && !cache.has(key)) return inflight.promise; // on its way already
    const mine = ++seq;
    error("");
    if (cache.has(key)) {
      if (inflight) { inflight.controller.abort(); inflight = null; }
      const data = cache.get(key);
      remember(key, data); // the most recently used now
      stale(false);
      status("");
      return { data, cached: true };
    }
    if (inflight) inflight.controller.abort();
    const controller = new AbortController();
    stale(true, "loading");
    status(label, true);
    const promise = (async () => {
      try {
        const data = await run(request, controller.signal);
        if (mine !== seq) return null;
        remember(key, data);
        stale(false);
        status("");
        return { data, cached: false };
      } catch (err) {
        if (aborted(err) || mine !== seq) return null;
        const text = (err && (err.detail || err.message)) || String(err);
        status("");
        error(text);
        stale(true, "error");
        return { error: text, status: err && err.status };
      } finally {
        if (inflight && inflight.promise === promise) inflight = null;
      }
    })();
    inflight = { key, controller, promise };
    return promise;
  }

  /** Forget every answer (a model reloaded) or the one for `request`. */
  function forget(request) {
    if (request === undefined) cache.clear();
    else cache.delete(JSON.stringify(request));
  }

  /** Abort the request in flight, if any (the view was left, or its input is gone): its status line clears. */
  function cancel() {
    seq++;
    if (inflight) { inflight.controller.abort(); inflight = null; status(""); }
  }

  return { load, forget, cancel, get size() { return cache.size; } };
}

/**
 * The `stale` hook for figures in the DOM: each element gets data-stale="loading" or "error" (styled in
 * style.css: dimmed, and for an error a label saying the figure is out of date) until it is fresh again.
 */
export function markStale(...elements) {
  return (on, why = "loading") => {
    for (const el of elements.flat()) {
      if (!el) continue;
      if (on && el.childElementCount) el.dataset.stale = why; // an empty figure has nothing to mark
      else delete el.dataset.stale;
    }
  };
}
