"""Live class against a real uvicorn process, sessions in memory and then in a real Redis: start, join,
follow, answer, reveal, catch-up, and the security limits. Every wait has a timeout."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.classroom.wsclient import Member

pytestmark = pytest.mark.timeout(180)


def start(base: str) -> dict:
    r = httpx.post(base + "/api/class", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def members(base: str, code: str, ip: str) -> int:
    return httpx.get(f"{base}/api/class/{code}", headers={"X-Forwarded-For": ip}, timeout=10).json()["members"]


def test_start_join_follow_answer_reveal(server):
    s = start(server)
    code, token = s["code"], s["token"]
    assert len(code) == 6 and s["join_url"].endswith(f"/c/{code}")
    qr = httpx.get(server + s["qr"], timeout=10)
    assert qr.headers["content-type"].startswith("image/svg+xml") and b"<svg" in qr.content
    j = httpx.get(f"{server}/c/{code}", timeout=10)
    assert j.status_code == 303 and j.headers["location"] == f"/?join={code}"
    assert httpx.get(f"{server}/join?code={code.lower()}", timeout=10).status_code == 303
    with Member(server, code, "teacher", "teacher-1", token) as t, \
            Member(server, code, "student", "student-a") as a, Member(server, code, "student", "student-b") as b:
        assert t.until("members", lambda m: m["count"] == 2)["count"] == 2
        t.send({"type": "state", "state": {"view": "attention", "model": "minilm", "layer": "2", "evil": "x"},
                "ts": 1.0})
        for ws in (a, b):
            m = ws.until("state")
            assert m["state"] == {"view": "attention", "model": "minilm", "layer": "2"} and m["ts"] == 1.0
        t.send({"type": "ask", "query": 1, "query_token": "it", "tokens": ["[CLS]", "it", "<b>x</b>"]})
        for ws in (a, b):  # user text travels as data; the page sets it as text
            assert ws.until("ask")["tokens"][2] == "<b>x</b>"
        a.send({"type": "answer", "index": 2})
        b.send({"type": "answer", "index": 0})
        b.send({"type": "answer", "index": 2})  # a change of mind counts once
        t.until("tally", lambda m: m["answered"] == 2 and m["counts"] == [0, 0, 2])
        t.send({"type": "reveal", "weights": [0.1, 0.2, 0.7]})
        r = b.until("reveal")
        assert r["top"] == 2 and r["top_count"] == 2 and r["answered"] == 2 and r["counts"] == [0, 0, 2]
        a.send({"type": "answer", "index": 0})  # after the reveal an answer no longer counts
        assert "revealed" in a.until("error")["detail"]
        t.send({"type": "reset"})
        assert a.until("reset")
    for _ in range(50):  # leaving is recorded as each socket's handler ends
        if members(server, code, "10.1.0.1") == 0:
            break
        time.sleep(0.2)
    assert members(server, code, "10.1.0.1") == 0


def test_reconnect_catches_up(server):
    s = start(server)
    code = s["code"]
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t:
        t.send({"type": "state", "state": {"view": "steps", "head": "3"}, "ts": 5.0})
        t.send({"type": "ask", "query": 0, "query_token": "a", "tokens": ["a", "b"]})
        with Member(server, code, "student", "student-a") as a:
            a.until("ask")  # as the page does: the buttons appear with the question
            a.send({"type": "answer", "index": 1})
            t.until("tally", lambda m: m["answered"] == 1)
        with Member(server, code, "student", "student-a") as a:  # dropped and back: the same student
            got = [a.recv(), a.recv()]
            kinds = [m["type"] for m in got]
            assert kinds == ["state", "ask"], kinds  # counts are the teacher's until the reveal
            assert got[0]["state"]["view"] == "steps" and got[1]["tokens"] == ["a", "b"]
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t:  # the teacher reloads
        got = [t.recv() for _ in range(4)]
        assert [m["type"] for m in got] == ["members", "state", "ask", "tally"]
        assert got[3]["counts"] == [0, 1] and got[3]["answered"] == 1


def test_answers_need_an_open_question_in_range(server):
    s = start(server)
    with Member(server, s["code"], "teacher", "teacher-1", s["token"]) as t, \
            Member(server, s["code"], "student", "student-a") as a:
        t.until("members", lambda m: m["count"] == 1)
        a.send({"type": "answer", "index": 0})
        assert "no open question" in a.until("error")["detail"]
        t.send({"type": "reveal", "weights": [1.0]})
        assert "ask first" in t.until("error")["detail"]
        t.send({"type": "ask", "query": 0, "query_token": "a", "tokens": ["a", "b"]})
        a.until("ask")
        a.send({"type": "answer", "index": 5})
        assert "not in the question" in a.until("error")["detail"]
        t.send({"type": "reveal", "weights": [0.5, 0.25, 0.25]})
        assert "3 weights for 2 tokens" in t.until("error")["detail"]


def test_teacher_token_never_reaches_students_who_cannot_drive(server):
    s = start(server)
    code, token = s["code"], s["token"]
    with Member(server, code, "teacher", "teacher-1", token) as t, Member(server, code, "student", "student-a") as a:
        t.send({"type": "state", "state": {"view": "heads"}, "ts": 1.0})
        a.until("state")
        # a student's attempts to drive the class, ask, reveal or reset are refused: not in a student's schema
        for bad in ({"type": "state", "state": {"view": "steps"}}, {"type": "reset"},
                    {"type": "ask", "query": 0, "query_token": "a", "tokens": ["a"]},
                    {"type": "reveal", "weights": [1.0]}):
            a.send(bad)
            assert a.until("error")["detail"]
        t.send({"type": "ask", "query": 0, "query_token": "a", "tokens": ["a", "b"]})
        a.until("ask")
        a.send({"type": "answer", "index": 1})
        t.until("tally", lambda m: m["answered"] == 1)
        t.send({"type": "reveal", "weights": [0.3, 0.7]})
        a.until("reveal")
        # posing as the teacher without the token fails
        with Member(server, code, "teacher", "student-b", None) as fake:
            assert fake.closed()[0] == 4403
        with Member(server, code, "teacher", "student-c", token[:-1] + ("A" if token[-1] != "A" else "B")) as fake:
            assert fake.closed()[0] == 4403
        info = httpx.get(f"{server}/api/class/{code}", headers={"X-Forwarded-For": "10.2.0.1"}, timeout=10).json()
        assert info["state"]["state"] == {"view": "heads"}  # the student's state message changed nothing
        assert token not in str(info)
    assert a.frames and all(token not in f for f in a.frames), "the teacher's token reached a student"
    assert any(token not in f and '"reveal"' in f for f in a.frames)


def test_bad_input_is_refused_readably(server):
    s = start(server)
    code = s["code"]
    r = httpx.get(f"{server}/api/class/ZZZZZ2", headers={"X-Forwarded-For": "10.3.0.1"}, timeout=10)
    assert r.status_code == 404 and "No class" in r.json()["detail"]
    r = httpx.get(f"{server}/api/class/abc", timeout=10)
    assert r.status_code == 422 and r.json()["detail"]
    r = httpx.get(f"{server}/join?code=12", timeout=10)
    assert r.status_code == 422 and "6 letters" in r.json()["detail"]
    with Member(server, "ZZZZZ2", "student", "student-x", ip="10.3.0.1") as w:
        assert w.closed() == (4404, "no such class")
    with Member(server, code) as w:  # the first message must be a hello
        w.send({"type": "answer", "index": 0})
        assert w.closed()[0] == 4400
    with Member(server, code, "student", "student-a") as a:
        a.send({"type": "answer", "index": 0, "extra": "x"})
        assert a.until("error")["detail"]
        a.ws.send("x" * 9000)
        assert "bytes" in a.until("error")["detail"]
        a.ws.send("not json")
        assert a.until("error")["detail"]
        a.send({"type": "answer", "index": "zero"})
        assert a.until("error")["detail"]
        a.ws.send("x" * 100_000)  # past uvicorn's --ws-max-size: closed before it is read into memory
        assert a.closed()[0] == 1009


def test_flood_is_cut_off_without_affecting_others(server):
    s = start(server)
    code = s["code"]
    with Member(server, code, "student", "student-a") as a, Member(server, code, "student", "student-b") as b:
        for _ in range(60):
            a.send({"type": "answer", "index": 0})
        assert a.closed() == (1008, "too many messages")
        with Member(server, code, "teacher", "teacher-1", s["token"]) as t:
            t.send({"type": "state", "state": {"view": "heads"}, "ts": 2.0})
            assert b.until("state")["state"] == {"view": "heads"}
            t.send({"type": "ask", "query": 0, "query_token": "a", "tokens": ["a", "b"]})
            b.until("ask")
            b.send({"type": "answer", "index": 1})
            assert t.until("tally", lambda m: m["answered"] == 1)["counts"] == [0, 1]


def test_wrong_codes_are_rate_limited_right_ones_are_not(server):
    s = start(server)
    code = s["code"]
    enum = {"X-Forwarded-For": "10.4.0.1"}
    got = [httpx.get(f"{server}/api/class/ABCDE{c}", headers=enum, timeout=10).status_code for c in "23456789AB" * 5]
    assert got[:40] == [404] * 40 and set(got[40:]) == {429}
    r = httpx.get(f"{server}/api/class/{code}", headers=enum, timeout=10)  # no answer, even for a right code
    assert r.status_code == 429 and "Too many" in r.json()["detail"]
    assert httpx.get(f"{server}/c/{code}", headers=enum, timeout=10).status_code == 429
    with Member(server, code, "student", "student-e", ip="10.4.0.1") as w:  # nor over the WebSocket
        assert w.closed()[0] == 4429
    # another address is unaffected, and a whole class behind one address joins with the right code
    nat = {"X-Forwarded-For": "10.4.0.2"}
    assert {httpx.get(f"{server}/api/class/{code}", headers=nat, timeout=10).status_code for _ in range(60)} == {200}
    # wrong codes over the WebSocket count too
    for i in range(40):
        with Member(server, "ZZZZZ3", "student", f"student-{i:03d}", ip="10.4.0.3") as w:
            assert w.closed()[0] == 4404
    r = httpx.get(f"{server}/api/class/{code}", headers={"X-Forwarded-For": "10.4.0.3"}, timeout=10)
    assert r.status_code == 429
