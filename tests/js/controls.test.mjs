// Controls declared once: show(state) and read() are inverse, hidden controls drop their keys; each model's own
// sentence comes back when the user returns to it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { declare, sentenceMemory, switchSentence } from "../../static/js/kernel/controls.js";

const input = (value = "") => ({ value, addEventListener() {} });
const select = (values, value = values[0]) => ({ value, options: values.map((v) => ({ value: v })), addEventListener() {} });
const check = (checked = false) => ({ checked, addEventListener() {} });

test("show writes the state into the controls, read gives it back", () => {
  const els = { text: input(), layer: select(["0", "1", "2"]), fit: check(), n: input("5") };
  let hidden = false;
  const c = declare([
    { key: "text", el: els.text }, { key: "layer", el: els.layer, kind: "select" },
    { key: "fit", el: els.fit, kind: "check" }, { key: "n", el: () => els.n, kind: "int", when: () => !hidden },
  ]);
  c.show({ text: "the cat", layer: "2", fit: "1", n: "7" });
  assert.deepEqual([els.text.value, els.layer.value, els.fit.checked, els.n.value], ["the cat", "2", true, "7"]);
  assert.deepEqual(c.read(), { text: "the cat", layer: "2", fit: "1", n: "7" });
  c.show({ layer: "9", fit: undefined }); // a layer the select does not offer is ignored; no fit: unchecked
  assert.equal(els.layer.value, "2");
  assert.equal(els.fit.checked, false);
  hidden = true;
  assert.equal(c.read().n, null); // a hidden control's key is removed from the state
  els.n.value = "x"; hidden = false;
  assert.equal(c.read().n, null); // not a whole number
});

test("fallbacks fill keys the state lacks; without one the control keeps its value", () => {
  const t = input("typed"), l = select(["0", "1"], "1");
  const c = declare([{ key: "text", el: t }, { key: "layer", el: l, kind: "select", fallback: "0" }]);
  c.show({});
  assert.equal(t.value, "typed");
  assert.equal(l.value, "0");
});

function storage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)) };
}

test("each model remembers its own sentence", () => {
  const mem = sentenceMemory(storage());
  const french = /^(je|le|il|nous)\b/;
  const suits = (m, t) => (m === "textbook" ? french.test(t) : !french.test(t));
  const fallback = (m) => (m === "textbook" ? "je suis étudiant" : "The animal didn't cross the street");
  // the user's English sentence on minilm; to the textbook model (which cannot read it): its default
  let text = switchSentence(mem, "minilm", "textbook", "My own sentence", suits, fallback);
  assert.equal(text, "je suis étudiant");
  text = "le chat noir mange la pomme rouge"; // typed on the textbook model
  // back to minilm: the user's sentence, not a default
  text = switchSentence(mem, "textbook", "minilm", text, suits, fallback);
  assert.equal(text, "My own sentence");
  // and back to the textbook model: its own sentence
  assert.equal(switchSentence(mem, "minilm", "textbook", text, suits, fallback), "le chat noir mange la pomme rouge");
  // a model never visited keeps the sentence on screen when it suits it
  assert.equal(switchSentence(mem, "minilm", "gpt2", "My own sentence", suits, fallback), "My own sentence");
});

test("a storage that refuses does not break the memory", () => {
  const mem = sentenceMemory({ getItem() { throw new Error("denied"); }, setItem() { throw new Error("full"); } });
  mem.remember("a", "x");
  assert.equal(mem.recall("a"), undefined);
});
