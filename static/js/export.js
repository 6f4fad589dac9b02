// Export any figure: PNG and SVG through Plotly's own (offline) image export, on the theme's background
// (or transparent, ticked), and the data in view as CSV and JSON. Files are named after the model, layer and head.

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  save(name, url);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function save(name, url) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

/** The colour a figure is seen on: the first opaque background of it or its ancestors (the theme's panel). */
export function themeBackground(el) {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && c !== "transparent" && !/^rgba\(.*,\s*0\)$/.test(c)) return c;
  }
  return "#ffffff";
}

/** A canvas figure's PNG on `bg` (opaque), or as it is when `bg` is null. */
async function onBackground(image, bg) {
  if (!bg) return image;
  const img = new Image();
  img.src = image.url;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.fillStyle = bg;
  g.fillRect(0, 0, c.width, c.height);
  g.drawImage(img, 0, 0);
  return { ...image, url: c.toDataURL("image/png") };
}

/** A Plotly figure as a PNG or SVG data URL, drawn off screen on `bg` (null: transparent), at its size on screen. */
function plotImage(figure, format, bg) {
  const layout = { ...figure.layout };
  if (bg) layout.paper_bgcolor = bg;
  return Plotly.toImage({ data: figure.data, layout, config: { staticPlot: true } },
    { format, width: figure.clientWidth, height: figure.clientHeight, scale: format === "png" ? 2 : 1 });
}

function svgOf({ url, width, height }) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><image href="${url}" `
    + `width="${width}" height="${height}"/></svg>`;
}

function csvCell(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A matrix with row and column labels as CSV text. */
export function matrixCsv(rowLabels, colLabels, z) {
  const lines = [["", ...colLabels].map(csvCell).join(",")];
  z.forEach((row, i) => lines.push([rowLabels[i], ...row.map((x) => (typeof x === "number" ? +x.toFixed(6) : x))]
    .map(csvCell).join(",")));
  return lines.join("\n") + "\n";
}

/**
 * Adds PNG / SVG / CSV / JSON buttons after `figure` (the Plotly div).
 * `info()` returns {name, csv, json} for what is in view now (or null when nothing is drawn).
 */
export function exportBar(figure, info) {
  const bar = document.createElement("div");
  bar.className = "export-bar";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Export this figure");
  const make = (label, fn) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    b.dataset.export = label.toLowerCase();
    b.addEventListener("click", async () => { const i = await info(); if (i) fn(i); }); // info() may be async
    bar.append(b);
  };
  // PNG and SVG are drawn on the theme's background (dark slides keep black labels readable), or on nothing
  // when "transparent" is ticked. Canvas figures (the model view) give `image()` -> {url, width, height}: a PNG,
  // also wrapped in an SVG.
  const clear = document.createElement("input");
  clear.type = "checkbox";
  clear.dataset.export = "transparent";
  const bg = () => (clear.checked ? null : themeBackground(figure));
  make("PNG", async (i) => save(`${i.name}.png`, i.image ? (await onBackground(i.image(), bg())).url
    : await plotImage(figure, "png", bg())));
  make("SVG", async (i) => (i.image ? download(`${i.name}.svg`, svgOf(await onBackground(i.image(), bg())), "image/svg+xml")
    : save(`${i.name}.svg`, await plotImage(figure, "svg", bg()))));
  make("CSV", (i) => download(`${i.name}.csv`, i.csv, "text/csv"));
  make("JSON", (i) => download(`${i.name}.json`, JSON.stringify(i.json, null, 1), "application/json"));
  const label = document.createElement("label");
  label.className = "export-clear";
  label.title = "PNG and SVG without a background (for slides of your own colour)";
  label.append(clear, " transparent");
  bar.append(label);
  figure.after(bar);
  return bar;
}
