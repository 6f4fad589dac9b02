"""Compact array encodings for payloads (DESIGN.md: Payloads)."""

from __future__ import annotations

import base64

import numpy as np


def f16_base64(a: np.ndarray) -> str:
    """Little-endian float16 bytes of ``a`` in C order, base64."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f2").tobytes()).decode("ascii")


def encode(a: np.ndarray, fmt: str):
    """``json``: nested lists of floats; ``f16``: a base64 string."""
    if fmt == "f16":
        return f16_base64(a)
    return np.asarray(a, dtype=np.float64).round(7).tolist()
