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
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ROWS = 64
MAX_COLS = 64
#: Largest magnitude accepted for an entry; keeps every product finite.
MAX_ABS = 1e6
#: Accepted range for d_k.
D_K_MIN, D_K_MAX = 1e-6, 1e6
MAX_LABEL = 100
MASKS = ("none", "causal")
BYTES_PER_FLOAT = 4  # float32, as a model would store them


class PlaygroundError(ValueError):
    """The matrices or options given to :func:`compute` cannot be used."""


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


# --------------------------------------------------------------------------- validation


def _number(value: Any, name: str, r: int, c: int) -> float:
    """One matrix entry as a float; r, c are 1-based for the message."""
    where = f"{name} row {r}, column {c}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise PlaygroundError(f"{where} is {value!r}: entries must be numbers")
    try:
        f = float(value)
    except OverflowError:
        raise PlaygroundError(f"{where} is too large: entries must be between -{MAX_ABS:g} and {MAX_ABS:g}") from None
    if not math.isfinite(f):
        raise PlaygroundError(f"{where} is {f}: entries must be finite numbers (no NaN or infinity)")
    if abs(f) > MAX_ABS:
        raise PlaygroundError(f"{where} is {f:g}: entries must be between -{MAX_ABS:g} and {MAX_ABS:g}")
    return f


def _check_bounds(name: str, rows: int, cols: int | None = None) -> None:
    if rows > MAX_ROWS:
        raise PlaygroundError(f"{name} has {rows} rows; at most {MAX_ROWS} are allowed")
    if cols is not None and cols > MAX_COLS:
        raise PlaygroundError(f"{name} has {cols} columns; at most {MAX_COLS} are allowed")


def _matrix(value: Any, name: str) -> np.ndarray:
    """Validate a non-empty rectangular matrix of finite numbers; return it as float64."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise PlaygroundError(f"{name} must be a list of rows (lists of numbers), got {type(value).__name__}")
    if len(value) == 0:
        raise PlaygroundError(f"{name} is empty: give at least one row")
    _check_bounds(name, len(value))
    width: int | None = None
    out: list[list[float]] = []
    for r, row in enumerate(value, start=1):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise PlaygroundError(f"{name} row {r} must be a list of numbers, got {type(row).__name__}")
        if len(row) == 0:
            raise PlaygroundError(f"{name} row {r} is empty: give at least one number")
        if width is None:
            width = len(row)
            _check_bounds(name, len(value), width)
        elif len(row) != width:
            raise PlaygroundError(
                f"{name} row {r} has {_count(len(row), 'number')} but row 1 has {width}: "
                "rows must all have the same length"
            )
        out.append([_number(x, name, r, c) for c, x in enumerate(row, start=1)])
    return np.array(out, dtype=np.float64)


def _d_k(value: Any, default: float) -> float:
    if value is None:
        return float(default)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise PlaygroundError(f"d_k must be a positive number, got {value!r}")
    f = float(value)
    if not (math.isfinite(f) and D_K_MIN <= f <= D_K_MAX):
        raise PlaygroundError(f"d_k must be a positive number (from {D_K_MIN:g} to {D_K_MAX:g}), got {value!r}")
    return f


def _mask(value: Any) -> str:
    if not isinstance(value, str) or value not in MASKS:
        raise PlaygroundError(f"mask must be 'none' or 'causal', got {value!r}")
    return value


def _labels(value: Any, name: str, count: int, what: str, prefix: str) -> list[str]:
    """Validate token labels (or make default ones ``prefix1..prefixN``)."""
    if value is None:
        return [f"{prefix}{i}" for i in range(1, count + 1)]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise PlaygroundError(f"{name} must be a list of strings, got {type(value).__name__}")
    for i, t in enumerate(value, start=1):
        if not isinstance(t, str):
            raise PlaygroundError(f"{name} entry {i} is {t!r}: labels must be strings")
        if len(t) > MAX_LABEL:
            raise PlaygroundError(f"{name} entry {i} has {len(t)} characters; at most {MAX_LABEL} are allowed")
    if len(value) != count:
        raise PlaygroundError(
            f"{name} has {_count(len(value), 'label')} but there are {count} {what}: give one label per row"
        )
    return list(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _need_equal(a: int, b: int, message: str) -> None:
    if a != b:
        raise PlaygroundError(message)


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
#
# Numbers copied from /work/shared/seeds/examples.json (the lectures' worked
# examples); the app must not read that folder at run time.

_CAT_X = [[1.2, 0.1, 0.8, 0.3, 0.0, 0.5],
          [0.3, 0.2, 0.5, 1.8, 0.0, 1.2],
          [0.7, 0.3, 1.1, 0.9, 1.5, 0.2],
          [0.4, 0.4, 0.6, 1.2, 0.0, 0.8]]  # fmt: skip
_CAT_W_K = [[0.4, 0.1, 0.3, 0.2], [0.2, 0.5, 0.1, 0.3], [0.1, 0.3, 0.4, 0.2],
            [0.3, 0.2, 0.2, 0.3], [0.2, 0.1, 0.3, 0.4], [0.1, 0.4, 0.2, 0.1]]  # fmt: skip
_CAT_TOKENS = ["The", "cat", "sat", "here"]

#: Keys of a preset that are not arguments of :func:`compute`.
PRESET_META_KEYS = frozenset({"title", "note"})

PRESETS: dict[str, dict[str, Any]] = {
    "thinking_machines": {
        "title": "Thinking Machines (d_k = 64)",
        "note": (
            "The slide's vectors are 64 wide; these 4-wide stand-ins are chosen so that "
            "q1·k1 = 112 and q1·k2 = 96 exactly, and d_k is set to the lecture's 64, so "
            "÷ sqrt(64) = 8 gives 14 and 12 and softmax gives 0.88 and 0.12, as on the slide. "
            "The 'Machines' query and the values are illustrative: the slide does not give them."
        ),
        "tokens": ["Thinking", "Machines"],
        "q": [[4, 4, 4, 4], [3, 5, 2, 4]],
        "k": [[8, 6, 7, 7], [6, 5, 7, 6]],
        "v": [[1.0, 2.0, 0.5, 0.0], [0.0, 1.0, 2.0, 1.5]],
        "d_k": 64,
    },
    "the_cat_sat_here": {
        "title": "The cat sat here (Q, K, V from the slide)",
        "note": (
            "Q, K and V as printed on the slide. They are not X·W (the slide's W_Q has 7 rows "
            "and its W_V is 6x3), and Q·K^T is not the slide's raw scores (row 1 gives 4.08, "
            "not 4.21): these are the true products. Of the slide's own steps, scaled = raw / 2 "
            "holds, but its weights are only near softmax(scaled): row 'cat' gives 0.18, 0.35, "
            "0.27, 0.21 where the slide shows 0.18, 0.35, 0.29, 0.18."
        ),
        "tokens": _CAT_TOKENS,
        "q": [[1.23, 0.81, 1.05, 0.92], [0.76, 1.42, 0.88, 1.31], [1.15, 0.97, 1.33, 1.08], [0.89, 1.28, 0.94, 1.17]],
        "k": [[0.98, 1.21, 0.89, 1.04], [0.82, 1.53, 1.12, 0.95], [1.07, 1.09, 1.25, 1.18], [0.91, 1.35, 1.03, 0.87]],
        "v": [[1.31, 1.02, 0.95, 1.15], [1.08, 1.45, 1.23, 0.89], [1.22, 1.18, 1.09, 1.31], [1.14, 1.33, 1.07, 0.98]],
        "d_k": 4,
    },
    "the_cat_sat_here_x": {
        "title": "The cat sat here (from X, N = 4, d_model = 6, d_k = 4)",
        "note": (
            "X and W_K from the slide. The slide's W_Q (7 rows) and W_V (6x3) cannot multiply "
            "X, so W_K is used for all three projections; the dimension and memory table is "
            "then exactly the lecture's. Q, K, V and the scores differ from the slide's."
        ),
        "tokens": _CAT_TOKENS,
        "x": _CAT_X,
        "w_q": _CAT_W_K,
        "w_k": _CAT_W_K,
        "w_v": _CAT_W_K,
    },
    "i_am_a_student": {
        "title": "I am a student (masked self-attention)",
        "note": (
            "The slide gives the scores only (no Q, K or V), so there is no scaling (d_k = 1) "
            "and no output. Softmax of the masked rows gives [0.38, 0.62] for 'am' and "
            "[0.26, 0.32, 0.43] for 'a'; the slide shows 0.37 and 0.30, rounded differently."
        ),
        "tokens": ["I", "am", "a", "student"],
        "scores": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.1, 0.3, 0.6, 0.1], [0.1, 0.3, 0.3, 0.3]],
        "mask": "causal",
        "d_k": 1,
    },
    "apple_fruit": {
        "title": "apple (fruit): similarity → softmax",
        "note": (
            "The lecture's similarity table for 'My favourite fruit is apple' (fruit–apple 0.25, 1 on the diagonal) as "
            "raw scores. Softmax gives the apple row 0.14, 0.14, 0.18, 0.14, 0.39; the slide's 0.2 / 0.8 is the row divided "
            "by its sum, not softmax (see Slide vs computed below)."
        ),
        "tokens": ["my", "favourite", "fruit", "is", "apple"],
        "scores": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0.25], [0, 0, 0, 1, 0], [0, 0, 0.25, 0, 1]],
        "d_k": 1,
    },
    "apple_brand": {
        "title": "apple (brand): similarity → softmax",
        "note": (
            "The lecture's similarity table for 'My favourite brand is apple' (brand–apple 0.11). Softmax gives the apple "
            "row 0.15, 0.15, 0.16, 0.15, 0.40; the slide's 0.1 / 0.9 is proportional scaling."
        ),
        "tokens": ["my", "favourite", "brand", "is", "apple"],
        "scores": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0.11], [0, 0, 0, 1, 0], [0, 0, 0.11, 0, 1]],
        "d_k": 1,
    },
}

#: The slides' own printed numbers, for showing next to the true ones.
SLIDE_NUMBERS: dict[str, dict[str, Any]] = {
    "thinking_machines": {"scores_q1": [112, 96], "scaled_q1": [14, 12], "weights_q1": [0.88, 0.12]},
    "the_cat_sat_here": {
        "x": _CAT_X,
        "w_k": _CAT_W_K,
        "scores": [[4.21, 4.85, 5.12, 4.33], [4.56, 5.91, 5.43, 4.87], [5.02, 5.73, 5.98, 5.21], [4.43, 5.42, 5.31, 4.76]],
        "scaled": [[2.11, 2.43, 2.56, 2.17], [2.28, 2.96, 2.72, 2.44], [2.51, 2.87, 2.99, 2.61], [2.22, 2.71, 2.66, 2.38]],
        "weights": [[0.20, 0.28, 0.32, 0.20], [0.18, 0.35, 0.29, 0.18], [0.19, 0.28, 0.33, 0.20], [0.17, 0.31, 0.30, 0.22]],
    },
    "i_am_a_student": {"weights": [[1, 0, 0, 0], [0.37, 0.62, 0, 0], [0.26, 0.3, 0.43, 0], [0.21, 0.26, 0.26, 0.26]]},
}


def preset_arguments(name: str) -> dict[str, Any]:
    """The keyword arguments of :func:`compute` for a preset (title and note dropped)."""
    if name not in PRESETS:
        raise PlaygroundError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return {k: v for k, v in PRESETS[name].items() if k not in PRESET_META_KEYS}


def run_preset(name: str) -> PlaygroundResult:
    """``compute(**preset_arguments(name))``."""
    return compute(**preset_arguments(name))
