"""A class member over a real WebSocket, for tests: every wait has a timeout and fails with what was seen."""

from __future__ import annotations

import json
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def ws_url(base: str, code: str) -> str:
    return base.replace("http://", "ws://") + f"/api/class/{code}/ws"


class Member:
    """One teacher's or student's socket; ``frames`` keeps every raw text frame received."""

    def __init__(self, base: str, code: str, role: str | None = None, sid: str = "", token: str | None = None,
                 ip: str | None = None) -> None:
        headers = {"X-Forwarded-For": ip} if ip else None
        self.ws = connect(ws_url(base, code), open_timeout=10, close_timeout=5, additional_headers=headers,
                          legacy=True)  # closed by close() / the with block
        self.frames: list[str] = []
        self.sid = sid
        if role:
            try:
                self.send({"type": "hello", "role": role, "sid": sid, "token": token})
            except ConnectionClosed:  # refused at once (no such class, rate limit): closed() tells why
                pass

    def send(self, msg: dict) -> None:
        self.ws.send(json.dumps(msg))

    def recv(self, timeout: float = 10.0) -> dict:
        raw = self.ws.recv(timeout=timeout)
        self.frames.append(raw)
        return json.loads(raw)

    def until(self, kind: str, pred=lambda m: True, timeout: float = 10.0) -> dict:
        """The next message of type ``kind`` satisfying ``pred``, within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        seen: list[dict] = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.sid}: no {kind!r} message in {timeout} s; got {seen[-8:]}")
            try:
                m = self.recv(left)
            except TimeoutError:
                continue
            if m["type"] == kind and pred(m):
                return m
            seen.append(m)

    def closed(self, timeout: float = 10.0) -> tuple[int, str]:
        """Wait for the server to close this socket; (code, reason)."""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                try:
                    self.recv(max(0.05, end - time.monotonic()))
                except TimeoutError:
                    pass
        except ConnectionClosed as e:
            return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (1006, "")
        raise AssertionError(f"{self.sid}: the server did not close the socket in {timeout} s")

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Member:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
