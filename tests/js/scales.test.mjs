// One colour scale per quantity: the Plotly scale of the weights gives the colour the canvas paints.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LUT, level, plotlyScale } from "../../static/js/heatmap.js";
import { tickLabels, tokenOption, tokenText } from "../../static/js/plot.js";

const rgb = (s) => s.match(/\d+/g).map(Number);

/** Plotly's colour for value fraction x: linear interpolation between the scale's stops. */
function plotly(stops, x) {
  for (let k = 1; k < stops.length; k++) {
    const [x0, c0] = stops[k - 1], [x1, c1] = stops[k];
    if (x <= x1) {
      const f = x1 > x0 ? (x - x0) / (x1 - x0) : 0, a = rgb(c0), b = rgb(c1);
      return a.map((v, i) => v + f * (b[i] - v));
    }
  }
  return rgb(stops.at(-1)[1]);
}

test("the weights' Plotly scale matches the canvas square-root mapping", () => {
  const stops = plotlyScale(0.5);
  assert.equal(stops[0][0], 0);
  assert.equal(stops.at(-1)[0], 1);
  let worst = 0;
  for (let i = 0; i <= 1000; i++) {
    const x = i / 1000, k = level(x) * 3;
    const canvas = [LUT[k], LUT[k + 1], LUT[k + 2]];
    const p = plotly(stops, x);
    worst = Math.max(worst, ...p.map((v, c) => Math.abs(v - canvas[c])));
  }
  assert.ok(worst <= 6, `largest channel difference ${worst} of 255`);
});

test("a faint weight is a quarter up the square-root scale, not at its dark end", () => {
  assert.equal(level(0.0625), Math.round(0.25 * 255));
  assert.equal(level(0.05, 0.05), 255); // fitted to its maximum
  assert.equal(level(-1), 0);
  assert.equal(level(NaN), 0);
});

test("the linear scale's stops are evenly spaced", () => {
  const stops = plotlyScale(1, 4);
  assert.deepEqual(stops.map((s) => s[0]), [0, 0.25, 0.5, 0.75, 1]);
});

test("token labels show a leading space, newlines and tabs as signs, numbered from 0", () => {
  assert.equal(tokenText(" it"), "␣it");
  assert.equal(tokenText("it"), "it");
  assert.equal(tokenText("a\nb\t"), "a↵b⇥");
  assert.equal(tokenText("New York"), "New York"); // only the leading space is a marker
  assert.equal(tokenOption(" it", 0), "0: ␣it");
  assert.deepEqual(tickLabels([" it", "<b>"], [false, true]), ["␣it", '<span style="color:#8a8f98">&lt;b&gt;</span>']);
});
