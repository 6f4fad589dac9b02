"""LLaMA-family decoders (LLaMA, SmolLM2, Mistral, Qwen2...): the generic adapter with the "llama" entry.

The Trace it fills (block group "decoder", kind "causal", one block per layer):

* ``tokens``: exactly the ids the tokenizer gives, special tokens included.
  SmolLM2's tokenizer adds no BOS, so the first token of the text is token 0
  (and the one most heads "park" their attention on). The trace is the model's
  own forward pass over these ids, nothing prepended.
* ``x``: the attention input, i.e. ``input_layernorm`` (RMSNorm) of the
  residual stream ``hidden_states["decoder"][layer]``.
* ``q``, ``k``: AFTER the rotary rotation, as the scores use them. They are the
  model's own ``q_proj``/``k_proj`` outputs rotated by the model's own
  ``apply_rotary_pos_emb`` with the very (cos, sin) the layer received, so
  ``softmax(q k^T / scale + mask)`` is the model's ``output_attentions``.
  ``x @ w_q`` (:meth:`HFAdapter.head_weights`) is the query BEFORE RoPE;
  :meth:`HFAdapter.rotate` turns it into ``q``.
* ``k``, ``v``: expanded to the query heads: query head ``h`` reads key/value
  head ``kv_head[h] = h // (H / KV)`` (SmolLM2: 9 query heads share 3 KV heads).
* ``mask``: causal, True above the diagonal.
* ``z``: per-head outputs (the input of ``o_proj``, split by head); ``out``:
  the ``o_proj`` output (no bias in LLaMA).
* ``hidden_states["decoder"]``: (L + 1, T, d): the embeddings, then the
  residual stream after each layer, BEFORE the final RMSNorm (transformers'
  own ``hidden_states[-1]`` is after it).
* ``position_embeddings``: None (positions enter by rotating q and k).
* ``logits``: (T, vocab) float32, row t predicts token t + 1 (49152 floats,
  192 KB per token: 100 MB at 512 tokens).

Memory: a trace holds L x H x T x T weights; for SmolLM2 (30 x 9) that is 9 MB
at 64 tokens, 71 MB at 256 and 283 MB at 512, hence ``max_tokens`` (default 512).
"""

from __future__ import annotations

from pathlib import Path

from attnscope.inspection.adapters.generic import DEFAULT_MAX_TOKENS, HFAdapter


class LlamaAdapter(HFAdapter):
    """Adapter for ``LlamaForCausalLM``-shaped decoders (RMSNorm, RoPE, GQA)."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None,
                 cache_dir: Path | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 device: str = "cpu", dtype: str = "float32"):
        """Load ``source`` (hub id, local directory or ``.gguf`` file), or wrap a given model.

        Args:
            cache_dir: where a GGUF is converted to safetensors (the ``ATTNSCOPE_CACHE`` setting).
            max_tokens: the longest input accepted (also capped by the model's context).
        """
        if model is None:
            from attnscope.inspection.adapters.loading import load_model

            model, tokenizer = load_model(source, "llama", cache_dir, device=device, dtype=dtype)
        super().__init__(model_id, source, name, model=model, tokenizer=tokenizer, family="llama",
                         max_tokens=max_tokens)
