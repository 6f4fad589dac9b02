"""TEMPORARY shim, delete when ``app.inspect.adapters.wrap`` lands (the generic adapter, issue in progress).

Picks today's per-family adapter for an in-memory model object, by ``model.config.model_type``. The whole
module goes once ``app.inspect.adapters.wrap(model, tokenizer, model_id=None, name=None)`` exists:
:func:`attnscope._trace.adapter_for` already prefers it.
"""

from __future__ import annotations

BERT_LIKE = {"bert"}
GPT2_LIKE = {"gpt2"}
LLAMA_LIKE = {"llama", "mistral", "qwen2", "smollm3"}


def wrap(model, tokenizer, model_id: str | None = None, name: str | None = None):
    """An adapter of today's families around ``model`` and ``tokenizer`` (ValueError for other families)."""
    kind = getattr(model.config, "model_type", None)
    mid = model_id or kind or "model"
    source = getattr(model.config, "name_or_path", "") or "in-memory model"
    if kind in BERT_LIKE:
        from app.inspect.adapters.bert import BertAdapter

        base = model if hasattr(model, "encoder") else getattr(model, "base_model", model)  # BertFor... -> BertModel
        return BertAdapter(mid, source, name, model=base, tokenizer=tokenizer)
    if kind in GPT2_LIKE:
        from app.inspect.adapters.gpt2 import GPT2Adapter

        return GPT2Adapter(mid, source, name, model=model, tokenizer=tokenizer, max_tokens=model.config.n_positions)
    if kind in LLAMA_LIKE:
        from app.inspect.adapters.llama import LlamaAdapter

        return LlamaAdapter(mid, source, name, model=model, tokenizer=tokenizer,
                            max_tokens=model.config.max_position_embeddings)
    supported = ", ".join(sorted(BERT_LIKE | GPT2_LIKE | LLAMA_LIKE))
    raise ValueError(f"attnscope cannot inspect model_type {kind!r} yet; supported: {supported}")
