"""Slide vs computed: the lectures' printed numbers beside the true ones, the differences flagged."""

from fastapi import APIRouter, Query
from pydantic import Field

from attnscope_server.api.deps import RegistryDep
from attnscope_server.api.schemas import Answer
from attnscope.inspection.slides import comparisons, je_suis_cross

router = APIRouter(prefix="/api", tags=["playground"])


class Comparison(Answer):
    id: str
    title: str
    source: str = Field(description="the lecture file")
    preset: str | None = Field(description="the playground (or positions) preset it belongs to")
    rows: list[str]
    cols: list[str]
    slide: list[list[float]] = Field(description="as printed")
    computed: list[list[float]]
    diff: list[list[float]] = Field(description="slide − computed")
    mismatch: list[list[bool]] = Field(description="off by more than half a unit in the last printed decimal")
    mismatches: int
    decimals: int = Field(description="decimals the slide prints")
    computed_as: str
    verdict: str


class SlidesResponse(Answer):
    comparisons: list[Comparison]


@router.get("/slides", summary="The lectures' inexact or illustrative numbers beside the computed ones.",
            response_model=SlidesResponse, response_model_exclude_unset=True)
def slides(registry: RegistryDep,
           preset: str | None = Query(None, max_length=64, description="only the comparisons of this preset")) -> dict:
    """The lectures' inexact or illustrative numbers beside the computed ones.

    Each comparison: ``slide`` (as printed), ``computed`` (how: ``computed_as``), ``diff`` = slide − computed,
    ``mismatch`` True where the slide is off by more than half a unit in its last printed decimal
    (``decimals``), and a one-sentence ``verdict``. The je suis étudiant cross-attention row is computed
    on the loaded model the lectures' numbers are about (capability "slides": the textbook model).
    """
    items = [c.to_dict() for c in comparisons() if preset is None or c.preset == preset]
    lecture = next((mid for mid in registry.specs if (a := registry.loaded(mid)) is not None
                    and a.info.offers("slides")), None) if preset in (None, "je_suis_etudiant") else None
    if lecture is not None:
        t = registry.trace(lecture, "je suis étudiant", "i am a student")
        w = t.weights("cross", len(t.blocks["cross"]) - 1).mean(axis=0)  # (T, S): last layer, mean of heads
        row = t.query_key_tokens("cross")[0].text.index("a")  # the input "a" predicts "student"
        items.append(je_suis_cross(w[row]).to_dict())
    return {"comparisons": items}
