"""Bounded load test against a real server on 127.0.0.1.

Starts ``uvicorn attnscope_server.main:app`` on a free loopback port, then:
1. serial baseline: R requests one after another;
2. 50 concurrent clients sending a fixed number of mixed requests (models, attention of new and
   repeated sentences on every configured model, health);
3. memory: the server's RSS after each phase, and after many *different* sentences (the trace cache
   is bounded in bytes, so memory must stay flat).

Prints errors (must be 0), throughput concurrent/serial, and peak memory. Every loop is bounded
in count and time; only 127.0.0.1 is contacted.

Run: ``.venv/bin/python bench/load.py [--clients 50] [--requests 400]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("the cat sat on a mat while students watched attention heads move across long sentences about "
         "rivers banks apples machines thinking").split()
FR = "je suis étudiant|le chat noir|elle n'est pas grande|nous avons un chien|il est médecin".split("|")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def random_sentence(rng: random.Random, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_requests(rng: random.Random, count: int, models: list[dict]) -> list[tuple[str, str, dict | None]]:
    out = []
    ids = [m["id"] for m in models if not m.get("error")]
    for i in range(count):
        kind = i % 10
        if kind == 0:
            out.append(("GET", "/api/models", None))
        elif kind == 1:
            out.append(("GET", "/healthz", None))
        else:
            mid = ids[i % len(ids)]
            m = next(m for m in models if m["id"] == mid)
            text = rng.choice(FR) if m["kind"] == "encoder-decoder" else random_sentence(rng, rng.randint(4, 40))
            out.append(("POST", "/api/attention", {"model": mid, "text": text, "format": "f16",
                                                   "layer": rng.randrange(m["layers"])}))
    return out


async def run(client: httpx.AsyncClient, reqs, clients: int) -> tuple[int, float, list[str]]:
    queue: asyncio.Queue = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    errors: list[str] = []

    async def worker():
        while not queue.empty():
            method, path, body = queue.get_nowait()
            try:
                r = await client.request(method, path, json=body, timeout=300)
                if r.status_code != 200:
                    errors.append(f"{path} {r.status_code} {r.text[:120]}")
            except httpx.HTTPError as exc:
                errors.append(f"{path} {type(exc).__name__}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return len(reqs), time.perf_counter() - t0, errors


async def main_async(args) -> int:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATTNSCOPE_TRACE_CACHE_BYTES": str(args.cache_mb * 2**20)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            models = (await client.get("/api/models", timeout=300)).json()["models"]
            rng = random.Random(0)
            await run(client, make_requests(rng, 20, models), 1)  # warm-up: every model loaded
            print(f"machine: {platform.machine()}, {os.cpu_count()} cores; models: "
                  f"{', '.join(m['id'] for m in models if not m.get('error'))}")
            print(f"server RSS after warm-up: {rss_mb(server.pid)[0]:.0f} MB")
            n, t_serial, e1 = await run(client, make_requests(rng, args.serial, models), 1)
            print(f"serial:     {n} requests in {t_serial:.1f} s = {n / t_serial:.1f} req/s, errors {len(e1)}")
            n2, t_conc, e2 = await run(client, make_requests(rng, args.requests, models), args.clients)
            print(f"concurrent: {args.clients} clients, {n2} requests in {t_conc:.1f} s = {n2 / t_conc:.1f} req/s, "
                  f"errors {len(e2)}; throughput ratio concurrent/serial {(n2 / t_conc) / (n / t_serial):.2f}")
            rss = []
            for _ in range(args.rounds):
                await run(client, make_requests(rng, args.requests // 2, models), args.clients)
                rss.append(rss_mb(server.pid)[0])
            cur, peak = rss_mb(server.pid)
            print(f"memory over {args.rounds} rounds of new sentences (RSS MB): {' '.join(f'{x:.0f}' for x in rss)}; "
                  f"peak {peak:.0f} MB; trace cache bound {args.cache_mb} MB")
            for e in (e1 + e2)[:10]:
                print("  error:", e)
            return 1 if e1 or e2 else 0
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--serial", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--cache-mb", type=int, default=128)
    raise SystemExit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
