"""Attention rollout (Abnar and Zuidema 2020) next to one layer's mean over heads."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope.encode import encode
from attnscope_server.api.routes.heads import block_and_target
from attnscope_server.api.schemas import Block
from attnscope.inspection.stats import rollout

router = APIRouter(prefix="/api", tags=["analysis"])


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for encoder-decoders)")
    layer: int | None = Field(default=None, description="roll out from the first layer up to this one; default: the last")
    block: Block | None = Field(default=None, description="encoder | decoder (self-attention only); default: the model's first")
    target: str | None = Field(default=None, description="the decoder input text (encoder-decoders, decoder block)")


@router.post("/rollout", summary="Attention rollout up to a layer, and that layer's mean over heads (self-attention).")
def rollout_route(req: RolloutRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Attention rollout up to a layer, and that layer's mean over heads (self-attention)."""
    adapter = registry.get(req.model)
    text = checked_text(req.text, adapter, settings)
    block, target = block_and_target(req, adapter, settings)
    if block == "cross":
        raise ValueError("rollout needs self-attention: cross-attention maps decoder tokens to encoder "
                         "tokens, so its layers cannot be multiplied; choose the encoder or decoder block")
    trace = registry.trace(req.model, text, target, full=False)  # rollout reads the weights only
    r = rollout(trace, block, req.layer)
    toks, _ = trace.query_key_tokens(block)
    return {
        "model": req.model,
        "block": block,
        "layer": r.layer,
        "tokens": toks.text,
        "special": toks.special,
        "rollout": encode(r.rollout, "json"),
        "mean": encode(r.mean, "json"),
    }
