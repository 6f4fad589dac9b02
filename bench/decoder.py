"""Benchmark: what attention capture costs on SmolLM2, for one forward pass and for generation.

Prints, for ``smollm2`` (SmolLM2-135M-Instruct, 30 layers x 9 heads):
1. the median time of ``adapter.trace(text)`` (every layer's Q, K, V, weights... captured by hooks;
   a new text each time, so nothing is cached) against a bare ``model(**inputs)`` on the same texts,
   at 64 tokens, and their ratio;
2. generation speed in tokens/s: ``attnscope.inspection.generate.generate(..., "greedy")`` (KV cache, every
   step's attention row and top candidates) against plain ``model.generate(do_sample=False,
   max_new_tokens=N)`` on the same prompts, and their ratio. Greedy gives both the same tokens.

Medians over ``--repeats`` runs, each on a different text. The machine is named: numbers from a
shared or loaded machine (see the load average) are slower than on an idle one.

Run: ``.venv/bin/python bench/decoder.py [--repeats 5] [--new-tokens 32]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from attnscope.settings import Settings  # noqa: E402
from attnscope.inspection.generate import generate  # noqa: E402
from attnscope.inspection.registry import Registry  # noqa: E402

WORDS = ("the cat sat on a mat while students watched attention heads move across long sentences "
         "about rivers banks apples machines and thinking").split()
from attnscope.builtin.train import cpu_name  # noqa: E402  (the CPU's model name, as the model card records it)

PROMPTS = ["Once upon a time", "The animal didn't cross the street because", "The capital of France is",
           "Alice is wearing a jacket and she is", "In the morning the students", "My favourite fruit is",
           "The best way to learn a language is", "Yesterday the weather was"]




def sentence(tokenizer, n_tokens: int, rng: random.Random) -> str:
    """A random sentence that tokenises to exactly ``n_tokens``."""
    words: list[str] = []
    while len(tokenizer(" ".join(words))["input_ids"]) < n_tokens:
        words.append(rng.choice(WORDS))
    while len(tokenizer(" ".join(words))["input_ids"]) > n_tokens:
        words.pop()
    text = " ".join(words)
    assert len(tokenizer(text)["input_ids"]) == n_tokens, (n_tokens, text)
    return text


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64, help="input length of the forward-pass comparison")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("attnscope").setLevel(logging.WARNING)
    registry = Registry(Settings())
    adapter = registry.get("smollm2")  # alone: no other model loads at the same time
    model, tok = adapter.model, adapter.tokenizer
    rng = random.Random(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, load average {load:.1f}; torch {torch.__version__}, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"model: smollm2 ({adapter.info.name}), {adapter.info.layers} layers x {adapter.info.heads} heads "
          f"({adapter.info.kv_heads} KV heads); medians of {args.repeats} runs")

    # 1. one forward pass at --tokens tokens
    texts = [sentence(tok, args.tokens, rng) for _ in range(args.repeats)]
    warm = sentence(tok, args.tokens, rng)

    def bare(text: str):
        with torch.inference_mode():
            return model(**tok(text, return_tensors="pt"))

    bare(warm)
    adapter.trace(warm)
    bares, traces = [], []
    for i, t in enumerate(texts):  # interleaved (alternating order), so a change in machine load hits both
        pair = [("bare", lambda t=t: bare(t)), ("trace", lambda t=t: adapter.trace(t))]
        for name, fn in pair if i % 2 == 0 else pair[::-1]:
            (bares if name == "bare" else traces).append(timed(fn)[0] * 1000)
    t_bare, t_trace = statistics.median(bares), statistics.median(traces)
    ratio = statistics.median(tr / b for tr, b in zip(traces, bares, strict=True))
    print(f"\nforward at {args.tokens} tokens: bare model(**inputs) {t_bare:.0f} ms, "
          f"adapter.trace (attention capture) {t_trace:.0f} ms; ratio trace / bare {ratio:.2f} "
          f"(median of the per-text ratios)")

    # 2. generation, greedy, --new-tokens new tokens
    n = args.new_tokens
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.repeats)]

    def plain(prompt: str) -> list[int]:
        enc = tok(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=False, max_new_tokens=n, pad_token_id=tok.pad_token_id)
        return out[0, enc["input_ids"].shape[1]:].tolist()

    def ours(prompt: str) -> list[int]:
        return [s.id for s in generate(adapter, prompt, "greedy", max_new_tokens=n)]

    plain(prompts[0])
    ours(prompts[0])
    rates_plain, rates_ours, same = [], [], 0
    for i, p in enumerate(prompts):
        runs = {}
        for name in ("plain", "ours") if i % 2 == 0 else ("ours", "plain"):
            runs[name] = timed(lambda p=p, name=name: (plain if name == "plain" else ours)(p))
        (dt_p, ids_p), (dt_o, ids_o) = runs["plain"], runs["ours"]
        rates_plain.append(len(ids_p) / dt_p)
        rates_ours.append(len(ids_o) / dt_o)
        same += ids_p == ids_o
    r_plain, r_ours = statistics.median(rates_plain), statistics.median(rates_ours)
    ratio = statistics.median(a / b for a, b in zip(rates_plain, rates_ours, strict=True))
    print(f"greedy generation of {n} tokens: model.generate {r_plain:.1f} tokens/s, "
          f"generate() with per-step attention {r_ours:.1f} tokens/s; ratio plain / ours {ratio:.2f} "
          f"(median of the per-prompt ratios); same tokens on {same} of {len(prompts)} prompts")


if __name__ == "__main__":
    main()
