from typing import Literal

import numpy as np
from fastapi import APIRouter, Query
from pydantic import Field

from attnscope_server.api.deps import RegistryDep
from attnscope_server.api.schemas import Answer
from attnscope.encode import encode
from attnscope.inspection import positional
from attnscope.inspection.embeddings import position_table, rope_base
from attnscope.inspection.positional import PositionalError

router = APIRouter(prefix="/api", tags=["positions"])

#: Bounds of this endpoint (tighter than attnscope.inspection.positional's, to keep payloads small).
MAX_POSITIONS = 512
MAX_D = 512
MAX_K = 512

Kind = Literal["sinusoidal", "integer", "binary", "rotary", "learned"]
Matrix = str | list[list[float]]


class Rotation(Answer):
    """The sinusoidal rotation demo: PE(pos + k) = PE(pos) @ M_k."""

    k: int
    matrix: Matrix = Field(description="(d, d) M_k")
    shifted: Matrix = Field(description="(positions, d) PE(pos + k) from the formula")
    rotated: Matrix = Field(description="(positions, d) PE(pos) @ M_k")
    check: float = Field(description="the largest difference between the two")


class PositionalResponse(Answer):
    kind: Kind
    positions: int
    d: int
    n: float | None = Field(description="the frequency base (sinusoidal, rotary)")
    model: str | None = Field(description="the model the table (learned) or base and head size (rotary) come from")
    note: str | None
    format: Literal["json", "f16"]
    values: Matrix = Field(description="(positions, d) the table")
    similarity: Matrix = Field(description="(positions, positions) dot products of the rows")
    rotation: Rotation | None = Field(default=None, description="with kind=sinusoidal and k")


def _bounded(value: int, name: str, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise PositionalError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


@router.get("/positional", summary="A positional encoding table and its position-by-position dot products.",
            response_model=PositionalResponse, response_model_exclude_unset=True)
def positional_encoding(
    registry: RegistryDep,
    kind: Kind = Query("sinusoidal", description="sinusoidal | integer | binary | rotary | learned"),
    positions: int = Query(32, description=f"number of positions 0 .. positions-1 (1 to {MAX_POSITIONS})"),
    d: int | None = Query(None, description=f"dimensions (2 to {MAX_D}); default 64, or the model's for rotary"),
    n: float | None = Query(None, description="frequency base (sinusoidal, rotary); default 10000, or the model's rope_theta"),
    model: str | None = Query(None, max_length=64, description="a model id: required for learned, optional for rotary"),
    k: int | None = Query(None, description=f"sinusoidal only: also return the rotation M_k for offset k (0 to {MAX_K})"),
    fmt: Literal["json", "f16"] = Query("json", alias="format", description="json: nested lists; f16: base64 little-endian float16"),
) -> dict:
    """A positional encoding table (positions x d) and its position-by-position dot products.

    ``learned`` reads the first ``positions`` rows of a model's own position-embedding
    table; ``rotary`` with a model uses that model's base (``rope_theta``) and head size.
    With ``kind=sinusoidal`` and ``k``, ``rotation`` holds the matrix M_k with
    PE(pos + k) = PE(pos) @ M_k, both sides for every position, and the largest difference.
    """
    _bounded(positions, "positions", 1, MAX_POSITIONS)
    if d is not None:
        _bounded(d, "d", 2, MAX_D)
    note = None
    if kind == "learned":
        if model is None:
            raise PositionalError("kind=learned needs a model: the table is that model's trained position embeddings")
        adapter = registry.get(model)
        table = position_table(adapter)
        if table is None:
            info = adapter.info
            raise PositionalError(
                f"{model} has no learned position table: it uses {info.positional} positions"
                + (f" (try kind={info.positional})" if info.positional in positional.KINDS else "")
            )
        result = positional.learned(table, positions)
        note = f"the first {positions} rows of {model}'s trained position-embedding table ({table.shape[0]} x {table.shape[1]})"
    else:
        if kind == "rotary" and model is not None:
            adapter = registry.get(model)
            base = rope_base(adapter)
            if base is None:
                raise PositionalError(
                    f"{model} does not rotate its queries and keys: it uses {adapter.info.positional} positions"
                )
            n = base if n is None else n
            d = adapter.info.d_head if d is None else d
            note = f"{model}'s rotary base n = {base:g} over its head size {adapter.info.d_head}"
        result = positional.encode(kind, positions, 64 if d is None else d, 10000.0 if n is None else n)
    body = {
        "kind": result.kind,
        "positions": result.positions,
        "d": result.d,
        "n": result.n,
        "model": model if kind in ("learned", "rotary") else None,
        "note": note,
        "format": fmt,
        "values": encode(result.values, fmt),
        "similarity": encode(result.similarity, fmt),
    }
    if k is not None:
        if kind != "sinusoidal":
            raise PositionalError(f"k (the rotation demo) applies to kind=sinusoidal, not {kind}")
        body["rotation"] = rotation(k, result.values, result.d, result.n, fmt)
    return body


def rotation(k: int, values: np.ndarray, d: int, n: float, fmt: str) -> dict:
    """M_k, PE(pos + k) from the formula, PE(pos) @ M_k, and the largest difference."""
    _bounded(k, "k", 0, MAX_K)
    m = positional.rotation_matrix(k, d, n)  # (d, d); PositionalError for odd d
    shifted = positional.sinusoidal(values.shape[0] + k, d, n)[k:]  # (P, d) PE(pos + k)
    rotated = values @ m  # (P, d) PE(pos) @ M_k
    return {
        "k": k,
        "matrix": encode(m, fmt),
        "shifted": encode(shifted, fmt),
        "rotated": encode(rotated, fmt),
        "check": float(np.abs(shifted - rotated).max()),
    }
