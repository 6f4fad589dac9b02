from fastapi import APIRouter

from attnscope_server.api.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and the load state of every configured model.")
def healthz(registry: RegistryDep) -> dict:
    """Liveness and the load state of every configured model."""
    return {"status": "ok", "models": registry.status()}
