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

from attnscope.inspection.trace import AttentionBlock, HeadWeights, Tokens, Trace

__all__ = ["trace", "get_registry", "Trace", "AttentionBlock", "HeadWeights", "Tokens"]


def get_registry():
    """The process's one registry of the configured models (:func:`~attnscope.inspection.registry.shared_registry`)."""
    from attnscope.inspection.registry import shared_registry

    return shared_registry()


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
