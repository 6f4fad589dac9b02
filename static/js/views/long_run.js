// The long view's run: POST /api/long/stream through the kernel's loader, one run at a time (a new run, Cancel or an
// answer's trace aborts the one in flight, and closing the stream stops the server's pass), a progress line per
// layer on #lc-progress, Run and Cancel enabled to match.
import { ApiError, readLines } from "../api.js";
import { $ } from "../analysis.js";
import { createLoader } from "../kernel/load.js";
import { detailText } from "./long_tiles.js";

/** POST `body` as JSON; the response when it is ok, else an ApiError with the server's detail (after `prefix`). */
export async function post(path, body, signal, prefix = "") {
  let res;
  try {
    res = await fetch(path, { method: "POST", signal, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
  }
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    throw new ApiError(prefix + detailText(data?.detail, res.status), res.status);
  }
  return res;
}

/** The stream of one run: progress lines, then the trace's header (or the server's error). */
async function stream(request, signal, onProgress) {
  const res = await post("/api/long/stream", request, signal);
  let header = null, failure = null;
  await readLines(res.body, (obj) => {
    if (obj.progress) onProgress(obj.progress.layer, obj.progress.layers);
    else if (obj.trace) header = obj.trace;
    else if (obj.error) failure = obj.error;
  });
  if (header) return header;
  throw new ApiError(failure || "The server closed the stream before the end.", 500);
}

/** Show layer `layer` of `layers` done; state "running", "done", "failed" or "cancelled" (#lc-progress[data-state]). */
export function progress(layer, layers, state) {
  const p = $("lc-progress");
  p.max = layers;
  p.value = layer;
  p.dataset.state = state;
  $("lc-progress-text").textContent = layers > 1 || layer ? `layer ${layer} of ${layers}` : "";
}

function busy(on) {
  $("lc-run").disabled = on;
  $("lc-cancel").disabled = !on;
  $("lc-cancel").classList.toggle("primary", on);
}

/** Runs of the long text. onTrace(header) when one finishes; onStale(reason) when one fails or is cancelled. */
export class LongRun {
  constructor({ msg, onTrace, onStale }) {
    Object.assign(this, { msg, onTrace, onStale, running: false, runs: 0 });
    // nothing kept: a trace lives in the server's memory, so running a text again must run it again
    this.loader = createLoader((request, signal) => stream(request, signal, (l, L) => progress(l, L, "running")),
      { size: 0, status: msg.status, error: msg.error });
  }

  /** Run {model, text, passages}; a run in flight is aborted first. */
  async run(request) {
    this.running = true;
    progress(0, 1, "running");
    busy(true);
    const res = await this.loader.load(request, { key: String(++this.runs), // each run its own: the last one aborts
      label: `Running ${request.model} over ${request.text.length.toLocaleString("en-US")} characters…` });
    if (res === null) return; // replaced by a newer run, cancelled, or stopped for an answer's trace
    this.running = false;
    busy(false);
    if (res.data) { this.onTrace(res.data); return; }
    $("lc-progress").dataset.state = "failed";
    this.onStale("the new run failed (see the message above)");
  }

  /** Abort the run in flight, if any, saying nothing (an answer's trace replaces it). */
  stop() {
    if (!this.running) return false;
    this.loader.cancel();
    this.running = false;
    busy(false);
    return true;
  }

  /** The Cancel button: abort the run and say where the server stopped. */
  cancel() {
    if (!this.stop()) return;
    const p = $("lc-progress");
    p.dataset.state = "cancelled";
    this.msg.status(`Cancelled at layer ${p.value} of ${p.max}: the server stopped the pass.`);
    this.onStale("the new run was cancelled");
  }
}
