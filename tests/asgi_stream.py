"""Drive an ASGI app's NDJSON stream like a server would, and go away mid-stream (the disconnect tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable


async def read_then_disconnect(app, path: str, body: dict, enough: Callable[[list[dict]], bool],
                               spec: str = "2.4") -> list[dict]:
    """POST ``body`` to ``path``, read NDJSON lines until ``enough(lines)``, then the client disconnects.

    ``spec`` is the ASGI spec version the fake server speaks (Starlette listens for a disconnect while
    streaming only below 2.4). Returns the lines read; fails after 60 s.
    """
    payload = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]}
    gone, sent, buf, lines = asyncio.Event(), False, b"", []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal buf
        if message["type"] != "http.response.body":
            return
        buf += message.get("body", b"")
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append(json.loads(line))
        if enough(lines):
            gone.set()

    await asyncio.wait_for(app(scope, receive, send), timeout=60)
    return lines


def read_then_disconnect_sync(app, path: str, body: dict, enough: Callable[[list[dict]], bool],
                              spec: str = "2.4") -> list[dict]:
    """:func:`read_then_disconnect` on an event loop of its own thread (after a browser test, Playwright's
    sync API keeps a loop running on the main thread, where ``asyncio.run`` refuses to start)."""
    import threading

    out: dict = {}

    def work():
        try:
            out["lines"] = asyncio.run(read_then_disconnect(app, path, body, enough, spec))
        except BaseException as exc:  # noqa: BLE001  (re-raised on the test's thread)
            out["error"] = exc

    t = threading.Thread(target=work, name="asgi-stream")
    t.start()
    t.join(timeout=90)
    if "error" in out:
        raise out["error"]
    if "lines" not in out:
        raise TimeoutError(f"{path}: the stream did not end within 90 s")
    return out["lines"]
