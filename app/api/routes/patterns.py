"""Efficient-attention patterns (local, strided, global) on the encoder of a model that offers them."""

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, ModelId, TextRequest
from attnscope.inspection import patterns
from attnscope.inspection.adapters.base import Adapter

router = APIRouter(prefix="/api", tags=["analysis"])


class PatternRequest(TextRequest):
    model: ModelId = Field(default="textbook", description="an encoder-decoder model id")
    text: str = Field(description="the source sentence")
    pattern: Literal["local", "strided", "global"] = "local"
    window: int = Field(default=1, ge=0, le=64, description="local: keys within this distance")
    stride: int = Field(default=2, ge=1, le=64, description="strided: every stride-th key")
    tokens: list[int] = Field(default=[0], max_length=64, description="global: indices of the global tokens")


class PatternResult(Answer):
    weights: list[list[list[list[float]]]] = Field(description="(layers, heads, S, S) the encoder's self-attention")
    translation: str
    output_tokens: list[str]


class PatternsResponse(Answer):
    model: str
    text: str
    tokens: list[str]
    pattern: Literal["local", "strided", "global"]
    mask: list[list[bool]] = Field(description="(S, S) true where the pattern removes the key")
    kept: int = Field(description="query-key pairs kept")
    full: PatternResult = Field(description="full attention")
    patterned: PatternResult = Field(description="with the pattern")


@router.post("/patterns", summary="Local, strided or global attention on the encoder: mask, attention, translation.",
             response_model=PatternsResponse, response_model_exclude_unset=True)
def run_pattern(req: PatternRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Local, strided or global attention on the encoder: mask, attention, translation.

    Returns the pattern's mask (true = removed), and for full attention and for the pattern the
    encoder's self-attention of every layer and head ([layers, heads, S, S]) and the translation.
    """
    def offered(adapter: Adapter) -> None:
        if not adapter.info.offers("patterns"):
            raise ValueError(f"{req.model} ({adapter.info.kind}): efficient-attention patterns run on the "
                             "textbook encoder-decoder")

    r = resolve(req, registry, settings, check=offered)
    adapter, text = r.adapter, r.text
    size = adapter.count_tokens(text)
    mask = patterns.pattern_mask(req.pattern, size, req.window, req.stride, tuple(req.tokens))
    full = patterns.run(adapter, text, None)
    masked = patterns.run(adapter, text, mask)
    return {
        "model": req.model,
        "text": text,
        "tokens": adapter.source_tokens(text).text,
        "pattern": req.pattern,
        "mask": mask.tolist(),
        "kept": int((~mask).sum()),
        "full": {"weights": full.weights.round(6).tolist(), "translation": full.translation,
                 "output_tokens": full.output_tokens},
        "patterned": {"weights": masked.weights.round(6).tolist(), "translation": masked.translation,
                      "output_tokens": masked.output_tokens},
    }
