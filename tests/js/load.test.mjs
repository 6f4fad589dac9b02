// One load(): cache, abort, status, errors and stale marking, with a fake server whose answers the test releases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLoader } from "../../static/js/kernel/load.js";

/** A fake server: each call waits until the test answers (or fails) it; an abort rejects it as fetch would. */
function server() {
  const calls = [];
  const run = (req, signal) => new Promise((resolve, reject) => {
    const call = { req, signal, resolve, reject };
    signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
    calls.push(call);
  });
  return { calls, run };
}

function hooks() {
  const log = { status: [], error: [], stale: [] };
  return { log, status: (t, busy) => log.status.push([t, Boolean(busy)]), error: (t) => log.error.push(t),
    stale: (on, why) => log.stale.push(on ? why : "fresh") };
}

test("an answer is fetched once, then comes from the cache; status and stale marks follow it", async () => {
  const srv = server(), h = hooks();
  const l = createLoader(srv.run, { ...h, busy: "Running…" });
  const p = l.load({ text: "a" });
  assert.equal(srv.calls.length, 1);
  assert.deepEqual(h.log.status, [["Running…", true]]);
  assert.deepEqual(h.log.stale, ["loading"]);
  srv.calls[0].resolve({ w: [1] });
  assert.deepEqual(await p, { data: { w: [1] }, cached: false });
  assert.deepEqual(h.log.stale, ["loading", "fresh"]);
  assert.deepEqual(await l.load({ text: "a" }), { data: { w: [1] }, cached: true });
  assert.equal(srv.calls.length, 1); // no second request
});

test("a newer request aborts the older one, whose late answer is dropped", async () => {
  const srv = server(), h = hooks();
  const l = createLoader(srv.run, h);
  const first = l.load({ text: "old" });
  const second = l.load({ text: "new" });
  assert.equal(srv.calls[0].signal.aborted, true);
  assert.equal(await first, null); // replaced: no answer, no error shown
  srv.calls[1].resolve("new answer");
  assert.deepEqual(await second, { data: "new answer", cached: false });
  assert.deepEqual(h.log.error.filter(Boolean), []);
});

test("the same request twice while in flight is one request", async () => {
  const srv = server();
  const l = createLoader(srv.run);
  const a = l.load({ text: "x" }), b = l.load({ text: "x" });
  assert.equal(srv.calls.length, 1);
  srv.calls[0].resolve(42);
  assert.deepEqual(await a, await b);
});

test("an error is shown, the figures stay marked stale, and nothing is cached", async () => {
  const srv = server(), h = hooks();
  const l = createLoader(srv.run, h);
  const p = l.load({ text: "too long" });
  srv.calls[0].reject(Object.assign(new Error("x"), { detail: "The text has 700 tokens; at most 512.", status: 422 }));
  assert.deepEqual(await p, { error: "The text has 700 tokens; at most 512.", status: 422 });
  assert.equal(h.log.error.at(-1), "The text has 700 tokens; at most 512.");
  assert.equal(h.log.stale.at(-1), "error");
  assert.equal(l.size, 0);
  l.load({ text: "too long" }); // asked again: asked of the server again
  assert.equal(srv.calls.length, 2);
  assert.equal(h.log.error.at(-1), ""); // the old error is cleared while it runs
});

test("the cache keeps the most recently used answers", async () => {
  const l = createLoader(async (req) => req.n, { size: 2 });
  for (const n of [1, 2]) await l.load({ n });
  await l.load({ n: 1 }); // 1 is now the most recent
  await l.load({ n: 3 }); // 2 goes
  assert.equal(l.size, 2);
  assert.equal((await l.load({ n: 1 })).cached, true);
  assert.equal((await l.load({ n: 2 })).cached, false);
});

test("cancel aborts the request in flight and forget empties the cache", async () => {
  const srv = server(), h = hooks();
  const l = createLoader(srv.run, h);
  const p = l.load({ a: 1 });
  l.cancel();
  assert.equal(srv.calls[0].signal.aborted, true);
  assert.equal(await p, null);
  assert.deepEqual(h.log.status.at(-1), ["", false]); // no "Running…" left behind
  const q = l.load({ a: 2 });
  srv.calls[1].resolve("two");
  await q;
  l.forget();
  assert.equal(l.size, 0);
});
