// The generate view's stream client: POST /api/generate/stream, its NDJSON read line by line (api.js readLines),
// each step's attention decoded, and Stop. Not a cached load, but it speaks the kernel's hooks (kernel/load.js):
// status while it runs, the server's error where the view shows errors, and the figures it replaces marked stale.
import { ApiError, decodeF16, readLines } from "../api.js";
import { aborted } from "../kernel/load.js";

const NO_ANSWER = "The AttnScope server did not answer. Is it still running?";

/** A streamed line with its arrays decoded: a step's `att` (and `cross`) as Float32Array, the base64 dropped. */
export function decodeLine(obj) {
  if (obj.event !== "step") return obj;
  const step = { ...obj, att: decodeF16(obj.attention) };
  if (obj.cross_attention) step.cross = decodeF16(obj.cross_attention);
  delete step.attention;
  delete step.cross_attention;
  return step;
}

/** The stream's body, or an ApiError carrying the server's detail (errors before the stream are JSON). */
async function open(body, signal) {
  let res;
  try {
    res = await fetch("/api/generate/stream", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
    });
  } catch (err) {
    if (aborted(err)) throw err;
    throw new ApiError(NO_ANSWER, 0);
  }
  if (!res.ok) {
    let detail = `request failed (HTTP ${res.status})`;
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(detail, res.status);
  }
  return res.body;
}

/**
 * A stream client with the loader's hooks: `status(text, busy)`, `error(text)`, `stale(on, why)` and `busy`,
 * the status while it runs. `start(body, onLine)` streams a generation, calling `onLine` with every decoded
 * line ({event: "start" | "step" | "done" | "error", ...}); it resolves to {done} (the "done" line), {stopped}
 * (Stop), {error} (shown already) or null when a newer start replaced it. Only one stream runs at a time.
 */
export function createStream({ status = () => {}, error = () => {}, stale = () => {}, busy = "Generating…" } = {}) {
  let inflight = null; // the AbortController of the running stream
  let seq = 0;

  async function start(body, onLine) {
    const mine = ++seq;
    if (inflight) inflight.abort(); // the older stream resolves null: mine is newer
    const controller = inflight = new AbortController();
    error("");
    stale(true, "loading");
    status(busy, true);
    let done = null, failed = null;
    try {
      await readLines(await open(body, controller.signal), (raw) => {
        if (mine !== seq) return;
        const obj = decodeLine(raw);
        if (obj.event === "done") done = obj;
        else if (obj.event === "error") { failed = obj.detail; error(obj.detail); } // shown as it arrives
        onLine(obj);
      });
      if (mine !== seq) return null;
      if (failed) throw new ApiError(failed, 0);
      if (!done) throw new ApiError("The server closed the stream before the end.", 0);
      stale(false);
      status("");
      return { done };
    } catch (err) {
      if (mine !== seq) return null;
      if (aborted(err)) return { stopped: true }; // Stop: what arrived so far stays, fresh
      const text = failed || err.detail || NO_ANSWER;
      status("");
      error(text);
      stale(true, "error");
      return { error: text };
    } finally {
      if (inflight === controller) inflight = null;
    }
  }

  /** Stop the running stream (the server notices the closed connection and stops generating). */
  function stop() {
    if (inflight) inflight.abort();
  }

  /** Abort the running stream as if a newer one had replaced it: its start() resolves null. */
  function cancel() {
    seq++;
    if (inflight) { inflight.abort(); inflight = null; }
  }

  return { start, stop, cancel, get running() { return inflight !== null; } };
}
