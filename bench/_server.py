"""What the benches share: a free port and a real uvicorn server, started and stopped around a bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(preload: str = '["minilm"]', **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A uvicorn server of the app on a free port (models in ``preload`` loaded); yields (base URL, process)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "ATTNSCOPE_PRELOAD": preload, **env}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--port", str(port),
                               "--log-level", "warning"], cwd=ROOT, env=full_env)
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=20)
