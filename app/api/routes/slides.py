"""Slide vs computed: the lectures' printed numbers beside the true ones, the differences flagged."""

from fastapi import APIRouter, Query

from attnscope_server.api.deps import RegistryDep
from attnscope.inspection.slides import comparisons, je_suis_cross

router = APIRouter(prefix="/api", tags=["playground"])


@router.get("/slides", summary="The lectures' inexact or illustrative numbers beside the computed ones.")
def slides(registry: RegistryDep,
           preset: str | None = Query(None, max_length=64, description="only the comparisons of this preset")) -> dict:
    """The lectures' inexact or illustrative numbers beside the computed ones.

    Each comparison: ``slide`` (as printed), ``computed`` (how: ``computed_as``), ``diff`` = slide − computed,
    ``mismatch`` True where the slide is off by more than half a unit in its last printed decimal
    (``decimals``), and a one-sentence ``verdict``.
    """
    items = [c.to_dict() for c in comparisons() if preset is None or c.preset == preset]
    if preset in (None, "je_suis_etudiant") and registry.status().get("textbook") == "loaded":
        t = registry.trace("textbook", "je suis étudiant", "i am a student")
        w = t.weights("cross", len(t.blocks["cross"]) - 1).mean(axis=0)  # (T, S): last layer, mean of heads
        row = t.query_key_tokens("cross")[0].text.index("a")  # the input "a" predicts "student"
        items.append(je_suis_cross(w[row]).to_dict())
    return {"comparisons": items}
