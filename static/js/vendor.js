// Plotly (1.5 MB, about a second of parsing on a slow laptop) is fetched at once (index.html preloads it) but
// run only when something is to be drawn with it: a cold load's first heatmap is painted on a canvas first
// (views/attention_preview.js) instead of waiting behind Plotly's parse. Whatever draws with Plotly awaits
// plotlyReady() first; the first call adds the script.

let ready = null;

/** Resolves once the global `Plotly` exists; rejects with a readable error when its script failed to load. */
export function plotlyReady() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (ready) return ready;
  ready = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/plotly.min.js";
    script.id = "plotly-js";
    script.addEventListener("load", () => resolve(window.Plotly), { once: true });
    script.addEventListener("error", () => {
      ready = null; // the next call tries again
      script.remove();
      reject(new Error("Plotly (/vendor/plotly.min.js) did not load: is the AttnScope server still running? Reload the page."));
    }, { once: true });
    document.head.append(script);
  });
  return ready;
}
