"""The head atlas: prompts per second for SmolLM2 here and on a 2-worker local Ray cluster, in one run.

Printed as numbers and a ratio (README "Head atlas"): the local run (one process, torch on every core), then
the same atlas on Ray (``--workers`` actors of one thread each, each loading the model itself from its id,
as actors on a cluster's nodes would), with the cluster's start and the actors' model loads timed apart
from the scoring. The scores of both runs are compared (they must agree to 1e-6).

    python bench/atlas.py [--model smollm2] [--prompts 40] [--length 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--length", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", default="previous,induction,duplicate,sink")
    args = ap.parse_args()

    import ray
    import torch

    from attnscope.inspection.atlas import head_atlas
    from attnscope.inspection.registry import shared_registry

    adapter = shared_registry().get(args.model)
    kw = dict(prompts=args.prompts, length=args.length, seed=0)
    head_atlas(adapter, args.tasks, prompts=2, length=args.length, seed=1)  # warm-up
    t0 = time.perf_counter()
    here = head_atlas(adapter, args.tasks, **kw)
    local_s = time.perf_counter() - t0
    n = sum(len(v) for t, v in here.inputs.items() if t in ("previous", "previous_text"))  # prompts run

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - t0
    first: list[float] = []
    t0 = time.perf_counter()
    far = head_atlas(adapter, args.tasks, ray="local", workers=args.workers, model_ref=args.model,
                     progress=lambda d, t: first.append(time.perf_counter() - t0) if not first else None, **kw)
    ray_s = time.perf_counter() - t0
    ray.shutdown()
    diff = max(float(np.nanmax(np.abs(far.per_prompt[t] - here.per_prompt[t]))) for t in here.tasks)

    print(f"head atlas · {args.model} · {n} prompts of {len(here.inputs[here.tasks[0]][0])} tokens "
          f"({', '.join(here.tasks)}) · torch threads here {torch.get_num_threads()}")
    print(f"  local:                      {local_s:7.2f} s  {n / local_s:7.1f} prompts/s  "
          f"{1000 * local_s / n:7.1f} s per 1,000 prompts")
    print(f"  ray, {args.workers} workers (end to end):  {ray_s:7.2f} s  {n / ray_s:7.1f} prompts/s  "
          f"(+ {init_s:.1f} s to start the local cluster)")
    print(f"  ray, first batch back after {first[0]:.1f} s (actors loading the model)")
    print(f"  ratio ray / local (prompts/s, end to end): {local_s / ray_s:.2f}x")
    print(f"  largest score difference ray vs local: {diff:.1e} (must be <= 1e-6)")


if __name__ == "__main__":
    main()
