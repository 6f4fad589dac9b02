"""Compact array encodings for payloads (DESIGN.md: Payloads)."""

from __future__ import annotations

import base64
import json
import struct
import sys

import numpy as np


def to_f16(a: np.ndarray) -> np.ndarray:
    """``a`` as little-endian float16 in C order (torch converts ~10x faster than numpy's astype)."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.float32 and a.size >= 4096 and sys.byteorder == "little":
        import torch

        return torch.from_numpy(a).to(torch.float16).numpy()
    return np.ascontiguousarray(a, dtype="<f2")


def f16_base64(a: np.ndarray) -> str:
    """Little-endian float16 bytes of ``a`` in C order, base64."""
    return base64.b64encode(to_f16(a).tobytes()).decode("ascii")


def u8_base64(a: np.ndarray) -> str:
    """Values in [0, 1] quantised to 1/255 steps (``round(v * 255)``), one byte each in C order, base64.

    Decode with ``byte / 255``; the error is at most 1/510 < 0.002. Meant for attention weights only.
    """
    q = np.rint(np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii")


def encode(a: np.ndarray, fmt: str):
    """``json``: nested lists of floats; ``f16``/``f32``: a base64 string of little-endian floats; ``u8``: base64
    bytes of round(v * 255)."""
    if fmt == "f16":
        return f16_base64(a)
    if fmt == "u8":
        return u8_base64(a)
    if fmt == "f32":
        return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")
    return np.asarray(a, dtype=np.float64).round(7).tolist()


#: the media type of a binary attention answer (asked for with ``Accept: application/octet-stream``)
BINARY_TYPE = "application/octet-stream"


def raw_bytes(a: np.ndarray, fmt: str) -> bytes:
    """The bytes a compact format's base64 string holds: little-endian float16 or float32, or round(v * 255) as uint8."""
    if fmt == "f16":
        return to_f16(a).tobytes()
    if fmt == "u8":
        return np.rint(np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8).tobytes()
    if fmt == "f32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    raise ValueError(f"format {fmt!r} has no binary form: ask for f16, u8 or f32")


def binary(header: dict, payload: bytes) -> bytes:
    """A binary answer: ``uint32 LE n`` | ``n`` bytes of UTF-8 JSON header | ``payload``.

    The header holds every field of the JSON answer except the array; ``n`` includes trailing
    spaces that start the payload at a multiple of 4 bytes (a typed array can view it in place).
    """
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    head += b" " * (-(4 + len(head)) % 4)
    return struct.pack("<I", len(head)) + head + payload


def unpack_binary(data: bytes) -> tuple[dict, bytes]:
    """Inverse of :func:`binary`: (header, payload)."""
    (n,) = struct.unpack_from("<I", data)
    return json.loads(data[4:4 + n]), data[4 + n:]
