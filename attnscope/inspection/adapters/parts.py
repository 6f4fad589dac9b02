"""Small pieces the generic adapter builds Trace blocks from: masks, hook arguments, weights-only blocks."""

from __future__ import annotations

import numpy as np
import torch

from attnscope.inspection.adapters.hf import np32
from attnscope.inspection.trace import AttentionBlock


def mask_from(attention_mask: torch.Tensor | None, tq: int, tk: int) -> np.ndarray:
    """(Tq, Tk) bool, True where an additive or boolean (True = keep) HF mask removes the key."""
    if attention_mask is None or not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 4:
        return np.zeros((tq, tk), dtype=bool)
    m = attention_mask[0, 0][-tq:, :tk]
    if m.dtype == torch.bool:
        out = (~m).cpu().numpy()
    else:
        out = (m <= torch.finfo(m.dtype).min / 2).cpu().numpy()
    return np.broadcast_to(out, (tq, tk)).copy()


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _input(args, kwargs, *names):
    if args:
        return args[0]
    for n in names:
        if n in kwargs:
            return kwargs[n]
    return None


def _empty_block(kind: str, layer: int, weights: torch.Tensor, kv_head: np.ndarray, x=None) -> AttentionBlock:
    """A block with the weights only (no Q/K/V read): zero-width q, k, v, z."""
    h, tq, tk = weights.shape[1], weights.shape[2], weights.shape[3]
    causal = np.triu(np.ones((tq, tk), dtype=bool), 1) if kind == "causal" else np.zeros((tq, tk), bool)
    return AttentionBlock(kind=kind, layer=layer, x=x if x is not None else np.zeros((tq, 0), np.float32),
                          q=np.zeros((h, tq, 0), np.float32), k=np.zeros((h, tk, 0), np.float32),
                          v=np.zeros((h, tk, 0), np.float32), mask=causal, weights=np32(weights[0]),
                          z=np.zeros((h, tq, 0), np.float32), out=np.zeros((tq, 0), np.float32), scale=1.0,
                          kv_head=kv_head.copy())
