"""The app factory: wires settings, the model registry, routes, static files and middleware."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined

from attnscope_server.api import errors
from attnscope_server.api.compress import CompressedStatic
from attnscope_server.api.middleware import BodyLimit, SecurityHeaders
import attnscope_server.api.routes as routes_pkg
from attnscope.settings import Settings, get_settings
from attnscope.inspection.registry import Registry, shared_registry
from attnscope.resources import static_dir, templates_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def discover_routers() -> list:
    """Every ``router`` in ``attnscope_server.api.routes`` (``app/api/routes/``): one module per resource, in name order."""
    mods = sorted(m.name for m in pkgutil.iter_modules(routes_pkg.__path__))
    return [importlib.import_module(f"{routes_pkg.__name__}.{m}").router for m in mods]


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the process's one registry when the settings are the process's own (the library shares it)
        app.state.registry = registry or (shared_registry() if settings is get_settings() else Registry(settings))
        for mid in settings.preload:
            app.state.registry.get(mid)
        if settings.load_at_start:  # in the background: the server answers at once
            app.state.registry.load_all_in_background()
        yield
        jobs = getattr(app.state, "atlas_jobs", None)  # a running atlas job stops after its current prompt
        if jobs is not None:
            jobs.close()
        store = getattr(app.state, "classroom", None)  # live-class sessions: Redis connections, listeners
        if store is not None:
            await store.close()

    app = FastAPI(
        title="AttnScope",
        summary="See attention inside transformers: per-head weights, Q/K/V, positions, embeddings.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    if registry is not None:  # usable before the lifespan runs (schemathesis, embedding in other apps)
        app.state.registry = registry
    templates = Jinja2Templates(directory=templates_dir())
    templates.env.undefined = StrictUndefined
    app.state.templates = templates
    errors.install(app)
    for router in discover_routers():
        app.include_router(router)
    app.mount("/static", CompressedStatic(directory=static_dir()), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       paths={"/api/atlas/upload": settings.atlas_max_upload_bytes})
    app.add_middleware(SecurityHeaders)
    return app


logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
app = create_app()
