// The observable store over a fake window: the URL is the state, every change is heard, navigation separately.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createStore } from "../../static/js/kernel/store.js";

function fakeWindow(search = "") {
  const handlers = {};
  const win = {
    location: { pathname: "/", search },
    history: {
      entries: [],
      pushState(_, __, url) { this.entries.push(url); win.location.search = url.slice(1) ? url.slice(url.indexOf("?")) : ""; },
      replaceState(_, __, url) { win.location.search = url.includes("?") ? url.slice(url.indexOf("?")) : ""; },
    },
    addEventListener(name, fn) { (handlers[name] ||= []).push(fn); },
    fire(name) { for (const fn of handlers[name] || []) fn(); },
  };
  return win;
}

test("get reads the URL; set merges a patch and removes empty keys", () => {
  const win = fakeWindow("?view=attention&model=minilm&text=hi");
  const s = createStore(win);
  assert.deepEqual(s.get(), { view: "attention", model: "minilm", text: "hi" });
  s.set({ text: "the cat", layer: 2, model: null });
  assert.deepEqual(s.get(), { view: "attention", text: "the cat", layer: "2" });
  s.set({ view: "", text: undefined, layer: "" });
  assert.deepEqual(s.get(), {});
  assert.equal(win.location.search, "");
});

test("subscribers hear every change once, with the keys that changed; an unchanged set is silent", () => {
  const s = createStore(fakeWindow("?view=attention"));
  const heard = [];
  const off = s.subscribe((state, { keys, source }) => heard.push([state.text, keys, source]));
  assert.equal(s.set({ text: "a" }), true);
  assert.equal(s.set({ text: "a" }), false); // the same URL: nothing to hear
  s.set({ text: "b", layer: 1 });
  assert.deepEqual(heard, [["a", ["text"], "set"], ["b", ["text", "layer"], "set"]]);
  off();
  s.set({ text: "c" });
  assert.equal(heard.length, 2);
});

test("silent sets update the URL without telling subscribers, and the next change reports only its own keys", () => {
  const s = createStore(fakeWindow());
  const heard = [];
  s.subscribe((_, { keys }) => heard.push(keys));
  s.set({ text: "quiet" }, { silent: true });
  s.set({ layer: 3 });
  assert.deepEqual(heard, [["layer"]]);
});

test("go pushes a history entry and tells navigators; back/forward (popstate) tells both", () => {
  const win = fakeWindow("?view=attention&text=x");
  const s = createStore(win);
  const nav = [], subs = [];
  s.onChange((state) => nav.push(state.view));
  s.subscribe((state, { source }) => subs.push([state.view, source]));
  s.go("heads", { layer: 1 });
  assert.deepEqual(win.history.entries, ["/?view=heads&text=x&layer=1"]);
  assert.deepEqual(nav, ["heads"]);
  win.location.search = "?view=attention&text=x"; // the browser went back
  win.fire("popstate");
  assert.deepEqual(nav, ["heads", "attention"]);
  assert.deepEqual(subs, [["heads", "set"], ["attention", "history"]]);
});

test("a subscriber that throws does not stop the others", () => {
  const s = createStore(fakeWindow());
  const heard = [];
  const error = console.error;
  console.error = () => {};
  try {
    s.subscribe(() => { throw new Error("boom"); });
    s.subscribe((state) => heard.push(state.text));
    s.set({ text: "still heard" });
  } finally { console.error = error; }
  assert.deepEqual(heard, ["still heard"]);
});

test("text with & = + and non-ASCII survives the URL", () => {
  const s = createStore(fakeWindow());
  const text = "a&b=c + d? 我喜欢 🤖 <b>";
  s.set({ text });
  assert.equal(s.get().text, text);
});
