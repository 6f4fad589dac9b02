"""Head ablation: knock out heads and compare the model's output before and after."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.schemas import Block
from attnscope.inspection.ablate import ablate

router = APIRouter(prefix="/api", tags=["analysis"])


class AblateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for encoder-decoders)")
    heads: list[list[int]] = Field(
        default_factory=list, max_length=4096,
        description="[layer, head] pairs to knock out, from 0; duplicates are fine; [] = none")
    block: Block | None = Field(default=None, description="which attention the heads belong to; default: the model's first")


@router.post("/ablate", summary="Knock out heads (zero their outputs before W_O) and compare the output before and after.")
def ablate_route(req: AblateRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Knock out heads (zero their outputs before W_O) and compare the output before and after."""
    adapter = registry.get(req.model)
    text = checked_text(req.text, adapter, settings)
    result = ablate(adapter, text, req.heads, req.block)
    return {"model": req.model, "text": text, **result.to_dict()}
