"""Live class: start a session, join by code, follow the teacher's view and answer over one WebSocket."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import Annotated, Any, Literal

from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, HTTPException, Path, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from attnscope_server.api.schemas import Answer as JsonAnswer
from attnscope_server.classroom.store import ALPHABET, CODE_LEN, BroadcastLost, NotOpen, SessionStore, make_store

router = APIRouter(tags=["classroom"])
log = logging.getLogger(__name__)
Code = Annotated[str, Path(pattern=f"^[{ALPHABET}]{{{CODE_LEN}}}$", description="the class's join code")]

MAX_MESSAGE = 8_000  # bytes of one WebSocket message
#: the teacher's messages may be longer: a grid question's 1,024 cell labels ("L31 H31") and scores
MAX_TEACHER_MESSAGE = 32_000
MAX_TOKENS = 64  # a token question: the sentence's first 64 tokens (tap targets on a phone)
MAX_CELLS = 1024  # a grid question: layers × heads
FLOOD = (40, 5.0)  # more than 40 messages in 5 s from one connection closes it (code 1008)
#: live counts go to the teacher only: students see the class's answers at the reveal (and 200 students
#: joining would otherwise cost 200² messages)
TEACHER_ONLY = {"members", "tally"}
STATE_KEYS = {"view", "model", "text", "layer", "head", "step", "query", "block", "target", "t", "i", "q",
              "atlas", "task", "compare", "tab"}  # the Atlas view: its job, task and compared job; Effects: its tab


def store_of(app) -> SessionStore:
    """The app's session store, made on first use (memory, or Redis when ``ATTNSCOPE_REDIS_URL`` is set)."""
    st = getattr(app.state, "classroom", None)
    if st is None:
        s = app.state.settings
        st = app.state.classroom = make_store(s.redis_url, s.class_ttl)
    return st


class Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hello(Msg):
    type: Literal["hello"]
    role: Literal["teacher", "student"]
    token: str | None = Field(default=None, max_length=64)
    sid: str = Field(pattern=r"^[A-Za-z0-9_-]{8,40}$")


class StateMsg(Msg):
    type: Literal["state"]
    state: dict[str, Annotated[str, Field(max_length=2000)]] = Field(max_length=20)
    ts: float | None = Field(default=None, allow_inf_nan=False,
                             description="the teacher's clock (ms): finite, or students would get invalid JSON")


#: a question's fields as stored and (re)sent to clients; a grid's task is optional (sent when given)
ASK_FIELDS = {"token": ("query", "query_token", "tokens"), "grid": ("layers", "heads", "title", "task", "tokens")}


class Ask(Msg):
    """A question. ``token`` (the default): where does token ``query`` look? The answers are ``tokens``
    (at most 64). ``grid``: which head is it? The answers are the ``layers`` × ``heads`` cells, layer-major,
    ``tokens`` their labels ("L0 H0", ...), ``title`` the question, ``task`` the atlas task asked about."""

    type: Literal["ask"]
    kind: Literal["token", "grid"] = "token"
    query: int | None = Field(default=None, ge=0, le=512)
    query_token: str | None = Field(default=None, max_length=100)
    tokens: list[Annotated[str, Field(max_length=100)]] = Field(min_length=1, max_length=MAX_CELLS)
    layers: int | None = Field(default=None, ge=1, le=MAX_CELLS)
    heads: int | None = Field(default=None, ge=1, le=MAX_CELLS)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    task: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")

    @model_validator(mode="after")
    def _shape(self) -> Ask:
        if self.kind == "token":
            if self.query is None or self.query_token is None:
                raise ValueError("a token question needs query and query_token")
            if any(x is not None for x in (self.layers, self.heads, self.title, self.task)):
                raise ValueError("layers, heads, title and task belong to a grid question (kind: grid)")
            if len(self.tokens) > MAX_TOKENS:
                raise ValueError(f"a token question offers at most {MAX_TOKENS} tokens, not {len(self.tokens)}")
        else:
            if self.layers is None or self.heads is None or self.title is None:
                raise ValueError("a grid question needs layers, heads and title")
            if self.query is not None or self.query_token is not None:
                raise ValueError("query and query_token belong to a token question")
            if self.layers * self.heads > MAX_CELLS:
                raise ValueError(f"a grid of {self.layers} × {self.heads} heads is over {MAX_CELLS} cells")
            if len(self.tokens) != self.layers * self.heads:
                raise ValueError(f"{len(self.tokens)} labels for a grid of {self.layers} × {self.heads} heads")
        return self

    def question(self) -> dict[str, Any]:
        """What is stored and broadcast: the kind and its own fields only."""
        keep = ASK_FIELDS[self.kind]
        return {"kind": self.kind, **{k: getattr(self, k) for k in keep if getattr(self, k) is not None}}


class Reveal(Msg):
    """The model's answer: one weight per answer of the open question (a grid's: the task's scores in [0, 1])."""

    type: Literal["reveal"]
    weights: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1, max_length=MAX_CELLS)


class Reset(Msg):
    type: Literal["reset"]


class Answer(Msg):
    type: Literal["answer"]
    index: int = Field(ge=0, lt=MAX_CELLS)  # checked against the open question's size by the store


class ClassStarted(JsonAnswer):
    code: str = Field(description="the join code students type")
    token: str = Field(description="the teacher's control token (keep it secret)")
    join_url: str
    qr: str = Field(description="the join URL as a QR code (SVG)")


class ClassInfo(JsonAnswer):
    code: str
    members: int = Field(description="students connected")
    state: dict[str, Any] | None = Field(
        description='the teacher\'s view, {"state": {key: value}, "ts": ms}; null until the teacher shares one')
    question: bool = Field(description="a question is open")


TEACHER = TypeAdapter(Annotated[StateMsg | Ask | Reveal | Reset, Field(discriminator="type")])
STUDENT = TypeAdapter(Annotated[Answer, Field(discriminator="type")])
HELLO = TypeAdapter(Hello)

TOO_MANY = "Too many join attempts with wrong codes from this address: wait a minute and try again."


async def lookup(app, client: str | None, code: str) -> bool:
    """Whether class ``code`` exists, rate-limited so codes cannot be enumerated: an address that tried
    ``class_joins_per_minute`` wrong codes in this minute and the last (counted in the store, so across all
    replicas) gets no answer at all for a minute or two. Right codes do not count: a whole class behind one
    school NAT joins freely. Raises 429."""
    store = store_of(app)
    who = client or "?"
    if await store.misses(who) >= app.state.settings.class_joins_per_minute:
        raise HTTPException(429, TOO_MANY)
    if await store.exists(code):
        return True
    await store.missed(who)
    return False


def _ip(conn: Request | WebSocket) -> str | None:
    """The client's address (behind a proxy: uvicorn's --forwarded-allow-ips makes this the real client)."""
    return conn.client.host if conn.client else None


@router.post("/api/class", summary="Start a class: a join code and the teacher's control token.",
             response_model=ClassStarted, response_model_exclude_unset=True)
async def start_class(request: Request) -> dict:
    """Start a class: a join code and the teacher's control token."""
    code, token = await store_of(request.app).create()
    return {"code": code, "token": token, "join_url": str(request.base_url) + f"c/{code}",
            "qr": f"/api/class/{code}/qr.svg"}


@router.get("/api/class/{code}", summary="Whether a class exists, how many joined, and its current view state.",
            response_model=ClassInfo, response_model_exclude_unset=True)
async def class_info(code: Code, request: Request) -> dict:
    """Whether a class exists, how many joined, and its current view state."""
    s = await store_of(request.app).get(code) if await lookup(request.app, _ip(request), code) else None
    if s is None:
        raise HTTPException(404, f"No class with code {code}: it may have ended. Check the code on the screen.")
    return {"code": code, "members": s["members"], "state": s["state"], "question": s["question"] is not None}


@router.get("/api/class/{code}/qr.svg", summary="The join URL as a QR code (SVG, drawn locally).",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}, "description": "SVG"}})
async def class_qr(code: Code, request: Request) -> Response:
    """The join URL as a QR code (SVG, drawn locally)."""
    if not await store_of(request.app).exists(code):
        raise HTTPException(404, f"No class with code {code}.")
    buf = io.BytesIO()
    segno.make(str(request.base_url) + f"c/{code}", error="m").save(
        buf, kind="svg", scale=6, border=2, dark="#111", light="#fff", xmldecl=False, svgns=True)
    return Response(buf.getvalue(), media_type="image/svg+xml",
                    headers={"cache-control": "no-store"})


@router.get("/c/{code}", include_in_schema=False)
async def join_link(code: Code, request: Request):
    """A join link (the QR code's target): into the app as a student of class ``code``."""
    if not await lookup(request.app, _ip(request), code):
        raise HTTPException(404, f"No class with code {code}: it may have ended.")
    return RedirectResponse(f"/?join={code}", status_code=303)


@router.get("/join", include_in_schema=False)
async def join_by_code(request: Request, code: str = ""):
    """Typing a code: /join?code=ABC234 (any case, spaces ignored)."""
    code = code.replace(" ", "").upper()
    if len(code) != CODE_LEN or any(c not in ALPHABET for c in code):
        raise HTTPException(422, f"A join code is {CODE_LEN} letters and digits, as shown on the teacher's screen.")
    return await join_link(code, request)


def _tally(question: dict | None, counts: dict[int, int], seq: int = 0) -> dict:
    n = len(question["tokens"]) if question else 0
    return {"type": "tally", "counts": [counts.get(i, 0) for i in range(n)], "answered": sum(counts.values()),
            "seq": seq}


async def _snapshot(store: SessionStore, code: str) -> list[dict]:
    """What a (re)connecting client needs to catch up: state, members, question, tally, reveal."""
    s = await store.get(code)
    if s is None:
        return []
    out: list[dict] = [{"type": "members", "count": s["members"]}]
    if s["state"]:
        out.append({"type": "state", **s["state"]})
    q = s["question"]
    if q:
        kind = q.get("kind", "token")  # a question stored before kinds existed is a token question
        out.append({"type": "ask", "kind": kind, **{k: q[k] for k in ASK_FIELDS[kind] if k in q}})
        out.append(_tally(q, s["answers"], 1 << 62))  # a catch-up is the latest by definition
        if q.get("reveal"):
            out.append({"type": "reveal", **q["reveal"]})
    return out


@router.websocket("/api/class/{code}/ws")
async def class_socket(ws: WebSocket, code: str) -> None:
    """One connection per page: the first message says who it is; then state, questions and answers flow."""
    await ws.accept()
    try:
        await _serve(ws, store_of(ws.app), code)
    except Exception as e:  # the store failed (Redis gone) anywhere in the exchange: the page reconnects
        log.warning("class %s: closing a socket after %r", code, e)
        await _close(ws, 1011, "server error: reconnect")


async def _serve(ws: WebSocket, store: SessionStore, code: str) -> None:
    """The exchange on one accepted socket: hello, subscribe, catch up, then messages until it closes."""
    try:
        known = len(code) == CODE_LEN and await lookup(ws.app, _ip(ws), code)
    except HTTPException:
        await _close(ws, 4429, "too many join attempts: wait a minute")
        return
    if not known:
        await _close(ws, 4404, "no such class")
        return
    try:
        raw = await asyncio.wait_for(_receive_text(ws), 10)
        hello = HELLO.validate_json(raw[:MAX_MESSAGE])
    except Unsupported:
        await _close(ws, 1003, "unsupported data: send JSON in text frames")
        return
    except (asyncio.TimeoutError, ValidationError, WebSocketDisconnect, RuntimeError):
        await _close(ws, 4400, "the first message must be a valid hello")
        return
    teacher = hello.role == "teacher"
    if teacher and not origin_allowed(ws):
        # (a close reason is at most 123 bytes)
        await _close(ws, 4403, "a page of another site may not teach: open it from this server "
                               "(or list it in ATTNSCOPE_CLASS_ORIGINS)")
        return
    if teacher and not (hello.token and await store.is_teacher(code, hello.token)):
        await _close(ws, 4403, "not this class's teacher")
        return
    sid = hello.sid
    limit = MAX_TEACHER_MESSAGE if teacher else MAX_MESSAGE
    if not teacher:
        await store.publish(code, {"type": "members", "count": await store.join(code, sid)})

    subscribed = asyncio.Event()

    async def forward() -> None:
        agen = store.subscribe(code)
        try:
            async for msg in agen:
                if msg["type"] == "subscribed":
                    subscribed.set()
                elif teacher or msg["type"] not in TEACHER_ONLY:
                    await ws.send_json(msg)
        except (BroadcastLost, OSError, RuntimeError) as e:  # the store or the socket went away:
            subscribed.set()  # the client reconnects and catches up from the snapshot
            await _close(ws, 1011, f"broadcast lost, reconnect: {e}"[:120])
        finally:
            await agen.aclose()

    # subscribe first, then catch up: nothing published in between is lost
    fwd = asyncio.create_task(forward())
    times: list[float] = []
    try:
        try:
            await asyncio.wait_for(subscribed.wait(), 20)
        except asyncio.TimeoutError:
            await _close(ws, 1011, "could not subscribe to the class: reconnect")
            return
        for msg in await _snapshot(store, code):
            if teacher or msg["type"] not in TEACHER_ONLY:
                await ws.send_json(msg)
        while True:
            try:
                raw = await _receive_text(ws)
            except Unsupported:
                await _close(ws, 1003, "unsupported data: send JSON in text frames")
                break
            now = time.monotonic()
            times = [t for t in times if now - t < FLOOD[1]] + [now]
            if len(times) > FLOOD[0]:
                await _close(ws, 1008, "too many messages")
                break
            if len(raw) > limit:
                await ws.send_json({"type": "error", "detail": f"message over {limit} bytes"})
                continue
            try:
                msg = (TEACHER if teacher else STUDENT).validate_json(raw)
            except ValidationError as e:
                await ws.send_json({"type": "error", "detail": e.errors(include_url=False, include_input=False)[0]["msg"]})
                continue
            try:
                await _handle(store, code, sid, msg)
            except NotOpen as e:
                await ws.send_json({"type": "error", "detail": str(e)})
    except (WebSocketDisconnect, RuntimeError, OSError):  # starlette's WebSocketDisconnected is a RuntimeError
        pass
    finally:
        fwd.cancel()
        if not teacher:  # shielded: a cancelled handler (server shutting down) still records the leave
            await asyncio.shield(_leave(store, code, sid))


class Unsupported(Exception):
    """A binary frame (or text that is not UTF-8): the class speaks JSON in text frames only."""


async def _receive_text(ws: WebSocket) -> str:
    """The next text frame; :class:`Unsupported` for a binary one, WebSocketDisconnect when the socket closed."""
    msg = await ws.receive()
    if msg["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(msg.get("code", 1000))
    if msg.get("text") is not None:
        return msg["text"]
    raise Unsupported


def origin_allowed(ws: WebSocket) -> bool:
    """A browser's socket comes from a page of this server (its Host) or of a configured origin; a client that
    sends no Origin (not a browser: no other site's page can drive it) is allowed."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    allowed = {o.rstrip("/").lower() for o in ws.app.state.settings.class_origins}
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower() or origin.rstrip("/").lower() in allowed


async def _leave(store: SessionStore, code: str, sid: str) -> None:
    try:
        await store.publish(code, {"type": "members", "count": await store.leave(code, sid)})
    except Exception:  # the store may be going away with the process
        pass


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        await ws.close(code, reason)
    except RuntimeError:
        pass


async def _handle(store: SessionStore, code: str, sid: str, msg: Any) -> None:
    if isinstance(msg, StateMsg):
        state = {k: v for k, v in msg.state.items() if k in STATE_KEYS}
        out = {"state": state, "ts": msg.ts if msg.ts is not None else time.time() * 1000}
        await store.put(code, "state", out)
        await store.publish(code, {"type": "state", **out})
    elif isinstance(msg, Ask):
        q = msg.question()
        await store.put(code, "question", q, fresh=True)
        await store.publish(code, {"type": "ask", **q})
        await store.publish(code, _tally(q, {}))
    elif isinstance(msg, Reset):
        await store.put(code, "question", None, fresh=True)
        await store.publish(code, {"type": "reset"})
    elif isinstance(msg, Reveal):
        s = await store.get(code)
        q = s and s["question"]
        if not q:
            raise NotOpen("no open question to reveal: ask first")
        if len(msg.weights) != len(q["tokens"]):
            what = "heads" if q.get("kind") == "grid" else "tokens"
            raise NotOpen(f"{len(msg.weights)} weights for {len(q['tokens'])} {what}")
        top = max(range(len(msg.weights)), key=msg.weights.__getitem__)
        counts = s["answers"]
        reveal = {"weights": msg.weights, "top": top, "top_count": counts.get(top, 0),
                  "counts": [counts.get(i, 0) for i in range(len(q["tokens"]))],
                  "answered": sum(counts.values())}
        await store.put(code, "question", {**q, "reveal": reveal})
        await store.publish(code, {"type": "reveal", **reveal})
    elif isinstance(msg, Answer):  # checked and counted in one atomic step of the store
        counts, seq = await store.answer(code, sid, msg.index)
        await store.publish(code, {"type": "tally", "counts": counts, "answered": sum(counts), "seq": seq})
