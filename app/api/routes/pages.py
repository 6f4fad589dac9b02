import functools
import posixpath
import re
from pathlib import Path

from attnscope.resources import static_dir, templates_dir
from attnscope_server.api.compress import compressed_response
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
TEMPLATES = templates_dir()

#: The page's views, in menu order: (id, title). A view shows when templates/views/<id>.html exists;
#: its behaviour is static/js/views/<id>.js (``mount(ctx)`` -> ``{show(state)}``).
VIEWS = [
    ("attention", "Attention"),
    ("steps", "Step by step"),
    ("model", "Model view"),
    ("heads", "Heads"),
    ("compare", "Compare"),
    ("patterns", "Efficient attention"),
    ("generate", "Generate"),
    ("playground", "Playground"),
    ("positions", "Positions"),
    ("embeddings", "Embeddings"),
    ("scale", "Scale"),
    ("long", "Long context"),
    ("atlas", "Atlas"),
    ("lens", "Logit lens"),
    ("effects", "Effects"),
]


def view_styles() -> list[str]:
    """Extra stylesheets of the views (static/css/*.css besides style.css, and phone.css, linked last)."""
    return sorted(p.name for p in (static_dir() / "css").glob("*.css")
                  if p.name not in ("style.css", "phone.css"))


def available_views() -> list[dict]:
    return [{"id": v, "title": t} for v, t in VIEWS if (TEMPLATES / "views" / f"{v}.html").exists()]


_IMPORT = re.compile(r"""^(?:import|export)\s[^;]*?from\s+["'](\.{1,2}/[^"']+\.js)["']""", re.M)


@functools.lru_cache(maxsize=None)
def module_graph(entry: str) -> tuple[str, ...]:
    """Every module ``static/js/<entry>`` imports, itself included (static imports, followed): the page hints them
    with ``<link rel="modulepreload">`` so the browser fetches them at once, not one import level at a time."""
    js = static_dir() / "js"
    seen: list[str] = []
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen or not (js / name).is_file():
            continue
        seen.append(name)
        here = posixpath.dirname(name)
        todo += [posixpath.normpath(posixpath.join(here, m)) for m in _IMPORT.findall((js / name).read_text("utf-8"))]
    return tuple(seen)


def plotly_js_path() -> Path:
    """plotly.js's cartesian bundle (heatmap, scatter, bar and the other 2-D traces: all the page draws), the
    same version as the ``plotly`` package's full bundle but a third of its bytes and of its parse time, which
    is most of a cold load (static/vendor/, MIT, LICENSE-plotly.txt beside it)."""
    return static_dir() / "vendor" / "plotly-cartesian.min.js"


@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    views = available_views()
    first = request.query_params.get("view") or views[0]["id"]
    # the page's two entry modules and the first view's: their whole graphs, fetched at once
    view = module_graph(f"views/{first}.js") if first in {v["id"] for v in views} else ()
    preload = list(dict.fromkeys(module_graph("app.js") + module_graph("classroom.js") + view))
    return request.app.state.templates.TemplateResponse(request, "index.html",
                                                        {"views": views, "styles": view_styles(), "preload": preload})


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request):
    """Plotly, gzipped for browsers that accept it (1.5 MB raw, 0.5 MB compressed), cached for a day."""
    cache = "public, max-age=86400"
    gz = compressed_response(plotly_js_path(), request.headers, cache)
    if gz is not None:
        return gz
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": cache, "Vary": "Accept-Encoding"})


@router.get("/favicon.ico")
def favicon():
    return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")
