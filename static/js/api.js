// Fetching JSON from the API, and decoding its compact arrays.

export class ApiError extends Error {
  constructor(detail, status) {
    super(detail);
    this.detail = detail;
    this.status = status;
  }
}

/** POST (or GET when body is undefined) JSON; throws ApiError carrying the server's `detail`. */
export async function api(path, body, { signal } = {}) {
  const init = body === undefined
    ? { method: "GET", signal }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
  }
  let data = null;
  try {
    data = await res.json();
  } catch (err) {
    // aborted while the body was read (a newer request replaced this one): never return null as an answer
    if (err.name === "AbortError" || (signal && signal.aborted)) throw err.name === "AbortError" ? err : new DOMException("aborted", "AbortError");
    data = null;
  }
  if (!res.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `request failed (HTTP ${res.status})`;
    throw new ApiError(detail, res.status);
  }
  return data;
}

/**
 * POST JSON to /api/attention asking for its binary answer (format "f16" or "u8" with
 * `Accept: application/octet-stream`): uint32 LE n | n bytes of JSON header | the array's bytes.
 * Returns the header with `values`, a Float32Array of the weights. Errors still come back as JSON.
 */
export async function apiBinary(path, body, { signal } = {}) {
  let res;
  try {
    res = await fetch(path, { method: "POST", signal, body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/octet-stream" } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The AttnScope server did not answer. Is it still running?", 0);
  }
  if (!res.ok || !(res.headers.get("content-type") || "").startsWith("application/octet-stream")) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.ok && data) return data; // a server that answered JSON after all
    const detail = data && typeof data.detail === "string" ? data.detail : `request failed (HTTP ${res.status})`;
    throw new ApiError(detail, res.status);
  }
  return decodeBinary(await res.arrayBuffer());
}

/** A binary attention answer (see apiBinary) -> its header with `values` (Float32Array). */
export function decodeBinary(buf) {
  const n = new DataView(buf).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const count = header.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  if (header.format === "f32") {
    values.set(new Float32Array(buf, 4 + n, count)); // little-endian, as every browser's platform is
  } else if (header.format === "u8") {
    const bytes = new Uint8Array(buf, 4 + n, count);
    for (let i = 0; i < count; i++) values[i] = U8_TABLE[bytes[i]];
  } else {
    const halves = new Uint16Array(buf, 4 + n, count); // little-endian, as every browser's platform is
    for (let i = 0; i < count; i++) values[i] = HALF_TABLE[halves[i]];
  }
  header.values = values;
  return header;
}

function halfToFloat(h) {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

const HALF_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = halfToFloat(i);
  return t;
})();

/** Base64 little-endian float16 -> Float32Array. */
export function decodeF16(b64) {
  const bin = atob(b64);
  const n = bin.length >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = HALF_TABLE[bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8)];
  }
  return out;
}

const U8_TABLE = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/** Base64 bytes of round(weight * 255) (the attention API's "u8" format) -> Float32Array in [0, 1]. */
export function decodeU8(b64) {
  const bin = atob(b64);
  const n = bin.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = U8_TABLE[bin.charCodeAt(i)];
  return out;
}

/** The weights of an attention answer in whichever compact format it came ("u8", "f16" or "f32"). */
export function decodeWeights(res) {
  if (res.values) return res.values; // a binary answer, decoded already
  if (res.format === "f32") {
    const bin = atob(res.weights);
    return new Float32Array(Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer);
  }
  return res.format === "u8" ? decodeU8(res.weights) : decodeF16(res.weights);
}

/** Rows of a row-major flat array: matrix(flat, offset, rows, cols) -> number[][] */
export function matrix(flat, offset, rows, cols) {
  const m = new Array(rows);
  for (let r = 0; r < rows; r++) m[r] = Array.from(flat.subarray(offset + r * cols, offset + (r + 1) * cols));
  return m;
}

/** Read an NDJSON body line by line, calling `fn` with each parsed object. */
export async function readLines(stream, fn) {
  const reader = stream.getReader(), decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) fn(JSON.parse(line));
    }
  }
  if (buf.trim()) fn(JSON.parse(buf));
}
