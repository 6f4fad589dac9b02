"""A real redis-server on a free port (skipped only when the binary is absent outside CI) and app replicas."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_exe() -> str:
    """The redis-server binary; skips (outside CI) or fails (in CI) with a clear message when absent."""
    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: apt-get install -y redis-server (.ci/run does this)")
        pytest.skip("redis-server is not installed (apt-get install redis-server): Redis tests skipped")
    return exe


def start_redis(exe: str, port: int, d: Path) -> subprocess.Popen:
    """A real redis-server on 127.0.0.1:``port``, no persistence, ready to take commands."""
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("redis-server did not start in 20 s")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = free_port()
    proc = start_redis(redis_exe(), port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(request, tmp_path_factory):
    """A real uvicorn app process with its class sessions in memory, then one with them in a real Redis.
    Join look-ups: 40 wrong codes a minute per address (tests use their own X-Forwarded-For addresses)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    proc, base = start_replica(url, tmp_path_factory.mktemp("server") / "server.log",
                               ATTNSCOPE_CLASS_JOINS_PER_MINUTE="40")
    yield base
    stop(proc)


def start_replica(redis_url: str | None, log: Path, log_level: str = "warning",
                  **env_extra: str) -> tuple[subprocess.Popen, str]:
    """One app process (no models loaded: the class routes need none), sharing ``redis_url`` when given.
    With ``log_level="info"`` its log records each WebSocket it accepts (tests see which replica took whom)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ATTNSCOPE_LOAD_AT_START": "false", "ATTNSCOPE_CLASS_JOINS_PER_MINUTE": "10000", **env_extra}
    env.pop("ATTNSCOPE_REDIS_URL", None)
    if redis_url:
        env["ATTNSCOPE_REDIS_URL"] = redis_url
    f = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "attnscope_server.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", log_level, "--ws-max-size", "65536"],  # as the Dockerfile
                            cwd=ROOT, env=env,
                            stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"replica exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("replica did not start in 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def replicas(redis_url, tmp_path):
    procs = [start_replica(redis_url, tmp_path / f"replica{i}.log", "info") for i in range(2)]
    yield procs
    for p, _ in procs:
        if p.poll() is None:
            stop(p)
