"""Train the textbook transformer on the generated French -> English corpus.

    python -m attnscope.builtin.train                 # writes models/textbook/
    python -m attnscope.builtin.train --tiny          # a 1-minute smoke run into a temp dir
    python -m attnscope.builtin.train --out DIR --steps 40 --no-eval   # a short run (the determinism test)

Reproducible: one seed drives the data, the initialisation and the batches;
deterministic algorithms; 2 CPU threads. Writes ``config.json``,
``model.safetensors``, ``vocab.json``, ``metrics.json`` and ``MODEL_CARD.md``.

What reproduces where (the model card says the same): the data, the vocabulary and
the config are identical on every machine; the weights are bit-identical between
runs on one machine (same CPU, torch build and thread count) but not across CPUs,
whose floating-point kernels differ; the quality in :data:`QUALITY` is reached from
the seed on any machine (``tests/builtin/test_retrain.py`` checks both).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor
from torch.nn import functional as F

from attnscope.builtin import data
from attnscope.resources import models_dir
from attnscope.builtin.model import (
    Recording,
    TextbookConfig,
    Transformer,
    greedy_decode,
    save_config,
)
from attnscope.builtin.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    WordTokenizer,
    save_vocabs,
    split,
)

DEFAULT_OUT = models_dir() / "textbook"  # models/textbook/ in a checkout

Example = tuple[list[int], list[int]]  # (source ids, target ids), no special tokens


@dataclass
class TrainSettings:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 300
    label_smoothing: float = 0.1
    seed: int = 0


#: What a retrained model must reach on any machine (the model card states these tolerances).
#: The shipped weights: valid 99.8%, held-out 100.0% exact match; "étudiant" 0.999.
QUALITY = {
    "valid_exact_match": 0.97,
    "heldout_exact_match": 0.97,
    "student_step_weight": 0.8,  # head-averaged cross-attention on "étudiant" when producing "student"
}

#: The card's example translations: every retrained model must produce these exactly.
#: "voiture bleue" and "fleurs noires" are held-out combinations: never seen in training.
EXAMPLES = {
    "je suis étudiant": "i am a student",
    "le chat noir mange la pomme rouge": "the black cat eats the red apple",
    "elle n'est pas fatiguée": "she is not tired",
    "la voiture bleue est rapide": "the blue car is fast",
    "des fleurs sont noires": "flowers are black",
}


def cpu_name() -> str:
    """The CPU's model name (the weights' bits depend on it), or the architecture if unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Steps of each of the two runs that the determinism test compares.
DETERMINISM_STEPS = 40


def to_examples(pairs: list[data.Pair], src: WordTokenizer, tgt: WordTokenizer) -> list[Example]:
    """Token ids of each (french, english) pair."""
    return [(src.encode(fr)[0], tgt.encode(en)[0]) for fr, en in pairs]


def pad(rows: list[list[int]]) -> Tensor:
    """Right-pad id lists with <pad>: (B, T_max)."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD_ID] * (width - len(r)) for r in rows])


def make_batch(examples: list[Example]) -> tuple[Tensor, Tensor, Tensor]:
    """Source (B, S), decoder input <s> y (B, T) and decoder target y </s> (B, T)."""
    src = pad([s for s, _ in examples])
    tgt_in = pad([[BOS_ID, *t] for _, t in examples])
    tgt_out = pad([[*t, EOS_ID] for _, t in examples])
    return src, tgt_in, tgt_out


def lr_at(step: int, s: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = (step - s.warmup) / max(1, s.steps - s.warmup)
    return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    model: Transformer,
    examples: list[Example],
    s: TrainSettings,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Teacher-forced training with label-smoothed cross-entropy; returns the loss of each step."""
    gen = torch.Generator().manual_seed(s.seed)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr, betas=(0.9, 0.98), eps=1e-9)
    losses = []
    model.train()
    for step in range(s.steps):
        idx = torch.randint(len(examples), (s.batch_size,), generator=gen).tolist()
        src, tgt_in, tgt_out = make_batch([examples[i] for i in idx])
        logits = model(src, tgt_in)  # (B, T, V)
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            tgt_out.flatten(),
            ignore_index=PAD_ID,
            label_smoothing=s.label_smoothing,
        )
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if log and (step % 500 == 0 or step == s.steps - 1):
            log(f"step {step:5d}  loss {loss.item():.3f}  lr {lr_at(step, s):.2e}")
    return losses


@torch.inference_mode()
def greedy_batch(model: Transformer, sources: list[list[int]], max_len: int) -> list[list[int]]:
    """Greedy translations of many sources at once (output ids, no <s>/</s>)."""
    model.eval()
    src = pad(sources)  # (B, S)
    memory, src_mask = model.encode(src)  # (B, S, d_model)
    ys = torch.full((len(sources), 1), BOS_ID)  # (B, 1)
    done = torch.zeros(len(sources), dtype=torch.bool)
    for _ in range(max_len):
        nxt = model.decode(ys, memory, src_mask)[:, -1].argmax(-1)  # (B,)
        nxt = nxt.masked_fill(done, PAD_ID)
        ys = torch.cat([ys, nxt[:, None]], dim=1)
        done |= nxt == EOS_ID
        if done.all():
            break
    out = []
    for row in ys[:, 1:].tolist():
        out.append(row[: row.index(EOS_ID)] if EOS_ID in row else row)
    return out


@torch.inference_mode()
def evaluate(model: Transformer, examples: list[Example], batch_size: int = 250) -> dict:
    """Exact-match accuracy of greedy translations and teacher-forced token accuracy."""
    model.eval()
    exact = correct = total = 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        hyps = greedy_batch(model, [s for s, _ in chunk], model.cfg.max_len)
        exact += sum(h == t for h, (_, t) in zip(hyps, chunk, strict=True))
        src, tgt_in, tgt_out = make_batch(chunk)
        pred = model(src, tgt_in).argmax(-1)  # (B, T)
        keep = tgt_out != PAD_ID
        correct += int((pred == tgt_out)[keep].sum())
        total += int(keep.sum())
    return {
        "n": len(examples),
        "exact_match": exact / len(examples),
        "token_accuracy": correct / total,
    }


@torch.inference_mode()
def check_student(model: Transformer, src: WordTokenizer, tgt: WordTokenizer) -> dict:
    """Translate "je suis étudiant" and read the last decoder layer's cross-attention.

    Returns the translation and, for the decoder input "student" (full pass over
    <s> + translation) and for the step that generated "student", the source
    token with the largest head-averaged weight.
    """
    src_ids = src.encode("je suis étudiant")[0]
    out = greedy_decode(model, src_ids)
    words = [tgt.token(i) for i in out.tokens if i != EOS_ID]
    result = {"source": "je suis étudiant", "output": " ".join(words)}
    if "student" not in words:
        return result
    rec = Recording()
    model(torch.tensor([src_ids]), torch.tensor([[BOS_ID, *tgt.encode(" ".join(words))[0]]]), rec)
    row = rec.cross[-1].weights[0].mean(0)[1 + words.index("student")]  # (S,)
    step = out.cross_attention[words.index("student")][-1].mean(0)  # (S,)
    source_words = [p.text for p in split("je suis étudiant")]
    result["student_row"] = dict(
        zip(source_words, [round(w, 3) for w in row.tolist()], strict=True)
    )
    result["student_row_argmax"] = source_words[int(row.argmax())]
    result["student_step"] = dict(
        zip(source_words, [round(w, 3) for w in step.tolist()], strict=True)
    )
    result["student_step_argmax"] = source_words[int(step.argmax())]
    return result


@torch.inference_mode()
def translate_examples(model: Transformer, src: WordTokenizer, tgt: WordTokenizer) -> dict[str, str]:
    """Greedy translations of the card's :data:`EXAMPLES` sources."""
    out = {}
    for fr in EXAMPLES:
        ids = greedy_decode(model, src.encode(fr)[0]).tokens
        out[fr] = " ".join(tgt.token(i) for i in ids if i != EOS_ID)
    return out


def config_for(src: WordTokenizer, tgt: WordTokenizer, tiny: bool) -> TextbookConfig:
    if tiny:
        return TextbookConfig(
            len(src),
            len(tgt),
            d_model=32,
            n_heads=2,
            n_encoder_layers=1,
            n_decoder_layers=1,
            d_ff=64,
        )
    return TextbookConfig(
        len(src), len(tgt), d_model=64, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=256
    )


def write_card(out: Path, m: dict, cfg: TextbookConfig) -> None:
    """MODEL_CARD.md from the metrics."""
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    v, h, c = m["valid"], m["heldout"], m["check"]
    examples = ", ".join(f'"{fr}" → "{en}"' for fr, en in m.get("examples", {}).items()) or "none recorded"
    cpu = m.get("cpu", "a CPU that metrics.json does not name; retrains record theirs")
    student_weight = c.get("student_step", {}).get("étudiant")
    text = f"""# Textbook transformer (fr→en)

A small encoder-decoder transformer as in "Attention Is All You Need"
(post-LN, sinusoidal positions, n = {cfg.pe_base:g}), written for reading:
`attnscope/builtin/model.py`. Trained by `python -m attnscope.builtin.train --seed {m["seed"]}`.

## Size

| | |
|---|---|
| parameters | {m["parameters"]:,} |
| encoder / decoder layers | {cfg.n_encoder_layers} / {cfg.n_decoder_layers} |
| heads, d_model, d_k, d_ff | {cfg.n_heads}, {cfg.d_model}, {cfg.d_k}, {cfg.d_ff} |
| vocabulary (source / target) | {cfg.src_vocab_size} / {cfg.tgt_vocab_size} words |
| max tokens per side | {cfg.max_len} |

## Data

Generated by `attnscope/builtin/data.py` (seed {m["seed"]}) from a small grammar: subject
pronouns with être/avoir, professions without an article ("je suis étudiant" →
"i am a student"), articles, {len(data.NOUNS)} nouns, {len(data.ADJECTIVES)} adjectives
that follow the noun in French and precede it in English ("le chat noir" → "the
black cat"), {len(data.VERBS)} verbs, negation ne … pas. Sentences are toys: grammatical,
not always sensible ("a smart apple").

- train: {m["data"]["train"]} pairs (repeats allowed)
- valid: {m["data"]["valid"]} distinct sentences not in train
- held-out: {m["data"]["heldout"]} sentences that each use one of the {len(data.HELDOUT_PAIRS)}
  noun-adjective combinations never seen in training:
  {", ".join(f"{n}+{a}" for n, a in sorted(data.HELDOUT_PAIRS))}

## Training

{m["steps"]} steps, batch {m["batch_size"]}, Adam (peak lr {m["lr"]:g}, warm-up
{m["warmup"]}, cosine decay), label smoothing {m["label_smoothing"]}, dropout {cfg.dropout},
seed {m["seed"]}, deterministic algorithms, 2 CPU threads: {m["train_seconds"]:.0f} s of
training, wall clock ({m["train_cpu_seconds"]:.0f} s of CPU time), on {m["machine"]}.
The weights do not depend on the machine's load; the time does (a busy shared
machine can take several times longer than an idle one).

## Results (greedy decoding)

| split | exact match | token accuracy (teacher-forced) |
|---|---|---|
| valid | {pct(v["exact_match"])} | {pct(v["token_accuracy"])} |
| held-out combinations | {pct(h["exact_match"])} | {pct(h["token_accuracy"])} |

The few valid errors are genuine ambiguities of French: "souris" is the same in
the singular and plural, and after a negation "de" hides the number ("pas de
souris" → "a mouse" or "mice").

"{c["source"]}" → "{c["output"]}". Cross-attention of the last decoder layer,
averaged over heads, at the step that generated "student" (the query is the
decoder input "a"): {c.get("student_step")} (argmax: {c.get("student_step_argmax")}).
The row of the decoder input "student", which predicts the token after it
(`</s>`), spreads over the other words: {c.get("student_row")}.

Example translations: {examples}.

Numbers are also in `metrics.json`.

## Reproducibility: what holds where

`python -m attnscope.builtin.train --seed {m["seed"]}` rebuilds this model. What you get depends on
what you compare:

| what | holds | checked by |
|---|---|---|
| training data, vocabulary, `config.json` | identical on every machine (integer arithmetic and a seeded `random.Random`) | `tests/builtin/test_retrain.py` (byte equality with the shipped files) |
| weights, bit for bit, between two runs | on one machine: same CPU, torch build and thread count (deterministic algorithms, one seed) | `tests/builtin/test_retrain.py` (two {DETERMINISM_STEPS}-step runs, equal SHA-256) |
| weights, bit for bit, against the shipped `model.safetensors` | only on the machine that trained them ({cpu}): floating-point kernels (BLAS/oneDNN paths chosen by CPU features) round differently on other CPUs, and 3000 steps amplify the last bits | not tested (it cannot hold elsewhere) |
| quality from the seed | on any x86-64 machine, within the tolerances below | `tests/builtin/test_retrain.py` (a full retrain, then every row below) |

Tolerances a retrained model must meet (the shipped model's value in brackets):

| check | must reach |
|---|---|
| valid exact match | ≥ {pct(QUALITY["valid_exact_match"])} ({pct(v["exact_match"])}) |
| held-out combinations exact match | ≥ {pct(QUALITY["heldout_exact_match"])} ({pct(h["exact_match"])}) |
| the example translations above | exactly |
| cross-attention on "étudiant" at the step that produces "student" (last decoder layer, head mean) | ≥ {QUALITY["student_step_weight"]} and the largest weight ({student_weight}) |

## Limits

Knows only its {cfg.src_vocab_size - 4} French words; any other word becomes `<unk>`.
Only the grammar above; no real-world French.
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output directory (default {DEFAULT_OUT}; a temp dir with --tiny)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps (3000; 200 with --tiny)"
    )
    parser.add_argument("--seed", type=int, default=0)
    defaults = TrainSettings()
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"peak learning rate ({defaults.lr:g})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--tiny", action="store_true", help="tiny model and data, for a smoke run")
    parser.add_argument("--no-eval", action="store_true",
                        help="write the weights only: no evaluation, metrics or model card")
    args = parser.parse_args(argv)
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="textbook-tiny-")) if args.tiny else DEFAULT_OUT
    )
    settings = TrainSettings(
        seed=args.seed, steps=args.steps or (200 if args.tiny else TrainSettings.steps),
        lr=args.lr, batch_size=args.batch_size, label_smoothing=args.label_smoothing,
    )
    settings.warmup = min(settings.warmup, settings.steps // 5)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    sizes = dict(n_train=2000, n_valid=200, n_heldout=200) if args.tiny else {}
    splits = data.make_splits(args.seed, **sizes)
    src_tok = WordTokenizer.build(fr for fr, _ in splits.train)
    tgt_tok = WordTokenizer.build(en for _, en in splits.train)
    cfg = config_for(src_tok, tgt_tok, args.tiny)
    model = Transformer(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params:,} parameters, {len(splits.train)} training pairs -> {out}")

    start, cpu_start = time.perf_counter(), time.process_time()
    train(model, to_examples(splits.train, src_tok, tgt_tok), settings, log=print)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    save_vocabs(out / "vocab.json", src_tok, tgt_tok)
    if args.no_eval:
        print(f"wrote {out} (weights only)")
        return
    metrics = {
        "seed": args.seed,
        "parameters": n_params,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}",
        "cpu": cpu_name(),
        **{k: v for k, v in asdict(settings).items() if k != "seed"},
        "data": {
            "train": len(splits.train),
            "valid": len(splits.valid),
            "heldout": len(splits.heldout),
        },
        "valid": evaluate(model, to_examples(splits.valid, src_tok, tgt_tok)),
        "heldout": evaluate(model, to_examples(splits.heldout, src_tok, tgt_tok)),
        "check": check_student(model, src_tok, tgt_tok),
        "examples": translate_examples(model, src_tok, tgt_tok),
    }
    print(json.dumps({k: metrics[k] for k in ("valid", "heldout", "check")}, ensure_ascii=False))

    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    write_card(out, metrics, cfg)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
