"""Two app processes sharing one Redis: teacher on one, students on the other; then one replica dies."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect

from tests.classroom.conftest import stop


def ws_url(base: str, code: str) -> str:
    return base.replace("http://", "ws://") + f"/api/class/{code}/ws"


async def until(ws, kind, pred=lambda m: True, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, end - time.monotonic())))
        if m["type"] == kind and pred(m):
            return m


async def student(base, code, sid):
    ws = await connect(ws_url(base, code), open_timeout=10)
    await ws.send(json.dumps({"type": "hello", "role": "student", "sid": sid}))
    return ws


def test_teacher_on_one_replica_students_on_the_other_and_a_replica_dies(replicas):
    (pa, a), (pb, b) = replicas
    s = httpx.post(a + "/api/class").json()
    code = s["code"]
    assert httpx.get(f"{b}/api/class/{code}").status_code == 200  # the other replica knows the class

    async def run():
        t = await connect(ws_url(a, code), open_timeout=10)
        await t.send(json.dumps({"type": "hello", "role": "teacher", "sid": "teacher-1", "token": s["token"]}))
        studs = [await student(b, code, f"student-{i:03d}") for i in range(6)]
        await until(t, "members", lambda m: m["count"] == 6)
        sent = time.time() * 1000
        await t.send(json.dumps({"type": "state", "state": {"view": "heads", "layer": "3"}, "ts": sent}))
        for w in studs:
            m = await until(w, "state")
            assert m["state"] == {"view": "heads", "layer": "3"}
            assert time.time() * 1000 - m["ts"] < 1000
        await t.send(json.dumps({"type": "ask", "query": 1, "query_token": "it", "tokens": ["a", "it", "b"]}))
        for i, w in enumerate(studs):
            await until(w, "ask")
            await w.send(json.dumps({"type": "answer", "index": i % 3}))
        await until(t, "tally", lambda m: m["answered"] == 6 and m["counts"] == [2, 2, 2])

        # replica B dies mid-class: its students reconnect to A and catch up
        stop(pb)
        for w in studs:
            await w.close()
        moved = [await student(a, code, f"student-{i:03d}") for i in range(6)]
        for w in moved:
            st = await until(w, "state")
            assert st["state"]["layer"] == "3"
            assert (await until(w, "ask"))["tokens"] == ["a", "it", "b"]
        t2 = await connect(ws_url(a, code), open_timeout=10)  # the teacher's catch-up: the answers survived
        await t2.send(json.dumps({"type": "hello", "role": "teacher", "sid": "teacher-2", "token": s["token"]}))
        tally = await until(t2, "tally")
        assert tally["counts"] == [2, 2, 2] and tally["answered"] == 6
        await t2.close()
        await moved[0].send(json.dumps({"type": "answer", "index": 2}))  # still counted once per student
        await until(t, "tally", lambda m: m["counts"] == [1, 2, 3] and m["answered"] == 6)
        await t.send(json.dumps({"type": "state", "state": {"view": "steps"}, "ts": time.time() * 1000}))
        for w in moved:
            assert (await until(w, "state"))["state"] == {"view": "steps"}
        for w in [t, *moved]:
            await w.close()

    asyncio.run(run())
