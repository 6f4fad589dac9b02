"""Two app processes sharing one real Redis: teacher on one, students on the other; then one replica is
killed (SIGKILL) mid-class and its students, whose sockets the kill broke, reconnect to the other."""

from __future__ import annotations

import httpx
import pytest

from tests.classroom.conftest import free_port, redis_exe, start_redis, start_replica, stop
from tests.classroom.wsclient import Member

pytestmark = pytest.mark.timeout(240)


def test_teacher_on_one_replica_students_on_the_other_and_a_replica_dies(replicas):
    (pa, a), (pb, b) = replicas
    s = httpx.post(a + "/api/class", timeout=10).json()
    code = s["code"]
    assert httpx.get(f"{b}/api/class/{code}", timeout=10).status_code == 200  # the other replica knows it
    t = Member(a, code, "teacher", "teacher-1", s["token"])
    studs = [Member(b, code, "student", f"student-{i:03d}") for i in range(6)]
    t.until("members", lambda m: m["count"] == 6)
    t.send({"type": "state", "state": {"view": "heads", "layer": "3"}, "ts": 1.0})
    for w in studs:
        assert w.until("state")["state"] == {"view": "heads", "layer": "3"}
    t.send({"type": "ask", "query": 1, "query_token": "it", "tokens": ["a", "it", "b"]})
    for i, w in enumerate(studs):
        w.until("ask")
        w.send({"type": "answer", "index": i % 3})
    t.until("tally", lambda m: m["answered"] == 6 and m["counts"] == [2, 2, 2])

    # replica B is killed mid-class: its students' sockets break (they do not close them themselves)
    pb.kill()
    pb.wait(timeout=10)
    for w in studs:
        assert w.closed(timeout=15)[0] in (1006, 1011, 1012), "a socket on the killed replica stayed open"
    # while they are away the teacher moves on: reconnecting must catch up with this, not the old state
    t.send({"type": "state", "state": {"view": "steps", "layer": "4"}, "ts": 2.0})
    moved = [Member(a, code, "student", w.sid) for w in studs]  # as the page does: same id, next server
    for w in moved:
        assert w.until("state")["state"] == {"view": "steps", "layer": "4"}
        assert w.until("ask")["tokens"] == ["a", "it", "b"]
    with Member(a, code, "teacher", "teacher-2", s["token"]) as t2:  # the teacher's catch-up: answers survived
        got = {m["type"]: m for m in (t2.recv() for _ in range(4))}
        assert got["members"]["count"] == 6  # the same six students (by id), not twelve
        assert got["state"]["state"] == {"view": "steps", "layer": "4"}
        assert got["tally"]["counts"] == [2, 2, 2] and got["tally"]["answered"] == 6
    moved[0].send({"type": "answer", "index": 2})  # still counted once per student
    t.until("tally", lambda m: m["counts"] == [1, 2, 3] and m["answered"] == 6)
    t.send({"type": "reveal", "weights": [0.1, 0.2, 0.7]})
    for w in moved:
        r = w.until("reveal")
        assert r["top"] == 2 and r["top_count"] == 3 and r["answered"] == 6
    for w in [t, *moved]:
        w.close()


def test_redis_lost_mid_class_closes_sockets_and_the_app_recovers(tmp_path):
    """Redis killed under a running class: the class's sockets are closed at once with 1011 (their pages
    reconnect), not left hanging; once Redis is back (empty: no persistence) the same app process serves
    classes again with fresh connections and a fresh subscription."""
    exe = redis_exe()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    box = {"redis": start_redis(exe, port, tmp_path)}
    app, base = start_replica(url, tmp_path / "replica.log")
    try:
        s = httpx.post(base + "/api/class", timeout=10).json()
        t = Member(base, s["code"], "teacher", "teacher-1", s["token"])
        a = Member(base, s["code"], "student", "student-a")
        t.until("members", lambda m: m["count"] == 1)
        t.send({"type": "state", "state": {"view": "steps"}, "ts": 1.0})
        a.until("state")  # both sockets are past their hello and subscribed
        box["redis"].kill()
        box["redis"].wait(timeout=10)
        assert a.closed(timeout=20)[0] == 1011
        assert t.closed(timeout=20)[0] == 1011
        box["redis"] = start_redis(exe, port, tmp_path)
        r = httpx.get(f"{base}/api/class/{s['code']}", timeout=10)
        assert r.status_code == 404  # that class lived only in the Redis that died
        s2 = httpx.post(base + "/api/class", timeout=10).json()
        with Member(base, s2["code"], "teacher", "teacher-1", s2["token"]) as t2, \
                Member(base, s2["code"], "student", "student-b") as b:
            t2.until("members", lambda m: m["count"] == 1)
            t2.send({"type": "state", "state": {"view": "heads"}, "ts": 1.0})
            assert b.until("state")["state"] == {"view": "heads"}
    finally:
        stop(app)
        stop(box["redis"])
