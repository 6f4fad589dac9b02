"""Slide vs computed: the lectures' printed numbers beside the true ones, the differences flagged."""

from fastapi import APIRouter, Query

from app.inspect.slides import comparisons

router = APIRouter(prefix="/api", tags=["playground"])


@router.get("/slides", summary="The lectures' inexact or illustrative numbers beside the computed ones.")
def slides(preset: str | None = Query(None, max_length=64, description="only the comparisons of this preset")) -> dict:
    """The lectures' inexact or illustrative numbers beside the computed ones.

    Each comparison: ``slide`` (as printed), ``computed`` (how: ``computed_as``), ``diff`` = slide − computed,
    ``mismatch`` True where the slide is off by more than half a unit in its last printed decimal
    (``decimals``), and a one-sentence ``verdict``.
    """
    items = [c.to_dict() for c in comparisons() if preset is None or c.preset == preset]
    return {"comparisons": items}
