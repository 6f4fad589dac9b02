"""Benchmark: a class on one server. 30 students on 127.0.0.1 while 5 of them generate.

Starts ``uvicorn attnscope_server.main:app`` on a free loopback port, then, for each of ``--rounds`` rounds, runs one
lesson's work twice:
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
SUBJECTS = "je|tu|il|elle|nous|vous|ils|elles".split("|")
VERBS = "mange|regarde|cherche|aime|voit".split("|")
OBJECTS = "le chat|la pomme|un livre|une robe|le gâteau|la maison|un ballon|le vélo|la fleur|une voiture".split("|")


def french(rng: random.Random) -> str:
    """A sentence in the textbook model's small French vocabulary."""
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"


#: the generating students' prompts (each gets three random words after it, new in every run)
GEN_PROMPTS = ["Once upon a time", "The weather today is", "My favourite animal is", "In the library we",
               "A transformer is"]
WORDS = "students watched attention heads move across long sentences about rivers banks apples machines".split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def student_requests(mix: random.Random, texts: random.Random, n: int, teacher: list[str]) -> list[tuple[str, str, dict]]:
    """One student's clicks: (kind, path, body). ``mix`` picks views, models, layers and lengths (the
    same for a serial and a class run, so both do the same work); ``texts`` picks the words."""
    out = []
    for _ in range(n):
        model = mix.choice(["minilm", "minilm", "textbook"])
        if model == "textbook":
            text = french(texts)
        elif mix.random() < 0.7:
            text = teacher[mix.randrange(len(teacher))]
        else:
            text = words(texts, mix.randint(5, 30))
        layers, heads = (6, 12) if model == "minilm" else (2, 4)
        view = mix.choice(["attention", "attention", "steps", "model"])
        if view == "attention":
            out.append(("attention", "/api/attention",
                        {"model": model, "text": text, "layer": mix.randrange(layers), "format": "u8"}))
        elif view == "model":
            out.append(("model", "/api/attention", {"model": model, "text": text, "format": "u8"}))
        else:
            out.append(("steps", "/api/steps", {"model": model, "text": text, "layer": mix.randrange(layers),
                                                "head": mix.randrange(heads), "query": 1}))
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
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--host", "127.0.0.1",
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

            def lesson(r: int, phase: int) -> tuple[list, list]:
                """Round ``r``'s work (the same for its serial and class runs) with run ``phase``'s words."""
                mix, texts = random.Random(r), random.Random(1000 + phase)
                teacher = [words(texts, n) for n in (12, 18, 25)]  # the teacher's sentences of this run
                plans = [student_requests(mix, texts, args.per_student, teacher) for _ in range(args.students)]
                gens = [[("generate", "/api/generate", {**gen, "text": f"{GEN_PROMPTS[i % 5]} {words(texts, 3)}"})
                         for _ in range(args.generations)] for i in range(args.generators)]
                return plans, gens

            async def run(phase: int, at_once: bool, lat: dict, errors: list) -> tuple[int, float]:
                """One lesson's work (phase: which sentences), one request after another or everyone at once."""
                plans, gens = lesson(phase // 2, phase)
                think = random.Random(phase)

                async def person(plan, pause):
                    for kind, path, body in plan:
                        await timed(client, kind, path, body, lat, errors)
                        if pause and at_once:
                            await asyncio.sleep(think.uniform(0, 0.05))  # reading the answer

                t0 = time.perf_counter()
                if at_once:
                    await asyncio.gather(*(person(p, True) for p in plans), *(person(g, False) for g in gens))
                else:
                    for plan in plans + gens:
                        await person(plan, False)
                return sum(len(p) for p in plans + gens), time.perf_counter() - t0

            # serial and class alternate, so a shared machine's load drifts over both alike
            lat_s: dict = {}
            err_s: list = []
            lat: dict = {}
            errors: list = []
            n_serial = n_class = 0
            t_serial = t_class = 0.0
            ratios = []
            for r in range(args.rounds):
                n, t = await run(2 * r, False, lat_s, err_s)
                n_serial, t_serial = n_serial + n, t_serial + t
                n2, t2 = await run(2 * r + 1, True, lat, errors)
                n_class, t_class = n_class + n2, t_class + t2
                ratios.append((n2 / t2) / (n / t))
                print(f"round {r + 1}: serial {n} requests in {t:.1f} s, class {n2} in {t2:.1f} s: "
                      f"class/serial {ratios[-1]:.2f}")
            serial_rps, class_rps = n_serial / t_serial, n_class / t_class
            att = lat.get("attention", [])
            print(f"serial: {n_serial} requests ({args.rounds * args.generators * args.generations} generations) in "
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
    ap.add_argument("--rounds", type=int, default=2, help="serial and class runs, alternating")
    ap.add_argument("--generations", type=int, default=2, help="generations per generating student")
    raise SystemExit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
