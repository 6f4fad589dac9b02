"""Long context on a GPU: a 0.5B-parameter decoder at 100,000 tokens, q/k and tiles on the device.

The model is Qwen2-0.5B's architecture (24 layers, 14 query heads sharing 2 KV heads, RoPE) with random
weights built from its config (no download: the speed and memory of attention do not depend on the
weights' values), in bfloat16 on ``cuda``. Printed, measured in one run:

* a bare SDPA forward: seconds and peak GPU memory;
* the long trace (attention in 256-row chunks through AttnScope's capture function, q/k kept in
  float16 on the device): seconds, peak GPU memory, bytes kept; the ratio to the bare forward;
* an exact 256 × 256 tile, a pooled tile one level up, the z = 0 overview, one exact row: milliseconds;
* the eager-attention size the same input would need.

    python bench/long_context_gpu.py [--tokens 100000] [--device cuda]
    python bench/long_context_gpu.py --tokens 2048 --device cpu --small   # a smoke run without a GPU
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QWEN2_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=131072, rope_theta=1e6,
                 tie_word_embeddings=True)
SMALL = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=1000, max_position_embeddings=131072)


class _Tok:
    """A stand-in tokenizer: the bench feeds token ids directly."""

    eos_token_id = 0


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_gb(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")


def timed(fn, device: str, n: int = 5) -> float:
    """Median milliseconds of ``fn()`` over ``n`` runs (after one warm-up)."""
    fn()
    sync(device)
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="a 4-layer model (a smoke run)")
    args = ap.parse_args()
    import transformers

    from attnscope.inspection.capture import capture
    from attnscope.inspection.longctx.forward import LongRecorder
    from attnscope.inspection.longctx.store import LongTrace, TILE

    dev, t = args.device, args.tokens
    cfg = transformers.Qwen2Config(**(SMALL if args.small else QWEN2_05B))
    cfg._attn_implementation = "sdpa"
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    with torch.device(dev):
        model = transformers.Qwen2ForCausalLM(cfg).to(dtype).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, t), device=dev)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"long context on {dev}: Qwen2 architecture, {params:.2f}B parameters (random weights), {t} tokens")

    with torch.inference_mode():
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sync(dev)
        t0 = time.perf_counter()
        model(input_ids=ids, use_cache=False, logits_to_keep=1)
        sync(dev)
        bare_s, bare_peak = time.perf_counter() - t0, peak_gb(dev)

        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        pid = torch.zeros(t, dtype=torch.long)
        rec = LongRecorder(t, pid, 1, cfg.num_hidden_layers, "float16")
        t0 = time.perf_counter()
        with capture(model, long=rec):
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
        sync(dev)
        long_s, long_peak = time.perf_counter() - t0, peak_gb(dev)
    from attnscope.inspection.trace import Tokens

    toks = Tokens(text=[""] * t, ids=ids[0].tolist(), special=[False] * t, offsets=[None] * t)
    lt = LongTrace("bench", "qwen2-0.5b", toks, rec.stores, cfg.num_attention_heads, cfg.num_key_value_heads,
                   [{"index": 0, "start": 0, "end": t, "title": ""}], pid, rec.counts[0], rec.counts, rec.edges)
    levels = lt.zoom_levels
    n = -(-t // TILE)
    layer, head = cfg.num_hidden_layers // 2, 3
    exact = timed(lambda: lt._block_mean(layer, [head], (n - 1) * TILE, t, (n // 2) * TILE, (n // 2 + 1) * TILE), dev)
    up = timed(lambda: lt._pooled(layer, [head], 2, 0, min(t, 2 * TILE * 2), 0, min(t, 2 * TILE * 2), "max"), dev, 3)
    overview = timed(lambda: lt.layers[layer].pool_max[head].float().cpu(), dev)
    row = timed(lambda: lt._block_mean(layer, [head], t - 1, t, 0, t), dev)
    eager = cfg.num_hidden_layers * cfg.num_attention_heads * t * t * 4
    print(f"  bare SDPA forward      {bare_s:8.2f} s   peak {bare_peak:6.1f} GB")
    print(f"  long trace             {long_s:8.2f} s   peak {long_peak:6.1f} GB   kept {lt.nbytes() / 2**30:.2f} GB "
          f"({levels} zoom levels)")
    print(f"  ratio long / bare      {long_s / bare_s:8.2f}x")
    print(f"  exact 256x256 tile     {exact:8.2f} ms   pooled tile a level up {up:.2f} ms   "
          f"overview {overview:.2f} ms   one exact row {row:.2f} ms")
    print(f"  eager attention would hold {eager / 1e9:,.0f} GB")


if __name__ == "__main__":
    main()
