"""The model-agnostic core, and the notebook entry point.

>>> from attnscope.inspection import trace
>>> t = trace("minilm", "The animal didn't cross the street because it was too tired")
>>> t.tokens.text[:3]
['[CLS]', 'the', 'animal']
>>> t.weights("encoder", 2).shape        # (heads, T, T), numpy float32
(12, 15, 15)
>>> t.block("encoder", 2).q.shape        # (heads, T, d_head)
(12, 15, 32)

The arrays carry the API's names (``weights``, ``q``, ``k``, ``v``, ``scores()``, ``scaled()``,
``mask``, ``z``, ``out``, ``hidden_states``...) and equal what the API returns.
"""

from __future__ import annotations

import os
import threading

from attnscope.inspection.trace import AttentionBlock, HeadWeights, Tokens, Trace

__all__ = ["trace", "get_registry", "Trace", "AttentionBlock", "HeadWeights", "Tokens"]

_registry = None
_lock = threading.Lock()


def get_registry():
    """The process-wide registry of the configured models (settings from ``ATTNSCOPE_*``)."""
    global _registry
    with _lock:
        if _registry is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from attnscope.settings import get_settings
            from attnscope.inspection.registry import Registry

            _registry = Registry(get_settings())
        return _registry


def trace(model: str, text: str, target: str | None = None) -> Trace:
    """Run ``text`` through the configured model ``model`` and return its :class:`Trace`.

    Args:
        model: a model id from the settings (``"minilm"``, ``"textbook"``...).
        text: the input sentence (the source sentence for encoder-decoders).
        target: the decoder input for encoder-decoders (default: the model's own translation).
    """
    if not text or not text.strip():
        raise ValueError("text is empty: type a sentence")
    adapter = get_registry().get(model)
    n = adapter.count_tokens(text)
    if n > adapter.info.max_tokens:
        raise ValueError(f"text is {n} tokens long; {model} takes at most {adapter.info.max_tokens} tokens")
    return get_registry().trace(model, text, target)
