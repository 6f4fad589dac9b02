"""Live class over the in-memory store: start, join, follow, answer, reveal, and the security limits."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.core.config import Settings
from app.main import create_app


@pytest.fixture(params=["memory", "redis"])
def cc(request):
    """The app with its class sessions in memory, then the same tests with them in a real Redis."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    app = create_app(Settings(load_at_start=False, class_joins_per_minute=40, redis_url=url))
    with TestClient(app) as c:
        yield c


def hello(ws, role, sid, token=None):
    ws.send_json({"type": "hello", "role": role, "sid": sid, "token": token})


def until(ws, kind, pred=lambda m: True, limit=30):
    for _ in range(limit):
        m = ws.receive_json()
        if m["type"] == kind and pred(m):
            return m
    raise AssertionError(f"no {kind} message")


def test_start_join_follow_answer_reveal(cc):
    r = cc.post("/api/class")
    assert r.status_code == 200
    s = r.json()
    code, token = s["code"], s["token"]
    assert len(code) == 6 and s["join_url"].endswith(f"/c/{code}")
    qr = cc.get(s["qr"])
    assert qr.headers["content-type"].startswith("image/svg+xml") and b"<svg" in qr.content
    j = cc.get(f"/c/{code}", follow_redirects=False)
    assert j.status_code == 303 and j.headers["location"] == f"/?join={code}"
    assert cc.get(f"/join?code={code.lower()}", follow_redirects=False).status_code == 303
    with cc.websocket_connect(f"/api/class/{code}/ws") as t, \
            cc.websocket_connect(f"/api/class/{code}/ws") as a, \
            cc.websocket_connect(f"/api/class/{code}/ws") as b:
        hello(t, "teacher", "teacher-1", token)
        hello(a, "student", "student-a")
        hello(b, "student", "student-b")
        assert until(t, "members", lambda m: m["count"] == 2)["count"] == 2
        t.send_json({"type": "state", "state": {"view": "attention", "model": "minilm", "layer": "2",
                                                "evil": "x"}, "ts": 1.0})
        for ws in (a, b):
            m = until(ws, "state")
            assert m["state"] == {"view": "attention", "model": "minilm", "layer": "2"} and m["ts"] == 1.0
        t.send_json({"type": "ask", "query": 1, "query_token": "it", "tokens": ["[CLS]", "it", "<b>x</b>"]})
        for ws in (a, b):
            assert until(ws, "ask")["tokens"][2] == "<b>x</b>"
        a.send_json({"type": "answer", "index": 2})
        b.send_json({"type": "answer", "index": 0})
        b.send_json({"type": "answer", "index": 2})  # a change of mind counts once
        m = until(t, "tally", lambda m: m["answered"] == 2 and m["counts"] == [0, 0, 2])
        # a student cannot drive the class or reveal: those messages fail validation
        a.send_json({"type": "reveal", "weights": [0.1, 0.1, 0.8]})
        assert until(a, "error")["detail"]
        t.send_json({"type": "reveal", "weights": [0.1, 0.2, 0.7]})
        r = until(b, "reveal")
        assert r["top"] == 2 and r["top_count"] == 2 and r["answered"] == 2 and r["counts"] == [0, 0, 2]
        t.send_json({"type": "reset"})
        assert until(a, "reset")
    for _ in range(25):  # leaving is recorded as each socket's handler ends
        if cc.get(f"/api/class/{code}").json()["members"] == 0:
            break
        time.sleep(0.2)
    assert cc.get(f"/api/class/{code}").json()["members"] == 0


def test_reconnect_catches_up(cc):
    s = cc.post("/api/class").json()
    code = s["code"]
    with cc.websocket_connect(f"/api/class/{code}/ws") as t:
        hello(t, "teacher", "teacher-1", s["token"])
        t.send_json({"type": "state", "state": {"view": "steps", "head": "3"}, "ts": 5.0})
        t.send_json({"type": "ask", "query": 0, "query_token": "a", "tokens": ["a", "b"]})
        with cc.websocket_connect(f"/api/class/{code}/ws") as a:
            hello(a, "student", "student-a")
            a.send_json({"type": "answer", "index": 1})
            until(t, "tally", lambda m: m["answered"] == 1)
        with cc.websocket_connect(f"/api/class/{code}/ws") as a:  # dropped and back: the same student
            hello(a, "student", "student-a")
            got = [a.receive_json() for _ in range(2)]
            kinds = [m["type"] for m in got]
            assert kinds == ["state", "ask"], kinds  # counts are the teacher's until the reveal
            assert got[0]["state"]["view"] == "steps" and got[1]["tokens"] == ["a", "b"]
    with cc.websocket_connect(f"/api/class/{code}/ws") as t:  # the teacher reloads: members, state, question, tally
        hello(t, "teacher", "teacher-1", s["token"])
        got = [t.receive_json() for _ in range(4)]
        assert [m["type"] for m in got] == ["members", "state", "ask", "tally"]
        assert got[3]["counts"] == [0, 1] and got[3]["answered"] == 1


def test_wrong_token_bad_code_bad_messages_and_flood(cc):
    s = cc.post("/api/class").json()
    code = s["code"]
    with cc.websocket_connect(f"/api/class/{code}/ws") as t:
        hello(t, "teacher", "teacher-1", "not-the-token")
        with pytest.raises(WebSocketDisconnect) as e:
            t.receive_json()
        assert e.value.code == 4403
    r = cc.get("/api/class/ZZZZZ2")
    assert r.status_code == 404 and "No class" in r.json()["detail"]
    r = cc.get("/api/class/abc")
    assert r.status_code == 422 and r.json()["detail"]
    assert cc.get("/join?code=12").status_code == 422
    with cc.websocket_connect(f"/api/class/{code}/ws") as a, cc.websocket_connect(f"/api/class/{code}/ws") as b:
        hello(a, "student", "student-a")
        hello(b, "student", "student-b")
        a.send_text("x" * 9000)
        assert "bytes" in until(a, "error")["detail"]
        a.send_json({"type": "answer", "index": "zero"})
        assert until(a, "error")
        with pytest.raises(WebSocketDisconnect) as e:
            for _ in range(60):
                a.send_json({"type": "answer", "index": 0})
            for _ in range(200):
                a.receive_json()
        assert e.value.code == 1008
        # the other student is unaffected
        with cc.websocket_connect(f"/api/class/{code}/ws") as t:
            hello(t, "teacher", "teacher-1", s["token"])
            t.send_json({"type": "state", "state": {"view": "heads"}, "ts": 2.0})
            assert until(b, "state")["state"] == {"view": "heads"}


def test_joins_are_rate_limited(cc):
    codes = [cc.get("/api/class/ABCDEF").status_code for _ in range(45)]
    assert codes[:40] == [404] * 40 and codes[-1] == 429
    assert "Too many" in cc.get("/api/class/ABCDEF").json()["detail"]
