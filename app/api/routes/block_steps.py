"""After attention: residual, Add & Norm (LayerNorm / RMSNorm) and the feed-forward layer for one token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.routes.steps import sig
from attnscope_server.api.schemas import Block
from attnscope.inspection.block_steps import Norm, block_steps, norm_axes

router = APIRouter(prefix="/api", tags=["steps"])

#: features shown in the batch-norm vs layer-norm panel (the statistics use every feature)
DEMO_FEATURES = 8


class BlockStepsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for the textbook encoder)")
    layer: int = Field(description="the layer, from 0")
    query: int = Field(description="the token's index, from 0")
    block: Block | None = Field(default=None, description="only the model's first block (textbook: encoder)")


def _norm(n: Norm | None) -> dict | None:
    if n is None:
        return None
    return {"kind": n.kind, "input": sig(n.input), "mean": n.mean, "std": n.std, "eps": n.eps,
            "normalized": sig(n.normalized), "gamma": sig(n.gamma), "beta": None if n.beta is None else sig(n.beta),
            "output": sig(n.output)}


@router.post("/block-steps", summary="After W_O: x + out, Add & Norm and the feed-forward layer for one token.")
def block_steps_route(req: BlockStepsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """After W_O: x + out, Add & Norm and the feed-forward layer for one token.

    Post-LN models (BERT/MiniLM, the textbook encoder): ``residual`` = x + out, ``norm1`` = LayerNorm
    (``mean`` μ, ``std`` σ = √(var + eps), ``gamma`` γ, ``beta`` β), feed-forward (GELU / ReLU), ``residual2``,
    ``norm2``. Pre-norm LLaMA-family models (SmolLM2): ``attn_in`` = RMSNorm(x) (what attention read),
    ``residual`` = x + out, ``norm1`` = RMSNorm (``std`` is the rms), SwiGLU feed-forward, ``block_out`` =
    residual + ffn. ``model_out`` is the model's own output of the layer; ``max_diff`` the largest difference.
    ``norm_axes``: batch norm vs layer norm of the layer's x + out (tokens × first features).
    """
    adapter = registry.get(req.model)
    text = checked_text(req.text, adapter, settings)
    if req.block is not None and req.block != adapter.default_block:
        raise ValueError(f"Add & Norm and the feed-forward step are shown for {req.model}'s {adapter.default_block} "
                         f"block only, not {req.block!r}")
    b = block_steps(adapter, text, req.layer, req.query)
    axes = norm_axes(b.residuals[:, :DEMO_FEATURES]) if b.residuals is not None else None
    return {
        "model": req.model, "text": text, "layer": b.layer, "query": b.query, "family": b.family,
        "placement": b.placement, "activation": b.activation, "d_model": int(b.x.shape[0]),
        "d_ff": int(b.ffn_pre.shape[0]), "ffn_shapes": b.ffn_shapes,
        "x": sig(b.x), "attn_in": _norm(b.attn_in), "out": sig(b.out), "residual": sig(b.residual),
        "norm1": _norm(b.norm1), "ffn_pre": sig(b.ffn_pre), "ffn_up": None if b.ffn_up is None else sig(b.ffn_up),
        "ffn_act": sig(b.ffn_act), "ffn_out": sig(b.ffn_out), "residual2": sig(b.residual2),
        "norm2": _norm(b.norm2), "block_out": sig(b.block_out), "model_out": sig(b.model_out),
        "max_diff": b.max_diff,
        "norm_axes": None if axes is None else {k: (sig(v) if hasattr(v, "shape") else v) for k, v in axes.items()},
    }
