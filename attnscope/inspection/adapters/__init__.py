"""Adapters: one generic adapter (:mod:`.generic`) and a table of model families (:mod:`.families`).

:func:`wrap` is the public entry point for an already-loaded model (notebooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnscope.inspection.adapters.base import Adapter


def wrap(model, tokenizer, model_id: str | None = None, name: str | None = None) -> Adapter:
    """The adapter of an in-memory transformers model and its tokenizer; loads nothing.

    The family comes from ``model.config.model_type`` (BERT, LLaMA, GPT-2, T5, BART... see
    :data:`attnscope.inspection.adapters.families.FAMILIES`); an architecture the table does not know gets
    the generic adapter, which reads the attention weights only. Any attention implementation
    works (eager, SDPA...): each pass runs through AttnScope's capture function and the model's
    config is left as it was; the model is put in ``eval()`` mode.

    Args:
        model: e.g. ``AutoModelForCausalLM.from_pretrained(...)``.
        tokenizer: its tokenizer (a fast tokenizer: the page needs character offsets).
        model_id: the id traces carry (default: the config's ``name_or_path`` tail or model_type).
        name: the display name (default: ``model_id``).

    Raises:
        ValueError: the model has no attention heads or returns no attention weights.
    """
    from attnscope.inspection.adapters.generic import HFAdapter

    cfg = model.config
    source = getattr(cfg, "name_or_path", "") or cfg.model_type
    mid = model_id or (source.rstrip("/").split("/")[-1] or cfg.model_type)
    return HFAdapter(mid, source or "memory", name or mid, model=model, tokenizer=tokenizer)


__all__ = ["wrap"]
