"""Long context: SmolLM2 at ~8,000 tokens on this machine, the long trace against a bare SDPA forward.

Printed as numbers and ratios measured in one run (README "Performance"):

* the long trace's time ÷ a bare SDPA forward of the same input (target ≤ 1.5×);
* the server's peak memory − the bare forward's peak (target ≤ 800 MB);
* one exact 256 × 256 tile, and one pooled tile a level up (target ≤ 50 ms for the exact one);
* the eager-attention size the same input would need (L × H × T² float32);
* in the page (Chromium at 1366 × 768, bench/long_context_page.py): the Long view's first overview painted after
  the stream's final trace line (target ≤ 1 s), and each wheel step to the exact level that needs tiles not yet
  loaded, from the wheel event to their paint (median and max; target ≤ 150 ms).

The bare forward runs in a fresh process (its peak RSS is its own); the long trace runs in a real
uvicorn server through POST /api/long, whose peak RSS (VmHWM) is read from /proc (before the page's own run of
the same text through /api/long/stream; --no-page skips the page).

    python bench/long_context.py [--tokens 8000] [--model smollm2] [--no-page]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ROOT, serving  # noqa: E402
from bench.long_context_page import measure, report  # noqa: E402


def long_text(tokens: int) -> str:
    """Passages of the README (blank-line separated), repeated to about ``tokens`` SmolLM2 tokens."""
    paras = [p.strip() for p in (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    out, n = [], 0
    while n < tokens * 4:  # ~4 characters per token
        p = paras[len(out) % len(paras)]
        out.append(p)
        n += len(p)
    return "\n\n".join(out)


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bare(model: str, tokens: int) -> None:
    """Child mode: one SDPA forward of the text's first ``tokens`` tokens; print JSON {seconds, peak_mb, t}."""
    import torch

    from attnscope.inspection.registry import shared_registry

    adapter = shared_registry().get(model)
    text = long_text(tokens)
    enc, toks = adapter.tokenized(text)
    ids = enc["input_ids"][:, :tokens]
    chars = next(o[1] for o in reversed(toks.offsets[:tokens]) if o is not None)  # where the server's text ends
    m = adapter.model
    before = m.config._attn_implementation
    m.set_attn_implementation("sdpa")
    base_peak = peak_mb(os.getpid())
    with torch.inference_mode():
        t0 = time.perf_counter()
        m(input_ids=ids, use_cache=False, logits_to_keep=1)
        seconds = time.perf_counter() - t0
    m.set_attn_implementation(before)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(os.getpid()), "loaded_mb": base_peak,
                      "t": int(ids.shape[1]), "chars": chars}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=8000)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--no-page", action="store_true", help="skip the page timings (Chromium)")
    ap.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        return bare(args.model, args.tokens)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run([sys.executable, __file__, "--bare", "--tokens", str(args.tokens), "--model", args.model],
                         capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    b = json.loads(out.stdout.strip().splitlines()[-1])
    import httpx

    with serving(preload=json.dumps([args.model]), ATTNSCOPE_LONG_MAX_BYTES=str(4 << 30),
                 ATTNSCOPE_LOAD_AT_START="false") as (base, server):
        client = httpx.Client(base_url=base, timeout=3600)
        loaded = peak_mb(server.pid)
        text = long_text(args.tokens)[: b["chars"]]  # the same tokens: cut where the bare forward cut
        t0 = time.perf_counter()
        r = client.post("/api/long", json={"model": args.model, "text": text})
        wall = time.perf_counter() - t0
        r.raise_for_status()
        head = r.json()
        peak = peak_mb(server.pid)
        tid, levels, t = head["trace_id"], head["zoom_levels"], len(head["tokens"])
        times = {}
        for name, z in (("exact", levels - 1), ("level up", levels - 2)):
            ms = []
            for i in range(8):
                n = -(-t // (256 * 2 ** (levels - 1 - z)))
                q = dict(layer=(3 * i) % head["layers"], head=i % head["heads"], z=z, x=i % n, y=n - 1, format="u8")
                t1 = time.perf_counter()
                client.get(f"/api/long/{tid}/tile", params=q, headers={"Accept": "application/octet-stream"})
                ms.append((time.perf_counter() - t1) * 1000)
            times[name] = statistics.median(ms)
        page, page_error = None, None
        if not args.no_page:
            try:
                page = measure(base, args.model, text, run_timeout_s=3 * head["seconds"] + 180)
            except Exception as exc:  # noqa: BLE001  (the server's numbers still print; say why the page's not)
                page_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    eager = head["layers"] * head["heads"] * t * t * 4
    print(f"long context: {args.model}, {t} tokens ({levels} zoom levels), kept {head['bytes_kept'] / 2**20:.0f} MB "
          f"({head['dtype']} q/k); eager attention would hold {eager / 1e9:.1f} GB")
    print(f"  bare SDPA forward        {b['seconds']:8.1f} s   peak {b['peak_mb']:7.0f} MB (loaded {b['loaded_mb']:.0f})")
    print(f"  long trace (server)      {head['seconds']:8.1f} s   wall {wall:.1f} s   peak {peak:7.0f} MB "
          f"(loaded {loaded:.0f})")
    print(f"  ratio long / bare        {head['seconds'] / b['seconds']:8.2f}x  (target <= 1.5x)")
    print(f"  peak over the bare's     {peak - b['peak_mb']:8.0f} MB (target <= 800 MB)")
    print(f"  exact 256x256 tile       {times['exact']:8.1f} ms median of 8 over HTTP (target <= 50 ms)")
    print(f"  pooled tile, a level up  {times['level up']:8.1f} ms median of 8 over HTTP")
    if page:
        if page["tokens"] != t:
            print(f"  (the page's run had {page['tokens']} tokens)")
        print("\n".join(report(page)))
    elif page_error:
        print(f"  page (Chromium)                not measured: {page_error}")


if __name__ == "__main__":
    main()
