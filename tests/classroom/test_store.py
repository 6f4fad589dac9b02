"""The session stores themselves: expiry (in memory and by Redis TTL), atomic answers under concurrency,
and the per-class Redis subscription's life: started by the first reader, stopped by the last, and a
lost Redis reported to readers (never a silent hang), with a fresh subscription once Redis is back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from attnscope_server.classroom.store import ALPHABET, CODE_LEN, BroadcastLost, MemoryStore, NotOpen, RedisStore
from tests.classroom.conftest import free_port, redis_exe, start_redis, stop

pytestmark = pytest.mark.timeout(120)


def arun(coro) -> None:
    """``asyncio.run`` in a thread of its own: Playwright's sync API (the browser tests of this session)
    keeps an event loop running in the main thread, where ``asyncio.run`` refuses to start."""
    box: dict = {}

    def target():
        try:
            asyncio.run(coro)
        except BaseException as e:  # re-raised in the test's thread
            box["e"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(110)
    assert not th.is_alive(), "the store test's event loop did not finish in 110 s"
    if "e" in box:
        raise box["e"]


async def nxt(agen, timeout: float = 10.0):
    return await asyncio.wait_for(agen.__anext__(), timeout)


@pytest.fixture(params=["memory", "redis"])
def make(request):
    if request.param == "memory":
        return lambda ttl=3600: MemoryStore(ttl)
    url = request.getfixturevalue("redis_url")
    return lambda ttl=3600: RedisStore(url, ttl)


def test_sessions_expire_after_inactivity_with_their_answers(make):
    async def run():
        st = make(1)
        code, _ = await st.create()
        await st.join(code, "student-a")
        await st.put(code, "question", {"query": 0, "query_token": "a", "tokens": ["a", "b"]}, fresh=True)
        await st.answer(code, "student-a", 1)
        assert (await st.get(code))["answers"] == {1: 1}
        if isinstance(st, RedisStore):
            keys = await st.r.keys(f"attnscope:class:{code}*")
            ttls = [await st.r.pttl(k) for k in keys]
            assert len(keys) == 3 and all(0 < t <= 1000 for t in ttls), ttls
        await asyncio.sleep(2.2)
        assert not await st.exists(code) and await st.get(code) is None
        if isinstance(st, RedisStore):  # nothing about the students is left behind
            assert await st.r.keys(f"attnscope:class:{code}*") == []
        with pytest.raises(NotOpen):
            await st.answer(code, "student-a", 0)
        await st.close()

    arun(run())


def test_join_codes_are_random_and_unique(make):
    async def run():
        st = make()
        codes = [(await st.create())[0] for _ in range(300)]
        assert len(set(codes)) == 300 and all(len(c) == CODE_LEN and set(c) <= set(ALPHABET) for c in codes)
        assert len(ALPHABET) ** CODE_LEN > 5e8  # a rate-limited guesser (30 a minute) needs years
        # not sequential or clustered: every position uses much of the alphabet
        assert all(len({c[i] for c in codes}) > 20 for i in range(CODE_LEN))
        await st.close()

    arun(run())


def test_answers_are_atomic_and_a_change_of_mind_replaces(make):
    async def run():
        st = make()
        code, _ = await st.create()
        await st.put(code, "question", {"query": 0, "query_token": "a", "tokens": list("abcd")}, fresh=True)
        outs = await asyncio.gather(*(st.answer(code, f"student-{i:03d}", i % 4) for i in range(200)))
        seqs = sorted(seq for _, seq in outs)
        assert len(set(seqs)) == 200  # each answer its own number: the highest carries every answer
        assert max(outs, key=lambda o: o[1])[0] == [50, 50, 50, 50]
        counts, _ = await st.answer(code, "student-000", 3)  # changes its mind: replaced, not added
        assert counts == [49, 50, 50, 51]
        await st.put(code, "question", None, fresh=True)
        with pytest.raises(NotOpen, match="no open question"):
            await st.answer(code, "student-000", 0)
        await st.close()

    arun(run())


def test_one_subscription_per_class_stopped_by_its_last_reader(redis_url):
    async def run():
        st = RedisStore(redis_url)
        pub = RedisStore(redis_url)  # another replica
        code, _ = await st.create()
        a, b = st.subscribe(code), st.subscribe(code)
        assert (await nxt(a))["type"] == "subscribed" and (await nxt(b))["type"] == "subscribed"
        assert st.listening() == {code}
        await pub.publish(code, {"type": "state", "n": 1})
        assert (await nxt(a))["n"] == 1 and (await nxt(b))["n"] == 1
        await a.aclose()
        assert st.listening() == {code}  # b still reads
        await b.aclose()
        await asyncio.sleep(0.1)
        assert st.listening() == set()
        for _ in range(50):  # and Redis has no subscriber left for the class
            if (await pub.r.pubsub_numsub(st._k(code)))[0][1] == 0:
                break
            await asyncio.sleep(0.1)
        assert (await pub.r.pubsub_numsub(st._k(code)))[0][1] == 0
        c = st.subscribe(code)  # a new reader starts a new subscription
        assert (await nxt(c))["type"] == "subscribed"
        await pub.publish(code, {"type": "state", "n": 2})
        assert (await nxt(c))["n"] == 2
        await c.aclose()
        await st.close()
        await pub.close()

    arun(run())


def test_a_lost_redis_is_reported_to_readers_and_a_new_subscription_follows(tmp_path):
    exe = redis_exe()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    box = {"proc": start_redis(exe, port, tmp_path)}
    try:
        async def run():
            st = RedisStore(url)
            code, _ = await st.create()
            a = st.subscribe(code)
            assert (await nxt(a))["type"] == "subscribed"
            box["proc"].kill()
            box["proc"].wait(timeout=10)
            with pytest.raises(BroadcastLost):
                await nxt(a, 30)  # not a hang: the reader learns that messages may be lost
            await a.aclose()
            assert st.listening() == set()
            b = st.subscribe(code)  # Redis still down: a clear error, not a hang
            with pytest.raises(BroadcastLost):
                await nxt(b, 30)
            await b.aclose()
            box["proc"] = start_redis(exe, port, tmp_path)
            c = st.subscribe(code)  # Redis back: subscribes again
            assert (await nxt(c, 20))["type"] == "subscribed"
            await st.publish(code, {"type": "state", "n": 3})
            assert (await nxt(c))["n"] == 3
            await c.aclose()
            await st.close()

        arun(run())
    finally:
        stop(box["proc"])
