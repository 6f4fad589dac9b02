"""Attention rollout (Abnar and Zuidema 2020) next to one layer's mean over heads."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope.encode import encode
from attnscope_server.api.routes.attention import json_response
from attnscope_server.api.schemas import Answer, Block, BlockRequest
from attnscope.inspection.stats import rollout

router = APIRouter(prefix="/api", tags=["analysis"])


class RolloutRequest(BlockRequest):
    block: Block | None = Field(default=None, description="encoder | decoder (self-attention only); default: the model's first")
    target: str | None = Field(default=None, description="the decoder input text (encoder-decoders, decoder block)")
    layer: int | None = Field(default=None, description="roll out from the first layer up to this one; default: the last")


class RolloutResponse(Answer):
    """Rollout up to ``layer`` and that layer's mean over heads, both (T, T), rows summing to 1."""

    model: str
    block: Block
    layer: int
    tokens: list[str]
    special: list[bool]
    rollout: list[list[float]] = Field(description="row i: how much of token i after the layer comes from each input token")
    mean: list[list[float]] = Field(description="the layer's attention, mean over heads")


@router.post("/rollout", summary="Attention rollout up to a layer, and that layer's mean over heads (self-attention).",
             response_class=Response, response_model=None, responses={200: {"model": RolloutResponse}})
def rollout_route(req: RolloutRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Attention rollout up to a layer, and that layer's mean over heads (self-attention).

    The answer is serialised once, as bytes (two T x T matrices: large for long texts).
    """
    r = resolve(req, registry, settings)
    if r.block == "cross":
        raise ValueError("rollout needs self-attention: cross-attention maps decoder tokens to encoder "
                         "tokens, so its layers cannot be multiplied; choose the encoder or decoder block")
    trace = registry.trace(req.model, r.text, r.target, full=False)  # rollout reads the weights only
    ro = rollout(trace, r.block, req.layer)
    toks, _ = trace.query_key_tokens(r.block)
    return json_response({
        "model": req.model,
        "block": r.block,
        "layer": ro.layer,
        "tokens": toks.text,
        "special": toks.special,
        "rollout": encode(ro.rollout, "json"),
        "mean": encode(ro.mean, "json"),
    })
