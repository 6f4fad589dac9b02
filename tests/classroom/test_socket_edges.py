"""The class socket's edges, found by probing (issue 25): non-finite clocks, binary frames, foreign origins.

Against a real uvicorn process, sessions in memory and in a real Redis (the ``server`` fixture)."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from tests.classroom.wsclient import Member, ws_url

pytestmark = pytest.mark.timeout(120)


def start(base: str) -> dict:
    r = httpx.post(base + "/api/class", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_non_finite_clock_is_refused_and_students_only_get_valid_json(server):
    s = start(server)
    with Member(server, s["code"], "teacher", "teacher-1", token=s["token"]) as t, \
            Member(server, s["code"], "student", "student-1") as st:
        for bad in ("NaN", "Infinity", "-Infinity", "1e999"):
            t.ws.send('{"type": "state", "state": {"view": "attention"}, "ts": %s}' % bad)
            assert "finite" in t.until("error")["detail"]
        t.send({"type": "state", "state": {"view": "heads"}, "ts": 1234.5})
        m = st.until("state", lambda m: m["state"].get("view") == "heads")
        assert m["ts"] == 1234.5
        for raw in st.frames:  # every frame a student got parses as strict JSON (no NaN / Infinity)
            json.loads(raw, parse_constant=lambda c: pytest.fail(f"{c} reached a student: {raw}"))


@pytest.mark.parametrize("payload", [b'{"type": "hello"}', b"\xff\xfe not utf-8"])
def test_a_binary_frame_closes_with_1003_unsupported_data(server, payload):
    s = start(server)
    with Member(server, s["code"]) as w:  # before the hello
        w.ws.send(payload)
        assert w.closed() == (1003, "unsupported data: send JSON in text frames")
    with Member(server, s["code"], "student", "student-2") as w:  # after it
        w.ws.send(payload)
        assert w.closed()[0] == 1003


def hello_from(base: str, code: str, token: str, origin: str | None) -> tuple[int, str] | None:
    """Open a teacher socket with ``origin``; the close (code, reason), or None when it was accepted."""
    headers = {"Origin": origin} if origin else None
    with connect(ws_url(base, code), open_timeout=10, additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "hello", "role": "teacher", "sid": "teacher-origin", "token": token}))
        try:
            first = json.loads(ws.recv(timeout=10))
        except Exception:
            return ws.close_code, ws.close_reason
        assert first["type"] in ("members", "state", "ask", "tally")
        return None


def test_the_teacher_socket_accepts_its_own_origin_only(server):
    s = start(server)
    code, token = s["code"], s["token"]
    host = server.split("://", 1)[1]
    assert hello_from(server, code, token, f"http://{host}") is None  # the page this server served
    assert hello_from(server, code, token, None) is None  # not a browser (scripts, these tests)
    closed = hello_from(server, code, token, "https://evil.example")
    assert closed is not None and closed[0] == 4403 and "may not teach" in closed[1]
    # students are not refused by origin (phones open the join link on this host anyway)
    with connect(ws_url(server, code), open_timeout=10, additional_headers={"Origin": "https://other.example"}) as ws:
        ws.send(json.dumps({"type": "hello", "role": "student", "sid": "student-origin"}))
        ws.send(json.dumps({"type": "answer", "index": 0}))
        m = json.loads(ws.recv(timeout=10))
        assert m["type"] == "error" and "no open question" in m["detail"]  # served, not closed
