"""BERT-family encoders (BERT, MiniLM, ...): forward hooks fill a :class:`Trace`."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from app.inspect.adapters.base import Adapter, ModelInfo
from app.inspect.adapters.hf import load_pretrained, np32, tokenize
from app.inspect.hooks import hooks, keep_output
from app.inspect.trace import AttentionBlock, HeadWeights, Trace


def mask_from(attention_mask: torch.Tensor | None, tq: int, tk: int) -> np.ndarray:
    """(Tq, Tk) bool, True where an additive or boolean HF mask removes the key."""
    if attention_mask is None:
        return np.zeros((tq, tk), dtype=bool)
    m = attention_mask[0, 0]
    if m.dtype == torch.bool:
        return (~m).cpu().numpy()
    return (m <= torch.finfo(m.dtype).min / 2).cpu().numpy()


class BertAdapter(Adapter):
    """Adapter for ``BertModel``-shaped encoders with learned absolute positions."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None):
        super().__init__()
        if model is None:
            from transformers import AutoModel

            model, tokenizer = load_pretrained(source, AutoModel)
        self.model, self.tokenizer = model.eval(), tokenizer
        cfg = model.config
        heads = cfg.num_attention_heads
        self.info = ModelInfo(
            id=model_id,
            name=name or source,
            source=source,
            family="bert",
            kind="encoder",
            layers=cfg.num_hidden_layers,
            heads=heads,
            kv_heads=heads,
            d_model=cfg.hidden_size,
            d_head=cfg.hidden_size // heads,
            max_tokens=cfg.max_position_embeddings,
            positional="learned",
            blocks=("encoder",),
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False)["input_ids"])

    def _layers(self):
        return self.model.encoder.layer

    def run(self, text: str, target: str | None = None) -> Trace:
        inputs, tokens = tokenize(self.tokenizer, text)
        rec: dict[int, dict] = defaultdict(dict)
        with torch.inference_mode(), hooks() as hs:
            for i, layer in enumerate(self._layers()):
                self._hook_layer(hs, i, layer, rec)
            out = self.model(**inputs, output_hidden_states=True, output_attentions=True)
        blocks = [self._block(i, rec[i], out.attentions[i]) for i in range(self.info.layers)]
        ids = inputs["input_ids"]
        emb = self.model.embeddings
        pos_ids = torch.arange(ids.shape[1])
        with torch.inference_mode():
            tok_emb = np32(emb.word_embeddings(ids)[0])
            pos_emb = np32(emb.position_embeddings(pos_ids))
        hidden = np.stack([np32(h[0]) for h in out.hidden_states])
        return Trace(
            model=self.info.id,
            text=text,
            tokens=tokens,
            blocks={"encoder": blocks},
            token_embeddings=tok_emb,
            position_embeddings=pos_emb,
            hidden_states={"encoder": hidden},
        )

    def _hook_layer(self, hs, i: int, layer, rec: dict[int, dict]) -> None:
        sa = layer.attention.self

        def grab_input(_m, args, kwargs):
            rec[i]["x"] = args[0] if args else kwargs["hidden_states"]
            rec[i]["mask"] = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)

        def grab(name):
            return keep_output(rec[i], name)

        hs.pre(sa, grab_input)
        hs.post(sa.query, grab("q"))
        hs.post(sa.key, grab("k"))
        hs.post(sa.value, grab("v"))
        hs.post(sa, grab("z"))
        hs.post(layer.attention.output.dense, grab("out"))

    def _block(self, i: int, r: dict, attentions: torch.Tensor) -> AttentionBlock:
        h, dh = self.info.heads, self.info.d_head

        def split(t: torch.Tensor) -> np.ndarray:  # (1, T, H*dh) -> (H, T, dh)
            return np32(t[0].view(t.shape[1], h, dh).transpose(0, 1))

        t = r["x"].shape[1]
        sa = self._layers()[i].attention.self
        return AttentionBlock(
            kind="self",
            layer=i,
            x=np32(r["x"][0]),
            q=split(r["q"]),
            k=split(r["k"]),
            v=split(r["v"]),
            mask=mask_from(r.get("mask"), t, t),
            weights=np32(attentions[0]),
            z=split(r["z"]),
            out=np32(r["out"][0]),
            scale=float(1.0 / sa.scaling),
            kv_head=np.arange(h),
        )

    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        if block != "encoder":
            raise ValueError(f"{self.info.id!r} is an encoder: it has only 'encoder' attention")
        attn = self._layers()[layer].attention
        sl = slice(head * self.info.d_head, (head + 1) * self.info.d_head)

        def w(lin):
            return np32(lin.weight[sl].T), np32(lin.bias[sl]) if lin.bias is not None else None

        (wq, bq), (wk, bk), (wv, bv) = w(attn.self.query), w(attn.self.key), w(attn.self.value)
        dense = attn.output.dense
        bo = np32(dense.bias) if dense.bias is not None else None
        return HeadWeights(wq, bq, wk, bk, wv, bv, np32(dense.weight.T), bo)
