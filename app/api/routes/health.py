from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep
from attnscope_server.api.schemas import Answer

router = APIRouter(tags=["health"])


class HealthResponse(Answer):
    status: str = Field(description='"ok" while the server answers')
    models: dict[str, str] = Field(description='model id -> "loaded", "not loaded" or "failed: why"')


@router.get("/healthz", summary="Liveness and the load state of every configured model.",
            response_model=HealthResponse, response_model_exclude_unset=True)
def healthz(registry: RegistryDep) -> dict:
    """Liveness and the load state of every configured model."""
    return {"status": "ok", "models": registry.status()}
