"""The weights Step by step shows: one head's slices of W_Q, W_K, W_V and W_O, and the model's own RoPE.

Attention itself is read where transformers computes it (:mod:`attnscope.inspection.capture`); what the
interface cannot say is where the projections are, which the family table gives as paths.
"""

from __future__ import annotations

import inspect
import sys

import numpy as np
import torch

from attnscope.inspection.adapters.hf import np32
from attnscope.inspection.trace import HeadWeights


def attr(obj, path: str):
    """``obj`` followed along a dotted path (``"layer.0.SelfAttention"``)."""
    for name in path.split("."):
        obj = obj[int(name)] if name.isdigit() else getattr(obj, name)
    return obj


def split_fused(y: torch.Tensor, layout: str, heads: int, kv: int, dh: int):
    """Split a fused projection's last axis into (q, k, v), each head-major ``n * dh`` wide.

    Works on activations (..., out) and on weights given as (in, out) or biases (out,).
    """
    if layout == "thirds":
        return y.split(heads * dh, dim=-1)
    if layout == "q_kv":
        return y.split([heads * dh, kv * dh, kv * dh], dim=-1)
    if layout == "per_head":  # (..., H * 3 * dh): per head q | k | v
        parts = y.reshape(*y.shape[:-1], heads, 3, dh)
        return tuple(parts[..., j, :].reshape(*y.shape[:-1], heads * dh) for j in range(3))
    raise ValueError(f"unknown fused Q/K/V layout {layout!r}")


def weight_in_out(module) -> torch.Tensor:
    """A projection's weight as (in, out): Linear stores (out, in), GPT-2's Conv1D (in, out)."""
    return module.weight if type(module).__name__ == "Conv1D" else module.weight.T


def head_weights(adapter, block: str, layer: int, head: int) -> HeadWeights:
    """Slices of query head ``head`` of one block; ``w_k``/``w_v`` are those of the KV head it reads.

    ``x @ w_q + b_q`` is the query BEFORE any per-head norm or rotation: :func:`rotate` of it is the
    block's ``q[head]`` where the model has no per-head q/k norm (likewise for k); ``x @ w_v + b_v``
    is ``v[head]``.
    """
    fam, info, dh = adapter.fam, adapter.info, adapter.info.d_head
    attn = adapter.attn_module(block, layer)
    if fam.qkv:
        lin = attr(attn, fam.qkv)
        ws = split_fused(weight_in_out(lin), fam.layout, info.heads, info.kv_heads, dh)
        bs = split_fused(lin.bias, fam.layout, info.heads, info.kv_heads, dh) if lin.bias is not None \
            else (None, None, None)
    else:
        mods = [attr(attn, n) for n in (fam.q, fam.k, fam.v)]
        ws = [weight_in_out(m) for m in mods]
        bs = [m.bias for m in mods]
    kv = int(adapter.kv_head[head])
    sls = [slice(head * dh, (head + 1) * dh), slice(kv * dh, (kv + 1) * dh), slice(kv * dh, (kv + 1) * dh)]
    parts = []
    for w, b, sl in zip(ws, bs, sls):
        parts += [np32(w[:, sl]), np32(b[sl]) if b is not None else None]
    o = adapter.output_projection(block, layer)
    bo = np32(o.bias) if getattr(o, "bias", None) is not None else None
    norms = {}
    if fam.qk_norm:
        qn, kn = (attr(attn, p) for p in fam.qk_norm)
        offset = 1.0 if "gemma" in type(qn).__name__.lower() else 0.0  # Gemma's RMSNorm scales by 1 + γ
        norms = dict(q_norm=np32(qn.weight), k_norm=np32(kn.weight), norm_offset=offset,
                     norm_eps=float(getattr(qn, "variance_epsilon", getattr(qn, "eps", 1e-6))))
    return HeadWeights(*parts, np32(weight_in_out(o)), bo, **norms)


def rope_function(attn_module):
    """The modeling module's own ``apply_rotary_pos_emb`` where the model rotates q and k, else None."""
    return getattr(sys.modules.get(type(attn_module).__module__), "apply_rotary_pos_emb", None)


def rotate(adapter, t: np.ndarray, positions: np.ndarray | list[int] | None = None,
           layer: int | None = None) -> np.ndarray:
    """Apply the model's rotary embedding to queries or keys given BEFORE rotation.

    Args:
        t: (T, d_head) or (H, T, d_head), e.g. ``x @ w_q + b_q`` of one head.
        positions: (T,) the token positions (default ``0 .. T-1``).
        layer: the layer, for models whose layers rotate differently (Gemma 3: local and global bases).

    Returns:
        Same shape, rotated exactly as the model rotates q and k at those positions (unchanged for
        models without rotary positions). The load-time self-check compares this with the q the
        model's attention received.
    """
    d_head = adapter.info.d_head
    arr = torch.as_tensor(np.asarray(t, dtype=np.float32))
    if arr.shape[-1] != d_head or arr.dim() not in (2, 3):
        raise ValueError(f"expected (T, {d_head}) or (H, T, {d_head}), got {tuple(arr.shape)}")
    n = arr.shape[-2]
    pos = torch.arange(n) if positions is None else torch.as_tensor(np.asarray(positions), dtype=torch.long)
    if pos.shape != (n,):
        raise ValueError(f"positions must have one entry per token ({n}), got shape {tuple(pos.shape)}")
    apply = adapter.apply_rope
    if apply is None:
        return np32(arr)
    rotary = next(m for m in adapter.model.modules() if type(m).__name__.endswith("RotaryEmbedding"))
    x = arr.reshape(1, -1, n, d_head).to(adapter.device)  # (1, heads, T, dh)
    extra = ()
    types = getattr(adapter.model.config, "layer_types", None)
    if types and "layer_type" in inspect.signature(rotary.forward).parameters:  # one RoPE base per kind of layer
        extra = (types[layer if layer is not None else 0],)
    with torch.inference_mode():
        cos, sin = rotary(x, pos[None].to(adapter.device), *extra)
        rotated, _ = apply(x, x, cos.float(), sin.float())
    return np32(rotated.reshape(arr.shape))
