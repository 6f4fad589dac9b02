"""Validation of what a person types into the Playground: numbers, matrix shapes, d_k, masks, labels.

Every failure is a :class:`PlaygroundError` (a ``ValueError``) whose message names the field and the cell.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
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
