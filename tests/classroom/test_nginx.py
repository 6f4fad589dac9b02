"""deploy/nginx.conf in the real Debian nginx, in front of two real app replicas and a real redis-server:
a class driven through the proxy (teacher and students over WebSocket via nginx, spread over both
replicas), then one replica killed: its students reconnect to the same nginx URL and catch up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.classroom.conftest import ROOT, free_port, stop
from tests.classroom.wsclient import Member
from tests.screens import shot

pytestmark = pytest.mark.timeout(300)
CONF = ROOT / "deploy" / "nginx.conf"


def nginx_exe() -> str:
    exe = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing in CI: apt-get install -y nginx-light (.ci/run does this)")
        pytest.skip("nginx is not installed (apt-get install nginx-light): the reverse-proxy test is skipped")
    return exe


def local_conf(upstreams: list[str], port: int, tmp: Path) -> str:
    """deploy/nginx.conf with its upstream servers replaced by ``upstreams`` and its port by ``port``;
    temp files and logs in ``tmp`` (the access log records which replica served each request)."""
    text = CONF.read_text()
    servers = re.findall(r"^\s*server app:8000[^;]*;\n", text, flags=re.M)
    assert len(servers) == 1, "deploy/nginx.conf's upstream should name the compose service app:8000"
    text = text.replace(servers[0], "".join(f"        server {u} max_fails=1 fail_timeout=10s;\n" for u in upstreams))
    assert "listen 8080;" in text
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    local = "".join(f"    {n}_temp_path {tmp / n};\n" for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    local += ("    log_format up '$request_uri $status $upstream_addr';\n"
              f"    access_log {tmp / 'access.log'} up;\n")
    return text.replace("http {\n", "http {\n" + local, 1)


@pytest.fixture
def proxy(replicas, tmp_path):
    exe = nginx_exe()
    port = free_port()
    ups = [u.removeprefix("http://") for _, u in replicas]
    conf = tmp_path / "nginx.conf"
    conf.write_text(local_conf(ups, port, tmp_path))
    glob = f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'} info;"
    check = subprocess.run([exe, "-t", "-p", str(tmp_path), "-c", str(conf), "-g", glob],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([exe, "-p", str(tmp_path), "-c", str(conf), "-g", glob],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"nginx did not start: {(tmp_path / 'error.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield base, replicas, tmp_path
    stop(proc)


def served_by(tmp: Path, code: str) -> set[str]:
    """The replica addresses nginx sent this class's WebSockets to (from the access log)."""
    lines = (tmp / "access.log").read_text().splitlines()
    return {ln.split()[2] for ln in lines if f"/api/class/{code}/ws" in ln}


def test_a_class_through_nginx_and_a_replica_killed_behind_it(proxy):
    base, replicas, tmp = proxy
    s = httpx.post(base + "/api/class", timeout=10).json()
    code = s["code"]
    assert s["join_url"] == f"{base}/c/{code}"  # the URL students get is the proxy's, not a replica's
    assert httpx.get(s["join_url"], timeout=10).headers["location"] == f"/?join={code}"
    t = Member(base, code, "teacher", "teacher-1", s["token"])
    studs = [Member(base, code, "student", f"student-{i:03d}") for i in range(10)]
    t.until("members", lambda m: m["count"] == 10)
    t.send({"type": "state", "state": {"view": "attention", "head": "2"}, "ts": 1.0})
    for w in studs:
        assert w.until("state")["state"] == {"view": "attention", "head": "2"}
    t.send({"type": "ask", "query": 0, "query_token": "it", "tokens": ["a", "b", "c", "d", "e"]})
    for i, w in enumerate(studs):
        w.until("ask")
        w.send({"type": "answer", "index": i % 5})
    t.until("tally", lambda m: m["answered"] == 10 and m["counts"] == [2] * 5)
    # the sockets' connections are logged when they close; check the spread after closing one of each
    for w in studs:
        w.close()
    studs = [Member(base, code, "student", f"student-{i:03d}") for i in range(10)]
    for w in studs:
        w.until("ask")
    time.sleep(0.5)
    spread = served_by(tmp, code)
    assert spread == {u.removeprefix("http://") for _, u in replicas}, f"round robin reached only {spread}"

    # one replica is killed mid-class: sockets through it break; reconnecting to the same URL reaches the other
    victim = replicas[1][0]
    victim.kill()
    victim.wait(timeout=10)
    broken, alive = [], []
    for w in studs:
        try:
            w.until("never", timeout=0.5)
        except AssertionError:  # nothing arrived and the socket is open: this student was on the live replica
            alive.append(w)
        except ConnectionClosed:  # this student was on the killed replica
            broken.append(w)
    assert broken and len(broken) + len(alive) == 10
    t.close()  # the teacher's page reconnects too (it may or may not have been on the killed replica)
    t = Member(base, code, "teacher", "teacher-1", s["token"])
    got = {m["type"]: m for m in (t.recv() for _ in range(4))}
    assert got["tally"]["counts"] == [2] * 5 and got["tally"]["answered"] == 10  # the answers survived
    t.send({"type": "state", "state": {"view": "steps", "head": "5"}, "ts": 2.0})
    back = [Member(base, code, "student", w.sid) for w in broken]  # same id, same URL: the page's reconnect
    for w in back:
        assert w.until("state")["state"] == {"view": "steps", "head": "5"}
        assert w.until("ask")["tokens"] == ["a", "b", "c", "d", "e"]
    for w in alive:
        assert w.until("state")["state"] == {"view": "steps", "head": "5"}
    t.until("members", lambda m: m["count"] == 10)
    first = int(back[0].sid[-3:]) % 5
    want = [2] * 5
    want[first] -= 1
    want[(first + 1) % 5] += 1
    back[0].send({"type": "answer", "index": (first + 1) % 5})  # a change of mind after the move: replaced
    t.until("tally", lambda m: m["counts"] == want and m["answered"] == 10)
    for w in [t, *alive, *back]:
        w.close()


@pytest.mark.browser
def test_browser_students_reconnect_through_nginx_when_their_replica_dies(proxy, browser):
    """The page's own reconnect logic (static/js/classroom.js): pages whose replica is killed reconnect to
    the same URL, reach the live replica through nginx and catch up with a change made while away."""
    base, replicas, tmp = proxy
    s = httpx.post(base + "/api/class", timeout=10).json()
    code = s["code"]
    t = Member(base, code, "teacher", "teacher-1", s["token"])
    t.send({"type": "state", "state": {"view": "positions", "head": "1"}, "ts": 1.0})
    ctxs, pages = [], []
    try:
        logs = [tmp / f"replica{i}.log" for i in range(2)]  # uvicorn logs each WebSocket it accepts
        t.until("members")  # the teacher is connected (and logged) before the students
        before = [lg.read_text().count(f"/api/class/{code}/ws") for lg in logs]
        on = lambda i: logs[i].read_text().count(f"/api/class/{code}/ws") - before[i]  # noqa: E731
        while len(pages) < 3 or not (on(0) > 0 and on(1) > 0):  # students on both replicas (≤ 12 pages)
            assert len(pages) < 12, "nginx never sent a student's socket to the second replica"
            ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            ctxs.append(ctx)
            pg = ctx.new_page()
            pg.goto(s["join_url"])
            pg.wait_for_function("() => (window.__classFollow.state || {}).head === '1'", timeout=60_000)
            pages.append(pg)
        t.until("members", lambda m: m["count"] == len(pages))
        time.sleep(0.5)
        victim = replicas[1][0]
        victim.kill()
        victim.wait(timeout=10)
        t.close()  # the teacher's page reconnects as well (wherever it was)
        t = Member(base, code, "teacher", "teacher-1", s["token"])
        t.recv()
        t.send({"type": "state", "state": {"view": "positions", "head": "7"}, "ts": 2.0})
        for pg in pages:
            pg.wait_for_function("() => (window.__classFollow.state || {}).head === '7'", timeout=30_000)
            pg.wait_for_function("() => document.querySelector('#class-status').textContent === 'following'",
                                 timeout=30_000)
        opens = [pg.evaluate("() => window.__classOpens") for pg in pages]
        assert sum(o >= 2 for o in opens) == on(1), (opens, on(1))  # exactly the pages on the killed one
        print("page connections:", opens, shot(pages[opens.index(max(opens))], "class_failover_phone.png"))
    finally:
        for c in ctxs:
            c.close()
        t.close()
