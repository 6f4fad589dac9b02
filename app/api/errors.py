"""Turn core exceptions and validation failures into JSON errors with a readable ``detail``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from attnscope.inspection.registry import ModelUnavailableError, UnknownModelError


def _where(loc: tuple) -> str:
    """``("body", "query")`` -> ``"query"``: drop the location kind, keep field names (a field may be called "query")."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "request body"


def readable(exc: RequestValidationError) -> str:
    msgs = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            msgs.append("the request body is not valid JSON")
            continue
        if err.get("type") == "missing":
            msgs.append(f"{_where(err['loc'])} is required")
            continue
        msgs.append(f"{_where(err['loc'])}: {err.get('msg', 'invalid value')}")
    return "; ".join(dict.fromkeys(msgs)) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        return JSONResponse({"detail": readable(exc)}, status_code=422)

    @app.exception_handler(UnknownModelError)
    async def _unknown(_req: Request, exc: UnknownModelError):
        return JSONResponse({"detail": str(exc.args[0])}, status_code=404)

    @app.exception_handler(ModelUnavailableError)
    async def _unavailable(_req: Request, exc: ModelUnavailableError):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ValueError)
    async def _value(_req: Request, exc: ValueError):
        return JSONResponse({"detail": str(exc)}, status_code=422)
