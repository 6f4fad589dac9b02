"""Long context: the attention of thousands of tokens with no T × T matrix held anywhere.

>>> lt = long_trace(adapter, open("paper.txt").read())      # one forward pass, attention in chunks
>>> lt.tile(layer=3, head=0, z=0, x=0, y=0)["weights"].shape  # the whole matrix, max-pooled: (≤256, ≤256)
>>> lt.row(3, 0, query=lt.t - 1)                              # one query's exact weights over all keys

See :mod:`.store` (what is kept and the views computed from it) and :mod:`.forward` (the chunked pass).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from attnscope.inspection.longctx.forward import Cancelled, bytes_per_token, overview_bytes, run_long
from attnscope.inspection.longctx.store import TILE, LongTrace, zoom_levels

__all__ = ["long_trace", "long_limit", "long_inputs", "run_long", "LongTrace", "LongCache", "Cancelled", "TILE",
           "zoom_levels"]


def context_length(adapter) -> int:
    """The model's own context (``max_position_embeddings`` or ``n_positions``)."""
    cfg = adapter.model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 512)


def long_limit(adapter, max_bytes: int, dtype: str = "float16") -> int:
    """The longest input a long trace takes: the model's context, capped by the memory budget ``max_bytes``.

    Raises:
        ValueError: the model cannot give a long trace (an encoder-decoder, or no readable attention).
    """
    info = adapter.info
    if info.kind == "encoder-decoder":
        raise ValueError(f"{info.id} is an encoder-decoder: they keep their limit of {info.max_tokens} tokens "
                         "(the long view reads encoders and decoders)")
    if adapter.model is None or adapter.tokenizer is None:
        raise ValueError(f"{info.id}: the long view reads Hugging Face models (the textbook model is short)")
    per = bytes_per_token(info.layers, info.heads, info.kv_heads, info.d_head, dtype)

    def kept(t: int) -> int:  # q, k, lse, received per token, plus overviews of at most 256 x 256 cells
        return per * t + overview_bytes(info.layers, info.heads, t)

    lo, hi = 0, context_length(adapter)
    while lo < hi:  # the longest t whose kept bytes fit the budget
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if kept(mid) <= max_bytes else (lo, mid - 1)
    return lo


def long_inputs(adapter, text: str, limit: int) -> tuple[dict, object]:
    """Model inputs (on the model's device) and Tokens of ``text``, refused past ``limit`` tokens."""
    if not text or not text.strip():
        raise ValueError("text is empty: paste a text")
    inputs, tokens = adapter.tokenized(text)
    inputs.pop("token_type_ids", None) if adapter.info.kind != "encoder" else None
    t = len(tokens)
    if t > limit:
        raise ValueError(f"text is {t} tokens long; {adapter.info.id}'s long view takes at most {limit} tokens "
                         "(its context, or the memory budget ATTNSCOPE_LONG_MAX_BYTES)")
    out = {k: v.to(adapter.device) for k, v in inputs.items()}
    if adapter.info.kind == "decoder":
        out["use_cache"] = False
        if "logits_to_keep" in _forward_params(adapter.model):
            out["logits_to_keep"] = 1  # the long trace needs no (T, vocab) logits
    return out, tokens


def _forward_params(model) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def long_trace(adapter, text: str, passages: str = "paragraphs", max_bytes: int = 2 << 30,
               dtype: str = "float16", on_layer=None, should_stop=None) -> LongTrace:
    """One long forward pass of ``text`` (see :func:`.forward.run_long`), within the memory budget."""
    limit = long_limit(adapter, max_bytes, dtype)

    inputs, tokens = long_inputs(adapter, text, limit)
    return run_long(adapter, inputs, tokens, text, passages, dtype, on_layer, should_stop)


class LongCache:
    """Kept long traces by id, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, LongTrace] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, lt: LongTrace) -> None:
        with self._lock:
            self._items[lt.trace_id] = lt
            while len(self._items) > 1 and sum(x.nbytes() for x in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)

    def get(self, trace_id: str) -> LongTrace:
        """The trace; KeyError with a readable message when it is unknown or was evicted."""
        with self._lock:
            lt = self._items.get(trace_id)
            if lt is None:
                raise KeyError(f"no long trace {trace_id!r}: it is unknown or was evicted to keep memory bounded; "
                               "run POST /api/long again")
            self._items.move_to_end(trace_id)
            return lt

    def __len__(self) -> int:
        return len(self._items)


def empty_cuda_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
