"""``attnscope atlas``: the head atlas from the command line (a progress bar on stderr, JSON out)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from attnscope.inspection.atlas.tasks import LENGTH_RANGE, PROMPTS_RANGE, TASKS


def add_parser(sub) -> None:
    a = sub.add_parser("atlas", help="score every head (previous, induction, duplicate, sink, retrieval...) "
                                     "over many prompts, here or on a Ray cluster")
    a.add_argument("model", help="a configured model id or a local transformers model folder")
    a.add_argument("--tasks", default="previous,induction,duplicate,sink",
                   help=f"comma-separated, of: {', '.join(TASKS)} (previous brings previous_text, on natural text)")
    a.add_argument("--prompts", type=int, default=20, help="prompts per kind (random, natural text, needles): 1-1000")
    a.add_argument("--length", type=int, default=16, help="length of one copy of a random prompt (2-512)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--corpus", default=None, metavar="FILE.txt|.jsonl",
                   help="natural text for previous_text, entropy, distance and retrieval (default: the shipped corpus)")
    a.add_argument("--ray", default=None, metavar="local|ADDRESS",
                   help="score on Ray actors: 'local' starts a local Ray instance; an address joins a cluster")
    a.add_argument("--workers", type=int, default=2, help="Ray actors, one model copy each (with --ray)")
    a.add_argument("--out", default=None, metavar="FILE.json", help="write the JSON here (default stdout)")
    a.set_defaults(fn=run)


class Bar:
    """``attnscope atlas [#######.............] 12/40 prompts  3.1 s`` on stderr, rewritten in place."""

    def __init__(self, width: int = 30):
        self.width, self.t0 = width, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        full = int(self.width * done / max(total, 1))
        sys.stderr.write(f"\rattnscope atlas [{'#' * full}{'.' * (self.width - full)}] prompt {done}/{total}"
                         f"  {time.monotonic() - self.t0:.1f} s")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from attnscope.inspection.atlas.core import head_atlas, load_local
    from attnscope.inspection.atlas.tasks import parse_tasks
    from attnscope.inspection.atlas.text import read_corpus

    try:
        tasks = parse_tasks(args.tasks)
        for name, value, (lo, hi) in (("--prompts", args.prompts, PROMPTS_RANGE),
                                      ("--length", args.length, LENGTH_RANGE), ("--workers", args.workers, (1, 256))):
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be from {lo} to {hi}, not {value}")
        corpus = read_corpus(args.corpus) if args.corpus else None
    except ValueError as exc:
        print(f"attnscope atlas: {exc}", file=sys.stderr)
        return 2
    try:
        if os.path.isdir(args.model):
            adapter = load_local(args.model)
        else:
            from attnscope.inspection.registry import shared_registry

            adapter = shared_registry().get(args.model)
        atlas = head_atlas(adapter, tasks, prompts=args.prompts, length=args.length, seed=args.seed,
                           progress=Bar(), corpus=corpus, ray=args.ray, workers=args.workers,
                           model_ref=os.path.abspath(args.model) if os.path.isdir(args.model) else
                           (args.model if args.ray else None))
    except (ValueError, LookupError, RuntimeError, OSError, ImportError) as exc:
        print(f"attnscope atlas: {exc}", file=sys.stderr)
        return 2
    data = atlas.to_json()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(data, f)
        print(f"attnscope atlas: {len(data['heads'])} heads -> {args.out}", file=sys.stderr)
    else:
        json.dump(data, sys.stdout)
        sys.stdout.write("\n")
    return 0
