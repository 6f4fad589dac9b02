// The long view's tiles: GET /api/long/{id}/tile in binary u8 (the wire format of /api/attention in api.js: uint32 LE
// n | JSON header | bytes of round(255 · w / scale)), six at a time through the kernel's loaders (urgent ones first,
// dropped when no longer wanted), the latest kept in a small LRU; and the layer × head thumbnails they paint.
// Every text (tokens are user text) is set as textContent, never as HTML.
import { ApiError, decodeBinary } from "../api.js";
import { createLoader } from "../kernel/load.js";
import { paintTile, ranges, shrink } from "../longzoom.js";

export { fmt, paintTile, ranges, raw } from "../longzoom.js"; // long.js and long_answer.js read fmt from here

const LANES = 6; // tiles in flight at once
const KEEP = 160; // tiles kept

/** A 4xx detail as one readable line (FastAPI's validation errors are lists). */
export function detailText(d, status) {
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return `request failed (HTTP ${status})`;
}

/** One tile in binary: its header with `bytes` (u8) or `values` (f16 decoded); errors carry the server's detail. */
async function fetchTile(url, signal) {
  let res;
  try {
    res = await fetch(url, { headers: { Accept: "application/octet-stream" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
  }
  if (!res.ok || !(res.headers.get("content-type") || "").startsWith("application/octet-stream")) {
    const data = await res.json().catch(() => null);
    throw new ApiError(data && typeof data.detail === "string" ? data.detail : `tile request failed (HTTP ${res.status})`,
      res.ok ? 500 : res.status);
  }
  const buf = await res.arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  if (head.format === "u8") head.bytes = new Uint8Array(buf.slice(4 + n, 4 + n + head.shape[0] * head.shape[1]));
  else head.values = decodeBinary(buf).values;
  return head;
}

const dropped = (why) => new DOMException(why, "AbortError");

/**
 * The tiles of one trace. Each of the LANES requests in flight runs through its own kernel loader (close() cancels
 * them all); the queue orders them and the LRU is shared by the lanes, which createLoader's single request cannot be.
 */
export class Loader {
  constructor(trace, { onGone, onError } = {}) {
    this.trace = trace;
    this.base = `/api/long/${encodeURIComponent(trace.trace_id)}/tile`;
    Object.assign(this, { onGone, onError, cache: new Map(), jobs: new Map(), queue: [], failed: new Set() });
    this.free = Array.from({ length: LANES }, () => createLoader(fetchTile, { size: 0 }));
    this.lanes = [...this.free];
  }

  cell(z) { return 2 ** (this.trace.zoom_levels - 1 - z); }

  key(p) { return `${p.layer}|${p.head}|${p.z}|${p.x}|${p.y}|${p.reduce}`; }

  get(p) {
    const k = this.key(p), t = this.cache.get(k);
    if (t) { this.cache.delete(k); this.cache.set(k, t); }
    return t || null;
  }

  /** A promise of tile p; `still()` false when its turn comes drops it; keep: false does not cache it. */
  want(p, { urgent = false, still = null, keep = true } = {}) {
    const k = this.key(p), hit = this.get(p);
    if (hit) return Promise.resolve(hit);
    if (this.failed.has(k) || this.closed) return Promise.reject(dropped("not loaded"));
    let job = this.jobs.get(k);
    if (job) {
      job.keep ||= keep;
      job.still = still && job.still ? () => still() || job.still() : null;
      if (urgent && !job.started) { this.queue.splice(this.queue.indexOf(job), 1); this.queue.unshift(job); }
    } else {
      job = { k, p, keep, still };
      job.promise = new Promise((res, rej) => { job.res = res; job.rej = rej; });
      job.promise.catch(() => {});
      this.jobs.set(k, job);
      if (urgent) this.queue.unshift(job); else this.queue.push(job);
      this.pump();
    }
    return job.promise;
  }

  pump() {
    while (this.free.length && this.queue.length && !this.closed) {
      const job = this.queue.shift();
      if (job.still && !job.still()) { this.jobs.delete(job.k); job.rej(dropped("dropped")); continue; }
      job.started = true;
      this.run(job, this.free.pop());
    }
  }

  async run(job, lane) {
    const { layer, head, z, x, y, reduce } = job.p;
    const url = `${this.base}?layer=${layer}&head=${head}&z=${z}&x=${x}&y=${y}&reduce=${reduce}&format=u8`;
    const res = await lane.load(url, { key: job.k });
    this.jobs.delete(job.k);
    this.free.push(lane);
    if (res && res.data) {
      const t = res.data;
      t.norm = reduce === "sum" ? 1 / this.cell(z) : 1;
      if (job.keep) {
        this.cache.set(job.k, t);
        while (this.cache.size > KEEP) this.cache.delete(this.cache.keys().next().value);
      }
      job.res(t);
    } else {
      if (res && !this.closed) { // null: cancelled by close()
        this.failed.add(job.k);
        if (res.status === 404) this.onGone?.(res.error); else this.onError?.(res.error);
      }
      job.rej(dropped(res ? res.error : "closed"));
    }
    this.pump();
  }

  close() { this.closed = true; this.queue = []; for (const lane of this.lanes) lane.cancel(); }
}

/** Every layer × head (and the mean over heads) as a canvas thumbnail; onPick(layer, head | "mean"). */
export function thumbGrid(host, { L, H, px, onPick }) {
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; };
  const box = el("div", "lc-thumbs-grid");
  box.style.gridTemplateColumns = `auto repeat(${H + 1}, ${px}px)`;
  box.append(el("span"));
  for (let h = 0; h <= H; h++) box.append(el("span", "lc-thumb-col", h === H ? "mean" : `H${h + 1}`));
  const canvases = [];
  for (let l = 0; l < L; l++) {
    box.append(el("span", "lc-thumb-row", `L${l + 1}`));
    canvases.push([]);
    for (let h = 0; h <= H; h++) {
      const c = el("canvas", "lc-thumb");
      c.width = 1; c.height = 1;
      c.style.width = c.style.height = `${px}px`;
      const head = h === H ? "mean" : h;
      c.title = `layer ${l + 1} · ${h === H ? "mean of the heads" : `head ${h + 1}`} (click to open)`;
      c.addEventListener("click", () => onPick(l, head));
      box.append(c);
      canvases[l].push(c);
    }
  }
  host.replaceChildren(box);
  host.dataset.drawn = "0";
  let drawn = 0;
  return {
    cursor(l, h) { canvases.forEach((row, i) => row.forEach((c, j) => c.classList.toggle("lc-current", i === l && j === h))); },
    paint(l, h, t) { paintTile(canvases[l][h], shrink(t, px * (globalThis.devicePixelRatio || 1)), ranges(t).main); host.dataset.drawn = String(++drawn); },
  };
}
