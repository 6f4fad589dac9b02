"""Benchmark: a class on one server. 30 students on 127.0.0.1 while 5 of them generate.

Starts ``uvicorn app.main:app`` on a free loopback port, then runs one lesson's work twice:
1. serial: every request of the lesson one after another (one client);
2. class: the same work at once: 30 simulated students (Attention: one layer, u8; Step by step: one
   head and query; Model view: all layers, u8; on ``minilm`` and ``textbook``; most type one of the
   teacher's sentences, some their own) while 5 of them generate on ``smollm2``.
The two runs use different sentences (the class must not find the serial run's traces cached) and
the same counts of each kind of request.

Prints errors (target 0), the attention requests' median and p95 latency in the class (target p95
<= 1 s) and the class's throughput against serial: serial time / class time for the same work
(target >= 0.9: serving 35 people at once loses no more than a tenth to contention).

Run: ``.venv/bin/python bench/classroom.py [--students 30] [--generators 5] [--per-student 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
#: the teacher's sentences, one set per phase, so the class does not find the serial phase's traces cached
TEACHER = [["The animal didn't cross the street because it was too tired",
            "Alice is wearing a jacket and she is freezing",
            "I sat on the bank of the river"],
           ["The trophy didn't fit in the suitcase because it was too big",
            "My favorite fruit is apple",
            "I deposited money at the bank"]]
FR = [["je suis étudiant", "le chat noir", "elle n'est pas grande"],
      ["nous avons un chien", "il est médecin", "je suis grand"]]
#: the generating students' prompts, one set per lesson
GEN_PROMPTS = [["Once upon a time", "The weather today is", "My favourite animal is", "In the library we",
                "A transformer is"],
               ["Long ago in a village", "Tomorrow it will be", "The best fruit is", "At the museum I",
                "Attention lets a model"]]
WORDS = "students watched attention heads move across long sentences about rivers banks apples machines".split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def student_requests(rng: random.Random, n: int, phase: int) -> list[tuple[str, str, dict]]:
    """One student's clicks: (kind, path, body)."""
    out = []
    for _ in range(n):
        model = rng.choice(["minilm", "minilm", "textbook"])
        if model == "textbook":
            text = rng.choice(FR[phase])
        elif rng.random() < 0.7:
            text = rng.choice(TEACHER[phase])
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
        layers, heads = (6, 12) if model == "minilm" else (2, 4)
        view = rng.choice(["attention", "attention", "steps", "model"])
        if view == "attention":
            out.append(("attention", "/api/attention",
                        {"model": model, "text": text, "layer": rng.randrange(layers), "format": "u8"}))
        elif view == "model":
            out.append(("model", "/api/attention", {"model": model, "text": text, "format": "u8"}))
        else:
            out.append(("steps", "/api/steps", {"model": model, "text": text, "layer": rng.randrange(layers),
                                                "head": rng.randrange(heads), "query": 1}))
    return out


async def timed(client, kind, path, body, lat: dict, errors: list) -> None:
    t0 = time.perf_counter()
    try:
        r = await client.post(path, json=body, timeout=300)
        if r.status_code != 200:
            errors.append(f"{kind} {r.status_code} {r.text[:120]}")
    except httpx.HTTPError as exc:
        errors.append(f"{kind} {type(exc).__name__}")
    lat.setdefault(kind, []).append(time.perf_counter() - t0)


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


async def main_async(args) -> int:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     limits=httpx.Limits(max_connections=100)) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            gen = {"model": "smollm2", "text": "Once upon a time", "max_new_tokens": 16}
            for m in ("minilm", "textbook"):
                (await client.post("/api/attention", json={"model": m, "text": "je suis ici", "layer": 0}, timeout=600)).raise_for_status()
            (await client.post("/api/generate", json=gen, timeout=600)).raise_for_status()
            print(f"machine: {platform.machine()}, {os.cpu_count()} cores; server: uvicorn on 127.0.0.1")

            def lesson(phase: int) -> tuple[list, list]:
                rng = random.Random(phase)
                plans = [student_requests(rng, args.per_student, phase) for _ in range(args.students)]
                gens = [[("generate", "/api/generate", {**gen, "text": GEN_PROMPTS[phase][i % 5], "seed": i})
                         for _ in range(args.generations)] for i in range(args.generators)]
                return plans, gens

            # serial: the first lesson's work one request after another
            plans, gens = lesson(0)
            lat_s: dict = {}
            err_s: list = []
            t0 = time.perf_counter()
            for plan in plans + gens:
                for kind, path, body in plan:
                    await timed(client, kind, path, body, lat_s, err_s)
            t_serial = time.perf_counter() - t0
            n_serial = sum(len(p) for p in plans + gens)

            # class: the second lesson's work (same counts, other sentences), everyone at once
            plans, gens = lesson(1)
            lat: dict = {}
            errors: list = []
            think = random.Random(3)

            async def person(plan, pause):
                for kind, path, body in plan:
                    await timed(client, kind, path, body, lat, errors)
                    if pause:
                        await asyncio.sleep(think.uniform(0, 0.05))  # reading the answer

            t0 = time.perf_counter()
            await asyncio.gather(*(person(p, True) for p in plans), *(person(g, False) for g in gens))
            t_class = time.perf_counter() - t0
            n_class = sum(len(p) for p in plans + gens)
            serial_rps, class_rps = n_serial / t_serial, n_class / t_class
            att = lat.get("attention", [])
            print(f"serial: {n_serial} requests ({args.generators * args.generations} generations) in "
                  f"{t_serial:.1f} s = {serial_rps:.1f} req/s, errors {len(err_s)}")
            print(f"class: {args.students} students + {args.generators} generating, {n_class} requests in "
                  f"{t_class:.1f} s = {class_rps:.1f} req/s; errors {len(errors)}")
            for kind in ("attention", "steps", "model", "generate"):
                xs = lat.get(kind, [])
                if xs:
                    print(f"  {kind:<9} n={len(xs):>4} median {statistics.median(xs) * 1000:>7.0f} ms  "
                          f"p95 {p95(xs) * 1000:>7.0f} ms")
            print(f"attention p95 {p95(att):.2f} s (target <= 1 s); throughput class/serial "
                  f"{class_rps / serial_rps:.2f} (target >= 0.9); errors {len(errors) + len(err_s)} (target 0)")
            for e in (err_s + errors)[:10]:
                print("  error:", e)
            return 1 if errors or err_s else 0
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--generators", type=int, default=5)
    ap.add_argument("--per-student", type=int, default=8)
    ap.add_argument("--generations", type=int, default=2, help="generations per generating student")
    raise SystemExit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
