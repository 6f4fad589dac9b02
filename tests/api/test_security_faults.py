"""Security headers everywhere, no remote code, and a broken model that does not take the app down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/models", "/static/js/app.js", "/docs", "/openapi.json",
                                  "/vendor/plotly.min.js", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'") and "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_templates_have_no_inline_scripts_or_handlers():
    import re

    for page in (ROOT / "templates").rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page  # every script is a file
        assert not re.search(r"\son[a-z]+\s*=", html), page  # no onclick= etc.


def test_loader_never_trusts_remote_code_and_always_asks_for_eager(monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    from attnscope.inspection.adapters.hf import load_pretrained

    calls = []

    def fake(name):
        def from_pretrained(source, **kwargs):
            calls.append((name, source, kwargs))
            raise RuntimeError("stop here")
        return from_pretrained

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", fake("tokenizer"))
    monkeypatch.setattr(AutoModel, "from_pretrained", fake("model"))
    with pytest.raises(RuntimeError):
        load_pretrained("some/hub-id", AutoModel)
    assert calls and all(kw.get("trust_remote_code") is False for _, _, kw in calls)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    with pytest.raises(RuntimeError):
        load_pretrained("some/hub-id", AutoModel)
    model_kwargs = [kw for name, _, kw in calls if name == "model"][0]
    assert model_kwargs["attn_implementation"] == "eager"
    assert "trust_remote_code=True" not in "".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))


@pytest.mark.slow
def test_a_broken_model_is_named_failed_and_the_others_still_work(tmp_path, browser):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "ATTNSCOPE_MODELS": json.dumps([
               {"id": "textbook", "source": "builtin:textbook", "family": "textbook"},
               {"id": "broken", "source": str(broken), "family": "bert"},
               {"id": "missing", "source": str(tmp_path / "nowhere"), "family": "bert"}])}
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        status = {}
        for _ in range(300):
            try:
                status = httpx.get(base + "/healthz", timeout=2).json()["models"]
                if all(v != "not loaded" for v in status.values()):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert status["textbook"] == "loaded"
        assert status["broken"].startswith("failed: ") and status["missing"].startswith("failed: ")
        assert str(tmp_path) not in json.dumps(status)  # no server paths in what the page shows
        models = {m["id"]: m for m in httpx.get(base + "/api/models", timeout=30).json()["models"]}
        assert models["broken"]["status"] == "failed" and models["broken"]["error"]
        r = httpx.post(base + "/api/attention", json={"model": "broken", "text": "hello"}, timeout=30)
        assert r.status_code == 503 and "failed to load" in r.json()["detail"]
        r = httpx.post(base + "/api/translate", json={"model": "textbook", "text": "je suis étudiant"}, timeout=30)
        assert r.status_code == 200 and r.json()["text"] == "i am a student"
        page = browser.new_page()  # the page says so, and keeps working with the healthy model
        page.goto(base + "/?view=attention&model=textbook&text=je+suis+%C3%A9tudiant")
        page.wait_for_selector("#global-error:not([hidden])", timeout=30_000)
        assert "broken" in page.text_content("#global-error")
        page.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length === 3",
                               timeout=60_000)
        assert page.is_disabled("#model option[value=broken]")
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
