"""RoPE demo: one head's own q and k rotated to every position; q_m · k_n depends only on m − n."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.routes.steps import in_range, sig
from attnscope_server.api.schemas import Answer, ModelId, TextRequest
from attnscope.inspection.adapters.base import Adapter

router = APIRouter(prefix="/api", tags=["positions"])
MAX_POSITIONS = 64


class RopeRequest(TextRequest):
    model: ModelId = Field(description="a rotary model (smollm2)")
    text: str = Field(description="the sentence the query and key tokens come from")
    layer: int = Field(default=0, description="the layer, from 0")
    head: int = Field(default=0, description="the query head, from 0")
    query: int = Field(description="the query token's index, from 0")
    key: int = Field(description="the key token's index, from 0")
    positions: int = Field(default=16, ge=2, le=MAX_POSITIONS, description=f"positions 0 .. positions-1 (2 to {MAX_POSITIONS})")


class RopeResponse(Answer):
    model: str
    text: str
    tokens: list[str]
    layer: int
    head: int
    query: int
    key: int
    positions: int
    d_head: int
    base: float = Field(description="the rotary base n (rope_theta)")
    q_raw: list[float] = Field(description="x_query · W_Q of the head, before rotation")
    k_raw: list[float]
    q_rotated: list[list[float]] = Field(description="(positions, d_head) q_raw rotated to each position")
    k_rotated: list[list[float]]
    dots: list[list[float]] = Field(description="dots[m][n] = RoPE(q_raw, m) · RoPE(k_raw, n)")
    offsets: list[int] = Field(description="m − n, from −(positions − 1) to positions − 1")
    by_offset: list[float] = Field(description="the mean of each diagonal, by offset")
    spread: float = Field(description="the largest difference along any diagonal")
    angles: list[float] = Field(description="θ_i: each pair's rotation angle per position")
    actual: float = Field(description="the model's own q · k at the tokens' real positions")


@router.post("/rope-demo", summary="One head's q and k rotated to every position: q_m · k_n depends only on m − n.",
             response_model=RopeResponse, response_model_exclude_unset=True)
def rope_demo(req: RopeRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """One head's q and k rotated to every position: q_m · k_n depends only on m − n.

    ``q_raw`` = x_query · W_Q and ``k_raw`` = x_key · W_K of the chosen head (before rotation, the model's own
    numbers); ``dots[m][n]`` = RoPE(q_raw, m) · RoPE(k_raw, n) for m, n < positions, rotated as the model
    rotates; ``by_offset[m − n + positions − 1]`` the value on each diagonal and ``spread`` the largest
    difference along any diagonal; ``angles`` the rotation angle of each pair at position 1 (θ_i);
    ``actual`` the model's own q · k at the tokens' real positions (= ``dots[query][key]``).
    """
    def rotary(adapter: Adapter) -> None:
        if adapter.info.positional != "rotary":  # Adapter.rotate is the model's own rotation: none here
            raise ValueError(f"{req.model} does not rotate q and k (its positions are {adapter.info.positional}); "
                             "choose a rotary model such as smollm2")

    r = resolve(req, registry, settings, check=rotary)
    adapter, text = r.adapter, r.text
    info = adapter.info
    in_range("head", req.head, info.heads, f"{req.model} has {info.heads} heads")
    trace = registry.trace(req.model, text)
    blk = trace.block("decoder", req.layer)  # validates the layer
    T = blk.x.shape[0]
    in_range("query", req.query, T, f"the text has {T} tokens")
    in_range("key", req.key, T, f"the text has {T} tokens")
    hw = adapter.head_weights("decoder", req.layer, req.head)
    # (d_head,) before RoPE: x·W + b, then the per-head q/k norm where the model has one (Qwen3, Gemma 3)
    q_raw = hw.normed(blk.x[req.query] @ hw.w_q + (hw.b_q if hw.b_q is not None else 0), "q")
    k_raw = hw.normed(blk.x[req.key] @ hw.w_k + (hw.b_k if hw.b_k is not None else 0), "k")
    P = req.positions
    q_rot = adapter.rotate(np.tile(q_raw, (P, 1)), layer=req.layer)  # (P, d_head): q at positions 0..P-1
    k_rot = adapter.rotate(np.tile(k_raw, (P, 1)), layer=req.layer)
    dots = q_rot.astype(np.float64) @ k_rot.astype(np.float64).T  # (P, P)
    offsets = list(range(-(P - 1), P))
    by_offset, spread = [], 0.0
    for o in offsets:
        diag = np.diagonal(dots, offset=-o)  # entries with m - n = o
        by_offset.append(float(diag.mean()))
        spread = max(spread, float(diag.max() - diag.min()))
    d = info.d_head
    base = adapter.rope_base() or 10000.0
    theta = base ** (-np.arange(0, d, 2) / d)  # (d/2,) the angle per position of each pair
    return {
        "model": req.model, "text": text, "tokens": trace.tokens.text, "layer": req.layer, "head": req.head,
        "query": req.query, "key": req.key, "positions": P, "d_head": d, "base": base,
        "q_raw": sig(q_raw), "k_raw": sig(k_raw), "q_rotated": sig(q_rot), "k_rotated": sig(k_rot),
        "dots": sig(dots), "offsets": offsets, "by_offset": sig(by_offset), "spread": spread,
        "angles": sig(theta), "actual": float(blk.q[req.head, req.query] @ blk.k[req.head, req.key]),
    }
