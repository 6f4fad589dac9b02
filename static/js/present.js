// Presentation mode (`p`): a layout for a projector (static/css/present.css), not only a larger font.
// Toggling it changes the page's widths and fonts, so once the new rules apply (two frames) the views
// redraw (the `presentation` window event: fonts, cell sizes, canvases) and every Plotly figure in view
// is fitted to its new box, keeping the height its view gave it. The bulky controls fold away behind
// the top bar's Controls button (`c`).
import * as state from "./state.js";

let generation = 0; // a newer toggle supersedes the relayout of an older one

export function presenting() {
  return document.body.classList.contains("presenting");
}

/** Presentation mode on, off (`on` omitted: the other way); the URL keeps it (?present=1). */
export function toggle(on) {
  const next = on ?? !presenting();
  document.body.classList.toggle("presenting", next);
  if (!next) document.body.classList.remove("show-controls");
  document.getElementById("present-toggle")?.setAttribute("aria-pressed", String(next));
  syncControlsButton();
  state.set({ present: next ? 1 : null });
  relayout();
}

/** In presentation mode, show or hide the controls that fold away (`on` omitted: the other way). */
export function toggleControls(on) {
  if (!presenting()) return;
  const next = on ?? !document.body.classList.contains("show-controls");
  document.body.classList.toggle("show-controls", next);
  syncControlsButton();
  relayout();
}

function syncControlsButton() {
  document.getElementById("present-controls")?.setAttribute("aria-expanded",
    String(document.body.classList.contains("show-controls")));
}

/**
 * After the layout changed: wait two frames (the new rules and fonts apply), let the views redraw
 * (`presentation` event, detail: on or off), then fit every Plotly figure of the view in sight.
 * `document.body.dataset.layout` is "pending" until that is done, then "done".
 */
export function relayout({ redraw = true } = {}) {
  const mine = ++generation;
  document.body.dataset.layout = "pending";
  requestAnimationFrame(() => requestAnimationFrame(async () => {
    if (mine !== generation) return;
    revealCurrentLink();
    if (redraw) window.dispatchEvent(new CustomEvent("presentation", { detail: presenting() }));
    await new Promise((r) => requestAnimationFrame(r)); // redraws that wait a frame have started
    await fitFigures();
    if (mine === generation) document.body.dataset.layout = "done";
  }));
}

/** Fit every drawn Plotly figure of the view in sight (or of `root`) to its container's width. */
export function fitFigures(root = document.querySelector("main > section[data-view]:not([hidden])")) {
  if (!root || !window.Plotly) return Promise.resolve();
  const plots = [...root.querySelectorAll(".js-plotly-plot")].filter((gd) => gd._fullLayout && gd.offsetParent !== null);
  return Promise.all(plots.map(fitFigure));
}

/**
 * Fit one figure to its container's new width.
 *
 * Plotly.Plots.resize (what `responsive` runs on a window resize) and relayout({autosize: true}) both
 * delete layout.height and measure the container for it: a figure whose view gave it only layout.height,
 * in a box without a CSS height, collapses to 0 px (the Generate figures did). A figure with its own
 * height gets the box's width instead, and keeps that height; the others get Plots.resize, with their
 * box held at the figure's height while Plotly measures it.
 */
async function fitFigure(gd) {
  try {
    if (gd.layout?.height) {
      const width = Math.round(gd.getBoundingClientRect().width);
      if (width > 0 && Math.abs(width - gd._fullLayout.width) > 1) {
        await Plotly.relayout(gd, { width });
        delete gd.layout.width; // the view's next draw, and a window resize, size it to its box again
      }
    } else {
      const hold = !gd.style.height && gd._fullLayout.height > 0;
      if (hold) gd.style.height = `${gd._fullLayout.height}px`;
      await Plotly.Plots.resize(gd);
      if (hold) gd.style.height = "";
    }
  } catch { /* hidden meanwhile: nothing to fit */ }
  // never leave a drawn figure at zero height
  if (gd.getBoundingClientRect().height < 2 && gd._fullLayout?.height > 0) gd.style.height = `${gd._fullLayout.height}px`;
}

/** Presenting, the nav scrolls sideways in its one row: keep the current view's link in sight. */
function revealCurrentLink() {
  const nav = document.querySelector("header.top nav"), a = nav?.querySelector("a[aria-current]");
  if (!a || nav.scrollWidth <= nav.clientWidth) return;
  const left = a.offsetLeft - nav.offsetLeft, right = left + a.offsetWidth;
  if (left < nav.scrollLeft || right > nav.scrollLeft + nav.clientWidth) nav.scrollLeft = Math.max(0, left - (nav.clientWidth - a.offsetWidth) / 2);
}

export function install() {
  document.getElementById("present-toggle")?.addEventListener("click", () => toggle());
  document.getElementById("present-controls")?.addEventListener("click", () => toggleControls());
  // another view shown: its figures may have been drawn for the other layout; its link may be out of sight
  state.onChange(() => { if (presenting()) relayout({ redraw: false }); });
  if (state.get().present === "1") toggle(true);
  else document.body.dataset.layout = "done";
}
