"""Scaled dot-product attention on small matrices a person types in.

Pure numpy, no HTTP, no torch. Three input forms, exactly one per call:

* ``x, w_q, w_k, w_v``: the projections are computed, ``q = x @ w_q`` etc.;
* ``q, k, v``: given directly (cross-attention allowed: q may have a different
  number of rows than k and v);
* ``scores`` (optionally ``v``): the raw scores given directly, as some slides
  do; ``d_k`` then defaults to 1 (no scaling).

Then, as in the lecture::

    scores  = q @ k.T                      # (T_q, T_k)
    scaled  = scores / sqrt(d_k)           # (T_q, T_k)
    masked  = scaled, -inf where masked    # (T_q, T_k)
    weights = softmax(masked, rows)        # (T_q, T_k), masked entries exactly 0
    output  = weights @ v                  # (T_q, d_v)

Everything is float64 so the lectures' numbers come out exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnscope.inspection.playground_inputs import (  # noqa: F401  (the limits are re-exported: API and tests)
    BYTES_PER_FLOAT, MASKS, MAX_ABS, MAX_COLS, MAX_LABEL, MAX_ROWS, PlaygroundError, _d_k, _labels, _mask, _matrix,
    _need_equal,
)


@dataclass
class ShapeRow:
    """One line of the dimension / memory table."""

    name: str
    shape: tuple[int, int]
    floats: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "floats": self.floats, "bytes": self.bytes}


@dataclass
class PlaygroundResult:
    """Every step of one attention computation.

    Attributes:
        form: ``"x"``, ``"qkv"`` or ``"scores"``: which inputs were given.
        tokens: labels of the query rows.
        key_tokens: labels of the key rows (equal to ``tokens`` for self-attention).
        mask: ``"none"`` or ``"causal"``.
        d_k: the d_k used for scaling.
        scale: ``sqrt(d_k)``.
        x, w_q, w_k, w_v: the inputs of the x form, else None.
        q, k: (T_q, d_k), (T_k, d_k), or None in the scores form.
        v: (T_k, d_v), or None in the scores form without v.
        scores: (T_q, T_k) raw ``q @ k.T``.
        scaled: (T_q, T_k) ``scores / scale``, before masking.
        allowed: (T_q, T_k) bool, False where the mask removes the entry.
        weights: (T_q, T_k) row softmax of the masked scaled scores.
        output: (T_q, d_v) ``weights @ v``, or None when there is no v.
        shapes: the dimension / memory table.
    """

    form: str
    tokens: list[str]
    key_tokens: list[str]
    mask: str
    d_k: float
    scale: float
    x: np.ndarray | None
    w_q: np.ndarray | None
    w_k: np.ndarray | None
    w_v: np.ndarray | None
    q: np.ndarray | None
    k: np.ndarray | None
    v: np.ndarray | None
    scores: np.ndarray
    scaled: np.ndarray
    allowed: np.ndarray
    weights: np.ndarray
    output: np.ndarray | None
    shapes: list[ShapeRow]

    @property
    def masked(self) -> np.ndarray:
        """(T_q, T_k) scaled scores with ``-inf`` where the mask removes the entry."""
        return np.where(self.allowed, self.scaled, -np.inf)

    @property
    def totals(self) -> dict[str, int]:
        """Sum of floats and bytes over the shapes table."""
        return {"floats": sum(r.floats for r in self.shapes), "bytes": sum(r.bytes for r in self.shapes)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: nested lists, ``None`` for -inf in ``masked``."""
        return {
            "form": self.form,
            "tokens": list(self.tokens),
            "key_tokens": list(self.key_tokens),
            "mask": self.mask,
            "d_k": self.d_k,
            "scale": self.scale,
            **{name: _list_or_none(getattr(self, name)) for name in ("x", "w_q", "w_k", "w_v", "q", "k", "v")},
            "scores": self.scores.tolist(),
            "scaled": self.scaled.tolist(),
            "masked": [[float(s) if ok else None for s, ok in zip(row, oks)] for row, oks in zip(self.scaled, self.allowed)],
            "allowed": self.allowed.tolist(),
            "weights": self.weights.tolist(),
            "output": _list_or_none(self.output),
            "shapes": [r.to_dict() for r in self.shapes],
            "totals": self.totals,
        }


def _list_or_none(a: np.ndarray | None) -> list | None:
    return None if a is None else a.tolist()


# --------------------------------------------------------------------------- forms

_X_FORM = ("x", "w_q", "w_k", "w_v")
_QKV_FORM = ("q", "k", "v")


def _pick_form(given: dict[str, Any]) -> str:
    """Which input form the non-None arguments make, or a PlaygroundError."""
    names = [n for n, v in given.items() if v is not None]
    if "scores" in names:
        extra = [n for n in names if n not in ("scores", "v")]
        if extra:
            raise PlaygroundError(f"the scores form takes scores and optionally v only; also got {', '.join(extra)}")
        return "scores"
    xs = [n for n in names if n in _X_FORM]
    qkvs = [n for n in names if n in _QKV_FORM]
    if xs and qkvs:
        raise PlaygroundError(f"give either x, w_q, w_k, w_v or q, k, v, not both (got {', '.join(xs + qkvs)})")
    if xs:
        _need_all(_X_FORM, xs, "the x form needs x, w_q, w_k and w_v")
        return "x"
    if qkvs:
        _need_all(_QKV_FORM, qkvs, "the q/k/v form needs q, k and v")
        return "qkv"
    raise PlaygroundError("give x, w_q, w_k and w_v; or q, k and v; or scores")


def _need_all(names: tuple[str, ...], got: list[str], what: str) -> None:
    missing = [n for n in names if n not in got]
    if missing:
        raise PlaygroundError(f"{what}; missing {', '.join(missing)}")


def _project(x: Any, w_q: Any, w_k: Any, w_v: Any) -> dict[str, np.ndarray]:
    """Validate the x form and compute q, k, v."""
    m = {"x": _matrix(x, "x"), "w_q": _matrix(w_q, "w_q"), "w_k": _matrix(w_k, "w_k"), "w_v": _matrix(w_v, "w_v")}
    cols = m["x"].shape[1]
    for w in ("w_q", "w_k", "w_v"):
        rows = m[w].shape[0]
        _need_equal(cols, rows, f"x has {cols} columns but {w} has {rows} rows: x @ {w} needs them equal")
    wq, wk = m["w_q"].shape[1], m["w_k"].shape[1]
    _need_equal(wq, wk, f"w_q has {wq} columns but w_k has {wk}: q and k must have the same width (d_k)")
    m["q"], m["k"], m["v"] = m["x"] @ m["w_q"], m["x"] @ m["w_k"], m["x"] @ m["w_v"]  # (T, d_k), (T, d_k), (T, d_v)
    return m


def _given_qkv(q: Any, k: Any, v: Any) -> dict[str, np.ndarray]:
    """Validate the q/k/v form."""
    m = {"q": _matrix(q, "q"), "k": _matrix(k, "k"), "v": _matrix(v, "v")}
    qw, kw = m["q"].shape[1], m["k"].shape[1]
    _need_equal(qw, kw, f"q has width {qw} but k has width {kw}: q and k must have the same width (d_k)")
    kr, vr = m["k"].shape[0], m["v"].shape[0]
    _need_equal(kr, vr, f"k has {kr} rows but v has {vr}: each key needs one value")
    return m


def _given_scores(scores: Any, v: Any) -> dict[str, np.ndarray]:
    """Validate the scores form."""
    m = {"scores": _matrix(scores, "scores")}
    if v is not None:
        m["v"] = _matrix(v, "v")
        keys, vr = m["scores"].shape[1], m["v"].shape[0]
        _need_equal(keys, vr, f"scores has {keys} columns (keys) but v has {vr} rows: each key needs one value")
    return m


# --------------------------------------------------------------------------- attention


def causal_allowed(t_q: int, t_k: int) -> np.ndarray:
    """(t_q, t_k) bool: True on and below the diagonal (query i sees keys 0..i)."""
    if t_q != t_k:
        raise PlaygroundError(f"mask 'causal' needs as many queries as keys, got {t_q} queries and {t_k} keys")
    return np.tril(np.ones((t_q, t_k), dtype=bool))


def masked_softmax(scaled: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Row softmax over the allowed entries; removed entries are exactly 0.

    Args:
        scaled: (T_q, T_k) scaled scores.
        allowed: (T_q, T_k) bool; every row has at least one True.

    Returns:
        (T_q, T_k) weights, each row summing to 1.
    """
    top = np.max(np.where(allowed, scaled, -np.inf), axis=1, keepdims=True)  # (T_q, 1)
    e = np.where(allowed, np.exp(np.where(allowed, scaled - top, 0.0)), 0.0)  # (T_q, T_k)
    return e / e.sum(axis=1, keepdims=True)


def _shapes(m: dict[str, np.ndarray], weights: np.ndarray, output: np.ndarray | None) -> list[ShapeRow]:
    """The lecture's dimension table, in its order, for the matrices present."""
    named = [("X", m.get("x")), ("W_Q", m.get("w_q")), ("W_K", m.get("w_k")), ("W_V", m.get("w_v")),
             ("Q", m.get("q")), ("K", m.get("k")), ("V", m.get("v")),
             ("scores", m["scores"]), ("weights", weights), ("output", output)]  # fmt: skip
    present = [(name, a) for name, a in named if a is not None]
    return [ShapeRow(name, (a.shape[0], a.shape[1]), a.size, a.size * BYTES_PER_FLOAT) for name, a in present]


def compute(
    *,
    x: Any = None,
    w_q: Any = None,
    w_k: Any = None,
    w_v: Any = None,
    q: Any = None,
    k: Any = None,
    v: Any = None,
    scores: Any = None,
    tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    mask: str = "none",
    d_k: float | None = None,
) -> PlaygroundResult:
    """Scaled dot-product attention, every step kept.

    Args:
        x, w_q, w_k, w_v: (T, d_model), (d_model, d_k), (d_model, d_k), (d_model, d_v).
        q, k, v: (T_q, d_k), (T_k, d_k), (T_k, d_v).
        scores: (T_q, T_k) raw scores, instead of q and k; v optional.
        tokens: labels of the query rows; default ``t1..tN``. When there are as
            many keys as queries they label the keys too.
        key_tokens: labels of the key rows when they differ from the queries
            (cross-attention); default ``tokens`` if the counts match, else ``k1..kM``.
        mask: ``"none"`` or ``"causal"`` (key j > query i removed; square only).
        d_k: the d_k to scale by; default the width of q (1 in the scores form).
            It may differ from q's width, e.g. to use a lecture's d_k with
            narrower stand-in vectors.

    Returns:
        A :class:`PlaygroundResult`.

    Raises:
        PlaygroundError: mixed or incomplete forms, bad matrices, shape
            mismatches, bad labels, mask or d_k.
    """
    form = _pick_form({"x": x, "w_q": w_q, "w_k": w_k, "w_v": w_v, "q": q, "k": k, "v": v, "scores": scores})
    if form == "x":
        m = _project(x, w_q, w_k, w_v)
    elif form == "qkv":
        m = _given_qkv(q, k, v)
    else:
        m = _given_scores(scores, v)
    mask = _mask(mask)
    if form != "scores":
        m["scores"] = m["q"] @ m["k"].T  # (T_q, T_k)
    t_q, t_k = m["scores"].shape
    d = _d_k(d_k, m["q"].shape[1] if "q" in m else 1)
    labels, key_labels = _token_labels(tokens, key_tokens, t_q, t_k)
    allowed = causal_allowed(t_q, t_k) if mask == "causal" else np.ones((t_q, t_k), dtype=bool)
    scale = math.sqrt(d)
    scaled = m["scores"] / scale  # (T_q, T_k)
    weights = masked_softmax(scaled, allowed)  # (T_q, T_k)
    output = weights @ m["v"] if "v" in m else None  # (T_q, d_v)
    return PlaygroundResult(
        form=form, tokens=labels, key_tokens=key_labels, mask=mask, d_k=d, scale=scale,
        x=m.get("x"), w_q=m.get("w_q"), w_k=m.get("w_k"), w_v=m.get("w_v"),
        q=m.get("q"), k=m.get("k"), v=m.get("v"),
        scores=m["scores"], scaled=scaled, allowed=allowed, weights=weights, output=output,
        shapes=_shapes(m, weights, output),
    )  # fmt: skip


def _token_labels(tokens: Any, key_tokens: Any, t_q: int, t_k: int) -> tuple[list[str], list[str]]:
    """Query and key labels, validated against the row counts."""
    queries = _labels(tokens, "tokens", t_q, "query rows", "t")
    if key_tokens is not None:
        return queries, _labels(key_tokens, "key_tokens", t_k, "key rows", "k")
    if t_q == t_k:
        return queries, list(queries)
    return queries, _labels(None, "key_tokens", t_k, "key rows", "k")


# --------------------------------------------------------------------------- presets

from attnscope.inspection.playground_presets import PRESET_META_KEYS, PRESETS, SLIDE_NUMBERS  # noqa: E402,F401


def preset_arguments(name: str) -> dict[str, Any]:
    """The keyword arguments of :func:`compute` for a preset (title and note dropped)."""
    if name not in PRESETS:
        raise PlaygroundError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return {k: v for k, v in PRESETS[name].items() if k not in PRESET_META_KEYS}


def run_preset(name: str) -> PlaygroundResult:
    """``compute(**preset_arguments(name))``."""
    return compute(**preset_arguments(name))
