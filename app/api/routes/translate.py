"""``/api/translate``: a translation with each output word's cross-attention (greedy or beam on textbook)."""

from typing import Literal

import numpy as np
from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, ModelId, TextRequest
from attnscope.inspection.adapters.base import Adapter

router = APIRouter(prefix="/api", tags=["generation"])


class TranslateRequest(TextRequest):
    model: ModelId = Field(default="textbook", description="an encoder-decoder model id")
    text: str = Field(description="the source sentence (French, for the textbook model)")
    strategy: Literal["greedy", "beam"] = "greedy"
    beam_width: int = Field(default=4, ge=1, le=16)


class TranslateResponse(Answer):
    model: str
    text: str = Field(description="the translation, special tokens left out")
    strategy: Literal["greedy", "beam"]
    source_tokens: list[str]
    output_tokens: list[str]
    shape: list[int] = Field(description="[heads, output tokens, source tokens]")
    cross_attention: list[list[list[float]]] = Field(
        description="the last decoder layer's; row t: the query that produced output token t")
    notes: list[str] = Field(description="e.g. words read as <unk>, or the length cap reached")


@router.post("/translate", summary="Translate with an encoder-decoder; each output word's cross-attention.",
             response_model=TranslateResponse, response_model_exclude_unset=True)
def translate(req: TranslateRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Translate with an encoder-decoder; each output word's cross-attention.

    ``cross_attention`` is the last decoder layer's, per head: [heads, output tokens, source tokens];
    row t is the attention of the query that produced output token t (like the lecture's alignment
    table). Unknown words become ``<unk>`` with a note, never an error. Hugging Face encoder-decoders
    (T5, BART, Marian) translate greedily, as ``/api/seq2seq`` does.
    """
    def translates(adapter: Adapter) -> None:
        info = adapter.info
        if info.kind == "encoder-decoder" and not info.offers("translate"):  # T5, BART, Marian...
            if req.strategy != "greedy":
                raise ValueError(f"{req.model}: /api/translate runs greedy decoding for Hugging Face "
                                 "encoder-decoders (beam search is the textbook model's)")
        elif not info.offers("translate"):
            raise ValueError(f"{req.model} ({info.kind}) cannot translate: /api/translate needs an "
                             "encoder-decoder such as textbook (decoders generate with /api/generate)")

    r = resolve(req, registry, settings, check=translates)
    adapter, text = r.adapter, r.text
    if not adapter.info.offers("translate"):  # a Hugging Face encoder-decoder: greedy, through generate
        res = adapter.seq2seq(text)
        cross = res["cross_attention"][-1]  # (H, T_out, S)
        return {"model": req.model, "text": res["text"], "strategy": "greedy", "source_tokens": res["source_tokens"],
                "output_tokens": res["output_tokens"], "shape": list(cross.shape),
                "cross_attention": cross.round(7).tolist(), "notes": []}
    result = adapter.call(adapter.translate, text, req.strategy, req.beam_width)
    cross = np.stack([step.cross_attention[-1] for step in result.steps], axis=1)  # (H, T_out, S)
    return {
        "model": req.model,
        "text": result.text,
        "strategy": result.strategy,
        "source_tokens": result.source.text,
        "output_tokens": result.output.text,
        "shape": list(cross.shape),
        "cross_attention": cross.round(7).tolist(),
        "notes": result.notes,
    }
