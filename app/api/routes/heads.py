"""Head statistics: entropy, distance, self/previous/first/special weight and a label per head."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, Block, BlockRequest
from attnscope.inspection.stats import head_stats, rules

router = APIRouter(prefix="/api", tags=["analysis"])


class HeadsRequest(BlockRequest):
    pass


class HeadStat(Answer):
    """One head's statistics, each a mean over the query rows (self, previous, next: null for cross-attention)."""

    entropy: float | None = Field(description="row entropy over the keys the mask keeps, in nats")
    entropy_norm: float | None = Field(description="row entropy / log(keys the row sees): 1 = uniform")
    distance: float | None = Field(description="the average token distance sum_j w_ij |i - j|")
    self: float | None = Field(description="w_ii")
    previous: float | None = Field(description="w_i,i-1")
    next: float | None = Field(description="w_i,i+1")
    first: float | None = Field(description="the weight on the first key")
    special: float | None = Field(description="the total weight on special keys")
    label: str = Field(description="the first rule of labels_rules that holds")


class LabelRule(Answer):
    label: str
    rule: str
    meaning: str


class HeadsResponse(Answer):
    model: str
    block: Block
    layers: int
    heads: int
    query_tokens: list[str]
    key_tokens: list[str]
    stats: list[list[HeadStat]] = Field(description="[layer][head]")
    labels_rules: list[LabelRule] = Field(description="the label rules, in the order they are tried")


@router.post("/heads", summary="Statistics and a label for every layer and head of one attention block.",
             response_model=HeadsResponse, response_model_exclude_unset=True)
def heads(req: HeadsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Statistics and a label for every layer and head of one attention block."""
    r = resolve(req, registry, settings)
    trace = registry.trace(req.model, r.text, r.target)
    stats = head_stats(trace, r.block)
    q_toks, k_toks = trace.query_key_tokens(r.block)
    return {
        "model": req.model,
        "block": r.block,
        "layers": stats.layers,
        "heads": stats.heads,
        "query_tokens": q_toks.text,
        "key_tokens": k_toks.text,
        "stats": stats.to_list(),
        "labels_rules": rules(),
    }
