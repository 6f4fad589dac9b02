// Plotly arrives on its own (index.html loads it `async`): the page's modules, the models list and the first
// view's request do not wait for its 4.8 MB to be parsed. Whatever draws with Plotly awaits plotlyReady() first.

let ready = null;

/** Resolves once the global `Plotly` exists; rejects with a readable error when its script failed to load. */
export function plotlyReady() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (ready) return ready;
  const script = document.getElementById("plotly-js");
  ready = new Promise((resolve, reject) => {
    if (!script) { reject(new Error("The page has no Plotly script: reload it.")); return; }
    script.addEventListener("load", () => resolve(window.Plotly), { once: true });
    script.addEventListener("error", () => {
      ready = null; // a reload of the script may work
      reject(new Error("Plotly (/vendor/plotly.min.js) did not load: is the AttnScope server still running? Reload the page."));
    }, { once: true });
  });
  return ready;
}
