"""attnscope._html.js_bundle: several static/js modules inlined as one classic script."""

from __future__ import annotations

import pytest

from attnscope import _html


@pytest.fixture
def js_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(_html, "_JS_DIRS", (tmp_path,))
    _html._js_bundle.cache_clear()
    _html._js_source.cache_clear()
    yield tmp_path
    _html._js_bundle.cache_clear()
    _html._js_source.cache_clear()


def test_an_import_of_an_earlier_file_is_dropped(js_dir):
    (js_dir / "a.js").write_text("export const A = 1;\nexport function f() { return A; }\n")
    (js_dir / "b.js").write_text('import {\n  A,\n  f,\n} from "./a.js";\nexport { A };\nexport class B {}\nconst b = f() + A;\n')
    (js_dir / "c.js").write_text('import { B } from "../b.js";\nexport async function c() { return new B(); }\n')
    out = _html.js_bundle(["a.js", "b.js", "c.js"])
    assert "import" not in out and "export" not in out
    assert out.index("const A = 1;") < out.index("class B {}") < out.index("async function c()")
    assert "const b = f() + A;" in out


def test_a_foreign_or_later_import_is_refused(js_dir):
    (js_dir / "a.js").write_text('import { get } from "./api.js";\nexport const A = get;\n')
    (js_dir / "b.js").write_text('import { A } from "./a.js";\nexport const B = A;\n')
    (js_dir / "c.js").write_text('import * as d from "./d.js";\nexport const C = d.D;\n')
    (js_dir / "d.js").write_text("export const D = 1;\n")
    with pytest.raises(RuntimeError, match="api.js"):
        _html.js_bundle(["a.js"])
    with pytest.raises(RuntimeError, match="a.js"):
        _html.js_bundle(["b.js", "a.js"])  # a.js comes after the file that imports it
    with pytest.raises(RuntimeError):
        _html.js_bundle(["d.js", "c.js"])  # a namespace import is not dropped, even of a file in the bundle
    with pytest.raises(RuntimeError):
        _html.js_source("b.js")  # js_source still refuses every import


def test_the_long_view_bundle_has_no_module_syntax_left():
    out = _html.js_bundle(["heatmap.js", "longzoom.js", "notebook_long_zoom.js", "notebook_long.js"])
    assert "\nimport " not in out and "\nexport " not in out and not out.startswith(("import", "export"))
    assert "function mountLong(" in out and "class ZoomBase" in out
