"""``/api/seq2seq``: greedy output of any encoder-decoder, with each output token's cross-attention."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text

router = APIRouter(prefix="/api", tags=["generation"])


class Seq2SeqRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=64, description="an encoder-decoder model id (T5, BART, Marian, textbook...)")
    text: str = Field(description="the source text")
    max_new_tokens: int = Field(default=32, ge=1, le=64)
    layer: int | None = Field(default=None, description="the decoder layer whose cross-attention is returned "
                                                        "(default: the last)")


@router.post("/seq2seq", summary="Greedy output of an encoder-decoder; each output token's cross-attention.")
def seq2seq(req: Seq2SeqRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Greedy output of an encoder-decoder; each output token's cross-attention.

    ``cross_attention`` is one decoder layer's (default the last), per head: [heads, output tokens,
    source tokens]; row t is the attention of the decoder query that produced output token t.
    """
    adapter = registry.get(req.model)
    info = adapter.info
    if info.kind != "encoder-decoder":
        raise ValueError(f"{req.model} is an {info.kind}: /api/seq2seq needs an encoder-decoder "
                         "(decoders continue text with /api/generate)")
    text = checked_text(req.text, adapter, settings)
    if hasattr(adapter, "seq2seq"):
        result = adapter.seq2seq(text, req.max_new_tokens)
        cross_all = result["cross_attention"]  # (L, H, T_out, S)
        out_text, src, outs = result["text"], result["source_tokens"], result["output_tokens"]
    else:  # the textbook model
        res = adapter.call(adapter.translate, text, "greedy", 1)
        cross_all = np.stack([s.cross_attention for s in res.steps], axis=2)  # (L, H, T_out, S)
        out_text, src, outs = res.text, res.source.text, res.output.text
    layers = cross_all.shape[0]
    layer = layers - 1 if req.layer is None else req.layer
    if not 0 <= layer < layers:
        raise ValueError(f"layer {layer} is out of range: {req.model} has decoder layers 0 to {layers - 1}")
    cross = cross_all[layer]
    return {
        "model": req.model,
        "text": out_text,
        "layer": layer,
        "source_tokens": src,
        "output_tokens": outs,
        "shape": list(cross.shape),
        "cross_attention": cross.round(7).tolist(),
    }
