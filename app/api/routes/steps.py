"""Step by step: one head, one query token, every number from x to the module's output."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, Block, BlockRequest
from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.trace import AttentionBlock

router = APIRouter(prefix="/api", tags=["steps"])


class StepsRequest(BlockRequest):
    layer: int = Field(description="the layer, from 0")
    head: int = Field(description="the head, from 0")
    query: int = Field(description="the query token's index, from 0")


Vector = list[float]
Matrix = list[list[float]]


class QKNorm(Answer):
    """A per-head RMS norm of q and k, applied after the projection and before RoPE."""

    q_gamma: Vector = Field(description="(d_head,) γ of q's norm")
    k_gamma: Vector = Field(description="(d_head,) γ of k's norm")
    eps: float
    offset: float = Field(description="Gemma scales by 1 + γ (offset 1); Qwen3 by γ (offset 0)")


class StepsResponse(Answer):
    """Every number of one head for one query token (floats to 7 significant digits)."""

    model: str
    text: str
    target: str | None
    block: Block
    kind: str = Field(description="self | causal | cross")
    layer: int
    head: int
    heads: int
    kv_head: int = Field(description="the KV head this query head reads (grouped-query attention)")
    query: int
    tokens: list[str]
    query_tokens: list[str]
    key_tokens: list[str]
    query_special: list[bool]
    key_special: list[bool]
    d_model: int
    d_head: int
    scale: float = Field(description="scores are divided by it")
    bias: Vector | None = Field(description="T5: the position bias added to the scaled scores")
    x: Matrix = Field(description="(queries, d_model) the attention input")
    w_q: Matrix = Field(description="(d_model, d_head)")
    w_k: Matrix
    w_v: Matrix
    b_q: Vector | None
    b_k: Vector | None
    b_v: Vector | None
    qk_norm: QKNorm | None = Field(description="Qwen3, Gemma 3: the per-head RMSNorm of q and k before RoPE "
                                               "(q = RoPE(RMSNorm(x·W_q) · (offset + γ_q)))")
    q: Vector
    k: Matrix = Field(description="(keys, d_head)")
    v: Matrix
    scores: Vector = Field(description="q · k_j")
    scaled: list[float | None] = Field(description="scores / scale (+ bias); null where masked")
    masked: list[bool]
    weights: Vector
    z: Vector = Field(description="this head's output")
    concat: Vector = Field(description="every head's z for this query, concatenated")
    out: Vector = Field(description="W_O's output")


def sig(a, digits: int = 7) -> list:
    """Nested lists of floats rounded to ``digits`` significant digits (compact JSON)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        mag = np.floor(np.log10(np.abs(a)))
    mag = np.where(np.isfinite(mag), mag, 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return (np.round(a * scale) / scale).tolist()


def opt(a: np.ndarray | None) -> list | None:
    return None if a is None else sig(a)


def in_range(what: str, value: int, count: int, where: str) -> None:
    """ValueError unless ``0 <= value < count``; ``where`` completes the sentence."""
    if not 0 <= value < count:
        raise ValueError(f"{what} {value} is out of range: {where} (0 to {count - 1})")


def needs_steps(adapter: Adapter, model: str) -> None:
    """A 422 for a model whose scores are not q·k/scale (e.g. Qwen3's q/k norms, Gemma 2's soft-capping)."""
    if adapter.info.capabilities.get("steps") is False:
        raise ValueError(f"Q/K/V step by step is not available for {model}: "
                         f"{adapter.info.reasons.get('steps', 'its attention scores are not q·k/scale')}")


@router.post("/steps", summary="Every intermediate of one head for one query token: x, q, k, v, scores to out.",
             response_model=StepsResponse, response_model_exclude_unset=True)
def steps(req: StepsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Every intermediate of one head for one query token: x, q, k, v, scores to out."""
    r = resolve(req, registry, settings, check=lambda a: needs_steps(a, req.model))
    adapter, text, block_name = r.adapter, r.text, r.block
    heads = adapter.info.heads
    in_range("head", req.head, heads, f"{req.model} has {heads} heads")
    trace = registry.trace(req.model, text, r.target)
    blk: AttentionBlock = trace.block(block_name, req.layer)  # validates the layer
    q_toks, k_toks = trace.query_key_tokens(block_name)
    side = "sentence" if block_name == "encoder" else "target"
    in_range("query", req.query, len(q_toks), f"the {side} has {len(q_toks)} tokens")

    h, i = req.head, req.query
    hw = adapter.head_weights(block_name, req.layer, h)
    q = blk.q[h, i]  # (d_head,)
    k, v = blk.k[h], blk.v[h]  # (Tk, d_head)
    masked = blk.mask[i]  # (Tk,) True = removed
    scores = k @ q  # (Tk,) q . k_j
    scaled = scores / np.float32(blk.scale)
    if blk.bias is not None:  # T5: the relative position bias added to the scores
        scaled = scaled + blk.bias[h, i]
    weights = np.where(masked, np.float32(0), blk.weights[h, i])  # (Tk,)
    scaled_list = sig(scaled)
    return {
        "model": req.model,
        "text": text,
        "target": trace.target,
        "block": block_name,
        "kind": blk.kind,
        "layer": req.layer,
        "head": h,
        "heads": blk.heads,
        "kv_head": int(blk.kv_head[h]) if blk.kv_head.size else h,
        "query": i,
        "tokens": trace.tokens.text,
        "query_tokens": q_toks.text,
        "key_tokens": k_toks.text,
        "query_special": q_toks.special,
        "key_special": k_toks.special,
        "d_model": int(blk.x.shape[1]),
        "d_head": int(q.shape[0]),
        "scale": float(blk.scale),
        "bias": opt(blk.bias[h, i] if blk.bias is not None else None),
        "x": sig(blk.x),
        "w_q": sig(hw.w_q),
        "w_k": sig(hw.w_k),
        "w_v": sig(hw.w_v),
        "b_q": opt(hw.b_q),
        "b_k": opt(hw.b_k),
        "b_v": opt(hw.b_v),
        "qk_norm": None if hw.q_norm is None else {
            "q_gamma": sig(hw.q_norm), "k_gamma": sig(hw.k_norm), "eps": hw.norm_eps, "offset": hw.norm_offset},
        "q": sig(q),
        "k": sig(k),
        "v": sig(v),
        "scores": sig(scores),
        "scaled": [None if m else s for s, m in zip(scaled_list, masked.tolist())],
        "masked": masked.tolist(),
        "weights": sig(weights),
        "z": sig(blk.z[h, i]),
        "concat": sig(blk.z[:, i].reshape(-1)),
        "out": sig(blk.out[i]),
    }
