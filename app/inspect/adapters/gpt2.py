"""GPT-2-family decoders: learned absolute positions, one fused Q/K/V projection.

The Trace it fills (block group "decoder", kind "causal", one block per layer):

* ``tokens``: the tokenizer's ids (GPT-2's tokenizer adds no ``<|endoftext|>``).
* ``x``: the attention input, ``ln_1`` of the residual stream.
* ``q``, ``k``, ``v``: the three thirds of ``c_attn(x)``, split into heads
  (GPT-2 has no rotation and no grouped KV heads: ``kv_head[h] = h``).
* ``mask``: causal, True above the diagonal.
* ``z``: per-head outputs (the input of ``c_proj``); ``out``: ``c_proj`` output.
* ``scale``: 1 / ``module.scaling``: sqrt(d_head), times (layer + 1) when the
  config sets ``scale_attn_by_inverse_layer_idx``.
* ``token_embeddings`` (``wte``) + ``position_embeddings`` (``wpe``) =
  ``hidden_states["decoder"][0]``; the following entries are the residual stream
  after each block, BEFORE the final ``ln_f``.
* ``logits``: (T, vocab) float32, row t predicts token t + 1.

``c_attn`` and ``c_proj`` are ``Conv1D`` layers: their weight is already
(in, out), so ``x @ weight + bias`` with no transpose.
"""

from __future__ import annotations

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


class GPT2Adapter(hf.CausalLMMixin, Adapter):
    """Adapter for ``GPT2LMHeadModel``-shaped decoders."""

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
        super().__init__()
        if model is None:
            from app.inspect.gguf_cache import load_causal_lm

            model, tokenizer = load_causal_lm(source, cache_dir)
        if model.config._attn_implementation != "eager":
            raise ValueError(f"{model_id!r}: attention weights need attn_implementation='eager'")
        self.model, self.tokenizer = model.eval(), tokenizer
        cfg = model.config
        heads = cfg.n_head
        self.info = ModelInfo(
            id=model_id,
            name=name or source,
            source=source,
            family="gpt2",
            kind="decoder",
            layers=cfg.n_layer,
            heads=heads,
            kv_heads=heads,
            d_model=cfg.n_embd,
            d_head=cfg.n_embd // heads,
            max_tokens=min(cfg.n_positions, max_tokens),
            positional="learned",
            blocks=("decoder",),
        )

    def _layers(self):
        return self.model.transformer.h

    def run(self, text: str, target: str | None = None) -> Trace:
        inputs, tokens = self.decoder_inputs(text, target)
        t = len(tokens)
        rec: dict[int, dict] = defaultdict(dict)
        with torch.inference_mode(), hooks() as hs:
            for i, layer in enumerate(self._layers()):
                self._hook_layer(hs, i, layer, rec)
            out = self.model(**inputs, output_attentions=True, use_cache=False)
        blocks = [self._block(i, rec[i], out.attentions[i]) for i in range(self.info.layers)]
        tr = self.model.transformer
        with torch.inference_mode():
            tok_emb = np32(tr.wte(inputs["input_ids"])[0])  # (T, d)
            pos_emb = np32(tr.wpe(torch.arange(t)))  # (T, d)
        hidden = np.stack([tok_emb + pos_emb] + [np32(rec[i]["h"][0]) for i in range(self.info.layers)])
        return Trace(
            model=self.info.id,
            text=text,
            tokens=tokens,
            blocks={"decoder": blocks},
            token_embeddings=tok_emb,
            position_embeddings=pos_emb,
            hidden_states={"decoder": hidden},
            logits=np32(out.logits[0]),
        )

    def _hook_layer(self, hs, i: int, layer, rec: dict[int, dict]) -> None:
        attn = layer.attn

        def grab_input(_m, args, kwargs):
            rec[i]["x"] = args[0] if args else kwargs["hidden_states"]
            rec[i]["mask"] = kwargs.get("attention_mask")

        def grab(name):
            return keep_output(rec[i], name)

        def grab_z(_m, args, kwargs):
            rec[i]["z"] = args[0] if args else kwargs["x"]

        hs.pre(attn, grab_input)
        hs.post(attn.c_attn, grab("qkv"))
        hs.pre(attn.c_proj, grab_z)
        hs.post(attn.c_proj, grab("out"))
        hs.post(layer, grab("h"))

    def _block(self, i: int, r: dict, attentions: torch.Tensor) -> AttentionBlock:
        h, dh, d = self.info.heads, self.info.d_head, self.info.d_model

        def split(t: torch.Tensor) -> np.ndarray:  # (T, H*dh) -> (H, T, dh)
            return np32(t.reshape(t.shape[0], h, dh).transpose(0, 1))

        q, k, v = r["qkv"][0].split(d, dim=-1)  # 3 x (T, d)
        t = r["x"].shape[1]
        mask = r.get("mask")
        causal = np.triu(np.ones((t, t), dtype=bool), 1)
        return AttentionBlock(
            kind="causal",
            layer=i,
            x=np32(r["x"][0]),
            q=split(q),
            k=split(k),
            v=split(v),
            mask=mask_from(mask, t, t) | causal if mask is not None else causal,
            weights=np32(attentions[0]),
            z=split(r["z"][0]),
            out=np32(r["out"][0]),
            scale=float(1.0 / self._layers()[i].attn.scaling),
            kv_head=np.arange(h),
        )

    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        """Slices of one head from the fused ``c_attn`` (d, 3d) and the shared ``c_proj`` (d, d)."""
        if block != "decoder":
            raise ValueError(f"{self.info.id!r} is a decoder: it has only 'decoder' attention")
        if not 0 <= layer < self.info.layers:
            raise ValueError(f"layer {layer} is out of range: {self.info.id!r} has layers 0 to {self.info.layers - 1}")
        if not 0 <= head < self.info.heads:
            raise ValueError(f"head {head} is out of range: {self.info.id!r} has heads 0 to {self.info.heads - 1}")
        attn = self._layers()[layer].attn
        d, dh = self.info.d_model, self.info.d_head
        w, b = attn.c_attn.weight, attn.c_attn.bias  # (d, 3d), (3d,): columns q | k | v

        def part(j: int):  # j = 0 (q), 1 (k), 2 (v)
            sl = slice(j * d + head * dh, j * d + (head + 1) * dh)
            return np32(w[:, sl]), np32(b[sl]) if b is not None else None

        (wq, bq), (wk, bk), (wv, bv) = part(0), part(1), part(2)
        proj = attn.c_proj
        bo = np32(proj.bias) if proj.bias is not None else None
        return HeadWeights(wq, bq, wk, bk, wv, bv, np32(proj.weight), bo)
