from typing import Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text

router = APIRouter(prefix="/api", tags=["generation"])


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="textbook", max_length=64, description="an encoder-decoder model id")
    text: str = Field(description="the source sentence (French, for the textbook model)")
    strategy: Literal["greedy", "beam"] = "greedy"
    beam_width: int = Field(default=4, ge=1, le=16)


@router.post("/translate", summary="Translate with an encoder-decoder; each output word's cross-attention.")
def translate(req: TranslateRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Translate with an encoder-decoder; each output word's cross-attention.

    ``cross_attention`` is the last decoder layer's, per head: [heads, output tokens, source tokens];
    row t is the attention of the query that produced output token t (like the lecture's alignment
    table). Unknown words become ``<unk>`` with a note, never an error. Hugging Face encoder-decoders
    (T5, BART, Marian) translate greedily, as ``/api/seq2seq`` does.
    """
    adapter = registry.get(req.model)
    if hasattr(adapter, "seq2seq") and adapter.info.kind == "encoder-decoder":  # T5, BART, Marian...
        if req.strategy != "greedy":
            raise ValueError(f"{req.model}: /api/translate runs greedy decoding for Hugging Face encoder-decoders "
                             "(beam search is the textbook model's)")
        res = adapter.seq2seq(checked_text(req.text, adapter, settings))
        cross = res["cross_attention"][-1]  # (H, T_out, S)
        return {"model": req.model, "text": res["text"], "strategy": "greedy", "source_tokens": res["source_tokens"],
                "output_tokens": res["output_tokens"], "shape": list(cross.shape),
                "cross_attention": cross.round(7).tolist(), "notes": []}
    if not hasattr(adapter, "translate"):
        raise ValueError(f"{req.model} ({adapter.info.kind}) cannot translate: /api/translate needs an "
                         "encoder-decoder such as textbook (decoders generate with /api/generate)")
    text = checked_text(req.text, adapter, settings)
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
