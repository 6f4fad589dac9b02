"""The front end's kernel (static/js/kernel: the observable store, load(), declared controls) and its colour
scales, unit-tested in node's own test runner (tests/js/*.test.mjs); `make test` runs them through this test."""

from __future__ import annotations

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
