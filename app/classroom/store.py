"""Session state behind one small interface: members, the followed view state, answers, the broadcast.

``MemoryStore`` keeps everything in this process (``make run``); ``RedisStore`` keeps it in Redis
(keys with a TTL plus pub/sub), so several app processes serve one class. Routes never know which runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: join-code alphabet: no 0/O, 1/I/L (read aloud, typed on a phone); 31**6 ≈ 8.9e8 codes
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LEN = 6
#: a subscriber's queue of undelivered broadcasts; a reader this far behind is cut off (it reconnects)
QUEUE_MAX = 1024
#: what a subscriber's queue receives when its broadcast can no longer be trusted (channel lost, overflow)
LOST: dict[str, Any] = {"type": "lost"}


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NotOpen(ValueError):
    """An answer that cannot count: no open question, already revealed, or a token index out of range."""


class BroadcastLost(ConnectionError):
    """The class's broadcast stopped (Redis went away, or this reader fell too far behind)."""


class SessionStore(Protocol):
    """Where class sessions live. Every method is async; every session expires after ``ttl`` idle seconds."""

    ttl: float

    async def create(self) -> tuple[str, str]:
        """A new session: (join code, teacher control token). Only the token's hash is stored."""

    async def exists(self, code: str) -> bool: ...

    async def is_teacher(self, code: str, token: str) -> bool: ...

    async def get(self, code: str) -> dict[str, Any] | None:
        """{"state", "question", "members", "answers"} or None when gone."""

    async def put(self, code: str, field: str, value: Any, fresh: bool = False) -> None:
        """Set "state" or "question" (None clears it); ``fresh`` also clears the answers (a new question)."""

    async def join(self, code: str, sid: str) -> int:
        """Count a connection of student ``sid``; return the number of distinct students present."""

    async def leave(self, code: str, sid: str) -> int: ...

    async def answer(self, code: str, sid: str, index: int) -> tuple[list[int], int]:
        """Record (or change) one student's answer to the open question, atomically with its checks;
        return the counts over the question's tokens and a sequence number (tallies published from several replicas may
        arrive out of order: the highest number is the latest). Raises :class:`NotOpen`."""

    async def missed(self, who: str) -> None:
        """Count one failed code look-up by client ``who`` (this minute)."""

    async def misses(self, who: str) -> int:
        """Failed code look-ups by ``who`` this minute and the last (a burst across a minute's turn still
        counts whole); shared by all replicas when in Redis."""

    async def publish(self, code: str, msg: dict[str, Any]) -> None: ...

    def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        """The class's broadcast; the first item, ``{"type": "subscribed"}``, says nothing is missed after it.
        Raises :class:`BroadcastLost` when messages may have been missed (the reader must catch up)."""

    async def close(self) -> None: ...


def _counts(answers: dict[str, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in answers.values():
        out[i] = out.get(i, 0) + 1
    return out


def _offer(q: asyncio.Queue, msg: dict[str, Any]) -> None:
    """Queue ``msg``; a reader too far behind gets LOST instead (it closes and catches up: nothing silent)."""
    try:
        q.put_nowait(msg)
    except asyncio.QueueFull:
        while not q.empty():
            q.get_nowait()
        q.put_nowait(LOST)


def _minute() -> int:
    return int(time.time() // 60)


class MemoryStore:
    """Sessions in this process's memory; idle ones are dropped on access after ``ttl`` seconds."""

    def __init__(self, ttl: float = 3 * 3600) -> None:
        self.ttl = ttl
        self._s: dict[str, dict[str, Any]] = {}
        self._subs: dict[str, set[asyncio.Queue]] = {}
        self._misses: dict[tuple[str, int], int] = {}

    def _live(self, code: str) -> dict[str, Any] | None:
        now = time.monotonic()
        for c in [c for c, s in self._s.items() if now - s["seen"] > self.ttl]:
            self._s.pop(c, None)  # and with it every answer and member of that class
        s = self._s.get(code)
        if s is not None:
            s["seen"] = now
        return s

    async def create(self) -> tuple[str, str]:
        self._live("")
        code = new_code()
        while code in self._s:
            code = new_code()
        token = secrets.token_urlsafe(24)
        self._s[code] = {"token": token_hash(token), "state": None, "question": None, "members": {},
                         "answers": {}, "seq": 0, "seen": time.monotonic()}
        return code, token

    async def exists(self, code: str) -> bool:
        return self._live(code) is not None

    async def is_teacher(self, code: str, token: str) -> bool:
        s = self._live(code)
        return s is not None and hmac.compare_digest(s["token"], token_hash(token))

    async def get(self, code: str) -> dict[str, Any] | None:
        s = self._live(code)
        if s is None:
            return None
        return {"state": s["state"], "question": s["question"], "members": len(s["members"]),
                "answers": _counts(s["answers"])}

    async def put(self, code: str, field: str, value: Any, fresh: bool = False) -> None:
        s = self._live(code)
        if s is None:
            return
        s[field] = value
        if fresh:
            s["answers"] = {}

    async def join(self, code: str, sid: str) -> int:
        s = self._live(code)
        if s is None:
            return 0
        s["members"][sid] = s["members"].get(sid, 0) + 1
        return len(s["members"])

    async def leave(self, code: str, sid: str) -> int:
        s = self._live(code)
        if s is None:
            return 0
        n = s["members"].get(sid, 0) - 1
        if n <= 0:
            s["members"].pop(sid, None)
        else:
            s["members"][sid] = n
        return len(s["members"])

    async def answer(self, code: str, sid: str, index: int) -> tuple[dict[int, int], int]:
        s = self._live(code)
        q = s and s["question"]
        if not q:
            raise NotOpen("no open question: wait for the teacher to ask")
        if q.get("reveal"):
            raise NotOpen("the answer is already revealed")
        if not 0 <= index < len(q["tokens"]):
            raise NotOpen(f"token {index} is not in the question (0 to {len(q['tokens']) - 1})")
        s["answers"][sid] = index
        s["seq"] += 1
        counts = _counts(s["answers"])
        return [counts.get(i, 0) for i in range(len(q["tokens"]))], s["seq"]

    async def missed(self, who: str) -> None:
        m = _minute()
        self._misses = {k: v for k, v in self._misses.items() if k[1] >= m - 1}
        self._misses[(who, m)] = self._misses.get((who, m), 0) + 1

    async def misses(self, who: str) -> int:
        m = _minute()
        return self._misses.get((who, m), 0) + self._misses.get((who, m - 1), 0)

    async def publish(self, code: str, msg: dict[str, Any]) -> None:
        for q in list(self._subs.get(code, ())):
            _offer(q, msg)

    async def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAX)
        self._subs.setdefault(code, set()).add(q)
        try:
            yield {"type": "subscribed"}
            while True:
                msg = await q.get()
                if msg is LOST:
                    raise BroadcastLost("this reader fell behind the class's broadcast")
                yield msg
        finally:
            subs = self._subs.get(code, set())
            subs.discard(q)
            if not subs:
                self._subs.pop(code, None)

    async def close(self) -> None:
        self._s.clear()


#: one answer, atomically: the open question's checks, the student's answer (HSET: a change of mind
#: replaces), the sequence number and the counts, and the TTLs. KEYS: session, answers, members.
#: ARGV: sid, index, ttl. Returns {status, seq, counts...}: status 1 ok, -1 no question, -2 revealed, -3 range.
ANSWER_LUA = """
local raw = redis.call('HGET', KEYS[1], 'question')
if not raw then return {-1} end
local q = cjson.decode(raw)
if q == cjson.null or type(q) ~= 'table' then return {-1} end
if q['reveal'] ~= nil and q['reveal'] ~= cjson.null then return {-2} end
local n = #q['tokens']
local idx = tonumber(ARGV[2])
if idx < 0 or idx >= n then return {-3, n} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local out = {1, seq}
for i = 1, n do out[i + 2] = 0 end
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  local j = tonumber(v)
  if j ~= nil and j >= 0 and j < n then out[j + 3] = out[j + 3] + 1 end
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return out
"""


class _Channel:
    """One Redis subscription for one class in this process, fanned out to this process's sockets."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None


class RedisStore:
    """Sessions in Redis: a hash per session, a hash of answers keyed by student id, a hash of member
    connection counts, all with a TTL refreshed on use; the broadcast goes through pub/sub channel
    ``attnscope:class:<code>``, one subscription per class per process, started by the first reader of
    the class and stopped (cancelled, unsubscribed) when its last reader leaves."""

    def __init__(self, url: str, ttl: float = 3 * 3600, max_connections: int = 50) -> None:
        import redis.asyncio as aioredis

        self.ttl = ttl
        # commands share a bounded pool that waits for a free connection (a 100-student burst once hit
        # redis-py's default pool's "Too many connections" and lost answers); subscriptions hold their own
        # connection each, from a separate pool, so many classes cannot starve the commands
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout

        # a pooled connection broken by a Redis restart is retried on a fresh one (3 times, ≤ 1 s apart)
        retry = dict(retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                     retry_on_error=[RedisConnectionError, RedisTimeout])
        pool = aioredis.BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=max_connections,
                                                        timeout=20, socket_timeout=10, socket_connect_timeout=5,
                                                        health_check_interval=15, **retry)
        self.r = aioredis.Redis(connection_pool=pool)
        self.sub = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                                     health_check_interval=15)
        self._answer = self.r.register_script(ANSWER_LUA)
        self._channels: dict[str, _Channel] = {}

    def _k(self, code: str, part: str = "") -> str:
        return f"attnscope:class:{code}{':' + part if part else ''}"

    def _touch(self, p, code: str) -> None:
        for part in ("", "answers", "members"):
            p.expire(self._k(code, part), int(self.ttl))

    async def create(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        while True:
            code = new_code()
            if await self.r.hsetnx(self._k(code), "token", token_hash(token)):
                await self.r.expire(self._k(code), int(self.ttl))
                return code, token

    async def exists(self, code: str) -> bool:
        p = self.r.pipeline(transaction=False)
        p.exists(self._k(code))
        self._touch(p, code)
        return bool((await p.execute())[0])

    async def is_teacher(self, code: str, token: str) -> bool:
        h = await self.r.hget(self._k(code), "token")
        return h is not None and hmac.compare_digest(h, token_hash(token))

    async def get(self, code: str) -> dict[str, Any] | None:
        p = self.r.pipeline(transaction=True)
        p.hmget(self._k(code), "token", "state", "question")
        p.hlen(self._k(code, "members"))
        p.hvals(self._k(code, "answers"))
        self._touch(p, code)
        (token, state, question), members, answers, *_ = await p.execute()
        if token is None:
            return None
        return {"state": json.loads(state or "null"), "question": json.loads(question or "null"),
                "members": members, "answers": _counts({str(i): int(v) for i, v in enumerate(answers)})}

    async def put(self, code: str, field: str, value: Any, fresh: bool = False) -> None:
        p = self.r.pipeline(transaction=True)
        p.hset(self._k(code), field, json.dumps(value))
        if fresh:
            p.delete(self._k(code, "answers"))
        self._touch(p, code)
        await p.execute()

    async def join(self, code: str, sid: str) -> int:
        p = self.r.pipeline(transaction=True)
        p.hincrby(self._k(code, "members"), sid, 1)
        p.hlen(self._k(code, "members"))
        self._touch(p, code)
        return (await p.execute())[1]

    async def leave(self, code: str, sid: str) -> int:
        if await self.r.hincrby(self._k(code, "members"), sid, -1) <= 0:
            await self.r.hdel(self._k(code, "members"), sid)
        return await self.r.hlen(self._k(code, "members"))

    async def answer(self, code: str, sid: str, index: int) -> tuple[list[int], int]:
        keys = [self._k(code), self._k(code, "answers"), self._k(code, "members")]
        out = await self._answer(keys=keys, args=[sid, index, int(self.ttl)])
        if out[0] == -1:
            raise NotOpen("no open question: wait for the teacher to ask")
        if out[0] == -2:
            raise NotOpen("the answer is already revealed")
        if out[0] == -3:
            raise NotOpen(f"token {index} is not in the question (0 to {out[1] - 1})")
        return list(out[2:]), out[1]

    async def missed(self, who: str) -> None:
        k = f"attnscope:misses:{who}:{_minute()}"
        p = self.r.pipeline(transaction=True)
        p.incr(k)
        p.expire(k, 120)
        await p.execute()

    async def misses(self, who: str) -> int:
        m = _minute()
        return sum(int(v or 0) for v in await self.r.mget(f"attnscope:misses:{who}:{m}", f"attnscope:misses:{who}:{m - 1}"))

    async def publish(self, code: str, msg: dict[str, Any]) -> None:
        await self.r.publish(self._k(code), json.dumps(msg))

    async def _listen(self, code: str, ch: _Channel) -> None:
        """Read the class's channel until cancelled. Reads wait at most 1 s at a time (and the connection is
        health-checked), so a dead Redis is noticed; then every reader gets LOST and the channel ends: the
        readers' sockets close, their clients reconnect, and the next reader starts a fresh subscription."""
        ps = self.sub.pubsub(ignore_subscribe_messages=True)
        try:
            await ps.subscribe(self._k(code))
            ch.ready.set_result(True)
            while True:
                m = await ps.get_message(timeout=1.0)
                if m is not None and m.get("type") == "message":
                    msg = json.loads(m["data"])
                    for q in list(ch.queues):
                        _offer(q, msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # Redis went away (or answered garbage): nothing after this can be trusted
            log.warning("class %s: broadcast subscription lost: %r", code, e)
            if not ch.ready.done():
                ch.ready.set_exception(BroadcastLost(f"cannot subscribe to the class's broadcast: {e}"))
            for q in list(ch.queues):
                _offer(q, LOST)
        finally:
            if self._channels.get(code) is ch:
                del self._channels[code]
            if not ch.ready.done():
                ch.ready.cancel()
            with contextlib.suppress(Exception):
                await asyncio.shield(ps.aclose())

    def listening(self) -> set[str]:
        """The classes this process holds a Redis subscription for (tests check they stop)."""
        return {c for c, ch in self._channels.items() if ch.task and not ch.task.done()}

    async def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAX)
        ch = self._channels.get(code)
        if ch is None or ch.task is None or ch.task.done():
            ch = self._channels[code] = _Channel()
            ch.task = asyncio.create_task(self._listen(code, ch), name=f"class-{code}-listener")
        ch.queues.add(q)
        try:
            done, _ = await asyncio.wait({ch.ready}, timeout=15)  # never cancels the shared future
            if not done or ch.ready.cancelled():
                raise BroadcastLost("the class's broadcast did not start in 15 s")
            if ch.ready.exception() is not None:
                raise ch.ready.exception()
            yield {"type": "subscribed"}
            while True:
                msg = await q.get()
                if msg is LOST:
                    raise BroadcastLost("the class's broadcast was interrupted")
                yield msg
        finally:
            ch.queues.discard(q)
            if not ch.queues and ch.task is not None:  # the last reader in this process: stop listening
                if self._channels.get(code) is ch:
                    del self._channels[code]
                ch.task.cancel()

    async def close(self) -> None:
        tasks = [ch.task for ch in self._channels.values() if ch.task]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.r.aclose()
        await self.sub.aclose()


def make_store(redis_url: str | None, ttl: float) -> SessionStore:
    """Redis when ``redis_url`` is set (``ATTNSCOPE_REDIS_URL``), else memory."""
    return RedisStore(redis_url, ttl) if redis_url else MemoryStore(ttl)
