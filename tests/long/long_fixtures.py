"""Tiny models with long contexts for the long-context tests, and a text of several passages."""

from __future__ import annotations

import functools

from tests.inspect import family_fixtures as ff

#: family -> config overrides: an encoder, a GQA decoder with RoPE, a sliding-window decoder, GPT-2
LONG = {
    "bert": dict(max_position_embeddings=1100),
    "llama": dict(max_position_embeddings=4096),
    "mistral": dict(max_position_embeddings=4096, sliding_window=96),
    "gpt2": dict(n_positions=1100),
}


def passages_text(n: int = 8, words: int = 40) -> str:
    """``n`` passages separated by blank lines, each opening with a title line."""
    return "\n\n".join(f"Passage {i}\n" + " ".join(f"w{(i * 7 + j) % 50}" for j in range(words)) for i in range(n))


@functools.cache
def tiny_long(family: str):
    """(adapter, model) of a tiny ``family`` model with a context past 1,000 tokens (eager attention)."""
    from attnscope.inspection.adapters import wrap

    model, tok = ff.build(family, **LONG[family])
    return wrap(model, tok, model_id=f"long-{family}"), model
