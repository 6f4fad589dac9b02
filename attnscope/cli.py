"""The ``attnscope`` command: ``serve``, ``trace --json``, ``atlas`` and ``train-builtin``."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401  (the server's stack is an extra: the library runs without it)
        import uvicorn
    except ImportError as exc:
        raise SystemExit(f"attnscope serve needs the web server's packages ({exc.name} is missing): "
                         "pip install 'attnscope[server]'") from None

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.model:
        os.environ["ATTNSCOPE_EXTRA_MODELS"] = extra_models_env(args.model)
    print(f"AttnScope: open http://{args.host}:{args.port}", flush=True)
    uvicorn.run("attnscope_server.main:app", host=args.host, port=args.port)
    return 0


def extra_models_env(models: list[str]) -> str:
    """``ATTNSCOPE_EXTRA_MODELS`` JSON: the models already there plus each ``--model ID_OR_DIR``."""
    from attnscope.settings import ModelSpec, spec_from_cli

    existing = json.loads(os.environ.get("ATTNSCOPE_EXTRA_MODELS") or "[]")
    specs = [ModelSpec(**m).model_dump() for m in existing]
    for arg in models:
        try:
            specs.append(spec_from_cli(arg).model_dump())
        except ValueError as exc:
            raise SystemExit(f"attnscope: {exc}") from None
    return json.dumps(specs)


def _trace(args: argparse.Namespace) -> int:
    from attnscope.encode import encode
    from attnscope.inspection import trace

    try:
        t = trace(args.model, args.text, args.target)
        block = args.block or next(iter(t.blocks))
        weights = t.weights(block, args.layer)
        q_toks, k_toks = t.query_key_tokens(block)
    except (ValueError, LookupError, RuntimeError) as exc:
        print(f"attnscope: {exc}", file=sys.stderr)
        return 2
    out = {
        "model": args.model, "text": args.text, "block": block, "layer": args.layer,
        "tokens": t.tokens.text, "query_tokens": q_toks.text, "key_tokens": k_toks.text,
        "shape": list(weights.shape), "format": args.format, "weights": encode(weights, args.format),
    }
    if args.json:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{args.model} · {block} · tokens: {' '.join(q_toks.text)}")
        print(f"weights shape {tuple(weights.shape)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from attnscope.builtin import train

    sys.argv = ["attnscope.builtin.train", *args.rest]
    train.main()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="attnscope", description="See attention inside transformers.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="start the web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--model", action="append", default=[], metavar="ID_OR_DIR",
                   help="serve a Hugging Face model too: a hub id (from the local cache) or a local "
                        "directory, optionally as id=SOURCE; repeatable")
    s.set_defaults(fn=_serve)
    t = sub.add_parser("trace", help="run a sentence through a model and print its attention")
    t.add_argument("model")
    t.add_argument("text")
    t.add_argument("--layer", type=int, default=None, help="one layer (0-based); default all")
    t.add_argument("--block", choices=["encoder", "decoder", "cross"], default=None)
    t.add_argument("--target", default=None, help="decoder input (encoder-decoders)")
    t.add_argument("--format", choices=["json", "f16"], default="json")
    t.add_argument("--json", action="store_true", help="print the /api/attention JSON")
    t.set_defaults(fn=_trace)
    from attnscope.inspection.atlas.command import add_parser as add_atlas

    add_atlas(sub)
    tr = sub.add_parser("train-builtin", help="retrain the textbook model (into models/textbook/ of a checkout)")
    tr.add_argument("rest", nargs=argparse.REMAINDER)
    tr.set_defaults(fn=_train)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
