"""docs/notebook.ipynb runs in a real Jupyter kernel (the project's venv) and its figures draw offline in Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.screens import shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"
KERNEL = "attnscope-venv"


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """A kernelspec under the venv's prefix whose interpreter is this venv's python (ipykernel's own installer)."""
    from jupyter_client.kernelspec import KernelSpecManager

    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
                    "--display-name", "AttnScope (project venv)"], check=True, capture_output=True, timeout=120)
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    return KERNEL


@pytest.fixture(scope="session")
def executed(kernel_name, tmp_path_factory):
    """docs/notebook.ipynb executed with nbclient in a scratch directory: (notebook, directory)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    work = tmp_path_factory.mktemp("notebook")
    # the kernel imports this checkout's attnscope and app, offline
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    NotebookClient(nb, kernel_name=kernel_name, timeout=300, resources={"metadata": {"path": str(work)}}).execute(env=env)
    return nb, work


def outputs_page(nb) -> str:
    """The executed notebook as one HTML page: each cell's source, then its outputs (HTML as is, text escaped)."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>AttnScope notebook</title></head>"
             "<body style='font:14px system-ui,sans-serif;margin:1.5rem;max-width:1100px'>"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f"<div style='white-space:pre-wrap;margin:1rem 0 .3rem'>{html.escape(cell.source)}</div>")
            continue
        parts.append(f"<pre style='background:#f3f4f7;padding:.5rem'>{html.escape(cell.source)}</pre>")
        for out in cell.outputs:
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(f"<div class='output'>{data['text/html']}</div>")
            elif "text/plain" in data:
                parts.append(f"<pre class='output'>{html.escape(data['text/plain'])}</pre>")
            elif out.output_type == "stream" and out.name == "stdout":  # stderr: transformers' progress bars
                parts.append(f"<pre class='output'>{html.escape(out.text)}</pre>")
            elif out.output_type == "error":
                parts.append(f"<pre class='output error'>{html.escape(out.ename + ': ' + out.evalue)}</pre>")
    return "\n".join(parts) + "</body></html>"


def embedded(fragment: str) -> dict:
    """The data an output embeds (the JSON script beside its div)."""
    m = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', fragment, re.S)
    assert m, "the output embeds no data"
    return json.loads(m.group(1))


def test_the_notebook_runs_and_draws_offline_in_chromium(executed, browser):
    from attnscope._html import unpack

    nb, work = executed
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    figures = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})
               and "attnscope-output" in o["data"]["text/html"]]
    assert len(figures) == 4  # attention, model, steps, head_view
    for f in figures:  # nothing to load: no src= or href=, no URL, no AMD loader (base64 has no ':' or '(')
        assert not re.search(r"\b(src|href)=|https?:|require\(|define\(", f)
    saved = work / "attention.html"
    assert saved.is_file() and saved.stat().st_size < 300_000
    frame = [c for c in nb.cells if "to_dataframe" in c.source][0]
    assert "weight" in frame.outputs[0]["data"]["text/plain"]

    page_file = work / "notebook.html"
    page_file.write_text(outputs_page(nb), encoding="utf-8")
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    requests, blocked, errs = [], [], []
    pg.on("pageerror", lambda e: errs.append(str(e)))
    pg.on("console", lambda m: errs.append(m.text) if m.type == "error" else None)
    pg.on("request", lambda r: requests.append(r.url))

    def local_only(route):
        url = route.request.url
        if url.startswith("file://") or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    pg.route("**/*", local_only)
    try:
        pg.goto(page_file.as_uri())
        pg.wait_for_function("() => [...document.querySelectorAll('.attnscope-output')].every(e => e.dataset.ready)",
                             timeout=60_000)
        roots = pg.evaluate("() => [...document.querySelectorAll('.attnscope-output')].map(e => "
                            "({view: e.dataset.view, drawn: +e.dataset.drawn, error: e.dataset.error || ''}))")
        assert [r["view"] for r in roots] == ["attention", "model", "steps", "attention"]
        assert all(not r["error"] for r in roots)
        assert roots[1]["drawn"] == 72 and roots[0]["drawn"] == 12
        # every canvas holds a picture: more than one colour in it
        flat = pg.evaluate("""() => [...document.querySelectorAll('.attnscope-output canvas')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
            return seen.size; })""")
        assert len(flat) >= 12 + 1 + 72 + 1 + 2 + 12 + 1 and min(flat) > 1
        # hovering a cell of the first figure's heatmap shows that cell's weight
        hm = pg.locator(".attnscope-output").first.locator("canvas.attnscope-heatmap")
        hm.scroll_into_view_if_needed()
        box = hm.bounding_box()
        geo = hm.evaluate("c => ({left: +c.dataset.left, top: +c.dataset.top, cell: +c.dataset.cell})")
        i, j = 6, 2  # query "cross" -> key "animal"
        pg.mouse.move(box["x"] + geo["left"] + (j + 0.5) * geo["cell"], box["y"] + geo["top"] + (i + 0.5) * geo["cell"])
        tip = pg.locator(".attnscope-output").first.locator(".attnscope-tip")
        tip.wait_for(state="visible", timeout=5000)
        text = tip.text_content()
        data = embedded(figures[0])
        w = unpack(data["blocks"][0]["weights"])[2, 0, i, j]  # the cell shows layer 3 (index 2), head 1
        assert re.search(r"weight (\d\.\d{3})", text) and abs(float(re.search(r"weight (\d\.\d{3})", text)[1]) - w) < 6e-4
        assert data["blocks"][0]["q"][i] == "cross" and data["blocks"][0]["k"][j] == "animal"
        assert text.startswith("cross → animal")
        shot(pg, "notebook-full.png", full_page=True)
        pg.evaluate("window.scrollTo(0, document.querySelector('.attnscope-output').getBoundingClientRect().top"
                    " + window.scrollY - 130)")
        shot(pg, "notebook.png")  # the README's picture: the first screen
    finally:
        ctx.close()
    assert blocked == []
    assert all(u.startswith(("file://", "data:", "blob:")) for u in requests), requests
    assert errs == []
