"""The page greys out a view a model cannot serve, and says why (capabilities from /api/models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT, free_port
from tests.inspect import family_fixtures as ff
from tests.screens import shot


@pytest.fixture(scope="module")
def family_server(tmp_path_factory):
    """A server with the textbook model, a tiny DeBERTa-v2 (attention only) and a tiny T5 from local folders."""
    root = tmp_path_factory.mktemp("family-models")
    for fam in ("deberta-v2", "t5"):
        model, tok = ff.build(fam)
        model.save_pretrained(root / fam)
        tok.save_pretrained(root / fam)
    models = [{"id": "textbook", "name": "Textbook", "source": "builtin:textbook", "family": "textbook"},
              {"id": "tiny-deberta", "name": "tiny DeBERTa-v2", "source": str(root / "deberta-v2")},
              {"id": "tiny-t5", "name": "tiny T5", "source": str(root / "t5")}]
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ATTNSCOPE_MODELS": json.dumps(models)}
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_views_grey_out_models_that_cannot_serve_them(browser, family_server):
    deadline = time.monotonic() + 120
    while True:  # models load in the background: wait until every one has settled (a busy machine is slow)
        models = {m["id"]: m for m in httpx.get(family_server + "/api/models", timeout=60).json()["models"]}
        if all(m["status"] == "loaded" for m in models.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert models["tiny-deberta"]["capabilities"]["steps"] is False
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(family_server + "/?view=steps")
        note = page.locator("#steps-model-unavailable")
        note.wait_for(timeout=30_000)
        assert "tiny DeBERTa-v2" in note.inner_text() and "not q·k" in note.inner_text()
        option = page.locator("#steps-model option[value='tiny-deberta']")
        assert option.is_disabled() and "not q·k" in option.get_attribute("title")
        assert not page.locator("#steps-model option[value='tiny-t5']").is_disabled()  # T5 offers steps
        shot(page, "families-steps-greyed.png", full_page=False)
        page.goto(family_server + "/?view=generate")
        gen_note = page.locator("#gen-model-unavailable")
        gen_note.wait_for(timeout=30_000)
        assert "tiny T5" in gen_note.inner_text() and "seq2seq" in gen_note.inner_text()
        assert not page.locator("#gen-model option[value='textbook']").is_disabled()
        shot(page, "families-generate-greyed.png", full_page=False)
        page.goto(family_server + "/?view=heads&model=tiny-deberta")
        expect(page.locator("#hd-model")).to_have_value("tiny-deberta", timeout=30_000)
        expect(page.locator("#hd-ablate-run")).to_be_disabled(timeout=30_000)
        assert "not q·k" in page.locator("#hd-ablate-run").get_attribute("title")
        assert "not available for tiny DeBERTa-v2" in page.locator("#hd-ablate-unavailable").inner_text()
        page.locator("#hd-ablate-panel").scroll_into_view_if_needed()
        shot(page, "families-heads-ablate-greyed.png", full_page=False)
        page.goto(family_server + "/?view=heads&model=tiny-t5")  # T5 offers ablation: the button is back
        expect(page.locator("#hd-model")).to_have_value("tiny-t5", timeout=30_000)
        expect(page.locator("#hd-ablate-run")).to_be_enabled(timeout=30_000)
        assert page.locator("#hd-ablate-unavailable").count() == 0
        assert not errors
    finally:
        ctx.close()
