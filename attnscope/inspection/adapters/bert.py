"""BERT-family encoders (BERT, MiniLM, ...): the generic adapter with the "bert" family entry.

The Trace: block group "encoder" (kind "self"); ``x`` the input of
``attention.self``; q, k, v from ``query``/``key``/``value``; ``z`` the input and
``out`` the output of ``attention.output.dense``; ``token_embeddings`` and the
learned ``position_embeddings`` (rows 0..T-1); ``hidden_states["encoder"]`` =
transformers' own ``hidden_states``.
"""

from __future__ import annotations

from attnscope.inspection.adapters.generic import HFAdapter, mask_from

__all__ = ["BertAdapter", "mask_from"]


class BertAdapter(HFAdapter):
    """Adapter for ``BertModel``-shaped encoders with learned absolute positions."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None,
                 device: str = "cpu", dtype: str = "float32"):
        if model is None:
            from attnscope.inspection.adapters.loading import load_model

            model, tokenizer = load_model(source, "bert", device=device, dtype=dtype)
        super().__init__(model_id, source, name, model=model, tokenizer=tokenizer, family="bert")
