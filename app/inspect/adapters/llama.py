"""LLaMA-family decoders (LLaMA, SmolLM2, Mistral, Qwen2...): rotary positions, grouped-query attention.

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
  ``x @ w_q`` (:meth:`LlamaAdapter.head_weights`) is the query BEFORE RoPE;
  :meth:`LlamaAdapter.rotate` turns it into ``q``.
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

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from app.inspect.adapters import hf
from app.inspect.adapters.base import Adapter, ModelInfo
from app.inspect.adapters.bert import mask_from
from app.inspect.adapters.hf import np32
from app.inspect.hooks import hooks, keep_output
from app.inspect.trace import AttentionBlock, HeadWeights, Trace

DEFAULT_MAX_TOKENS = 512


class LlamaAdapter(hf.CausalLMMixin, Adapter):
    """Adapter for ``LlamaForCausalLM``-shaped decoders (RMSNorm, RoPE, GQA, no attention biases needed)."""

    def __init__(
        self,
        model_id: str,
        source: str,
        name: str | None = None,
        model=None,
        tokenizer=None,
        cache_dir: Path | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ):
        """Load ``source`` (hub id, local directory or ``.gguf`` file), or wrap a given model.

        Args:
            cache_dir: where a GGUF is converted to safetensors (the ``ATTNSCOPE_CACHE`` setting).
            max_tokens: the longest input accepted (also capped by the model's context).
        """
        super().__init__()
        if model is None:
            from app.inspect.gguf_cache import load_causal_lm

            model, tokenizer = load_causal_lm(source, cache_dir)
        if model.config._attn_implementation != "eager":
            raise ValueError(f"{model_id!r}: attention weights need attn_implementation='eager'")
        self.model, self.tokenizer = model.eval(), tokenizer
        cfg = model.config
        heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.info = ModelInfo(
            id=model_id,
            name=name or source,
            source=source,
            family="llama",
            kind="decoder",
            layers=cfg.num_hidden_layers,
            heads=heads,
            kv_heads=kv,
            d_model=cfg.hidden_size,
            d_head=self._attn(0).head_dim,
            max_tokens=min(cfg.max_position_embeddings, max_tokens),
            positional="rotary",
            blocks=("decoder",),
        )
        self.kv_head = np.arange(heads) // (heads // kv)  # (H,) query head -> KV head
        # the rotation the attention modules themselves call (same module, same function)
        self._apply_rope = sys.modules[type(self._attn(0)).__module__].apply_rotary_pos_emb

    def _layers(self):
        return self.model.model.layers

    def _attn(self, i: int):
        return self._layers()[i].self_attn

    def run(self, text: str, target: str | None = None) -> Trace:
        inputs, tokens = self.decoder_inputs(text, target)
        rec: dict[int, dict] = defaultdict(dict)
        with torch.inference_mode(), hooks() as hs:
            for i, layer in enumerate(self._layers()):
                self._hook_layer(hs, i, layer, rec)
            out = self.model(**inputs, output_attentions=True, use_cache=False)
        with torch.inference_mode():
            blocks = [self._block(i, rec[i], out.attentions[i]) for i in range(self.info.layers)]
            emb = self.model.model.embed_tokens(inputs["input_ids"])[0]  # (T, d)
        hidden = np.stack([np32(emb)] + [np32(rec[i]["h"][0]) for i in range(self.info.layers)])
        return Trace(
            model=self.info.id,
            text=text,
            tokens=tokens,
            blocks={"decoder": blocks},
            token_embeddings=np32(emb),
            position_embeddings=None,
            hidden_states={"decoder": hidden},
            logits=np32(out.logits[0]),
        )

    def _hook_layer(self, hs, i: int, layer, rec: dict[int, dict]) -> None:
        attn = layer.self_attn

        def grab_input(_m, args, kwargs):
            rec[i]["x"] = args[0] if args else kwargs["hidden_states"]
            rec[i]["rope"] = kwargs["position_embeddings"] if "position_embeddings" in kwargs else args[1]
            rec[i]["mask"] = kwargs.get("attention_mask")

        def grab(name):
            return keep_output(rec[i], name)

        def grab_z(_m, args, kwargs):
            rec[i]["z"] = args[0] if args else kwargs["input"]

        hs.pre(attn, grab_input)
        hs.post(attn.q_proj, grab("q"))
        hs.post(attn.k_proj, grab("k"))
        hs.post(attn.v_proj, grab("v"))
        hs.pre(attn.o_proj, grab_z)
        hs.post(attn.o_proj, grab("out"))
        hs.post(layer, grab("h"))

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(1, T, n * d_head) -> (1, n, T, d_head)."""
        return t.view(t.shape[0], t.shape[1], -1, self.info.d_head).transpose(1, 2)

    def _block(self, i: int, r: dict, attentions: torch.Tensor) -> AttentionBlock:
        cos, sin = r["rope"]
        q, k = self._apply_rope(self._heads(r["q"]), self._heads(r["k"]), cos, sin)  # (1, H, T, dh), (1, KV, T, dh)
        groups = self.info.heads // self.info.kv_heads
        k = k.repeat_interleave(groups, dim=1)  # (1, H, T, dh): head h reads KV head h // groups
        v = self._heads(r["v"]).repeat_interleave(groups, dim=1)
        t = r["x"].shape[1]
        mask = r.get("mask")
        causal = np.triu(np.ones((t, t), dtype=bool), 1)
        return AttentionBlock(
            kind="causal",
            layer=i,
            x=np32(r["x"][0]),
            q=np32(q[0]),
            k=np32(k[0]),
            v=np32(v[0]),
            mask=mask_from(mask, t, t) | causal if mask is not None else causal,
            weights=np32(attentions[0]),
            z=np32(self._heads(r["z"])[0]),
            out=np32(r["out"][0]),
            scale=float(1.0 / self._attn(i).scaling),
            kv_head=self.kv_head.copy(),
        )

    def rotate(self, t: np.ndarray, positions: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Apply the model's rotary embedding to queries or keys given BEFORE rotation.

        Args:
            t: (T, d_head) or (H, T, d_head), e.g. ``x @ w_q + b_q`` of one head.
            positions: (T,) the token positions (default ``0 .. T-1``).

        Returns:
            Same shape, rotated exactly as the model rotates q and k at those positions.
        """
        arr = torch.as_tensor(np.asarray(t, dtype=np.float32))
        if arr.shape[-1] != self.info.d_head or arr.dim() not in (2, 3):
            raise ValueError(f"expected (T, {self.info.d_head}) or (H, T, {self.info.d_head}), got {tuple(arr.shape)}")
        n = arr.shape[-2]
        pos = torch.arange(n) if positions is None else torch.as_tensor(np.asarray(positions), dtype=torch.long)
        if pos.shape != (n,):
            raise ValueError(f"positions must have one entry per token ({n}), got shape {tuple(pos.shape)}")
        x = arr.reshape(1, -1, n, self.info.d_head)  # (1, heads, T, dh)
        with torch.inference_mode():
            cos, sin = self.model.model.rotary_emb(x, pos[None])
            rotated, _ = self._apply_rope(x, x, cos, sin)
        return np32(rotated.reshape(arr.shape))

    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        """Slices of query head ``head``; ``w_k``/``w_v`` are those of the KV head it reads.

        ``x @ w_q + b_q`` is the query BEFORE the rotary rotation; ``rotate`` of it
        is the block's ``q[head]`` (likewise ``rotate(x @ w_k)`` is ``k[head]``,
        while ``x @ w_v`` is ``v[head]`` directly: values are not rotated).
        """
        if block != "decoder":
            raise ValueError(f"{self.info.id!r} is a decoder: it has only 'decoder' attention")
        if not 0 <= layer < self.info.layers:
            raise ValueError(f"layer {layer} is out of range: {self.info.id!r} has layers 0 to {self.info.layers - 1}")
        if not 0 <= head < self.info.heads:
            raise ValueError(f"head {head} is out of range: {self.info.id!r} has heads 0 to {self.info.heads - 1}")
        attn = self._attn(layer)
        dh = self.info.d_head
        qs = slice(head * dh, (head + 1) * dh)
        kv = int(self.kv_head[head])
        ks = slice(kv * dh, (kv + 1) * dh)

        def w(lin, sl):
            b = np32(lin.bias[sl]) if lin.bias is not None else None
            return np32(lin.weight[sl].T), b

        (wq, bq), (wk, bk), (wv, bv) = w(attn.q_proj, qs), w(attn.k_proj, ks), w(attn.v_proj, ks)
        o = attn.o_proj
        bo = np32(o.bias) if o.bias is not None else None
        return HeadWeights(wq, bq, wk, bk, wv, bv, np32(o.weight.T), bo)
