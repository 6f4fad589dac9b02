from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep
from attnscope_server.api.schemas import Answer
from attnscope.inspection.adapters.base import FEATURES
from attnscope.inspection.adapters.families import FAMILIES

#: the views and features ``capabilities`` names (a failed model offers none of them)
VIEWS_AND_FEATURES = FEATURES

router = APIRouter(prefix="/api", tags=["models"])


class ModelEntry(Answer):
    """One configured model: its shape once loaded (``status`` "loaded"), else how loading goes."""

    id: str
    name: str
    source: str
    family: str = Field(description="the family table's entry; for a model not loaded yet, as configured ('auto')")
    status: str = Field(description="loaded | loading | converting | not loaded | failed")
    kind: str | None = Field(default=None, description="encoder | decoder | encoder-decoder; null while unknown")
    error: str | None = Field(default=None, description="why it failed to load")
    capabilities: dict[str, bool] | None = Field(
        default=None, description="view or feature -> offered (every name of VIEWS_AND_FEATURES)")
    reasons: dict[str, str] | None = Field(default=None, description="feature -> why it is not offered")
    layers: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    d_model: int | None = None
    d_head: int | None = None
    max_tokens: int | None = None
    positional: str | None = Field(default=None, description="learned | sinusoidal | rotary | ...")
    blocks: list[str] | None = Field(default=None, description="its attention blocks, the default first")
    dtype: str | None = None
    device: str | None = None


class ModelsResponse(Answer):
    models: list[ModelEntry]


@router.get("/models", summary="The configured models and their shapes (layers, heads, d_model...).",
            response_model=ModelsResponse, response_model_exclude_unset=True)
def list_models(registry: RegistryDep, settings: SettingsDep) -> dict:
    """The configured models and their shapes (layers, heads, d_model...).

    Models load on first use, in the background: a model still loading (or converting its GGUF
    file the first time) is listed with ``status`` "loading" or "converting" and no shape yet (its
    ``kind`` when its configured family says it); ask again. A model that failed carries ``error``.

    ``capabilities`` says which views and features a loaded model offers ("attention", "model_view",
    "heads", "compare", "steps", "block_steps", "ablate", "generate", "seq2seq", "translate", "patterns",
    "slides"); ``reasons`` says why one is not.
    """
    registry.wait_loaded(settings.models_wait)
    status = registry.status()
    models = []
    for mid, spec in registry.specs.items():
        adapter = registry.loaded(mid)
        if adapter is not None:
            models.append({**adapter.info.to_dict(), "status": "loaded"})
            continue
        entry = {"id": mid, "name": spec.name or mid, "source": spec.source, "family": spec.family}
        if spec.family in FAMILIES:  # a model still loading: the page lists it in the views of its kind
            entry["kind"] = FAMILIES[spec.family].kind
        entry["status"] = registry.progress(mid)
        if status[mid].startswith("failed: "):
            entry["error"] = status[mid].removeprefix("failed: ")
            # nothing is offered by a model that failed to load: every view greys out with the reason
            entry["capabilities"] = dict.fromkeys(VIEWS_AND_FEATURES, False)
            entry["reasons"] = dict.fromkeys(VIEWS_AND_FEATURES, f"the model failed to load: {entry['error']}")
        models.append(entry)
    return {"models": models}
