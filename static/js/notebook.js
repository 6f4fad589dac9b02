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

/** "self", "causal" or "cross" (outputs saved before blocks carried a kind: from the name). */
const kindOf = (b) => b.kind || { cross: "cross", decoder: "causal" }[b.name] || "self";

/** What a block group is, for the caption: a decoder's attention is causal self-attention. */
export function kindLabel(b) {
  const kind = kindOf(b);
  if (kind === "cross") return "cross-attention (queries: decoder, keys: encoder)";
  if (kind === "causal") return `${b.name} (causal) self-attention`;
  return `${b.name} self-attention`;
}

/** The model's own 0-based index of layer `l` / head `h` of a block (bertviz's include_layers/include_heads). */
const layerId = (b, l) => (b.layerIds ? b.layerIds[l] : l);
const headId = (b, h) => (b.headIds ? b.headIds[h] : h);

/** A thumbnail grid's column titles and tooltips in the model's own head numbers, where only some heads are kept. */
function relabel(host, b, layerOf) {
  if (!b.headIds && !b.layerIds) return;
  const box = host.firstElementChild;
  for (let h = 0; h < b.H; h++) box.children[1 + h].textContent = `H${headId(b, h) + 1}`;
  host.querySelectorAll("canvas[data-head]").forEach((c) => {
    c.title = c.title.replace(/^layer \d+ · head \d+/,
      `layer ${layerId(b, layerOf(Number(c.dataset.layer))) + 1} · head ${headId(b, Number(c.dataset.head)) + 1}`);
  });
}

/**
 * A labelled select of `options` ([value, text] pairs) calling onChange(value). Each option's DOM value is its
 * text, as shown: a 0-based value behind a 1-based text ("1" meaning layer 2) let a select driven by value or
 * text (a script, a test, assistive technology) pick the neighbouring layer. `data-lm-suppress-shortcuts`: keys
 * pressed in the focused select reach it, not JupyterLab's and Notebook 7's command-mode shortcuts (ArrowDown
 * selected the cell below and left the layer as it was).
 */
function select(label, options, value, onChange) {
  const wrap = node("label", label + " ", { marginRight: "1rem" });
  const s = node("select", undefined, { font: "inherit" });
  s.dataset.lmSuppressShortcuts = "true";
  options.forEach(([, t]) => { const o = node("option", t); o.value = t; s.append(o); });
  s.selectedIndex = Math.max(0, options.findIndex(([v]) => String(v) === String(value)));
  s.addEventListener("change", () => onChange(options[s.selectedIndex][0]));
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
      kSpecial: b.ks, size, colour, divider: kindOf(b) === "cross" ? null : data.divider });
  };
  const strip = (px) => {
    const b = B();
    const g = grid(main, { L: 1, H: b.H, rows: b.Tq, cols: b.Tk, px, colour, cursor: [0, st.head],
      rowLabel: () => `L${layerId(b, st.layer) + 1}`,
      layer: () => ({ flat: b.flat, offset: (h) => offset(st.layer, h) }),
      onPick: (_, h) => { st.head = h; controls(); draw(); } });
    relabel(main, b, () => st.layer);
    return g;
  };

  function controls() {
    const b = B();
    const parts = [];
    if (data.blocks.length > 1) {
      parts.push(select("Attention", data.blocks.map((x) => [x.name, kindLabel(x)]), st.block, (v) => {
        st.block = v; st.layer = Math.min(st.layer, B().L - 1); st.head = Math.min(st.head, B().H - 1); controls(); draw();
      }).wrap);
    }
    if (data.view !== "model" && data.view !== "steps") {
      parts.push(select("Layer", Array.from({ length: b.L }, (_, l) => [l, `${layerId(b, l) + 1}`]), st.layer,
        (v) => { st.layer = Number(v); draw(); }).wrap);
    }
    if (data.view === "attention" || data.view === "steps") {
      parts.push(select("Head", Array.from({ length: b.H }, (_, h) => [h, `${headId(b, h) + 1}`]), st.head,
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
        rowLabel: (l) => `L${layerId(b, l) + 1}`, layer: (l) => ({ flat: b.flat, offset: (h) => offset(l, h) }),
        onPick: (l, h) => { st.layer = l; st.head = h; g.cursor(l, h); big(detail, l, h); note(); } });
      relabel(main, b, (l) => l);
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
    caption.textContent = `${kindLabel(b)} · layer ${layerId(b, st.layer) + 1} · head ${headId(b, st.head) + 1} · `
      + `${b.Tq} × ${b.Tk} tokens. `
      + "Rows are queries, columns keys; colour is √weight (viridis); hover a cell for its weight"
      + (data.view === "steps" ? "." : "; click a thumbnail to open that head.")
      + " Weights are stored to 1/255.";
  }

  controls();
  await draw();
}
