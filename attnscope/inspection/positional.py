"""Positional encodings: the lecture's four kinds, plus a model's learned table.

Pure numpy, no HTTP, no torch. Positions are ``0 .. positions - 1``; every
result is a (positions, d) matrix of values and the (positions, positions)
matrix of dot products between them.

Kinds (``theta_i = n ** (-2i / d)`` for pair ``i``):

* ``"sinusoidal"``: ``PE(pos, 2i) = sin(pos * theta_i)``,
  ``PE(pos, 2i+1) = cos(pos * theta_i)`` (Attention Is All You Need). For odd d
  the last column is the sin of one more pair.
* ``"integer"``: the naive scheme, the index itself: ``value[pos, j] = pos`` in
  every column. It grows without bound, which is the lecture's point.
* ``"binary"``: the d binary digits of ``pos``, most significant bit first, so
  the least significant bit is the last column and a row reads like the
  written numeral. Positions needing more than d bits wrap (``pos mod 2**d``).
* ``"rotary"`` (RoPE, interleaved pairs as in the RoFormer paper): query and key
  pair ``i`` at position ``pos`` are rotated by the angle ``pos * theta_i``.
  The values shown are ``(cos, sin)`` of those angles, pair by pair: where the
  unit vector (1, 0) of each pair goes. Their dot products are
  ``sum_i cos((a - b) * theta_i)``: only the offset counts. (Hugging Face LLaMA
  pairs dimension ``i`` with ``i + d/2`` instead; that is a permutation.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("sinusoidal", "integer", "binary", "rotary")
MAX_POSITIONS = 1024
MIN_D, MAX_D = 2, 1024


class PositionalError(ValueError):
    """A positional-encoding request that cannot be met."""


@dataclass
class PositionalResult:
    """One positional encoding and its similarity matrix.

    Attributes:
        kind: one of :data:`KINDS`, or ``"learned"``.
        positions: how many positions (rows): positions ``0 .. positions - 1``.
        d: number of columns.
        n: the base of the frequencies; None for kinds that have none.
        values: (positions, d) float64.
        similarity: (positions, positions) float64, ``values @ values.T``.
    """

    kind: str
    positions: int
    d: int
    n: float | None
    values: np.ndarray
    similarity: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of nested lists."""
        return {
            "kind": self.kind,
            "positions": self.positions,
            "d": self.d,
            "n": self.n,
            "values": self.values.tolist(),
            "similarity": self.similarity.tolist(),
        }


# --------------------------------------------------------------------------- validation


def _int_in(value: Any, name: str, lo: int, hi: int, why: str = "") -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise PositionalError(f"{name} must be a whole number between {lo} and {hi}{why}, got {value!r}")
    return int(value)


def _base(n: Any) -> float:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Real) or not (math.isfinite(n) and n > 1):
        raise PositionalError(f"n must be a finite number greater than 1, got {n!r}")
    return float(n)


def _even_d(d: Any, what: str) -> int:
    d = _int_in(d, "d", MIN_D, MAX_D)
    if d % 2:
        raise PositionalError(f"d must be even for {what} (dimensions go in pairs), got {d}")
    return d


# --------------------------------------------------------------------------- encodings


def frequencies(d: int, n: float) -> np.ndarray:
    """(ceil(d/2),) ``theta_i = n ** (-2i / d)``, the angle per position of pair i."""
    i = np.arange((d + 1) // 2, dtype=np.float64)
    return n ** (-2.0 * i / d)


def _angles(positions: int, d: int, n: float) -> np.ndarray:
    """(positions, ceil(d/2)) ``pos * theta_i``."""
    return np.arange(positions, dtype=np.float64)[:, None] * frequencies(d, n)[None, :]


def _interleave(even: np.ndarray, odd: np.ndarray, d: int) -> np.ndarray:
    """Columns 2i from ``even``, 2i+1 from ``odd``; trimmed to d columns."""
    out = np.empty((even.shape[0], 2 * even.shape[1]), dtype=np.float64)
    out[:, 0::2], out[:, 1::2] = even, odd
    return out[:, :d]


def sinusoidal(positions: int, d: int, n: float = 10000.0) -> np.ndarray:
    """(positions, d) ``PE(pos, 2i) = sin(pos theta_i)``, ``PE(pos, 2i+1) = cos(pos theta_i)``."""
    a = _angles(positions, d, n)
    return _interleave(np.sin(a), np.cos(a), d)


def rotary(positions: int, d: int, n: float = 10000.0) -> np.ndarray:
    """(positions, d) ``(cos, sin)`` of ``pos theta_i`` for each pair i (d even)."""
    a = _angles(positions, d, n)
    return _interleave(np.cos(a), np.sin(a), d)


def integer(positions: int, d: int) -> np.ndarray:
    """(positions, d) ``value[pos, j] = pos``."""
    return np.repeat(np.arange(positions, dtype=np.float64)[:, None], d, axis=1)


def binary(positions: int, d: int) -> np.ndarray:
    """(positions, d) bits of ``pos``, most significant first (LSB in the last column)."""
    pos = np.arange(positions, dtype=np.int64)[:, None]
    shifts = np.arange(d - 1, -1, -1, dtype=np.int64)[None, :]  # d-1 .. 0
    bits = (pos >> np.minimum(shifts, 62)) & 1  # shifts past 62 would be undefined
    return np.where(shifts < 63, bits, 0).astype(np.float64)


def encode(kind: str, positions: int, d: int, n: float = 10000.0) -> PositionalResult:
    """One of the lecture's positional encodings.

    Args:
        kind: ``"sinusoidal"``, ``"integer"``, ``"binary"`` or ``"rotary"``.
        positions: number of positions, 1..1024 (positions 0..positions-1).
        d: number of dimensions, 2..1024 (even for rotary).
        n: base of the frequencies (10000 in the paper); used by sinusoidal
            and rotary, validated always, reported as None for the others.

    Returns:
        A :class:`PositionalResult` with (positions, d) values and the
        (positions, positions) dot-product similarity.

    Raises:
        PositionalError: unknown kind or a value out of bounds.
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise PositionalError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    positions = _int_in(positions, "positions", 1, MAX_POSITIONS)
    d = _even_d(d, "rotary") if kind == "rotary" else _int_in(d, "d", MIN_D, MAX_D)
    n = _base(n)
    if kind == "sinusoidal":
        values = sinusoidal(positions, d, n)
    elif kind == "rotary":
        values = rotary(positions, d, n)
    elif kind == "integer":
        values = integer(positions, d)
    else:
        values = binary(positions, d)
    uses_n = kind in ("sinusoidal", "rotary")
    return PositionalResult(kind, positions, d, n if uses_n else None, values, values @ values.T)


def learned(matrix: np.ndarray, positions: int) -> PositionalResult:
    """The first ``positions`` rows of a model's position-embedding table.

    Args:
        matrix: (max_positions, d) learned position embeddings.
        positions: how many rows to keep, 1..min(1024, max_positions).

    Returns:
        A :class:`PositionalResult` of kind ``"learned"`` (n is None).

    Raises:
        PositionalError: not a finite 2-D matrix, or positions out of bounds.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1 or not np.issubdtype(m.dtype, np.number):
        raise PositionalError(f"the position table must be a non-empty 2-D matrix of numbers, got shape {m.shape}")
    hi = min(MAX_POSITIONS, m.shape[0])
    positions = _int_in(positions, "positions", 1, hi, f" (the table has {m.shape[0]} rows)")
    values = m[:positions].astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise PositionalError("the position table contains NaN or infinite values")
    return PositionalResult("learned", positions, m.shape[1], None, values, values @ values.T)


def rotation_matrix(k: int, d: int, n: float = 10000.0) -> np.ndarray:
    """(d, d) block-diagonal M_k with ``PE(pos + k) = PE(pos) @ M_k`` (row vectors).

    For the sinusoidal encoding, pair i holds ``(sin a, cos a)`` with
    ``a = pos theta_i``. Shifting by ``b = k theta_i``::

        sin(a + b) = sin a cos b + cos a sin b
        cos(a + b) = cos a cos b - sin a sin b

    so block i is ``[[cos b, -sin b], [sin b, cos b]]``. It does not depend on
    pos: a relative offset is a linear map. d must be even (with an odd d the
    last sin has no cos to rotate with).

    Args:
        k: the offset, any whole number (negative shifts back).
        d: even, 2..1024.
        n: base of the frequencies, > 1.

    Raises:
        PositionalError: bad k, d or n.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise PositionalError(f"k must be a whole number, got {k!r}")
    d = _even_d(d, "a rotation matrix")
    b = int(k) * frequencies(d, _base(n))  # (d/2,)
    m = np.zeros((d, d), dtype=np.float64)
    idx = np.arange(0, d, 2)
    m[idx, idx], m[idx, idx + 1] = np.cos(b), -np.sin(b)
    m[idx + 1, idx], m[idx + 1, idx + 1] = np.sin(b), np.cos(b)
    return m


def apply_rotary(x: np.ndarray, n: float = 10000.0, start: int = 0) -> np.ndarray:
    """Rotate each row of x by its position, as RoPE does to q and k.

    Row t is at position ``start + t``; pair ``(x[2i], x[2i+1])`` turns by
    ``pos theta_i``: ``(x0 cos - x1 sin, x0 sin + x1 cos)``.

    Args:
        x: (T, d) with d even.
        n: base of the frequencies.
        start: position of row 0.

    Returns:
        (T, d) float64, the rotated rows.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise PositionalError(f"x must be a 2-D matrix (T, d), got shape {x.shape}")
    d = _even_d(x.shape[1], "rotary")
    a = (start + np.arange(x.shape[0], dtype=np.float64))[:, None] * frequencies(d, _base(n))[None, :]  # (T, d/2)
    x0, x1 = x[:, 0::2], x[:, 1::2]
    return _interleave(x0 * np.cos(a) - x1 * np.sin(a), x0 * np.sin(a) + x1 * np.cos(a), d)


#: The lecture's "I am a robot" table (d = 4, n = 100); arguments of :func:`encode` plus labels.
I_AM_A_ROBOT: dict[str, Any] = {
    "title": "I am a Robot (d = 4, n = 100)",
    "tokens": ["I", "am", "a", "Robot"],
    "kind": "sinusoidal",
    "positions": 4,
    "d": 4,
    "n": 100.0,
}
