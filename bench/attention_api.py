"""Benchmark: POST /api/attention over real HTTP against a bare forward pass, and payload sizes.

Starts uvicorn on 127.0.0.1 (a real server, not TestClient) and prints, for MiniLM at 16, 64 and 256
tokens, timed back to back on this machine:
- the median time of POST /api/attention (one layer, f16; a new sentence each time, so the model
  runs) against a bare ``model(**inputs, output_attentions=True)`` on the same texts, as a ratio
  (target: <= 1.3 at 64 and 256 tokens);
- the median time of asking for another layer of the same sentence (the trace cache answers), as a
  ratio to the first request (target: <= 0.1);
then the bytes of all layers at 64 and 512 tokens as ``json``, ``f16`` and ``u8`` against bertviz
1.4.1's HTML for the same input (target: u8 <= 1/25 of bertviz).

Run: ``make bench`` (or ``.venv/bin/python bench/attention_api.py [--repeats N]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# idle OpenMP threads of one process spinning would steal the other's cores (server and bench share two)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import torch  # noqa: E402

from attnscope.settings import Settings  # noqa: E402
from attnscope.inspection.registry import Registry  # noqa: E402

WORDS = ("the cat sat on a mat while students watched attention heads move across long sentences "
         "about rivers banks apples machines and thinking").split()
#: bytes of bertviz 1.4.1's head_view HTML (html_action="return") for MiniLM, all layers, measured with
#: bench/bertviz_size.py in a throwaway venv (bertviz is not a dependency of this project)
BERTVIZ_HTML = {64: 13_231_647, 512: 869_079_253}


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATTNSCOPE_PRELOAD": '["minilm"]'}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--port", str(port),
                               "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    adapter = Registry(Settings()).get("minilm")
    model, tok = adapter.model, adapter.tokenizer
    rng = random.Random(0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{platform.python_implementation()} {platform.python_version()}; server: uvicorn on 127.0.0.1")
    port = free_port()
    server = start_server(port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            def post(text, layer=0, fmt="f16", binary=False):
                headers = {"Accept": "application/octet-stream"} if binary else {}
                r = client.post("/api/attention", headers=headers,
                                json={"model": "minilm", "text": text, "layer": layer, "format": fmt})
                r.raise_for_status()
                return r

            def bare(text):
                with torch.inference_mode():
                    model(**tok(text, return_tensors="pt"), output_attentions=True)

            print("one layer, a new sentence each time: the bare forward, then POST /api/attention (f16 JSON),")
            print("then other layers of the same sentence (from the trace cache) as f16 JSON, f16 binary and")
            print("u8 binary (what the page asks for); ratios are medians of per-sentence ratios")
            print(f"{'tokens':>6} {'bare ms':>8} {'http ms':>8} {'ratio':>6} {'other f16':>10} {'/1st':>5} "
                  f"{'f16 bin':>8} {'/1st':>5} {'u8 bin':>7} {'/1st':>5}")
            for n in (16, 64, 256):
                texts = [sentence(tok, n, rng) for _ in range(args.repeats)]
                warm = sentence(tok, n, rng)
                post(warm), bare(warm), post(warm, 1), post(warm, 2, "f16", True), post(warm, 3, "u8", True)
                # interleaved, one text at a time, so the load of a shared machine drifts over all alike
                rows = []
                for text in texts:
                    rows.append((median_ms(bare, [text]), median_ms(post, [text]),
                                 median_ms(lambda t: post(t, 1), [text]),
                                 median_ms(lambda t: post(t, 2, "f16", True), [text]),
                                 median_ms(lambda t: post(t, 3, "u8", True), [text])))
                med = [statistics.median(col) for col in zip(*rows)]
                r_api = statistics.median(r[1] / r[0] for r in rows)
                r_o = [statistics.median(r[k] / r[1] for r in rows) for k in (2, 3, 4)]
                print(f"{n:>6} {med[0]:>8.1f} {med[1]:>8.1f} {r_api:>6.2f} {med[2]:>10.1f} {r_o[0]:>5.2f} "
                      f"{med[3]:>8.1f} {r_o[1]:>5.2f} {med[4]:>7.1f} {r_o[2]:>5.2f}")
            print("targets: http/bare <= 1.3 at 64 and 256 tokens; other layer / 1st <= 0.1")
            print(f"\nall layers: {'tokens':>6} {'json bytes':>12} {'f16 bytes':>11} {'u8 bytes':>11} {'u8 binary':>10} "
                  f"{'bertviz HTML':>13} {'bertviz/u8':>10} {'bertviz/u8 bin':>14}")
            for n in (64, 512):
                text = sentence(tok, n, rng)
                sizes = {}
                for fmt, binary in (("json", False), ("f16", False), ("u8", False), ("u8", True)):
                    headers = {"Accept": "application/octet-stream"} if binary else {}
                    r = client.post("/api/attention", headers=headers, json={"model": "minilm", "text": text, "format": fmt})
                    r.raise_for_status()
                    sizes[fmt + ("b" if binary else "")] = len(r.content)
                bv = BERTVIZ_HTML[n]
                print(f"            {n:>6} {sizes['json']:>12,} {sizes['f16']:>11,} {sizes['u8']:>11,} {sizes['u8b']:>10,} "
                      f"{bv:>13,} {bv / sizes['u8']:>10.1f} {bv / sizes['u8b']:>14.1f}")
            print("target: bertviz / u8 >= 25 (all layers)")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
