"""Value-weighted attention (Kobayashi et al. 2020): ‖α·f(x)‖ next to the weights α, per head of one layer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from attnscope.encode import encode
from attnscope.inspection.norms import WO_BIAS_NOTE, value_norms
from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.routes.attention import json_response
from attnscope_server.api.schemas import Answer, Block, BlockRequest, Encoded

router = APIRouter(prefix="/api", tags=["analysis"])

DEFINITIONS = (
    "For head h of the layer, query i and key j: `weights[h][i][j]` = α_ij, the model's own attention "
    "probability; `norms[h][i][j]` = ‖α_ij · f(x_j)‖ with f(x) = x·W_V^h + b_V^h, the value vector the head "
    "moves from key j into query i before W_O (the v the model's attention received; grouped-query heads "
    "read their KV head's v); `norms_with_wo[h][i][j]` = ‖α_ij · f(x_j) · W_O^h‖ with W_O^h the rows "
    "h·d_head to (h+1)·d_head of W_O, the head's share of the attention output. " + WO_BIAS_NOTE + ". "
    "`*_normalised`: each row divided by its sum (for comparison with the weights, whose rows sum to 1). "
    "Norms are Euclidean. Every array is (heads, queries, keys)."
)


class NormsRequest(BlockRequest):
    layer: int = Field(description="the layer, from 0")
    format: Literal["json", "f16"] = Field(
        default="json", description="json: nested lists; f16: each array one base64 little-endian float16 string")


class FirstKey(Answer):
    """Per head, the mean share of key 0 (the usual attention sink) over the rows."""

    weight: list[float] = Field(description="(heads,) mean_i α_i0")
    norm: list[float] = Field(description="(heads,) mean_i of norms_normalised[h][i][0]")
    norm_with_wo: list[float] = Field(description="(heads,) mean_i of norms_with_wo_normalised[h][i][0]")


class NormsResponse(Answer):
    """``POST /api/norms``: the weights and the value-weighted norms of every head of one layer."""

    model: str
    text: str
    target: str | None = Field(description="the decoder input text (encoder-decoders), else null")
    block: Block
    layer: int
    heads: int
    shape: list[int] = Field(description="[heads, queries, keys] of each array")
    format: Literal["json", "f16"]
    query_tokens: list[str]
    key_tokens: list[str]
    weights: Encoded = Field(description="α_ij, the model's attention probabilities")
    norms: Encoded = Field(description="‖α_ij · f(x_j)‖, f(x) = x·W_V^h + b_V^h")
    norms_with_wo: Encoded = Field(
        description="‖α_ij · f(x_j) · W_O^h‖ (W_O's bias left out: it is not per head)")
    norms_normalised: Encoded = Field(description="norms, each row divided by its sum")
    norms_with_wo_normalised: Encoded = Field(description="norms_with_wo, each row divided by its sum")
    value_norms: Encoded = Field(description="(heads, keys) ‖f(x_j)‖")
    value_norms_with_wo: Encoded = Field(description="(heads, keys) ‖f(x_j) · W_O^h‖")
    first_key: FirstKey
    note: str = Field(description="the definitions, as stated here")


@router.post("/norms",
             summary="Value-weighted attention: ‖α·f(x)‖ and ‖α·f(x)·W_O^h‖ beside the weights, per head.",
             description=DEFINITIONS, response_class=Response, response_model=None,
             responses={200: {"model": NormsResponse}})
def norms_route(req: NormsRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Value-weighted attention: ‖α·f(x)‖ and ‖α·f(x)·W_O^h‖ beside the weights, per head."""
    r = resolve(req, registry, settings)
    trace = registry.trace(req.model, r.text, r.target)
    n = value_norms(r.adapter, trace, r.block, req.layer)  # 422: a layer out of range, or no v / W_O
    arrays = ("weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised", "value_norms",
              "value_norms_with_wo")
    return json_response({
        "model": req.model,
        "text": r.text,
        "target": trace.target,
        "block": r.block,
        "layer": req.layer,
        "heads": int(n.weights.shape[0]),
        "shape": list(n.weights.shape),
        "format": req.format,
        "query_tokens": n.query_tokens,
        "key_tokens": n.key_tokens,
        **{a: encode(getattr(n, a), req.format) for a in arrays},
        "first_key": {k: [round(x, 7) for x in v] for k, v in n.first_key().items()},
        "note": DEFINITIONS,
    })
