"""``/api/seq2seq``: greedy output of any encoder-decoder, with each output token's cross-attention."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, ModelId, TextRequest
from attnscope.inspection.adapters.base import Adapter

router = APIRouter(prefix="/api", tags=["generation"])


class Seq2SeqRequest(TextRequest):
    model: ModelId = Field(description="an encoder-decoder model id (T5, BART, Marian, textbook...)")
    text: str = Field(description="the source text")
    max_new_tokens: int = Field(default=32, ge=1, le=64)
    layer: int | None = Field(default=None, description="the decoder layer whose cross-attention is returned "
                                                        "(default: the last)")


class Seq2SeqResponse(Answer):
    model: str
    text: str = Field(description="the output text")
    layer: int
    source_tokens: list[str]
    output_tokens: list[str]
    shape: list[int] = Field(description="[heads, output tokens, source tokens]")
    cross_attention: list[list[list[float]]] = Field(
        description="row t: the attention of the decoder query that produced output token t")


@router.post("/seq2seq", summary="Greedy output of an encoder-decoder; each output token's cross-attention.",
             response_model=Seq2SeqResponse, response_model_exclude_unset=True)
def seq2seq(req: Seq2SeqRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Greedy output of an encoder-decoder; each output token's cross-attention.

    ``cross_attention`` is one decoder layer's (default the last), per head: [heads, output tokens,
    source tokens]; row t is the attention of the decoder query that produced output token t.
    """
    def encoder_decoder(adapter: Adapter) -> None:
        if adapter.info.kind != "encoder-decoder":
            raise ValueError(f"{req.model} is an {adapter.info.kind}: /api/seq2seq needs an encoder-decoder "
                             "(decoders continue text with /api/generate)")

    r = resolve(req, registry, settings, check=encoder_decoder)
    adapter, text = r.adapter, r.text
    if adapter.info.offers("translate"):  # the textbook model: its own greedy translation, step by step
        res = adapter.call(adapter.translate, text, "greedy", 1)
        cross_all = np.stack([s.cross_attention for s in res.steps], axis=2)  # (L, H, T_out, S)
        out_text, src, outs = res.text, res.source.text, res.output.text
    else:  # Hugging Face encoder-decoders
        result = adapter.seq2seq(text, req.max_new_tokens)
        cross_all = result["cross_attention"]  # (L, H, T_out, S)
        out_text, src, outs = result["text"], result["source_tokens"], result["output_tokens"]
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
