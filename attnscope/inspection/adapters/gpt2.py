"""GPT-2-family decoders: the generic adapter with the "gpt2" family entry.

The Trace (block group "decoder", kind "causal", one block per layer):

* ``tokens``: the tokenizer's ids (GPT-2's tokenizer adds no ``<|endoftext|>``).
* ``x``: the attention input, ``ln_1`` of the residual stream.
* ``q``, ``k``, ``v``: the three thirds of ``c_attn(x)`` (layout "thirds"), split into heads.
* ``mask``: causal, True above the diagonal.
* ``z``: per-head outputs (the input of ``c_proj``); ``out``: ``c_proj`` output.
* ``scale``: 1 / ``module.scaling``: sqrt(d_head), times (layer + 1) when the
  config sets ``scale_attn_by_inverse_layer_idx``.
* ``token_embeddings`` (``wte``) + ``position_embeddings`` (``wpe``) =
  ``hidden_states["decoder"][0]``; the following entries are the residual stream
  after each block, BEFORE the final ``ln_f``.
* ``logits``: (T, vocab) float32, row t predicts token t + 1.

``c_attn`` and ``c_proj`` are ``Conv1D`` layers: their weight is already (in, out).
"""

from __future__ import annotations

from pathlib import Path

from attnscope.inspection.adapters.generic import DEFAULT_MAX_TOKENS, HFAdapter


class GPT2Adapter(HFAdapter):
    """Adapter for ``GPT2LMHeadModel``-shaped decoders."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None,
                 cache_dir: Path | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 device: str = "cpu", dtype: str = "float32"):
        if model is None:
            from attnscope.inspection.adapters.loading import load_model

            model, tokenizer = load_model(source, "gpt2", cache_dir, device=device, dtype=dtype)
        super().__init__(model_id, source, name, model=model, tokenizer=tokenizer, family="gpt2",
                         max_tokens=max_tokens)
