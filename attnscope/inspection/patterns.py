"""Efficient-attention patterns (the lecture's local, strided and global attention) on the textbook model.

A pattern is an (S, S) bool mask, True where the key is removed, applied to the encoder's
self-attention only (the decoder and cross-attention are unchanged):

* ``local`` (window w): token i sees tokens j with |i - j| <= w.
* ``strided`` (stride s): token i sees j when (i - j) is a multiple of s: itself and every s-th
  token on either side (the strided half of the Sparse Transformer's pattern).
* ``global`` (tokens G): the tokens in G see everything and are seen by everyone; every other
  token sees only G and itself (Longformer's global attention without its local window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PATTERNS = ("local", "strided", "global")


def pattern_mask(kind: str, size: int, window: int = 1, stride: int = 2,
                 global_tokens: tuple[int, ...] = (0,)) -> np.ndarray:
    """(size, size) bool, True where ``kind`` removes the key. ValueError for bad parameters."""
    i, j = np.indices((size, size))
    if kind == "local":
        if window < 0:
            raise ValueError(f"window must be 0 or more, got {window}")
        keep = np.abs(i - j) <= window
    elif kind == "strided":
        if stride < 1:
            raise ValueError(f"stride must be 1 or more, got {stride}")
        keep = (i - j) % stride == 0
    elif kind == "global":
        bad = [g for g in global_tokens if not 0 <= g < size]
        if bad:
            raise ValueError(f"global token {bad[0]} is out of range: the sentence has {size} tokens "
                             f"(0 to {size - 1})")
        g = np.zeros(size, dtype=bool)
        g[list(global_tokens)] = True
        keep = g[:, None] | g[None, :] | (i == j)
    else:
        raise ValueError(f"unknown pattern {kind!r}; use one of {', '.join(PATTERNS)}")
    return ~keep


@dataclass
class PatternRun:
    """The encoder's attention and the translation, with or without a pattern."""

    weights: np.ndarray  # (L, H, S, S) encoder self-attention
    translation: str
    output_tokens: list[str]


def run(adapter, text: str, mask: np.ndarray | None) -> PatternRun:
    """Translate ``text`` with the textbook model, its encoder masked by ``mask`` (None: full attention)."""
    from attnscope.builtin.model import Recording, greedy_decode

    src = adapter.source_tokens(text)
    pattern = None if mask is None else torch.as_tensor(mask)
    with torch.inference_mode(), adapter.lock:
        rec = Recording()
        adapter.model.encode(torch.tensor([src.ids]), rec, pattern)
        weights = np.stack([r.weights[0].numpy() for r in rec.encoder]).astype(np.float32)
        out = greedy_decode(adapter.model, src.ids, None, pattern)
    tokens = adapter.output_tokens(out.tokens)
    words = [t for t in tokens if t != "</s>"]
    return PatternRun(weights, " ".join(words), tokens)
