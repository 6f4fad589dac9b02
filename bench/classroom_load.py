"""Live-class load bench: S simulated students (WebSocket clients on 127.0.0.1) in one class across two replicas.

Starts a redis-server and two ``uvicorn attnscope_server.main:app`` replicas on free loopback ports (no models loaded),
puts the teacher on replica A and the students alternately on A and B, then sends V view changes and
measures, per student and change, the delay from the teacher's send to the student's receipt. Then every
student answers once and the teacher's tally must count exactly S. Prints p50/p95/max latency, lost
messages (must be 0) and the count. Every loop is bounded in count and time.

Run: ``make bench`` (or ``.venv/bin/python bench/classroom_load.py [--students 200] [--changes 20]``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.classroom.conftest import free_port, start_redis, start_replica, stop  # noqa: E402


async def main(n: int, changes: int) -> int:
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    rport = free_port()
    tmp = Path(tempfile.mkdtemp())
    redis = start_redis(exe, rport, tmp)
    url = f"redis://127.0.0.1:{rport}/0"
    reps = [start_replica(url, tmp / f"r{i}.log") for i in range(2)]
    try:
        a, b = reps[0][1], reps[1][1]
        s = httpx.post(a + "/api/class").json()
        code = s["code"]
        wsu = lambda base: base.replace("http://", "ws://") + f"/api/class/{code}/ws"  # noqa: E731
        t = await connect(wsu(a), open_timeout=20, max_queue=None)
        await t.send(json.dumps({"type": "hello", "role": "teacher", "sid": "teacher-0", "token": s["token"]}))
        studs = []
        for i in range(n):
            w = await connect(wsu(a if i % 2 == 0 else b), open_timeout=20, max_queue=None)
            await w.send(json.dumps({"type": "hello", "role": "student", "sid": f"student-{i:04d}"}))
            studs.append(w)
        lat: list[float] = []
        lost = 0

        async def recv_state(w, want: str) -> float | None:
            end = time.monotonic() + 15
            while time.monotonic() < end:
                try:
                    m = json.loads(await asyncio.wait_for(w.recv(), end - time.monotonic()))
                except asyncio.TimeoutError:
                    return None
                if m["type"] == "state" and m["state"].get("head") == want:
                    return time.time() * 1000 - m["ts"]
            return None

        for k in range(changes):
            waits = [asyncio.create_task(recv_state(w, str(k))) for w in studs]
            await asyncio.sleep(0.05)
            await t.send(json.dumps({"type": "state", "state": {"view": "attention", "head": str(k)},
                                     "ts": time.time() * 1000}))
            for d in await asyncio.gather(*waits):
                if d is None:
                    lost += 1
                else:
                    lat.append(d)
        await t.send(json.dumps({"type": "ask", "query": 0, "query_token": "it", "tokens": ["a", "b", "c", "d"]}))
        await asyncio.sleep(1)
        for i, w in enumerate(studs):
            await w.send(json.dumps({"type": "answer", "index": i % 4}))
        end = time.monotonic() + 30
        answered, seq = -1, 0
        while time.monotonic() < end and answered != n:
            try:
                m = json.loads(await asyncio.wait_for(t.recv(), 5))
            except asyncio.TimeoutError:
                break
            if m["type"] == "tally" and m["seq"] > seq:  # the highest sequence number is the latest count
                answered, seq = m["answered"], m["seq"]
        lat.sort()
        p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
        print(f"machine: {os.cpu_count()} CPUs; teacher, {n} clients, 2 replicas and redis-server all on it")
        print(f"students={n} replicas=2 view_changes={changes} deliveries={len(lat)} lost={lost}")
        print(f"follow latency ms: p50={statistics.median(lat):.0f} p95={p95:.0f} max={lat[-1]:.0f}")
        print(f"answers counted: {answered} of {n}")
        for w in [t, *studs]:
            await w.close()
        return 0 if lost == 0 and answered == n else 1
    finally:
        for p, _ in reps:
            stop(p)
        stop(redis)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args()
    sys.exit(asyncio.run(main(args.students, args.changes)))
