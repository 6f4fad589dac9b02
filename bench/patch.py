"""Benchmark: activation patching of every head of SmolLM2 on a ~20-token prompt, against one forward pass.

Prints, for ``smollm2`` (SmolLM2-135M-Instruct, 30 layers x 9 heads = 270 heads):
1. one bare forward pass (batch 1, the clean prompt), median seconds;
2. ``attnscope.inspection.patch.patch`` over all L·H heads (metric logit_diff, the IOI pair lengthened to
   ~20 tokens): the forward passes it ran against the goal ``1 + L·H / 32``, its seconds (the first,
   cold run and the median of the warm ones), and the seconds as a multiple of one forward pass;
3. the same patched runs without prefix sharing (every row from the embeddings), to show what running
   each batch from its first patched layer saves.

On a CPU a batch of 32 rows costs far more than one row (the work is the FLOPs), so the time multiple is
well above the count of passes; on a GPU a 32-row pass of 20 tokens costs about one row's time. The
machine and its load are printed: numbers from a shared machine are slower than on an idle one.

Run: ``.venv/bin/python bench/patch.py [--repeats 3] [--threads 0]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from attnscope.builtin.train import cpu_name  # noqa: E402
from attnscope.inspection.patch import BATCH, Site, forwards_goal, patch, patched_logits  # noqa: E402
from attnscope.inspection.registry import Registry  # noqa: E402
from attnscope.settings import Settings  # noqa: E402

CLEAN = "When Mary and John went to the big store after school on Friday, John gave a cold drink to"
CORRUPT = "When Mary and John went to the big store after school on Friday, Mary gave a cold drink to"


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("attnscope").setLevel(logging.WARNING)
    adapter = Registry(Settings()).get("smollm2")
    info, model = adapter.info, adapter.model
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, load average {load:.1f}; torch {torch.__version__}")
    n = adapter.count_tokens(CLEAN)
    assert n == adapter.count_tokens(CORRUPT)
    heads = info.layers * info.heads
    goal = forwards_goal(info.layers, info.heads, BATCH)
    print(f"model: smollm2, {info.layers} layers x {info.heads} heads = {heads} heads; prompt {n} tokens; "
          f"batch {BATCH}; medians of {args.repeats} warm runs")

    inputs, _ = adapter.inputs(CLEAN)

    def bare():
        with torch.inference_mode():
            return model(**inputs, use_cache=False)

    bare()
    cold, grid = timed(lambda: patch(adapter, CLEAN, CORRUPT))
    rows = [[Site("head", layer, h)] for layer in range(info.layers) for h in range(info.heads)]
    ones, shared, plain = [], [], []
    for i in range(args.repeats):  # interleaved (alternating order), so a change in machine load hits all three
        runs = [(ones, bare), (shared, lambda: patch(adapter, CLEAN, CORRUPT)),
                (plain, lambda: patched_logits(adapter, CLEAN, CORRUPT, rows, share_prefix=False))]
        for times, fn in runs if i % 2 == 0 else runs[::-1]:
            times.append(timed(fn)[0])
    one, warm, flat = (statistics.median(t) for t in (ones, shared, plain))
    print(f"1. one forward pass (batch 1, {n} tokens): {one * 1000:.1f} ms")
    print(f"2. patch every head: {grid.forwards} forward passes (goal 1 + L*H/32 = {goal:.2f}; "
          f"ratio {grid.forwards / goal:.2f}); cold {cold:.2f} s, warm {warm:.2f} s = "
          f"{warm / one:.1f} forward passes' time (goal {goal:.2f}: ratio {warm / one / goal:.1f})")
    top = sorted(((e, layer, h) for layer, row in enumerate(grid.effects) for h, e in enumerate(row)), reverse=True)
    print("   answer {!r} vs foil {!r}: m(clean) {:.2f}, m(corrupt) {:.2f}; top heads {}".format(
        grid.answer["token"], grid.foil["token"], grid.clean_value, grid.corrupt_value,
        ", ".join(f"{layer}.{h} {e:.2f}" for e, layer, h in top[:3])))
    print(f"3. without prefix sharing (every row from the embeddings): {flat:.2f} s = {flat / one:.1f} "
          f"forward passes' time; prefix sharing saves {1 - warm / flat:.0%}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f}")


if __name__ == "__main__":
    main()
