from fastapi import APIRouter

from app.api.deps import RegistryDep
from app.inspect.registry import ModelUnavailableError

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/models", summary="The configured models and their shapes (layers, heads, d_model...).")
def list_models(registry: RegistryDep) -> dict:
    """The configured models and their shapes (layers, heads, d_model...)."""
    models = []
    for mid in registry.ids():
        try:
            models.append(registry.get(mid).info.to_dict())
        except ModelUnavailableError as exc:
            spec = registry.specs[mid]
            models.append({"id": mid, "name": spec.name or mid, "source": spec.source,
                           "family": spec.family, "error": str(exc)})
    return {"models": models}
