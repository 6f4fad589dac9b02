from fastapi import APIRouter

from attnscope_server.api.deps import RegistryDep, SettingsDep

VIEWS_AND_FEATURES = ("attention", "model_view", "heads", "compare", "steps", "ablate", "generate", "seq2seq")

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/models", summary="The configured models and their shapes (layers, heads, d_model...).")
def list_models(registry: RegistryDep, settings: SettingsDep) -> dict:
    """The configured models and their shapes (layers, heads, d_model...).

    Models load on first use, in the background: a model still loading (or converting its GGUF
    file the first time) is listed with ``status`` "loading" or "converting" and no shape yet;
    ask again. A model that failed carries ``error``.

    ``capabilities`` says which views and features a loaded model offers ("attention", "model_view",
    "heads", "compare", "steps", "ablate", "generate", "seq2seq"); ``reasons`` says why one is not.
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
        entry["status"] = registry.progress(mid)
        if status[mid].startswith("failed: "):
            entry["error"] = status[mid].removeprefix("failed: ")
            # nothing is offered by a model that failed to load: every view greys out with the reason
            entry["capabilities"] = dict.fromkeys(VIEWS_AND_FEATURES, False)
            entry["reasons"] = dict.fromkeys(VIEWS_AND_FEATURES, f"the model failed to load: {entry['error']}")
        models.append(entry)
    return {"models": models}
