"""The matrix playground: scaled dot-product attention on small matrices a person types in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field, SkipValidation

from attnscope_server.api.schemas import Answer, Strict
from attnscope.inspection.playground import PRESETS, compute

router = APIRouter(prefix="/api", tags=["playground"])

#: Rows of numbers. Checked by ``playground.compute`` (its messages name the matrix, row and column),
#: not by pydantic, so a NaN, a ragged row or a string gets the playground's own readable 422.
Matrix = Annotated[list[list[float]] | None, SkipValidation]
Labels = Annotated[list[str] | None, SkipValidation]


class PlaygroundRequest(Strict):
    x: Matrix = Field(default=None, description="(T, d_model) inputs; with w_q, w_k, w_v")
    w_q: Matrix = Field(default=None, description="(d_model, d_k)")
    w_k: Matrix = Field(default=None, description="(d_model, d_k)")
    w_v: Matrix = Field(default=None, description="(d_model, d_v)")
    q: Matrix = Field(default=None, description="(T_q, d_k) queries; with k and v")
    k: Matrix = Field(default=None, description="(T_k, d_k)")
    v: Matrix = Field(default=None, description="(T_k, d_v); optional in the scores form")
    scores: Matrix = Field(default=None, description="(T_q, T_k) raw scores, instead of q and k")
    tokens: Labels = Field(default=None, description="labels of the query rows; default t1..tN")
    key_tokens: Labels = Field(default=None, description="labels of the key rows, when they differ (cross-attention)")
    mask: Literal["none", "causal"] = Field(default="none", description="none | causal (future keys at -inf)")
    d_k: Annotated[float | None, SkipValidation] = Field(
        default=None, description="the d_k to scale by; default q's width (1 in the scores form)"
    )


Rows = list[list[float]]


class ShapeRow(Answer):
    name: str
    shape: list[int]
    floats: int
    bytes: int = Field(description="float32")


class Totals(Answer):
    floats: int
    bytes: int


class PlaygroundResponse(Answer):
    """Every step of one attention computation (``form``: which inputs were given)."""

    form: Literal["x", "qkv", "scores"]
    tokens: list[str]
    key_tokens: list[str]
    mask: Literal["none", "causal"]
    d_k: float
    scale: float = Field(description="sqrt(d_k)")
    x: Rows | None
    w_q: Rows | None
    w_k: Rows | None
    w_v: Rows | None
    q: Rows | None
    k: Rows | None
    v: Rows | None
    scores: Rows = Field(description="(T_q, T_k) q @ k.T")
    scaled: Rows = Field(description="scores / scale, before masking")
    masked: list[list[float | None]] = Field(description="scaled, null where the mask removes the entry (-inf)")
    allowed: list[list[bool]]
    weights: Rows = Field(description="row softmax of the masked scaled scores")
    output: Rows | None = Field(description="weights @ v; null without v")
    shapes: list[ShapeRow] = Field(description="the dimension / memory table")
    totals: Totals


Typed = list[list[int | float]]  # as the lecture prints them: 4 stays 4


class Preset(Answer):
    """A worked example: ``title`` and ``note``, then playground inputs."""

    title: str
    note: str
    tokens: list[str]
    x: Typed | None = None
    w_q: Typed | None = None
    w_k: Typed | None = None
    w_v: Typed | None = None
    q: Typed | None = None
    k: Typed | None = None
    v: Typed | None = None
    scores: Typed | None = None
    mask: Literal["none", "causal"] | None = None
    d_k: int | float | None = None


class PresetsResponse(Answer):
    presets: dict[str, Preset]


@router.post("/playground", summary="Scaled dot-product attention on given matrices, every step kept.",
             response_model=PlaygroundResponse, response_model_exclude_unset=True)
def playground(req: PlaygroundRequest) -> dict:
    """Scaled dot-product attention on given matrices, every step kept."""
    return compute(**{name: getattr(req, name) for name in PlaygroundRequest.model_fields}).to_dict()


@router.get("/playground/presets", summary="The lectures' worked examples, as playground inputs.",
            response_model=PresetsResponse, response_model_exclude_unset=True)
def presets() -> dict:
    """The lectures' worked examples, as playground inputs."""
    return {"presets": PRESETS}
