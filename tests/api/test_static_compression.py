"""Static files go out gzipped to browsers that accept it, with validators (issue 25: 4.8 MB of plotly per phone)."""

from __future__ import annotations

import gzip
import re
from posixpath import dirname, join, normpath

import httpx
import pytest
from fastapi.testclient import TestClient

from attnscope.resources import static_dir


@pytest.fixture(scope="module")
def light():
    from attnscope.settings import Settings
    from attnscope_server.main import create_app

    with TestClient(create_app(Settings(load_at_start=False))) as c:
        yield c


def raw_get(c: TestClient, path: str, **headers) -> httpx.Response:
    """GET without decoding: the bytes on the wire and their headers."""
    with c.stream("GET", path, headers=headers) as r:
        r.wire = b"".join(r.iter_raw())
    return r


def test_scripts_styles_and_plotly_are_gzipped_for_browsers_that_accept_it(light):
    from attnscope_server.api.routes.pages import plotly_js_path

    for path, file in (("/static/js/app.js", static_dir() / "js" / "app.js"),
                       ("/static/css/style.css", static_dir() / "css" / "style.css"),
                       ("/vendor/plotly.min.js", plotly_js_path())):
        r = raw_get(light, path, **{"accept-encoding": "gzip, deflate, br"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", path
        assert gzip.decompress(r.wire) == file.read_bytes()
        assert "accept-encoding" in r.headers["vary"].lower() and r.headers["etag"]
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        if path.startswith("/vendor"):
            assert len(r.wire) < 0.4 * file.stat().st_size  # 1.5 of 4.8 MB
            assert "max-age=86400" in r.headers["cache-control"]
        else:
            assert r.headers["cache-control"] == "no-cache"  # revalidated: an updated script is seen at once
        again = raw_get(light, path, **{"accept-encoding": "gzip", "if-none-match": r.headers["etag"]})
        assert again.status_code == 304 and not again.wire


def test_clients_without_gzip_get_the_file_as_it_is(light):
    r = raw_get(light, "/static/js/app.js", **{"accept-encoding": "identity"})
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert r.wire == (static_dir() / "js" / "app.js").read_bytes()
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
    r = raw_get(light, "/static/favicon.svg", **{"accept-encoding": "gzip"})  # small files are not worth it
    assert r.status_code == 200 and r.wire.startswith(b"<svg") or gzip.decompress(r.wire).startswith(b"<svg")
    assert raw_get(light, "/static/js/nope.js", **{"accept-encoding": "gzip"}).status_code == 404


def test_the_page_hints_its_first_views_modules_and_loads_plotly_beside_them(light):
    """Cold load: Plotly is fetched at once but parsed only when drawn with (the first heatmap does not wait) and the
    view the URL names has its whole static import graph hinted, each hint a module the server serves."""
    for view, must in (("attention", {"views/attention.js", "views/attention_render.js", "kernel/load.js", "api.js"}),
                       ("steps", {"views/steps.js", "app.js", "limits.js", "classroom.js", "classroom_student.js"})):
        html = light.get(f"/?view={view}").text
        hinted = set(re.findall(r'<link rel="modulepreload" href="/static/js/([^"]+)">', html))
        assert must <= hinted, (view, must - hinted)
        for js in hinted:
            r = light.get(f"/static/js/{js}")
            assert r.status_code == 200 and "javascript" in r.headers["content-type"], js
        # every static import of every hinted module is hinted too (no waterfall left)
        for js in hinted:
            src = (static_dir() / "js" / js).read_text("utf-8")
            for dep in re.findall(r"""^(?:import|export)\s[^;]*?from\s+["'](\.{1,2}/[^"']+)["']""", src, re.M):
                assert normpath(join(dirname(js), dep)) in hinted, (js, dep)
    # Plotly is preloaded (fetched at once) but not a script of the page: vendor.js runs it when a view draws
    head = light.get("/").text.split("</head>")[0]
    assert '<link rel="preload" href="/vendor/plotly.min.js" as="script">' in head and "<script src=\"/vendor" not in head
    unknown = light.get("/?view=no-such-view").text  # an unknown view: the entry modules only
    assert "views/" not in "".join(re.findall(r'<link rel="modulepreload" href="([^"]+)">', unknown))
