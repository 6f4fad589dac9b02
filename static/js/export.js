// Export any figure: PNG and SVG through Plotly's own (offline) image export, and the data in view
// as CSV and JSON. Files are named after the model, layer and head.

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
  // canvas figures (the model view) give `image()` -> {url, width, height}: a PNG, also wrapped in an SVG
  make("PNG", (i) => (i.image ? save(`${i.name}.png`, i.image().url)
    : Plotly.downloadImage(figure, { format: "png", filename: i.name, scale: 2,
      width: figure.clientWidth, height: figure.clientHeight })));
  make("SVG", (i) => (i.image ? download(`${i.name}.svg`, svgOf(i.image()), "image/svg+xml")
    : Plotly.downloadImage(figure, { format: "svg", filename: i.name,
      width: figure.clientWidth, height: figure.clientHeight })));
  make("CSV", (i) => download(`${i.name}.csv`, i.csv, "text/csv"));
  make("JSON", (i) => download(`${i.name}.json`, JSON.stringify(i.json, null, 1), "application/json"));
  figure.after(bar);
  return bar;
}
