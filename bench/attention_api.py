"""Benchmark: POST /api/attention against a bare forward pass, and payload sizes.

Prints, for MiniLM at 16, 64 and 256 tokens:
- the median time of POST /api/attention (one layer, f16; a new sentence each time, so the model runs)
  against a bare ``model(**inputs, output_attentions=True)`` on the same texts, as a ratio
  (target: <= 1.5 at 64 tokens);
- the median time of asking for a second layer of the same sentence, as a ratio to the first request
  (target: <= 0.5: the trace cache answers);
- the bytes of all layers as ``json`` vs ``f16``.

Run: ``make bench`` (or ``.venv/bin/python bench/attention_api.py [--repeats N]``).
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
from fastapi.testclient import TestClient  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.inspect.registry import Registry  # noqa: E402
from app.main import create_app  # noqa: E402

WORDS = ("the cat sat on a mat while students watched attention heads move across long sentences "
         "about rivers banks apples machines and thinking").split()


def sentence(tokenizer, n_tokens: int, rng: random.Random) -> str:
    """A random sentence that tokenises to exactly ``n_tokens`` (special tokens included)."""
    words: list[str] = []
    while len(tokenizer(" ".join(words))["input_ids"]) < n_tokens:
        words.append(rng.choice(WORDS))
    while len(tokenizer(" ".join(words))["input_ids"]) > n_tokens:
        words.pop()
    text = " ".join(words)
    assert len(tokenizer(text)["input_ids"]) == n_tokens, (n_tokens, text)
    return text


def median_ms(fn, items) -> float:
    times = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    for name in ("httpx", "httpx2", "attnscope"):
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    registry = Registry(Settings())
    adapter = registry.get("minilm")
    model, tok = adapter.model, adapter.tokenizer
    rng = random.Random(0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"{'tokens':>6} {'bare ms':>8} {'api ms':>8} {'ratio':>6} {'2nd layer ms':>12} {'2nd/1st':>8} "
          f"{'json bytes':>11} {'f16 bytes':>10} {'json/f16':>8}")
    with TestClient(create_app(registry=registry)) as client:
        for n in (16, 64, 256):
            texts = [sentence(tok, n, rng) for _ in range(args.repeats)]
            warm = sentence(tok, n, rng)
            client.post("/api/attention", json={"model": "minilm", "text": warm, "layer": 0, "format": "f16"})

            def bare(text):
                with torch.inference_mode():
                    model(**tok(text, return_tensors="pt"), output_attentions=True)

            def api_first(text):
                r = client.post("/api/attention", json={"model": "minilm", "text": text, "layer": 0, "format": "f16"})
                r.raise_for_status()

            def api_second(text):
                r = client.post("/api/attention", json={"model": "minilm", "text": text, "layer": 1, "format": "f16"})
                r.raise_for_status()

            bare(warm)
            t_bare = median_ms(bare, texts)
            t_api = median_ms(api_first, texts)
            t_second = median_ms(api_second, texts)
            j = len(client.post("/api/attention", json={"model": "minilm", "text": texts[0]}).content)
            f = len(client.post("/api/attention", json={"model": "minilm", "text": texts[0], "format": "f16"}).content)
            print(f"{n:>6} {t_bare:>8.1f} {t_api:>8.1f} {t_api / t_bare:>6.2f} {t_second:>12.1f} "
                  f"{t_second / t_api:>8.2f} {j:>11,} {f:>10,} {j / f:>8.1f}")
    print("targets: api/bare <= 1.5 at 64 tokens; 2nd layer / 1st <= 0.5")


if __name__ == "__main__":
    main()
