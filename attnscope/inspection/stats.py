"""Per-head statistics, head labels and attention rollout, computed from a :class:`Trace`.

Statistics of one head (weights ``w`` of shape (Tq, Tk), rows are queries ``i``,
columns keys ``j``; every statistic is a mean over the query rows):

* ``entropy``: ``-sum_j w_ij log w_ij`` over the keys the mask keeps, in nats.
* ``entropy_norm``: each row's entropy divided by ``log(n_i)``, ``n_i`` the
  number of keys row ``i`` may see (1.0 = uniform over them), averaged over the
  rows that see at least two keys (0.0 if none does).
* ``distance``: ``sum_j w_ij |i - j|``, the average token distance (for cross
  blocks ``i`` and ``j`` index two different sequences: read it as distance from
  the diagonal).
* ``self``: ``w_ii``; ``previous``: ``w_i,i-1`` over rows ``i >= 1``;
  ``next``: ``w_i,i+1`` over rows ``i <= T - 2``. All three are None (JSON null)
  for cross-attention, where query ``i`` and key ``i`` are different tokens.
* ``first``: ``w_i0``, the weight on the first key ([CLS], <s>, BOS, or the first
  word where the tokenizer adds no special token).
* ``special``: the total weight on special key tokens ([CLS], [SEP], <s>, </s>, BOS...).
* ``separator`` (used by the labels): the weight on special keys other than the
  first key, i.e. [SEP] / </s>.

Labels, the first rule that holds wins (thresholds are the constants below):

1. ``previous-token``: ``previous >= PREVIOUS_MIN`` (0.5).
2. ``self``: ``self >= SELF_MIN`` (0.5).
3. ``next-token``: ``next >= NEXT_MIN`` (0.5).
4. ``first-token sink``: ``first >= FIRST_MIN`` (0.5).
5. ``separator sink``: ``separator >= SEPARATOR_MIN`` (0.5).
6. ``special-token sink``: ``special >= SPECIAL_MIN`` (0.6): the weight is
   spread over several special tokens ([CLS] and [SEP] together).
7. ``broad``: ``entropy_norm >= BROAD_MIN`` (0.8): close to uniform.
8. ``local``: ``distance <= LOCAL_MAX`` (1.5 tokens): looks at its neighbourhood,
   no single neighbour dominating.
9. ``mixed``: none of the above.

Rollout (Abnar and Zuidema 2020, "Quantifying Attention Flow in Transformers"):
per layer ``A'_l = 0.5 * mean_over_heads(W_l) + 0.5 * I`` (the residual
connection), rows renormalised to sum to 1; ``R_0 = A'_0`` and
``R_l = A'_l @ R_(l-1)``. Row ``i`` of ``R_l`` estimates how much of the token
``i`` representation after layer ``l`` comes from each input token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnscope.inspection.trace import Trace

PREVIOUS_MIN = 0.5
SELF_MIN = 0.5
NEXT_MIN = 0.5
FIRST_MIN = 0.5
SEPARATOR_MIN = 0.5
SPECIAL_MIN = 0.6
BROAD_MIN = 0.8
LOCAL_MAX = 1.5

#: The label rules in the order they are tried: (label, condition, explanation).
RULES: list[tuple[str, str, str]] = [
    ("previous-token", f"previous >= {PREVIOUS_MIN}", "most weight on the token just before"),
    ("self", f"self >= {SELF_MIN}", "most weight on the query token itself"),
    ("next-token", f"next >= {NEXT_MIN}", "most weight on the token just after"),
    ("first-token sink", f"first >= {FIRST_MIN}",
     "parks its weight on the first token ([CLS], <s>, BOS or the first word)"),
    ("separator sink", f"separator >= {SEPARATOR_MIN}", "parks its weight on [SEP] / </s>"),
    ("special-token sink", f"special >= {SPECIAL_MIN}", "parks its weight on special tokens together"),
    ("broad", f"entropy_norm >= {BROAD_MIN}", "spreads its weight almost evenly"),
    ("local", f"distance <= {LOCAL_MAX}", "looks at its neighbourhood (within about a token)"),
    ("mixed", "otherwise", "none of the rules above"),
]

#: Statistic names in the order the API lists them.
STAT_NAMES = ("entropy", "entropy_norm", "distance", "self", "previous", "next", "first", "special")


@dataclass
class HeadStats:
    """Statistics of every head of one block group: arrays of shape (L, H).

    ``self``, ``previous`` and ``next`` are all-NaN for cross-attention
    (serialised as None).
    """

    block: str
    values: dict[str, np.ndarray]  # stat name -> (L, H) float64
    separator: np.ndarray  # (L, H) weight on special keys after the first
    labels: list[list[str]]  # (L, H)

    @property
    def layers(self) -> int:
        return len(self.labels)

    @property
    def heads(self) -> int:
        return len(self.labels[0]) if self.labels else 0

    def head(self, layer: int, head: int) -> dict:
        """One head's statistics as a JSON-ready dict (NaN -> None)."""
        d: dict = {}
        for name in STAT_NAMES:
            v = float(self.values[name][layer, head])
            d[name] = None if np.isnan(v) else v
        d["label"] = self.labels[layer][head]
        return d

    def to_list(self) -> list[list[dict]]:
        return [[self.head(l, h) for h in range(self.heads)] for l in range(self.layers)]


def block_stats(weights: np.ndarray, mask: np.ndarray, key_special: list[bool] | np.ndarray,
                square: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Statistics of every head of one attention block.

    Args:
        weights: (H, Tq, Tk) attention probabilities.
        mask: (Tq, Tk) bool, True where the key is removed.
        key_special: (Tk,) True for special key tokens.
        square: True for self-attention (query i and key i are the same token).

    Returns:
        stat name -> (H,) values, and the (H,) separator weight.
    """
    w = weights.astype(np.float64)  # (H, Tq, Tk)
    h, tq, tk = w.shape
    keep = ~mask.astype(bool)  # (Tq, Tk)
    safe = np.where(keep[None] & (w > 0), w, 1.0)  # log(1) = 0 where w is 0 or masked
    row_ent = -(np.where(keep[None], w, 0.0) * np.log(safe)).sum(-1)  # (H, Tq)
    n_keys = keep.sum(-1)  # (Tq,)
    rows2 = n_keys >= 2
    norm = row_ent[:, rows2] / np.log(n_keys[rows2])[None]  # (H, rows with >= 2 keys)
    qi, kj = np.arange(tq)[:, None], np.arange(tk)[None, :]
    special = np.asarray(key_special, dtype=bool)  # (Tk,)
    after_first = special.copy()
    after_first[:1] = False
    nan = np.full(h, np.nan)
    diag = np.arange(min(tq, tk))
    out = {
        "entropy": row_ent.mean(-1),
        "entropy_norm": norm.mean(-1) if rows2.any() else np.zeros(h),
        "distance": (w * np.abs(qi - kj)[None]).sum(-1).mean(-1),
        "self": w[:, diag, diag].mean(-1) if square else nan,
        "previous": w[:, diag[1:], diag[1:] - 1].mean(-1) if square and tq > 1 else nan,
        "next": w[:, diag[:-1], diag[:-1] + 1].mean(-1) if square and tq > 1 else nan,
        "first": w[:, :, 0].mean(-1),
        "special": w[:, :, special].sum(-1).mean(-1),
    }
    return out, w[:, :, after_first].sum(-1).mean(-1)


def label(s: dict[str, float], separator: float) -> str:
    """The first rule of :data:`RULES` that holds for one head's statistics."""

    def ge(name: str, threshold: float) -> bool:
        v = s.get(name)
        return v is not None and not np.isnan(v) and v >= threshold

    if ge("previous", PREVIOUS_MIN):
        return "previous-token"
    if ge("self", SELF_MIN):
        return "self"
    if ge("next", NEXT_MIN):
        return "next-token"
    if ge("first", FIRST_MIN):
        return "first-token sink"
    if separator >= SEPARATOR_MIN:
        return "separator sink"
    if ge("special", SPECIAL_MIN):
        return "special-token sink"
    if ge("entropy_norm", BROAD_MIN):
        return "broad"
    if s["distance"] <= LOCAL_MAX:
        return "local"
    return "mixed"


def head_stats(trace: Trace, block: str) -> HeadStats:
    """Statistics and labels of every layer and head of ``block`` in ``trace``."""
    if block not in trace.blocks:
        trace.block(block, 0)  # raises the readable ValueError
    _, k_toks = trace.query_key_tokens(block)
    per_layer = []
    seps = []
    for b in trace.blocks[block]:
        vals, sep = block_stats(b.weights, b.mask, k_toks.special, square=b.kind != "cross")
        per_layer.append(vals)
        seps.append(sep)
    values = {name: np.stack([v[name] for v in per_layer]) for name in STAT_NAMES}  # (L, H)
    separator = np.stack(seps)  # (L, H)
    n_layers, n_heads = separator.shape
    labels = [
        [label({n: float(values[n][l, h]) for n in STAT_NAMES}, float(separator[l, h])) for h in range(n_heads)]
        for l in range(n_layers)
    ]
    return HeadStats(block=block, values=values, separator=separator, labels=labels)


def rules() -> list[dict]:
    """The label rules as JSON-ready dicts, in the order they are tried."""
    return [{"label": lab, "rule": cond, "meaning": text} for lab, cond, text in RULES]


@dataclass
class Rollout:
    """Attention rollout up to one layer, and that layer's mean over heads."""

    layer: int
    rollout: np.ndarray  # (T, T)
    mean: np.ndarray  # (T, T)


def residual_mean(weights: np.ndarray) -> np.ndarray:
    """``0.5 * mean_over_heads(weights) + 0.5 * I``, rows renormalised: (T, T) from (H, T, T)."""
    mean = weights.astype(np.float64).mean(0)  # (T, T)
    a = 0.5 * mean + 0.5 * np.eye(mean.shape[-1])
    return a / a.sum(-1, keepdims=True)


def rollout(trace: Trace, block: str, layer: int | None = None) -> Rollout:
    """Attention rollout of ``block`` from its first layer up to ``layer`` (default: the last).

    Raises:
        ValueError: for cross-attention (queries and keys are different sequences,
            so the product of layers is undefined) or a layer out of range.
    """
    layers = trace.blocks.get(block)
    if layers is None:
        trace.block(block, 0)  # raises the readable ValueError
    layer = len(layers) - 1 if layer is None else layer
    top = trace.block(block, layer)  # validates the layer
    if top.kind == "cross":
        raise ValueError("rollout needs self-attention: cross-attention maps decoder tokens to encoder "
                         "tokens, so its layers cannot be multiplied; choose the encoder or decoder block")
    r = residual_mean(layers[0].weights)  # (T, T)
    for b in layers[1 : layer + 1]:
        r = residual_mean(b.weights) @ r  # (T, T): R_l = A'_l @ R_(l-1)
    return Rollout(layer=layer, rollout=r, mean=top.weights.astype(np.float64).mean(0))
