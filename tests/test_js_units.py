"""The front end's kernel (static/js/kernel: the observable store, load(), declared controls) and its colour
scales, unit-tested in node's own test runner (tests/js/*.test.mjs); `make test` runs them through this test."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import ROOT


def test_js_kernel_unit_tests_pass():
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is not installed: .ci/run installs Debian's nodejs package"
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert len(files) >= 4
    run = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_no_front_end_module_over_300_lines():
    """Small modules, one job each: a view is its mount and loading, its render functions, its panels."""
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "static" / "js").rglob("*.js"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert long == {}, f"modules over 300 lines: {long}"


def test_every_view_uses_the_kernel_and_one_wire_format_for_attention():
    """No view keeps its own fetch cache or AbortController (load() does; a stream client, *_stream.js, aborts its
    own stream), and /api/attention is always asked for as binary (apiBinary), never as JSON lists or base64."""
    js = {p: p.read_text(encoding="utf-8") for p in (ROOT / "static" / "js").rglob("*.js")
          if "kernel" not in p.parts and p.name not in ("api.js",)}
    own_abort = sorted(str(p.relative_to(ROOT)) for p, s in js.items() if "new AbortController" in s and not p.name.endswith("_stream.js"))
    assert own_abort == [], f"modules with their own abort logic (use kernel/load.js): {own_abort}"
    plain = sorted(str(p.relative_to(ROOT)) for p, s in js.items()
                   if re.search(r"""(?<!apiBinary)\(\s*["'`]/api/attention["'`]""", s))
    assert plain == [], f"/api/attention fetched without apiBinary: {plain}"
