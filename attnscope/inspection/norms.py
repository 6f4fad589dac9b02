"""Value-weighted attention: what a head moves from each key, not only how much weight it puts there.

Kobayashi et al. (EMNLP 2020, "Attention is Not Only a Weight"): head h adds to query i the sum over
keys j of ``α_ij · f(x_j)``, with ``f(x) = x·W_V^h + b_V^h`` the value vector of key j. The weight
``α_ij`` alone says nothing about the size of what is moved; the norm ``‖α_ij · f(x_j)‖`` does.

Per head h of one attention block (queries i, keys j):

* ``weights[h, i, j] = α_ij``: the model's own attention probabilities;
* ``norms[h, i, j] = ‖α_ij · v_j‖ = α_ij · ‖v_j‖`` (α ≥ 0), ``v_j`` the value the head reads (before W_O);
* ``norms_with_wo[h, i, j] = ‖α_ij · v_j · W_O^h‖``, ``W_O^h`` the rows ``h·d_head .. (h+1)·d_head`` of
  W_O (d_head, d_model): the head's share of the attention output, in the residual stream's space. W_O's
  bias is added once for all heads, not per head: it is left out;
* ``*_normalised``: each row divided by its sum (a row of zeros stays zeros), to compare with the weights.

v is the one the model's attention received (the capture path, :mod:`attnscope.inspection.capture`,
grouped-query heads mapped to their KV head), W_O the adapter's own (:meth:`Adapter.head_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnscope.inspection.adapters.base import Adapter, NotOffered
from attnscope.inspection.trace import Trace

#: what W_O's bias is, and why it is not in ``norms_with_wo``
WO_BIAS_NOTE = "W_O's bias is added once to the sum of the heads, not per head: norms_with_wo leaves it out"


@dataclass
class Norms:
    """Value-weighted norms of every head of one attention block (H heads, Tq queries, Tk keys).

    Attributes:
        block: "encoder", "decoder" or "cross".
        layer: the layer, from 0.
        query_tokens, key_tokens: the rows' and the columns' tokens.
        weights: (H, Tq, Tk) α, the model's attention probabilities.
        value_norms: (H, Tk) ‖v_j‖ of each head's value of each key.
        value_norms_with_wo: (H, Tk) ‖v_j · W_O^h‖.
        norms: (H, Tq, Tk) α_ij · ‖v_j‖.
        norms_with_wo: (H, Tq, Tk) α_ij · ‖v_j · W_O^h‖.
        norms_normalised, norms_with_wo_normalised: (H, Tq, Tk) rows divided by their sums.
    """

    block: str
    layer: int
    query_tokens: list[str]
    key_tokens: list[str]
    weights: np.ndarray
    value_norms: np.ndarray
    value_norms_with_wo: np.ndarray
    norms: np.ndarray
    norms_with_wo: np.ndarray
    norms_normalised: np.ndarray
    norms_with_wo_normalised: np.ndarray

    def first_key(self) -> dict[str, list[float]]:
        """Per head, the mean share of key 0 (the usual sink) over the rows: by weight, by norm, by norm with W_O."""
        return {"weight": self.weights[:, :, 0].mean(1).tolist(),
                "norm": self.norms_normalised[:, :, 0].mean(1).tolist(),
                "norm_with_wo": self.norms_with_wo_normalised[:, :, 0].mean(1).tolist()}


def normalise_rows(a: np.ndarray) -> np.ndarray:
    """``a`` (..., Tk) with each row divided by its sum; rows that sum to 0 stay 0."""
    s = a.sum(-1, keepdims=True)
    return np.divide(a, s, out=np.zeros_like(a), where=s > 0)


def _not_offered(adapter: Adapter, why: str) -> NotOffered:
    return NotOffered(f"value-weighted norms are not available for {adapter.info.id} ({adapter.info.family}): {why}")


def output_heads(adapter: Adapter, block: str, layer: int, heads: int, d_head: int) -> np.ndarray:
    """W_O of one block split by head: (H, d_head, d_model); NotOffered where the adapter does not know it."""
    try:
        w_o = adapter.head_weights(block, layer, 0).w_o  # (H * d_head, d_model), the whole projection
    except (NotImplementedError, ValueError) as exc:
        raise _not_offered(adapter, f"its output projection W_O is not known ({exc})") from None
    if w_o.shape[0] != heads * d_head:
        raise _not_offered(adapter, f"W_O has {w_o.shape[0]} input rows, not heads x d_head = {heads * d_head}")
    return w_o.reshape(heads, d_head, -1).astype(np.float64)


def value_norms(adapter: Adapter, trace: Trace, block: str, layer: int) -> Norms:
    """The value-weighted norms of every head of ``trace``'s block ``block``, layer ``layer``.

    Args:
        adapter: the model's adapter (for W_O).
        trace: a full trace of the model (``Trace.full``: v is recorded).
        block: "encoder", "decoder" or "cross".
        layer: from 0.

    Raises:
        ValueError: no such block or layer. NotOffered: the model's v or W_O is not known.
    """
    blk = trace.block(block, layer)  # ValueError naming the range
    if not trace.full or blk.v.shape[-1] == 0:
        reason = adapter.info.reasons.get("steps", "its attention does not go through AttnScope's capture path")
        raise _not_offered(adapter, f"the values v are not read ({reason})")
    heads, d_head = blk.v.shape[0], blk.v.shape[-1]
    w_o = output_heads(adapter, block, layer, heads, d_head)  # (H, dh, d)
    v = blk.v.astype(np.float64)  # (H, Tk, dh): head h's own KV head's values
    alpha = blk.weights.astype(np.float64)  # (H, Tq, Tk)
    vn = np.linalg.norm(v, axis=-1)  # (H, Tk)
    von = np.linalg.norm(np.einsum("hkd,hde->hke", v, w_o), axis=-1)  # (H, Tk)
    norms = alpha * vn[:, None, :]  # (H, Tq, Tk): ‖α_ij v_j‖ = α_ij ‖v_j‖ since α_ij >= 0
    with_wo = alpha * von[:, None, :]  # (H, Tq, Tk)
    q_toks, k_toks = trace.query_key_tokens(block)
    f32 = np.float32
    return Norms(block=block, layer=layer, query_tokens=q_toks.text, key_tokens=k_toks.text,
                 weights=blk.weights.astype(f32), value_norms=vn.astype(f32), value_norms_with_wo=von.astype(f32),
                 norms=norms.astype(f32), norms_with_wo=with_wo.astype(f32),
                 norms_normalised=normalise_rows(norms).astype(f32),
                 norms_with_wo_normalised=normalise_rows(with_wo).astype(f32))


def norms(adapter: Adapter, text: str, layer: int, block: str | None = None, target: str | None = None) -> Norms:
    """Run ``text`` (and the decoder input ``target``) and return :func:`value_norms` of one block."""
    block = block or adapter.default_block
    if block not in adapter.info.blocks:
        raise ValueError(f"{adapter.info.id} has no {block!r} attention; it has: {', '.join(adapter.info.blocks)}")
    return value_norms(adapter, adapter.trace(text, target), block, layer)
