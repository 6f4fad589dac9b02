"""The matrix playground: scaled dot-product attention on small matrices a person types in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from attnscope.inspection.playground import PRESETS, compute

router = APIRouter(prefix="/api", tags=["playground"])

#: Rows of numbers. Checked by ``playground.compute`` (its messages name the matrix, row and column),
#: not by pydantic, so a NaN, a ragged row or a string gets the playground's own readable 422.
Matrix = Annotated[list[list[float]] | None, SkipValidation]
Labels = Annotated[list[str] | None, SkipValidation]


class PlaygroundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


@router.post("/playground", summary="Scaled dot-product attention on given matrices, every step kept.")
def playground(req: PlaygroundRequest) -> dict:
    """Scaled dot-product attention on given matrices, every step kept."""
    return compute(**{name: getattr(req, name) for name in PlaygroundRequest.model_fields}).to_dict()


@router.get("/playground/presets", summary="The lectures' worked examples, as playground inputs.")
def presets() -> dict:
    """The lectures' worked examples, as playground inputs."""
    return {"presets": PRESETS}
