// The heads view's knockout of heads: the grid of heads to knock out (layer and head labels toggle a whole row or
// column) and the /api/ablate answer drawn: cosine (encoder), KL and next tokens (decoder), or translations.
import { $, fixHeight, range } from "../analysis.js";
import { CONFIG, esc, plotFont } from "../plot.js";

/** A node with text content (never HTML) and a class. */
const node = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

/** A button of the knockout grid; data-* say what it toggles (read by the view's one click handler). */
function button(cls, text, title, data) {
  const b = node("button", text, cls);
  b.type = "button";
  if (title) b.title = title;
  Object.assign(b.dataset, data);
  return b;
}

/**
 * The grid of heads to knock out. `state`: {knocked: Set of "l,h", cursor: [layer, head]}; `m` the model.
 * Buttons carry data-layer and data-head (a cell), or data-toggle="layer"/"head" with data-index (a row or column).
 */
export function renderAblateGrid(state, m) {
  const table = node("table", undefined, "hd-knock");
  const head = node("tr");
  head.append(node("th"));
  for (let h = 0; h < m.heads; h++) {
    const th = node("th");
    th.append(button("hd-axis", `H${h + 1}`, `Toggle head ${h + 1} in every layer`, { toggle: "head", index: String(h) }));
    head.append(th);
  }
  table.append(head);
  for (let l = 0; l < m.layers; l++) {
    const tr = node("tr");
    const th = node("th");
    th.append(button("hd-axis", `L${l + 1}`, `Toggle every head of layer ${l + 1}`, { toggle: "layer", index: String(l) }));
    tr.append(th);
    for (let h = 0; h < m.heads; h++) {
      const td = node("td");
      const on = state.knocked.has(`${l},${h}`);
      const cell = button("hd-cell", on ? "✕" : "", "", { layer: String(l), head: String(h) });
      cell.setAttribute("aria-pressed", String(on));
      cell.setAttribute("aria-label", `layer ${l + 1} head ${h + 1}`);
      if (state.cursor[0] === l && state.cursor[1] === h) cell.classList.add("hd-cursor");
      td.append(cell);
      tr.append(td);
    }
    table.append(tr);
  }
  $("hd-ablate-grid").replaceChildren(table);
  const n = state.knocked.size;
  $("hd-ablate-count").textContent = n ? `${n} of ${m.layers * m.heads} heads knocked out` : "No head knocked out yet";
}

/** The heads a grid button toggles: ["l,h", ...]. */
export function toggled(b, m) {
  if (b.dataset.toggle === "head") return range(m.layers).map((l) => `${l},${b.dataset.index}`);
  if (b.dataset.toggle === "layer") return range(m.heads).map((h) => `${b.dataset.index},${h}`);
  return [`${b.dataset.layer},${b.dataset.head}`];
}

/** A note in place of the result (the model offers no ablation, or the run failed: `cls` "error"). */
export function ablateNote(text, { id, cls = "hd-note" } = {}) {
  const p = node("p", text, cls);
  if (id) p.id = id;
  $("hd-ablate-result").replaceChildren(p);
  $("hd-ablate-fig").hidden = true;
}

/** An /api/ablate answer: what changed when the heads were knocked out. */
export function renderAblation(res) {
  const out = $("hd-ablate-result");
  const what = res.heads.length ? `${res.heads.length} head${res.heads.length > 1 ? "s" : ""} knocked out` : "no head knocked out";
  const fig = $("hd-ablate-fig");
  fig.hidden = true;
  if (res.kind === "encoder") {
    const big = node("p", "", "hd-big");
    big.append(node("span", "Cosine similarity, sentence vector before vs after: "), node("strong", res.cosine.toFixed(4), "hd-cosine"));
    out.replaceChildren(big, node("p", `${what}. The sentence vector is the mean of the last layer's token vectors; `
      + "1 means unchanged. The bars show how much each token's vector changed (1 − cosine).", "hd-note"));
    fig.hidden = false;
    fixHeight(fig, 260);
    Plotly.react(fig, [{ type: "bar", x: res.tokens.map((_, i) => i), y: res.token_cosine.map((c) => 1 - c),
      customdata: res.tokens.map((t) => esc(t)), hovertemplate: "%{customdata}<br>1 − cosine %{y:.4f}<extra></extra>", marker: { color: "#e15759" } }],
    { height: 260, margin: { t: 20, l: 50, r: 10, b: 80 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: { tickvals: res.tokens.map((_, i) => i), ticktext: res.tokens.map((t) => esc(t)), tickangle: -45 },
      yaxis: { title: { text: "1 − cosine" }, rangemode: "tozero" }, font: plotFont(12) }, CONFIG);
    return;
  }
  const cols = node("div", undefined, "hd-before-after");
  const big = node("p", "", "hd-big");
  if (res.kind === "decoder") {
    for (const [title, list] of [["Before", res.before], ["After", res.after]]) {
      const box = node("div");
      box.append(node("h4", `${title}: next token`));
      const ol = node("ol", undefined, "hd-candidates");
      for (const c of list) {
        const li = node("li");
        li.append(node("code", JSON.stringify(c.token)), ` ${(100 * c.prob).toFixed(1)}%`);
        ol.append(li);
      }
      box.append(ol);
      cols.append(box);
    }
    big.append(node("span", "KL divergence (before ‖ after): "), node("strong", `${res.kl.toFixed(4)} nats`, "hd-kl"));
    out.replaceChildren(big, node("p", `${what}. 0 means the next-token distribution did not change.`, "hd-note"), cols);
    return;
  }
  for (const [title, text] of [["Before", res.translation_before], ["After", res.translation_after]]) {
    const box = node("div");
    box.append(node("h4", `${title}: translation`), node("p", text || "(empty)", "hd-translation"));
    cols.append(box);
  }
  big.append(node("span", "Mean KL divergence per step (before ‖ after): "), node("strong", `${res.kl.toFixed(4)} nats`, "hd-kl"));
  out.replaceChildren(big, node("p", `${what} in the ${res.block} attention. `
    + (res.translation_before === res.translation_after ? "The translation did not change." : "The translation changed."), "hd-note"), cols);
}
