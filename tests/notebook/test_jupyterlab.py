"""The notebook outputs in a real JupyterLab 4 and Notebook 7, driven in headless Chromium, offline.

JupyterLab runs the notebook from its own Run menu (the outputs arrive from the kernel over the websocket); the
same notebook, executed by nbclient and signed with ``jupyter trust``, opens drawn in Notebook 7; an unsigned copy
shows the placeholder, whose advice (Command Palette → Trust Notebook) is followed and draws it. Each figure's
canvases hold a picture, a hovered cell shows the model's own ``output_attentions`` weight (to 1/255), and the
head view's layer select (by value and by keyboard) changes the caption and the hovered weight. The servers, their
kernels, settings and notebooks live in temporary folders; the servers stop at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from tests.conftest import ROOT, free_port
from tests.notebook.test_bertviz_fixes import caption, hover_weight
from tests.screens import shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]
TEXT = "The animal didn't cross the street because it was too tired"
README = "The cat sat on the mat"
STEP = 0.5 / 255 + 1e-6
TOKEN = secrets.token_hex(16)
CELLS = [
    "import attnscope\nfrom transformers import AutoModel, AutoTokenizer\n\n"
    "name = attnscope.example_model()\n"
    "model = AutoModel.from_pretrained(name, attn_implementation=\"eager\").eval()\n"
    "tok = AutoTokenizer.from_pretrained(name)",
    f"attnscope.show(model, tok, {TEXT!r})",
    "from attnscope import head_view, model_view\n\n"
    f"inputs = tok.encode({README!r}, return_tensors=\"pt\")\n"
    "outputs = model(inputs, output_attentions=True)\n"
    "tokens = tok.convert_ids_to_tokens(inputs[0])",
    "head_view(outputs[-1], tokens)",
    "model_view(outputs[-1], tokens)",
]
ACTIVE_CELL = "[...document.querySelectorAll('.jp-Cell')].findIndex(c => c.classList.contains('jp-mod-active'))"
# every canvas of the outputs: how many colours it holds (a blank canvas holds one, or none)
COLOURS = """root => [...root.querySelectorAll('canvas')].map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
  for (let i = 0; i < d.length; i += 4) if (d[i + 3]) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
  return seen.size; })"""


def new_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """(notebook folder, environment): Jupyter's config, data (the signing key), runtime and JupyterLab's settings
    in a temporary home; kernels are this venv's python with the checkout on the path, offline."""
    home = tmp_path_factory.mktemp("jupyter-home")
    root = tmp_path_factory.mktemp("jupyter-notebooks")
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))  # no news toast
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"), "IPYTHONDIR": str(home / "ipython")}
    import nbformat

    nbformat.write(new_notebook(), root / "bertviz.ipynb")  # run from JupyterLab's menu
    return root, env


@pytest.fixture(scope="module")
def executed(jupyter):
    """The same notebook executed by nbclient and signed with ``jupyter trust``; an unsigned copy beside it."""
    import nbformat
    from nbclient import NotebookClient

    root, env = jupyter
    nb = new_notebook()
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(root)}}).execute(env=env)
    nbformat.write(nb, root / "trusted.ipynb")
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(root / "trusted.ipynb")], env=env, check=True,
                   capture_output=True, timeout=60)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("An unsigned copy: its outputs wait for trust."))
    nbformat.write(nb, root / "untrusted.ipynb")
    return root


@contextmanager
def jupyter_server(app: str, root: Path, env: dict, log: Path):
    """``python -m jupyterlab`` or ``python -m notebook`` on a free port, offline; yields its URL, stops it after."""
    port = free_port()
    offline = ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    args = [sys.executable, "-m", app, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", *offline]
    if os.geteuid() == 0:  # CI containers run as root
        args.append("--allow-root")
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{app} exited: {log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start in 90 s: {log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()  # jupyter_server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(jupyter, tmp_path_factory):
    root, env = jupyter
    with jupyter_server("jupyterlab", root, env, tmp_path_factory.mktemp("lab-log") / "lab.log") as url:
        yield url


@pytest.fixture(scope="module")
def notebook7(executed, jupyter, tmp_path_factory):
    root, env = jupyter
    with jupyter_server("notebook", root, env, tmp_path_factory.mktemp("nb7-log") / "notebook.log") as url:
        yield url


@pytest.fixture(scope="module")
def expected(minilm_dir):
    """The model's own ``output_attentions`` (L, H, T, T) for the show() sentence and for bertviz's README input."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(minilm_dir, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    with torch.no_grad():
        shown = model(**tok(TEXT, return_tensors="pt"), output_attentions=True).attentions
        readme = model(tok.encode(README, return_tensors="pt"), output_attentions=True).attentions
    return torch.stack(shown)[:, 0].numpy(), torch.stack(readme)[:, 0].numpy()


@pytest.fixture
def jpage(browser):
    """A page that records JavaScript errors and every request."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.errors, pg.requests = [], []
    pg.on("pageerror", lambda e: pg.errors.append(f"{e}\n{e.stack}"))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("request", lambda r: pg.requests.append(r.url))
    yield pg
    ctx.close()


def outputs_drawn(page, n: int, timeout: float = 120_000):
    """The page's ``n`` AttnScope outputs once all are drawn (a screenshot of the page if they are not)."""
    try:
        page.wait_for_function("n => document.querySelectorAll('.attnscope-output[data-ready]').length >= n", arg=n,
                               timeout=timeout)
    except Exception:
        shot(page, "jupyter-not-drawn.png", full_page=True)
        raise
    outs = page.locator(".attnscope-output")
    assert outs.count() == n
    return [outs.nth(k) for k in range(n)]


def check_figures(page, outs, expected):
    """Pictures in every canvas, and hovers that show the model's own weights (layer 1, head 1 is drawn first)."""
    shown, readme = expected
    assert [o.get_attribute("data-view") for o in outs] == ["attention", "attention", "model"]
    assert [o.get_attribute("data-error") for o in outs] == [None, None, None]
    assert outs[2].get_attribute("data-drawn") == "72"  # 6 layers x 12 heads of MiniLM
    for o in outs:
        colours = o.evaluate(COLOURS)
        assert len(colours) > 1 and min(colours) > 1, colours
        assert max(colours) > 10  # the big heatmap
    T = shown.shape[-1]
    assert caption(outs[0]).startswith(f"encoder self-attention · layer 1 · head 1 · {T} × {T} tokens")
    assert abs(hover_weight(page, outs[0], 6, 2) - shown[0, 0, 6, 2]) <= STEP  # "cross" -> "animal"
    for o in outs[1:]:
        assert caption(o).startswith("encoder self-attention · layer 1 · head 1 · 8 × 8 tokens")
        assert abs(hover_weight(page, o, 3, 2) - readme[0, 0, 3, 2]) <= STEP  # "sat" -> "cat"


def wait_caption(output, text: str):
    output.page.wait_for_function("([el, t]) => el.querySelector('p').textContent.includes(t)",
                                  arg=[output.element_handle(), text], timeout=10_000)


def kernel_idle(page):
    """Wait until the notebook's kernel has started and connected: the status bar says "Python 3 (ipykernel) | Idle".
    Before that, Run All leaves the cells unrun, and the notebook taking focus closes a command palette opened."""
    page.wait_for_function("() => /Python 3 \\(ipykernel\\) \\| Idle/.test("
                           "document.getElementById('jp-main-statusbar')?.textContent || '')", timeout=90_000)


def notebook7_own(error: str) -> bool:
    """Notebook 7.6's settings registry throws this on every notebook page, before any cell runs (its core bundle
    alone in the stack; github.com/gilad-rubin/hypster/issues/108 met it too)."""
    message, _, stack = error.partition("\n")
    frames = [ln for ln in stack.splitlines()[1:] if ln.strip().startswith("at ")]
    return (message == "Cannot read properties of undefined (reading 'schema')" and bool(frames)
            and all("/static/notebook/notebook_core." in ln or "Promise.all" in ln for ln in frames))


def only_local(page, url: str, notebook7: bool = False):
    """No JavaScript error (Notebook 7's own settings error aside) and no request beyond the server."""
    assert [e for e in page.errors if not (notebook7 and notebook7_own(e))] == []
    outside = [u for u in page.requests if not u.startswith((url, "data:", "blob:"))]
    assert outside == []


def test_jupyterlab_runs_the_notebook_and_its_figures_draw_hover_and_follow_the_layer_select(lab, jpage, expected):
    _, readme = expected
    jpage.goto(f"{lab}/lab/workspaces/run-all/tree/bertviz.ipynb?token={TOKEN}")  # a workspace of its own
    kernel_idle(jpage)  # Run All before that leaves the cells unrun
    jpage.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    jpage.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    outs = outputs_drawn(jpage, 3)
    check_figures(jpage, outs, expected)
    outs[0].scroll_into_view_if_needed()
    shot(jpage, "jupyterlab-show.png")  # attnscope.show's figure, hovered

    head = outs[1]
    i, j = 3, 2
    layer = head.locator("select").first
    assert layer.select_option("2") == ["2"]  # layer 2, chosen by its value (the text it shows)
    wait_caption(head, "layer 2 · head 1 ·")
    w2 = hover_weight(jpage, head, i, j)
    assert abs(w2 - readme[1, 0, i, j]) <= STEP and abs(readme[1, 0, i, j] - readme[0, 0, i, j]) > 2 * STEP
    layer.focus()
    active = jpage.evaluate(ACTIVE_CELL)
    jpage.keyboard.press("ArrowDown")  # reaches the select, not JupyterLab's "select the cell below"
    wait_caption(head, "layer 3 · head 1 ·")
    assert jpage.evaluate(ACTIVE_CELL) == active
    assert abs(hover_weight(jpage, head, i, j) - readme[2, 0, i, j]) <= STEP

    model = outs[2]
    model.locator("canvas[data-layer='4'][data-head='7']").click()
    wait_caption(model, "layer 5 · head 8 ·")
    assert abs(hover_weight(jpage, model, i, j) - readme[4, 7, i, j]) <= STEP
    head.scroll_into_view_if_needed()
    shot(jpage, "jupyterlab-bertviz.png")
    only_local(jpage, lab)


def test_jupyterlab_untrusted_placeholder_says_how_and_trusting_draws(lab, executed, jpage, expected):
    jpage.goto(f"{lab}/lab/workspaces/trust/tree/untrusted.ipynb?token={TOKEN}")
    placeholder = jpage.locator(".jp-OutputArea-output", has_text="Command Palette → Trust Notebook")
    placeholder.first.wait_for(timeout=60_000)
    # JupyterLab renders the outputs cell by cell: wait for all three, not only the first to arrive
    jpage.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')].filter("
                            "o => o.textContent.includes('Command Palette → Trust Notebook')).length >= 3",
                            timeout=60_000)
    assert placeholder.count() == 3 and "jupyter trust NOTEBOOK.ipynb" in placeholder.first.text_content()
    kernel_idle(jpage)
    jpage.locator(".lm-MenuBar-itemLabel", has_text="View").first.click()  # the placeholder's advice, followed
    jpage.locator(".lm-Menu-itemLabel").get_by_text("Activate Command Palette", exact=True).click()
    jpage.locator(".lm-CommandPalette-input").fill("Trust Notebook")
    jpage.locator(".lm-CommandPalette-item", has_text="Trust Notebook").first.click()
    jpage.locator(".jp-Dialog button", has_text="Trust").click()
    check_figures(jpage, outputs_drawn(jpage, 3, timeout=30_000), expected)
    only_local(jpage, lab)


def test_notebook7_opens_the_trusted_notebook_drawn(notebook7, jpage, expected):
    jpage.goto(f"{notebook7}/tree?token={TOKEN}")
    jpage.locator(".jp-DirListing-item").get_by_text("trusted.ipynb", exact=True).wait_for(timeout=60_000)
    jpage.goto(f"{notebook7}/notebooks/trusted.ipynb?token={TOKEN}")
    outs = outputs_drawn(jpage, 3, timeout=60_000)
    check_figures(jpage, outs, expected)
    layer = outs[1].locator("select").first
    layer.select_option("4")
    wait_caption(outs[1], "layer 4 · head 1 ·")
    assert abs(hover_weight(jpage, outs[1], 3, 2) - expected[1][3, 0, 3, 2]) <= STEP
    shot(jpage, "notebook7-bertviz.png")
    only_local(jpage, notebook7, notebook7=True)
