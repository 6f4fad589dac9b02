"""Natural text for the atlas: the corpus (the user's or the shipped one), its windows, and needle prompts.

* Natural-text prompts (``previous_text``, ``entropy``, ``distance``) are windows of the tokenised corpus
  (its passages joined by blank lines), as long as a repeated prompt (``off + 2n`` tokens, BOS first when
  the tokenizer has one), starting at offsets drawn with ``default_rng([seed, 1])``.
* Needle prompts (``retrieval``) are a haystack of ``8n`` corpus tokens (fewer when the model takes less),
  decoded to text, with a needle sentence "The secret number is D." (D: seven digits drawn with
  ``default_rng([seed, 2])``) put at a drawn depth between 10% and 90%, then a question:
  "What is the secret number? The secret number is". The needle's tokens are those of D.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnscope.inspection.atlas.tasks import bos_of

NEEDLE = "The secret number is {value}."
QUESTION = "\n\nWhat is the secret number? The secret number is"
HAYSTACK_FACTOR = 8


def shipped_corpus() -> list[str]:
    """The corpus the atlas reads without ``--corpus``: public-domain English prose, one passage a paragraph."""
    return split_passages((Path(__file__).parent / "corpus.txt").read_text(encoding="utf-8"))


def split_passages(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


def read_corpus(path: str | Path) -> list[str]:
    """Passages from a ``.txt`` file (split at blank lines) or a ``.jsonl`` file (a string, or an object with a
    ``"text"`` field, per line).

    Raises:
        ValueError: an unreadable or empty file, or a ``.jsonl`` line that is neither.
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the corpus {str(p)!r}: {exc}") from None
    if p.suffix.lower() == ".jsonl":
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p.name} line {n} is not JSON: {exc.msg}") from None
            text = obj if isinstance(obj, str) else obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise ValueError(f"{p.name} line {n}: expected a string or an object with a \"text\" string")
            if text.strip():
                out.append(text.strip())
    else:
        out = split_passages(raw)
    if not out:
        raise ValueError(f"the corpus {str(p)!r} holds no text")
    return out


def corpus_ids(tokenizer, corpus: Sequence[str]) -> list[int]:
    """The corpus's passages, joined by blank lines, as token ids (no special tokens)."""
    ids = tokenizer("\n\n".join(corpus), add_special_tokens=False, verbose=False)["input_ids"]
    if len(ids) < 2:
        raise ValueError("the corpus is shorter than two tokens")
    return [int(i) for i in ids]


def text_inputs(tokenizer, corpus: Sequence[str], prompts: int, tokens: int, seed: int) -> list[list[int]]:
    """``prompts`` windows of the corpus, each ``tokens`` long with the BOS (shorter if the corpus is)."""
    ids = corpus_ids(tokenizer, corpus)
    bos = bos_of(tokenizer)
    width = min(tokens - (bos is not None), len(ids))
    rng = np.random.default_rng([seed, 1])
    starts = rng.integers(0, len(ids) - width + 1, size=prompts)
    head = [bos] if bos is not None else []
    return [head + ids[s:s + width] for s in starts]


@dataclass(frozen=True)
class Needle:
    """One needle-in-a-haystack prompt: its ids, the needle's token span and how many tokens to generate."""

    ids: list[int]
    start: int
    end: int
    new_tokens: int
    value: str


def needle_inputs(tokenizer, corpus: Sequence[str], prompts: int, length: int, seed: int,
                  limit: int) -> list[Needle]:
    """``prompts`` needle prompts (module docstring), each at most ``limit`` tokens with its answer.

    Raises:
        ValueError: the model takes too few tokens for a needle prompt, or the tokenizer has no offsets.
    """
    ids = corpus_ids(tokenizer, corpus)
    rng = np.random.default_rng([seed, 2])
    hay = min(HAYSTACK_FACTOR * length, len(ids), max(limit - 64, 0))
    if hay < 8:
        raise ValueError(f"the model takes at most {limit} tokens: too few for a needle-in-a-haystack prompt")
    out = []
    for _ in range(prompts):
        start = int(rng.integers(0, len(ids) - hay + 1))
        value = "".join(str(d) for d in rng.integers(0, 10, size=7))
        depth = float(rng.uniform(0.1, 0.9))
        words = tokenizer.decode(ids[start:start + hay]).split(" ")
        cut = max(1, int(len(words) * depth))
        before, after = " ".join(words[:cut]), " ".join(words[cut:])
        needle = NEEDLE.format(value=value)
        text = f"{before} {needle} {after}{QUESTION}"
        lo = len(before) + 1 + needle.index(value)
        hi = lo + len(value)
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        span = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < hi and b > lo]
        if not span:
            raise ValueError("the tokenizer's offsets do not locate the needle (a fast tokenizer is needed)")
        new = span[-1] - span[0] + 1 + 2
        p_ids = [int(i) for i in enc["input_ids"]]
        if len(p_ids) + new > limit:
            raise ValueError(f"a needle prompt is {len(enc['input_ids']) + new} tokens with its answer; "
                             f"the model takes at most {limit}: use a smaller length")
        out.append(Needle(p_ids, span[0], span[-1] + 1, new, value))
    return out
