"""OpenAPI docs served entirely from this app (Swagger UI from the installed package, no CDN)."""

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)


def swagger_dir() -> Path:
    """Swagger UI 5 (OpenAPI 3.1) as shipped in the ``fastapi-offline`` package's static folder."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request):
    return request.app.state.templates.TemplateResponse(request, "docs.html", {})


@router.get("/vendor/swagger/{name}")
def swagger_asset(name: str):
    if name not in ("swagger-ui-bundle.js", "swagger-ui.css"):
        raise HTTPException(404, detail=f"no such asset {name!r}")
    return FileResponse(swagger_dir() / name)
