// The notebook's long-context view (attnscope.show(..., view="long")): a deep-zoom canvas heatmap of tiles that
// attnscope precomputed and embedded (no server, no fetch, no network). The ideas are the page's (views/long_tiles.js:
// u8 tiles with a scale, the square-root viridis scale, the first-token sink strip on its own scale, a decoder's causal
// mask in grey, minimap, layer x head thumbnails), and so is the code they share (longzoom.js). This file lays the
// figure out: controls, the heatmap (notebook_long_zoom.js), thumbnails, the passages matrix and the distance profile.
// `attnscope` inlines heatmap.js, longzoom.js, notebook_long_zoom.js and this file in one classic script element
// (attnscope._html.js_bundle: `export` keywords and the imports of those three stripped): it imports nothing else,
// and its top-level names must not clash with theirs.
// Every text (tokens and passage titles are user text) is drawn with fillText or set as textContent, never as HTML.

import { LUT, level } from "./heatmap.js";
import { ORANGE, clampInt, legend, paintTile, ranges, shrink } from "./longzoom.js";
import { LongZoom, longDecode, longNode } from "./notebook_long_zoom.js";

const LONG_BLUE = "#2563eb";

/** A small canvas chart host: a canvas sized in CSS pixels for the device's pixel ratio, and its 2D context. */
function longCanvas(w, h) {
  const dpr = globalThis.devicePixelRatio || 1, c = longNode("canvas", null, { width: `${w}px`, height: `${h}px`, display: "block" });
  c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { c, ctx };
}

/** The passage x passage matrix (rows: query passages; each row sums to 1) with a hover naming both passages. */
function longPassages(host, data, mass, colour, tip) {
  const P = data.passages.length, cellPx = clampInt(Math.floor(340 / Math.max(1, P)), 4, 44);
  const every = Math.max(1, Math.ceil(14 / cellPx)), left = 40, top = 26, side = P * cellPx;
  const { c, ctx } = longCanvas(left + side + 70, top + side + 34);
  let vmax = 0;
  for (const v of mass) vmax = Math.max(vmax, v);
  vmax ||= 1;
  for (let i = 0; i < P; i++) {
    for (let j = 0; j < P; j++) {
      const v = mass[i * P + j], k = level(v, vmax) * 3;
      ctx.fillStyle = `rgb(${LUT[k]},${LUT[k + 1]},${LUT[k + 2]})`;
      ctx.fillRect(left + j * cellPx, top + i * cellPx, cellPx, cellPx);
      if (P <= 12 && cellPx >= 26) {
        ctx.fillStyle = k / 3 > 150 ? "#111" : "#fff"; ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.fillText(v.toFixed(2), left + (j + 0.5) * cellPx, top + (i + 0.5) * cellPx);
      }
    }
  }
  ctx.fillStyle = colour; ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let i = 0; i < P; i += every) ctx.fillText(`P${i + 1}`, left - 4, top + (i + 0.5) * cellPx);
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  for (let j = 0; j < P; j += every) ctx.fillText(`P${j + 1}`, left + (j + 0.5) * cellPx, top - 3);
  ctx.textBaseline = "top";
  ctx.fillText("key passage (read) →", left + side / 2, top + side + 6);
  legend(ctx, left + side + 14, top + 18, Math.max(40, side - 18), vmax, "mass", 11, colour);
  c.addEventListener("mousemove", (e) => {
    const b = c.getBoundingClientRect(), j = Math.floor((e.clientX - b.left - left) / cellPx), i = Math.floor((e.clientY - b.top - top) / cellPx);
    if (i < 0 || j < 0 || i >= P || j >= P) { tip.hidden = true; return; }
    const a = data.passages[i], r = data.passages[j];
    tip.textContent = `P${i + 1} “${a.title}”\nreads P${j + 1} “${r.title}”\nmass ${mass[i * P + j].toFixed(3)}`;
    tip.hidden = false;
    tip.style.left = `${e.clientX - b.left + 12}px`; tip.style.top = `${e.clientY - b.top + 12}px`;
  });
  c.addEventListener("mouseleave", () => { tip.hidden = true; });
  host.append(c);
}

/** The distance profile: mean weight per |query - key| bin (bins double in width), bars on a log axis. */
function longDistance(host, data, colour) {
  const { bins, mean } = data.distance, n = bins.length, bw = clampInt(Math.floor(420 / Math.max(1, n)), 10, 40);
  const left = 56, top = 12, h = 200, w = n * bw, bottom = 58;
  const { c, ctx } = longCanvas(left + w + 12, top + h + bottom);
  const pos = mean.filter((v) => v > 0);
  const lo = pos.length ? Math.floor(Math.log10(Math.min(...pos))) : -3, hi = pos.length ? Math.ceil(Math.log10(Math.max(...pos))) : 0;
  const span = Math.max(1, hi - lo), Yv = (v) => top + h - ((Math.log10(v) - lo) / span) * h;
  ctx.strokeStyle = "rgba(128,128,128,.35)"; ctx.fillStyle = colour; ctx.font = "11px sans-serif";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let e = lo; e <= hi; e++) {
    const y = Yv(10 ** e);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.fillText(e >= -3 && e <= 3 ? String(+(10 ** e).toPrecision(1)) : `1e${e}`, left - 5, y);
  }
  ctx.fillStyle = "#3b4cca";
  mean.forEach((v, i) => { if (v > 0) { const y = Yv(v); ctx.fillRect(left + i * bw + 1, y, bw - 2, top + h - y); } });
  ctx.fillStyle = colour;
  const every = Math.max(1, Math.ceil(26 / bw));
  for (let i = 0; i < n; i += every) {
    const [a, b] = bins[i];
    ctx.save(); ctx.translate(left + (i + 0.5) * bw, top + h + 4); ctx.rotate(-Math.PI / 4);
    ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillText(b - a === 1 ? `${a}` : `${a}–${b - 1}`, 0, 0); ctx.restore();
  }
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  ctx.fillText("distance in tokens (bins double in width)", left + w / 2, top + h + bottom - 2);
  ctx.save(); ctx.translate(12, top + h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
  ctx.fillText("mean weight (log)", 0, 0); ctx.restore();
  host.append(c);
}

/**
 * Draw `data` (built by attnscope._long_html.LongView) into `root`. `root.dataset.drawn` is "1" once the heatmap is on
 * screen; the heatmap canvas carries data-z (the drawn level), data-cell and data-wanted (the level the zoom asks for).
 */
export async function mountLong(root, data) {
  const dec = await longDecode(data), { L, H, T } = data, colour = getComputedStyle(root).color || "#1d2330";
  const zs = (r) => (data.levels[r] || []).map((lv) => lv.z);
  const headName = (h) => (h === H ? "mean of the heads" : `head ${h + 1}`);
  const st = { l: data.layer, h: data.headIndex, reduce: "max" };
  const tipStyle = { position: "absolute", pointerEvents: "none", background: "rgba(20,24,32,.92)", color: "#fff",
    font: "12px sans-serif", padding: "4px 7px", borderRadius: "5px", whiteSpace: "pre", zIndex: 10 };
  const muted = { opacity: ".75", fontSize: "12px", margin: ".2rem 0" };

  const title = longNode("div", data.title, { fontWeight: "600", marginBottom: ".4rem" });
  const facts = longNode("div", `${T.toLocaleString("en-US")} tokens · ${L} layers × ${H} heads · ${data.passages.length} passage`
    + `${data.passages.length === 1 ? "" : "s"} · ${data.kind || "model"}${data.causal.some(Boolean) ? " (causal mask in grey)" : ""}`, muted);
  const bar = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: ".4rem 1rem", alignItems: "center", margin: ".4rem 0" });
  const sel = (label, options, onChange) => {
    const wrap = longNode("label", label + " "), s = longNode("select", undefined, { font: "inherit" });
    options.forEach(([v, t]) => { const o = longNode("option", t); o.value = String(v); s.append(o); });
    s.addEventListener("change", () => onChange(Number(s.value)));
    wrap.append(s);
    return { wrap, s };
  };
  const layerSel = sel("Layer", Array.from({ length: L }, (_, l) => [l, `${l + 1}`]), (v) => select(v, st.h));
  const headSel = sel("Head", [...Array.from({ length: H }, (_, h) => [h, `${h + 1}`]), [H, "mean"]], (v) => select(st.l, v));
  const reduceBox = longNode("span");
  const radios = {};
  for (const r of ["max", "sum"]) {
    const lab = longNode("label", undefined, { marginRight: ".6rem" }), input = longNode("input");
    Object.assign(input, { type: "radio", name: `${root.id}-reduce`, value: r, checked: r === "max" });
    input.addEventListener("change", () => { if (input.checked) { st.reduce = r; show(); } });
    lab.append(input, ` ${r}`);
    reduceBox.append(lab);
    radios[r] = { input, lab };
  }
  const button = (text, fn, tip) => { const b = longNode("button", text, { font: "inherit", padding: "1px 8px" }); b.title = tip; b.addEventListener("click", fn); return b; };
  bar.append(layerSel.wrap, headSel.wrap, longNode("span", "pooling", { opacity: ".75" }), reduceBox,
    button("+", () => zoom.zoomAt(2), "zoom in"), button("−", () => zoom.zoomAt(0.5), "zoom out"),
    button("fit", () => zoom.fit(), "the whole matrix (or double-click it)"));

  const row = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: "12px", alignItems: "flex-start" });
  const mainWrap = longNode("div", undefined, { position: "relative", flex: "1 1 520px", minWidth: "0" });
  const canvas = longNode("canvas", undefined, { display: "block", touchAction: "none", cursor: "grab" });
  canvas.className = "attnscope-long-map";
  const tip = longNode("div", undefined, tipStyle);
  tip.hidden = true;
  mainWrap.append(canvas, tip);
  const side = longNode("div", undefined, { flex: "0 0 180px", fontSize: "12px" });
  const minimap = longNode("canvas", undefined, { display: "block", cursor: "crosshair", outline: "1px solid rgba(128,128,128,.35)" });
  const levelText = longNode("p", "", { margin: ".5rem 0 .2rem", fontWeight: "600" });
  const deeper = longNode("p", "", { margin: ".2rem 0", color: "#b45309" });
  const embedText = longNode("p", "", { margin: ".4rem 0", opacity: ".8" });
  side.append(longNode("div", "overview (drag to move)", { opacity: ".75", marginBottom: "2px" }), minimap, levelText, deeper, embedText);
  row.append(mainWrap, side);

  const thumbNote = longNode("p", "", { ...muted, margin: ".9rem 0 .3rem" });
  const thumbsHost = longNode("div", undefined, { overflowX: "auto" });
  const panels = longNode("div", undefined, { display: "flex", flexWrap: "wrap", gap: "1.5rem", marginTop: ".9rem", alignItems: "flex-start" });
  const panelTip = longNode("div", undefined, tipStyle);
  panelTip.hidden = true;
  const pHost = longNode("div", undefined, { position: "relative" }), dHost = longNode("div");
  const sel0 = `layer ${data.layer + 1}, ${headName(data.headIndex)}`;
  pHost.append(longNode("div", `Which passage reads which (${sel0}); rows sum to 1`, { fontWeight: "600", marginBottom: ".3rem" }));
  dHost.append(longNode("div", `Attention by distance |query − key| (${sel0})`, { fontWeight: "600", marginBottom: ".3rem" }));
  longPassages(pHost, data, dec.mass, colour, panelTip);
  pHost.append(panelTip);
  longDistance(dHost, data, colour);
  const panelNote = longNode("p", "", muted);
  panels.append(pHost, dHost);
  const caption = longNode("p", "Rows are queries, columns keys; colour is √(value) on viridis, the sink strip (key cell 0) on its "
    + "own scale. Wheel or +/− to zoom, drag to pan, double-click to fit; hover a cell for its value. Values are stored to "
    + "1/255 of each tile's largest value. Computed in Python when this figure was made: the exact row of a query, deeper "
    + "levels and the other heads' fine levels need the AttnScope server (attnscope serve).", muted);
  root.replaceChildren(title, facts, bar, row, thumbNote, thumbsHost, panels, panelNote, caption);

  const zoom = new LongZoom(root, data, dec, { canvas, tip, minimap, onView: (v) => note(v) });
  const sums = zs("sum"), maxes = zs("max"), lvName = (a) => (a.length === 1 ? `level 1` : `levels 1–${a[a.length - 1] + 1}`);
  embedText.textContent = `Embedded for ${sel0}: zoom ${lvName(maxes)} of ${data.Z} (max)`
    + (sums.length ? `, ${lvName(sums)} (sum)` : "; sum pooling not embedded (byte budget)")
    + `. Other heads: their level-1 overview only${data.thumbs.pool > 1 ? `, pooled to ${data.thumbs.side} × ${data.thumbs.side} cells` : ""}. `
    + `${(data.bytes / 1e6).toFixed(1)} MB embedded (budget ${(data.budget / 1e6).toFixed(1)} MB).`;

  function note(v) {
    const { cell, z, want } = v;
    const embedded = st.l === data.layer && st.h === data.headIndex;
    levelText.textContent = (embedded ? `zoom level ${z + 1} of ${data.Z}: ` : "overview: ")
      + (cell === 1 ? "one cell = one weight (exact)" : `one cell = ${cell} × ${cell} tokens (${st.reduce})`);
    const gap = want > z + 1 ? `Zoom levels ${z + 2}–${want + 1} are` : `Zoom level ${want + 1} is`;
    deeper.textContent = want <= z ? "" : embedded ? `${gap} not in this file: deeper zoom needs the server (attnscope `
      + `serve). Showing level ${z + 1}, magnified.` : `This head has only its overview in this file`
      + `${data.thumbs.pool > 1 ? ` (${data.thumbs.side} × ${data.thumbs.side} cells)` : ""}: its finer levels need the server `
      + `(attnscope serve), or show(..., layer=${st.l}, head=${st.h === H ? "'mean'" : st.h}).`;
  }

  // the layer x head thumbnails (the z = 0 overview of each, max pooling), click to open
  const px = Math.floor(clampInt(((root.clientWidth || 900) - 60) / ((H + 1) * 1.15), 24, 64));
  const box = longNode("div", undefined, { display: "grid", gridTemplateColumns: `auto repeat(${H + 1}, ${px}px)`, gap: "4px",
    alignItems: "center", justifyContent: "start", font: `${H > 16 ? 10 : 12}px sans-serif` });
  box.append(longNode("span"));
  for (let h = 0; h <= H; h++) box.append(longNode("span", h === H ? "mean" : `H${h + 1}`, { textAlign: "center", opacity: ".75" }));
  const thumbs = [];
  for (let l = 0; l < L; l++) {
    box.append(longNode("span", `L${l + 1}`, { textAlign: "right", paddingRight: "4px", opacity: ".75" }));
    thumbs.push([]);
    for (let h = 0; h <= H; h++) {
      const c = longNode("canvas", undefined, { width: `${px}px`, height: `${px}px`, display: "block", imageRendering: "pixelated", cursor: "pointer" });
      const t = dec.thumb[l][h];
      paintTile(c, shrink(t, px * (globalThis.devicePixelRatio || 1)), ranges(t).main);
      Object.assign(c.dataset, { layer: String(l), head: String(h) });
      const embedded = l === data.layer && h === data.headIndex;
      c.title = `layer ${l + 1} · ${headName(h)}${embedded ? " (all embedded zoom levels)" : " (overview only)"}: click to open`;
      c.addEventListener("click", () => select(l, h));
      box.append(c);
      thumbs[l].push(c);
    }
  }
  thumbsHost.append(box);
  thumbNote.textContent = `Every layer × head at zoom level 1 (max pooling). Click one to open it. Only ${sel0} (outlined in blue) `
    + `has its finer zoom levels in this file; the other heads show their overview only${data.thumbs.pool > 1 ? `, pooled to ${data.thumbs.side} × ${data.thumbs.side} cells` : ""}.`;

  function select(l, h) {
    st.l = l; st.h = h;
    show();
  }

  function show() {
    const embedded = st.l === data.layer && st.h === data.headIndex, sumOk = embedded && sums.length > 0;
    if (!sumOk && st.reduce === "sum") { st.reduce = "max"; radios.max.input.checked = true; }
    radios.sum.input.disabled = !sumOk;
    radios.sum.lab.style.opacity = sumOk ? "1" : ".45";
    radios.sum.lab.title = sumOk ? "sum pooling: the mass of each block" : embedded ? "sum pooling is not embedded (byte budget)"
      : `only ${sel0} has sum pooling in this file`;
    layerSel.s.value = String(st.l); headSel.s.value = String(st.h);
    thumbs.forEach((r, i) => r.forEach((c, j) => {
      const current = i === st.l && j === st.h, embedded = i === data.layer && j === data.headIndex;
      c.style.outline = current ? `3px solid ${ORANGE}` : embedded ? `3px solid ${LONG_BLUE}` : "1px solid rgba(128,128,128,.35)";
      c.style.boxShadow = current && embedded ? `0 0 0 6px ${LONG_BLUE}` : "none";
    }));
    panelNote.textContent = embedded ? "" : `The passages matrix and the distance profile are those of ${sel0}, the head this figure `
      + `was made for (layer ${st.l + 1}, ${headName(st.h)} needs the server, or show(..., layer=${st.l}, head=${st.h === H ? "'mean'" : st.h})).`;
    zoom.setHead(st.l, st.h, st.reduce);
  }

  show();
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  if (zoom.raf) { cancelAnimationFrame(zoom.raf); zoom.draw(); }
  root.dataset.ready = "1";
}
