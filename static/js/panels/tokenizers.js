// The tokenizer panel of the Embeddings view (POST /api/tokenize): the same text through WordPiece (MiniLM)
// and BPE (SmolLM2), pieces and ids side by side, each word's split, and a line on why words split.
import { api } from "../api.js";
import { createLoader, markStale } from "../kernel/load.js";

const $ = (id) => document.getElementById(id);

export class TokenizerPanel {
  constructor() {
    $("tok-form").addEventListener("submit", (e) => { e.preventDefault(); this.load(); });
  }

  async load() {
    this.loader ||= createLoader((body, signal) => api("/api/tokenize", body, { signal }), { size: 8,
      error: (text) => { $("tok-error").textContent = text; $("tok-error").hidden = !text; }, stale: markStale($("tok-out")) });
    const got = await this.loader.load({ text: $("tok-text").value });
    if (!got || got.error) return; // replaced by a newer request, or the error is on screen
    const res = got.data;
    const out = $("tok-out");
    out.replaceChildren(...res.tokenizers.map((t) => this.block(t)));
  }

  block(t) {
    const box = document.createElement("div");
    box.className = "tok-model";
    box.dataset.model = t.model;
    const h = document.createElement("h4");
    h.textContent = `${t.name} — ${t.algorithm}: ${t.pieces.length} tokens, ${t.split_words} word${t.split_words === 1 ? "" : "s"} split`;
    const row = document.createElement("div");
    row.className = "tok-pieces";
    t.pieces.forEach((p, i) => {
      const chip = document.createElement("span");
      chip.className = "tok-piece" + (t.special[i] ? " tok-special" : "");
      const a = document.createElement("span");
      a.className = "tok-text";
      a.textContent = p;
      const b = document.createElement("span");
      b.className = "tok-id";
      b.textContent = String(t.ids[i]);
      chip.append(a, b);
      row.append(chip);
    });
    const why = document.createElement("p");
    why.className = "tok-why";
    const split = t.words.filter((w) => w.pieces.length > 1).map((w) => `“${w.word}” → ${w.pieces.join(" + ")}`);
    why.textContent = `${t.why} ${split.length ? `Split here: ${split.join("; ")}.` : "No word is split here."}`;
    box.append(h, row, why);
    return box;
  }
}
