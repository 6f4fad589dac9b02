"""Session state behind one small interface: members, the followed view state, answers, the broadcast.

``MemoryStore`` keeps everything in this process (``make run``); ``RedisStore`` keeps it in Redis
(keys with a TTL plus pub/sub), so several app processes serve one class. Routes never know which runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

#: join-code alphabet: no 0/O, 1/I/L (read aloud, typed on a phone); 31**6 ≈ 8.9e8 codes
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LEN = 6


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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

    async def answer(self, code: str, sid: str, index: int) -> tuple[dict[int, int], int]:
        """Record (or change) one student's answer; return counts per token index and a sequence number
        (tallies published from several replicas may arrive out of order: the highest number is the latest)."""

    async def publish(self, code: str, msg: dict[str, Any]) -> None: ...

    def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        """The class's broadcast; the first item, ``{"type": "subscribed"}``, says nothing is missed after it."""

    async def close(self) -> None: ...


def _counts(answers: dict[str, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in answers.values():
        out[i] = out.get(i, 0) + 1
    return out


class MemoryStore:
    """Sessions in this process's memory; idle ones are dropped on access after ``ttl`` seconds."""

    def __init__(self, ttl: float = 3 * 3600) -> None:
        self.ttl = ttl
        self._s: dict[str, dict[str, Any]] = {}
        self._subs: dict[str, set[asyncio.Queue]] = {}

    def _live(self, code: str) -> dict[str, Any] | None:
        now = time.monotonic()
        for c in [c for c, s in self._s.items() if now - s["seen"] > self.ttl]:
            self._s.pop(c, None)
        s = self._s.get(code)
        if s is not None:
            s["seen"] = now
        return s

    async def create(self) -> tuple[str, str]:
        code = new_code()
        while code in self._s:
            code = new_code()
        token = secrets.token_urlsafe(24)
        self._s[code] = {"token": token_hash(token), "state": None, "question": None, "members": {},
                         "answers": {}, "seen": time.monotonic()}
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
        if s is None:
            return {}, 0
        s["answers"][sid] = index
        s["seq"] = s.get("seq", 0) + 1
        return _counts(s["answers"]), s["seq"]

    async def publish(self, code: str, msg: dict[str, Any]) -> None:
        for q in list(self._subs.get(code, ())):
            try:
                q.put_nowait(msg)
            except asyncio.QueueFull:  # a stuck reader loses messages, not the others
                pass

    async def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue = asyncio.Queue(maxsize=4096)
        self._subs.setdefault(code, set()).add(q)
        try:
            yield {"type": "subscribed"}
            while True:
                yield await q.get()
        finally:
            self._subs.get(code, set()).discard(q)

    async def close(self) -> None:
        self._s.clear()


class RedisStore:
    """Sessions in Redis: a hash per session, a hash of answers, a hash of member connection counts,
    all with a TTL refreshed on use; the broadcast goes through pub/sub channel ``attnscope:class:<code>``."""

    def __init__(self, url: str, ttl: float = 3 * 3600) -> None:
        import redis.asyncio as aioredis

        self.ttl = ttl
        self.r = aioredis.from_url(url, decode_responses=True)
        self._subs: dict[str, set[asyncio.Queue]] = {}
        self._listeners: dict[str, tuple[asyncio.Task, asyncio.Event]] = {}

    def _k(self, code: str, part: str = "") -> str:
        return f"attnscope:class:{code}{':' + part if part else ''}"

    async def _touch(self, code: str) -> None:
        t = int(self.ttl)
        p = self.r.pipeline()
        for part in ("", "answers", "members"):
            p.expire(self._k(code, part), t)
        await p.execute()

    async def create(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        while True:
            code = new_code()
            if await self.r.hsetnx(self._k(code), "token", token_hash(token)):
                await self.r.expire(self._k(code), int(self.ttl))
                return code, token

    async def exists(self, code: str) -> bool:
        ok = bool(await self.r.exists(self._k(code)))
        if ok:
            await self._touch(code)
        return ok

    async def is_teacher(self, code: str, token: str) -> bool:
        h = await self.r.hget(self._k(code), "token")
        return h is not None and hmac.compare_digest(h, token_hash(token))

    async def get(self, code: str) -> dict[str, Any] | None:
        p = self.r.pipeline()
        p.hgetall(self._k(code))
        p.hlen(self._k(code, "members"))
        p.hvals(self._k(code, "answers"))
        s, members, answers = await p.execute()
        if not s:
            return None
        await self._touch(code)
        return {"state": json.loads(s.get("state", "null")), "question": json.loads(s.get("question", "null")),
                "members": members, "answers": _counts({str(i): int(v) for i, v in enumerate(answers)})}

    async def put(self, code: str, field: str, value: Any, fresh: bool = False) -> None:
        p = self.r.pipeline()
        p.hset(self._k(code), field, json.dumps(value))
        if fresh:
            p.delete(self._k(code, "answers"))
        await p.execute()
        await self._touch(code)

    async def join(self, code: str, sid: str) -> int:
        await self.r.hincrby(self._k(code, "members"), sid, 1)
        await self._touch(code)
        return await self.r.hlen(self._k(code, "members"))

    async def leave(self, code: str, sid: str) -> int:
        if await self.r.hincrby(self._k(code, "members"), sid, -1) <= 0:
            await self.r.hdel(self._k(code, "members"), sid)
        return await self.r.hlen(self._k(code, "members"))

    async def answer(self, code: str, sid: str, index: int) -> tuple[dict[int, int], int]:
        p = self.r.pipeline(transaction=True)  # MULTI/EXEC: the counts and their number are one snapshot
        p.hset(self._k(code, "answers"), sid, index)
        p.hvals(self._k(code, "answers"))
        p.hincrby(self._k(code), "seq", 1)
        _, vals, seq = await p.execute()
        await self._touch(code)
        return _counts({str(i): int(v) for i, v in enumerate(vals)}), seq

    async def publish(self, code: str, msg: dict[str, Any]) -> None:
        await self.r.publish(self._k(code), json.dumps(msg))

    async def _listen(self, code: str, ready: asyncio.Event) -> None:
        """One Redis subscription per class per process, fanned out to this process's sockets."""
        ps = self.r.pubsub()
        try:
            await ps.subscribe(self._k(code))
            ready.set()
            async for m in ps.listen():
                if m.get("type") == "message":
                    msg = json.loads(m["data"])
                    for q in list(self._subs.get(code, ())):
                        try:
                            q.put_nowait(msg)
                        except asyncio.QueueFull:
                            pass
        finally:
            ready.set()
            try:
                await ps.unsubscribe(self._k(code))
                await ps.aclose()
            except Exception:
                pass

    async def subscribe(self, code: str) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue = asyncio.Queue(maxsize=4096)
        if code not in self._listeners or self._listeners[code][0].done():
            ready = asyncio.Event()
            self._listeners[code] = (asyncio.create_task(self._listen(code, ready)), ready)
        task, ready = self._listeners[code]
        self._subs.setdefault(code, set()).add(q)
        try:
            await ready.wait()
            if task.done():
                raise ConnectionError("the class's broadcast channel failed")
            yield {"type": "subscribed"}
            while True:
                yield await q.get()
        finally:
            subs = self._subs.get(code, set())
            subs.discard(q)
            if not subs:
                self._subs.pop(code, None)
                t, _ = self._listeners.pop(code, (None, None))
                if t is not None:
                    t.cancel()

    async def close(self) -> None:
        await self.r.aclose()


def make_store(redis_url: str | None, ttl: float) -> SessionStore:
    """Redis when ``redis_url`` is set (``ATTNSCOPE_REDIS_URL``), else memory."""
    return RedisStore(redis_url, ttl) if redis_url else MemoryStore(ttl)
