"""Head statistics: entropy, distance, self/previous/first/special weight and a label per head."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.schemas import Block
from attnscope.inspection.stats import head_stats, rules

router = APIRouter(prefix="/api", tags=["analysis"])


class HeadsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for encoder-decoders)")
    block: Block | None = Field(default=None, description="encoder | decoder | cross; default: the model's first")
    target: str | None = Field(
        default=None, description="the decoder input text (encoder-decoders); omitted = the model's own translation"
    )


def block_and_target(req, adapter, settings) -> tuple[str, str | None]:
    """The block asked for (validated) and the checked target text, if any."""
    block = req.block or adapter.default_block
    if block not in adapter.info.blocks:
        raise ValueError(f"{req.model} has no {block!r} attention; it has: {', '.join(adapter.info.blocks)}")
    target = None
    if getattr(req, "target", None) is not None and block != "encoder":
        target = checked_text(req.target, adapter, settings, what="target")
    return block, target


@router.post("/heads", summary="Statistics and a label for every layer and head of one attention block.")
def heads(req: HeadsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Statistics and a label for every layer and head of one attention block."""
    adapter = registry.get(req.model)
    text = checked_text(req.text, adapter, settings)
    block, target = block_and_target(req, adapter, settings)
    trace = registry.trace(req.model, text, target)
    stats = head_stats(trace, block)
    q_toks, k_toks = trace.query_key_tokens(block)
    return {
        "model": req.model,
        "block": block,
        "layers": stats.layers,
        "heads": stats.heads,
        "query_tokens": q_toks.text,
        "key_tokens": k_toks.text,
        "stats": stats.to_list(),
        "labels_rules": rules(),
    }
