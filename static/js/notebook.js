// The notebook host (the `attnscope` Python module): the data embedded beside the output cell in, figures out,
// through the page's renderer (heatmap.js). A thin host: no server, no fetch, no network. `attnscope` inlines this
// file after heatmap.js in one classic <script> (no require.js, no module loader), so it may only use what
// heatmap.js declares and must not import anything.

/** The bytes of an embedded array: base64, zlib-deflated when `deflate` is set. */
export async function bytesOf(a) {
  const bin = atob(a.b64);
  let bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  if (a.deflate) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return bytes;
}

/** An embedded array as a Float32Array: "u8" holds round(255 w) (exact to 1/510), "f32" little-endian floats. */
export async function decodeArray(a) {
  const b = await bytesOf(a);
  if (a.dtype === "u8") {
    const out = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = b[i] / 255;
    return out;
  }
  if (a.dtype === "f32") return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  throw new Error(`unknown dtype ${a.dtype}`);
}

function node(tag, text, style = {}) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  Object.assign(e.style, style);
  return e;
}

function select(label, options, value, onChange) {
  const wrap = node("label", label + " ", { marginRight: "1rem" });
  const s = node("select", undefined, { font: "inherit" });
  options.forEach(([v, t]) => { const o = node("option", t); o.value = String(v); s.append(o); });
  s.value = String(value);
  s.addEventListener("change", () => onChange(s.value));
  wrap.append(s);
  return { wrap, s };
}

/**
 * Draw `data` (built by attnscope: {view, title, blocks: [{name, L, H, Tq, Tk, q, k, qs, ks, weights}], block,
 * layer, head, divider, steps}) into `root`. `root.dataset.drawn` counts the heads drawn; `root.dataset.ready`
 * is set once the first figure is on screen.
 */
export async function mountNotebook(root, data) {
  const colour = getComputedStyle(root).color || "#1d2330";
  const blocks = {};
  for (const b of data.blocks) blocks[b.name] = { ...b, flat: await decodeArray(b.weights) };
  const st = { block: data.block in blocks ? data.block : data.blocks[0].name, layer: data.layer, head: data.head };
  const bar = node("div", undefined, { margin: "0 0 .6rem" });
  const main = node("div"), detail = node("div", undefined, { marginTop: ".8rem" });
  const caption = node("p", "", { margin: ".4rem 0", opacity: ".8", fontSize: "12px" });
  root.replaceChildren(node("div", data.title, { fontWeight: "600", marginBottom: ".4rem" }), bar, main, detail, caption);
  const steps = data.steps ? { ...data.steps, flat: await decodeArray(data.steps.scaled) } : null;

  const B = () => blocks[st.block];
  const offset = (l, h) => (l * B().H + h) * B().Tq * B().Tk;
  const big = (host, l, h, size = 560) => {
    const b = B();
    heatmap(host, { flat: b.flat, offset: offset(l, h), rows: b.Tq, cols: b.Tk, q: b.q, k: b.k, qSpecial: b.qs,
      kSpecial: b.ks, size, colour, divider: st.block === "encoder" ? data.divider : null });
  };
  const strip = (px) => {
    const b = B();
    return grid(main, { L: 1, H: b.H, rows: b.Tq, cols: b.Tk, px, colour, cursor: [0, st.head],
      rowLabel: () => `L${st.layer + 1}`, layer: () => ({ flat: b.flat, offset: (h) => offset(st.layer, h) }),
      onPick: (_, h) => { st.head = h; controls(); draw(); } });
  };

  function controls() {
    const b = B();
    const parts = [];
    if (data.blocks.length > 1) {
      parts.push(select("Attention", data.blocks.map((x) => [x.name, x.name]), st.block, (v) => {
        st.block = v; st.layer = Math.min(st.layer, B().L - 1); st.head = Math.min(st.head, B().H - 1); controls(); draw();
      }).wrap);
    }
    if (data.view !== "model" && data.view !== "steps") {
      parts.push(select("Layer", Array.from({ length: b.L }, (_, l) => [l, `${l + 1}`]), st.layer,
        (v) => { st.layer = Number(v); draw(); }).wrap);
    }
    if (data.view === "attention" || data.view === "steps") {
      parts.push(select("Head", Array.from({ length: b.H }, (_, h) => [h, `${h + 1}`]), st.head,
        (v) => { st.head = Number(v); draw(); }).wrap);
    }
    bar.replaceChildren(...parts);
  }

  async function draw() {
    const b = B();
    root.dataset.drawn = "0";
    if (data.view === "model") {
      const px = Math.max(24, Math.min(72, Math.floor(760 / b.H)));
      const g = grid(main, { L: b.L, H: b.H, rows: b.Tq, cols: b.Tk, px, colour, cursor: [st.layer, st.head],
        layer: (l) => ({ flat: b.flat, offset: (h) => offset(l, h) }),
        onPick: (l, h) => { st.layer = l; st.head = h; g.cursor(l, h); big(detail, l, h); note(); } });
      await g.done;
      root.dataset.drawn = main.dataset.drawn;
      big(detail, st.layer, st.head);
    } else if (data.view === "heads") {
      await strip(Math.max(48, Math.min(120, Math.floor(900 / b.H)))).done;
      root.dataset.drawn = main.dataset.drawn;
      big(detail, st.layer, st.head);
    } else if (data.view === "steps" && steps) {
      main.replaceChildren();
      const row = node("div", undefined, { display: "flex", flexWrap: "wrap", gap: "1.5rem", alignItems: "flex-start" });
      const left = node("div"), right = node("div");
      const n = b.Tq * b.Tk, sOff = st.head * n;
      let lo = Infinity, hi = -Infinity;
      for (let i = sOff; i < sOff + n; i++) { const v = steps.flat[i]; if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
      const shifted = new Float32Array(n); // shown as (s - min) / (max - min); the hover gives the score itself
      for (let i = 0; i < n; i++) { const v = steps.flat[sOff + i]; shifted[i] = Number.isFinite(v) ? (v - lo) / ((hi - lo) || 1) : 0; }
      left.append(node("div", `① scores q·kᵀ / √${steps.d_head} (masked keys dark)`, { fontWeight: "600" }));
      right.append(node("div", "② softmax over each row = the weights", { fontWeight: "600" }));
      const lh = node("div"), rh = node("div");
      left.append(lh); right.append(rh);
      row.append(left, right);
      main.append(row);
      const hm = heatmap(lh, { flat: shifted, rows: b.Tq, cols: b.Tk, q: b.q, k: b.k, qSpecial: b.qs, kSpecial: b.ks,
        size: 420, colour, label: "scaled score" });
      hm.canvas.addEventListener("mousemove", () => { // the tooltip shows the score, not its display value
        const m = /query (\d+), key (\d+)/.exec(hm.tip.textContent);
        if (m) hm.tip.textContent = hm.tip.textContent.replace(/scaled score \S+/,
          `scaled score ${steps.flat[sOff + Number(m[1]) * b.Tk + Number(m[2])].toFixed(3)}`);
      });
      big(rh, st.layer, st.head, 420);
      root.dataset.drawn = "1";
    } else {
      await strip(Math.max(28, Math.min(56, Math.floor(760 / b.H)))).done;
      big(detail, st.layer, st.head);
      root.dataset.drawn = main.dataset.drawn;
    }
    note();
    root.dataset.ready = "1";
  }

  function note() {
    const b = B();
    caption.textContent = `${st.block} · layer ${st.layer + 1} · head ${st.head + 1} · ${b.Tq} × ${b.Tk} tokens. `
      + "Rows are queries, columns keys; colour is √weight (viridis); hover a cell for its weight"
      + (data.view === "steps" ? "." : "; click a thumbnail to open that head.")
      + " Weights are stored to 1/255.";
  }

  controls();
  await draw();
}
