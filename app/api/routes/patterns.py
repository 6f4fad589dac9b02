from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope.inspection import patterns

router = APIRouter(prefix="/api", tags=["analysis"])


class PatternRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="textbook", max_length=64, description="an encoder-decoder model id")
    text: str = Field(description="the source sentence")
    pattern: Literal["local", "strided", "global"] = "local"
    window: int = Field(default=1, ge=0, le=64, description="local: keys within this distance")
    stride: int = Field(default=2, ge=1, le=64, description="strided: every stride-th key")
    tokens: list[int] = Field(default=[0], max_length=64, description="global: indices of the global tokens")


@router.post("/patterns", summary="Local, strided or global attention on the encoder: mask, attention, translation.")
def run_pattern(req: PatternRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Local, strided or global attention on the encoder: mask, attention, translation.

    Returns the pattern's mask (true = removed), and for full attention and for the pattern the
    encoder's self-attention of every layer and head ([layers, heads, S, S]) and the translation.
    """
    adapter = registry.get(req.model)
    if not hasattr(adapter, "source_tokens"):
        raise ValueError(f"{req.model} ({adapter.info.kind}): efficient-attention patterns run on the "
                         "textbook encoder-decoder")
    text = checked_text(req.text, adapter, settings)
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
