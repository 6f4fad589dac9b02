"""A grid question ("which head is the induction head?") against a real uvicorn process, sessions in memory
and then in a real Redis: up to 1,024 cells, answers past index 63 counted (by the store's Lua script in
Redis), sizes and lengths checked, the grid caught up on reconnect, token questions as before."""

from __future__ import annotations

import httpx
import pytest

from tests.classroom.wsclient import Member

pytestmark = pytest.mark.timeout(180)


def start(base: str) -> dict:
    r = httpx.post(base + "/api/class", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def grid(layers: int, heads: int, title: str = "Which head is the induction head? Tap it.", **extra) -> dict:
    labels = [f"L{la} H{h}" for la in range(layers) for h in range(heads)]
    return {"type": "ask", "kind": "grid", "layers": layers, "heads": heads, "title": title, "tokens": labels,
            **extra}


def test_a_32_by_32_grid_counts_answers_past_63_and_reveals_the_top_head(server):
    s = start(server)
    code = s["code"]
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t, \
            Member(server, code, "student", "student-a") as a, Member(server, code, "student", "student-b") as b, \
            Member(server, code, "student", "student-c") as c:
        t.until("members", lambda m: m["count"] == 3)
        ask = grid(32, 32, task="induction")
        t.send(ask)  # ~11 kB: over a student's 8 kB, within the teacher's limit
        for ws in (a, b, c):
            m = ws.until("ask")
            assert m == {"type": "ask", "kind": "grid", "layers": 32, "heads": 32, "task": "induction",
                         "title": "Which head is the induction head? Tap it.", "tokens": ask["tokens"]}
        assert t.until("tally")["counts"] == [0] * 1024
        a.send({"type": "answer", "index": 1023})
        b.send({"type": "answer", "index": 64})
        c.send({"type": "answer", "index": 5 * 32 + 1})
        c.send({"type": "answer", "index": 1023})  # a change of mind counts once
        tally = t.until("tally", lambda m: m["answered"] == 3 and m["counts"][1023] == 2)
        assert len(tally["counts"]) == 1024 and tally["counts"][64] == 1 and sum(tally["counts"]) == 3
        weights = [round(((i * 37) % 101) / 200, 4) for i in range(1024)]
        weights[1023] = 1.0  # the top head: layer 31, head 31
        t.send({"type": "reveal", "weights": weights})
        for ws in (a, b, c, t):
            r = ws.until("reveal")
            assert r["top"] == 1023 and r["top_count"] == 2 and r["answered"] == 3
            assert r["weights"] == weights and r["counts"][64] == 1 and len(r["counts"]) == 1024
        a.send({"type": "answer", "index": 7})
        assert "revealed" in a.until("error")["detail"]


def test_answers_out_of_range_and_mismatched_reveals_are_refused(server):
    s = start(server)
    with Member(server, s["code"], "teacher", "teacher-1", s["token"]) as t, \
            Member(server, s["code"], "student", "student-a") as a:
        t.until("members", lambda m: m["count"] == 1)
        t.send(grid(12, 12))
        a.until("ask")
        a.send({"type": "answer", "index": 144})  # past this 144-cell grid: the store refuses it
        assert "not in the question (0 to 143)" in a.until("error")["detail"]
        a.send({"type": "answer", "index": 1024})  # past any question: the schema refuses it
        assert a.until("error")["detail"]
        a.send({"type": "answer", "index": -1})
        assert a.until("error")["detail"]
        a.send({"type": "answer", "index": 143})
        assert t.until("tally", lambda m: m["answered"] == 1)["counts"][143] == 1
        t.send({"type": "reveal", "weights": [0.5] * 143})
        assert "143 weights for 144 heads" in t.until("error")["detail"]
        t.send({"type": "reveal", "weights": [0.5] * 143 + [1.5]})  # scores are normalised into [0, 1]
        assert t.until("error")["detail"]
        t.send({"type": "reveal", "weights": [0.5] * 1025})
        assert t.until("error")["detail"]
        # the question is still open: nothing above revealed it
        a.send({"type": "answer", "index": 0})
        assert t.until("tally", lambda m: m["answered"] == 1)["counts"][0] == 1


@pytest.mark.parametrize("bad, words", [
    ({"layers": 33, "heads": 32}, "over 1024 cells"),
    ({"tokens": ["L0 H0"] * 10}, "10 labels for a grid of 12 × 12"),
    ({"title": None}, "needs layers, heads and title"),
    ({"title": "x" * 201}, "200"),
    ({"layers": 0}, "greater than or equal to 1"),
    ({"query": 3}, "belong to a token question"),
    ({"kind": "map"}, "token"),
    ({"task": "<b>x</b>"}, "pattern"),
])
def test_malformed_grid_questions_are_refused_readably(server, bad, words):
    s = start(server)
    with Member(server, s["code"], "teacher", "teacher-1", s["token"]) as t:
        ask = {**grid(12, 12), **bad}
        if bad.get("title", "") is None:
            del ask["title"]
        t.send(ask)
        assert words in t.until("error")["detail"]
        t.send(grid(2, 2))  # the socket is still fine
        assert t.until("ask")["kind"] == "grid"


def test_reconnecting_catches_up_with_the_grid_and_its_reveal(server):
    s = start(server)
    code = s["code"]
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t:
        t.send({"type": "state", "state": {"view": "atlas"}, "ts": 5.0})
        ask = grid(6, 12, "Which head is the previous head? Tap it.")
        t.send(ask)
        with Member(server, code, "student", "student-a") as a:
            a.until("ask")
            a.send({"type": "answer", "index": 70})
            t.until("tally", lambda m: m["answered"] == 1)
        with Member(server, code, "student", "student-a") as a:  # dropped and back
            got = [a.recv(), a.recv()]
            assert [m["type"] for m in got] == ["state", "ask"]
            assert got[1] == {"type": "ask", "kind": "grid", "layers": 6, "heads": 12,
                              "title": "Which head is the previous head? Tap it.", "tokens": ask["tokens"]}
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t:  # the teacher reloads
        got = [t.recv() for _ in range(4)]
        assert [m["type"] for m in got] == ["members", "state", "ask", "tally"]
        assert got[2]["kind"] == "grid" and got[2]["layers"] == 6 and got[2]["heads"] == 12
        assert got[3]["counts"][70] == 1 and got[3]["answered"] == 1 and len(got[3]["counts"]) == 72
        t.send({"type": "reveal", "weights": [i / 71 for i in range(72)]})
        t.until("reveal")
    with Member(server, code, "student", "student-a") as a:  # after the reveal: question and reveal
        got = [a.recv(), a.recv(), a.recv()]
        assert [m["type"] for m in got] == ["state", "ask", "reveal"]
        assert got[1]["kind"] == "grid" and got[2]["top"] == 71 and got[2]["counts"][70] == 1


def test_token_questions_are_unchanged(server):
    s = start(server)
    code = s["code"]
    tokens = [f"t{i}" for i in range(64)]
    with Member(server, code, "teacher", "teacher-1", s["token"]) as t, Member(server, code, "student", "a-student") as a:
        t.until("members", lambda m: m["count"] == 1)
        t.send({"type": "ask", "query": 3, "query_token": "t3", "tokens": tokens + ["t64"]})
        assert "at most 64 tokens" in t.until("error")["detail"]
        for extra in ({"title": "x"}, {"layers": 8, "heads": 8}, {"task": "induction"}):
            t.send({"type": "ask", "query": 3, "query_token": "t3", "tokens": tokens, **extra})
            assert "belong to a grid question" in t.until("error")["detail"]
        t.send({"type": "ask", "query_token": "t3", "tokens": tokens})
        assert "needs query and query_token" in t.until("error")["detail"]
        t.send({"type": "ask", "query": 3, "query_token": "t3", "tokens": tokens})  # no kind: a token question
        assert a.until("ask") == {"type": "ask", "kind": "token", "query": 3, "query_token": "t3", "tokens": tokens}
        a.send({"type": "answer", "index": 64})
        assert "not in the question (0 to 63)" in a.until("error")["detail"]
        a.send({"type": "answer", "index": 63})
        assert t.until("tally", lambda m: m["answered"] == 1)["counts"][63] == 1
        t.send({"type": "reveal", "weights": [0.5] * 65})
        assert "65 weights for 64 tokens" in t.until("error")["detail"]
        t.send({"type": "reveal", "weights": [0.0] * 63 + [1.0]})
        r = a.until("reveal")
        assert r["top"] == 63 and r["top_count"] == 1 and r["counts"][63] == 1 and r["answered"] == 1
        a.ws.send("x" * 9000)  # a student's messages stay at 8 kB
        assert "over 8000 bytes" in a.until("error")["detail"]
