"""Long context: one chunked forward pass kept as a store (q, k, log-sum-exp), then tiles, rows and aggregates of it."""

from __future__ import annotations

import json
import queue
import threading
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from attnscope.encode import BINARY_TYPE, binary, encode, raw_bytes
from attnscope.inspection.longctx import Cancelled, LongCache, LongTrace, TILE, long_inputs, long_limit, run_long
from attnscope_server.api.deps import RegistryDep, SettingsDep
from attnscope_server.api.routes.attention import json_response, wants_binary
from attnscope_server.api.routes.generate import StoppableStream

router = APIRouter(prefix="/api/long", tags=["long context"])
_cache_lock = threading.Lock()


class LongRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models (an encoder or a decoder)", max_length=64)
    text: str = Field(description="the long input: a document, or passages separated by blank lines")
    passages: Literal["paragraphs", "none"] = Field(
        default="paragraphs", description="'paragraphs': passages split at blank lines; 'none': one passage")


class Passage(BaseModel):
    index: int
    start: int = Field(description="first token of the passage")
    end: int = Field(description="one past its last token")
    title: str = Field(description="the start of its first line")


class LongHeader(BaseModel):
    trace_id: str = Field(description="the id of the kept trace (GET /api/long/{trace_id}/...)")
    model: str
    tokens: list[str]
    special: list[bool]
    offsets: list[list[int] | None]
    layers: int
    heads: int
    kv_heads: int
    tile: int = Field(description="cells per tile side: 256")
    zoom_levels: int = Field(description="1 + ceil(log2(ceil(T / 256))); level zoom_levels - 1 is exact")
    passages: list[Passage]
    seconds: float = Field(description="the forward pass's wall time")
    bytes_kept: int = Field(description="bytes the kept trace holds (q, k, log-sum-exp, overviews, aggregates)")
    dtype: str = Field(description="the dtype q and k are kept in (float32: exact to eager attention)")
    max_tokens: int = Field(description="the longest input this model's long view takes here")


def long_cache(request: Request, settings) -> LongCache:
    """The app's kept long traces (bounded in bytes by ATTNSCOPE_LONG_CACHE_BYTES)."""
    with _cache_lock:
        cache = getattr(request.app.state, "long_cache", None)
        if cache is None:
            cache = request.app.state.long_cache = LongCache(settings.long_cache_bytes)
        return cache


def _prepare(req: LongRequest, registry, settings):
    if len(req.text) > settings.long_max_chars:
        raise ValueError(f"text is {len(req.text):,} characters long; the long view takes at most "
                         f"{settings.long_max_chars:,}")
    adapter = registry.get(req.model)
    limit = long_limit(adapter, settings.long_max_bytes, settings.long_dtype)
    inputs, tokens = long_inputs(adapter, req.text, limit)
    return adapter, limit, inputs, tokens


def header(lt: LongTrace, limit: int) -> dict:
    t = lt.tokens
    return {"trace_id": lt.trace_id, "model": lt.model, "tokens": t.text, "special": t.special,
            "offsets": [list(o) if o is not None else None for o in t.offsets], "layers": len(lt.layers),
            "heads": lt.heads, "kv_heads": lt.kv_heads, "tile": TILE, "zoom_levels": lt.zoom_levels,
            "passages": lt.passages, "seconds": round(lt.seconds, 3), "bytes_kept": lt.nbytes(), "dtype": lt.dtype,
            "max_tokens": limit}


@router.post("", summary="Run a long input once, keep what any weight is recomputed from; answer its header.",
             response_model=LongHeader)
def long_run(req: LongRequest, registry: RegistryDep, settings: SettingsDep, request: Request) -> dict:
    """Run a long input once, keep what any weight is recomputed from; answer its header.

    Attention runs in query chunks of 256 rows; nothing T × T is held. The kept trace holds q and k (per
    KV head) as the attention used them, each row's log-sum-exp, the mask rule, and per head the z = 0
    overview, the attention each key receives, the passage masses and the distance profile. Decoders and
    encoders take up to their own context, bounded by ATTNSCOPE_LONG_MAX_BYTES; encoder-decoders keep
    their limit.
    """
    adapter, limit, inputs, tokens = _prepare(req, registry, settings)
    lt = run_long(adapter, inputs, tokens, req.text, req.passages, settings.long_dtype)
    long_cache(request, settings).put(lt)
    return header(lt, limit)


@router.post("/stream", summary="The same work as NDJSON: progress lines per layer, then the header.",
             response_class=StreamingResponse,
             responses={200: {"content": {"application/x-ndjson": {}},
                              "description": '{"progress": {"layer", "layers"}} lines, then {"trace": header} '
                                             '(or {"error": detail}); closing the connection stops the pass'}})
def long_stream(req: LongRequest, registry: RegistryDep, settings: SettingsDep, request: Request) -> StoppableStream:
    """The same work as NDJSON: ``{"progress": {"layer", "layers"}}`` lines, then ``{"trace": header}``.

    The pass stops at the next layer when the client disconnects.
    """
    adapter, limit, inputs, tokens = _prepare(req, registry, settings)  # 4xx before the stream starts
    stop = threading.Event()
    events: queue.Queue = queue.Queue()
    cache = long_cache(request, settings)

    def work():
        try:
            lt = run_long(adapter, inputs, tokens, req.text, req.passages, settings.long_dtype,
                          on_layer=lambda i, n: events.put({"progress": {"layer": i, "layers": n}}),
                          should_stop=stop.is_set)
            cache.put(lt)
            events.put({"trace": header(lt, limit)})
        except Cancelled:
            events.put(None)
        except Exception as exc:  # noqa: BLE001  (the status line is sent: report in the stream)
            events.put({"error": f"the long trace failed: {type(exc).__name__}: {exc}"})

    def lines():
        thread = threading.Thread(target=work, name="attnscope-long", daemon=True)
        thread.start()
        while True:
            try:
                ev = events.get(timeout=0.5)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if ev is None:
                return
            yield (json.dumps(ev, separators=(",", ":")) + "\n").encode()
            if "trace" in ev or "error" in ev:
                return

    return StoppableStream(lines(), stop)


# --- views of a kept trace ------------------------------------------------------------------------

Head = Annotated[str, Query(description="a head index from 0, or 'mean' (the mean over heads)",
                            pattern=r"^(mean|\d{1,4})$")]
Layer = Annotated[int, Query(ge=0, le=10_000, description="the layer, from 0")]


def _trace(request: Request, settings, trace_id: str) -> LongTrace:
    try:
        return long_cache(request, settings).get(trace_id)
    except KeyError as exc:
        raise HTTPException(404, detail=exc.args[0]) from None


@router.get("/{trace_id}", summary="The header of a kept long trace (what POST /api/long answered).",
            response_model=LongHeader)
def long_header(trace_id: str, request: Request, registry: RegistryDep, settings: SettingsDep) -> dict:
    """The header of a kept long trace (what POST /api/long answered): reopen a trace from a link."""
    lt = _trace(request, settings, trace_id)
    limit = long_limit(registry.get(lt.model), settings.long_max_bytes, settings.long_dtype)
    return header(lt, limit)


def _head(head: str) -> int | str:
    return "mean" if head == "mean" else int(head)


class Tile(BaseModel):
    rows: list[int] = Field(description="[r0, r1): the query tokens the tile covers")
    cols: list[int] = Field(description="[c0, c1): the key tokens")
    z: int
    reduce: str
    shape: list[int] = Field(description="cells: [rows, cols]")
    scale: float = Field(description="u8 only: the bytes are round(255 · w / scale) (the tile's max for sum)")
    format: str
    weights: list[list[float]] | str


@router.get("/{trace_id}/tile", summary="One tile of one head at zoom level z (max or sum pooled; exact at the finest).",
            response_model=None, responses={200: {"model": Tile}})
def long_tile(trace_id: str, request: Request, settings: SettingsDep, layer: Layer, head: Head,
              z: Annotated[int, Query(ge=0, le=64)], x: Annotated[int, Query(ge=0)], y: Annotated[int, Query(ge=0)],
              reduce: Literal["max", "sum"] = "max", format: Literal["json", "u8", "f16"] = "json") -> Response:
    """One tile of one head at zoom level z (max or sum pooled; exact at the finest).

    At level z one cell covers 2^(zoom_levels − 1 − z) × 2^(zoom_levels − 1 − z) (query, key) pairs; tile
    (x, y) starts at query row y · 256 · cell and key x · 256 · cell, clipped to T. z = 0 is the whole
    matrix in one tile. ``Accept: application/octet-stream`` with u8 or f16: the binary answer of
    /api/attention (uint32 LE n | JSON header | the raw array).
    """
    lt = _trace(request, settings, trace_id)
    tile = lt.tile(layer, _head(head), z, x, y, reduce)
    w = tile.pop("weights")
    scale = float(w.max()) if (format == "u8" and reduce == "sum" and w.size and w.max() > 0) else 1.0
    arr = w / scale if scale != 1.0 else w
    body = {**tile, "scale": scale, "format": format}
    if format != "json" and wants_binary(request.headers.get("accept", "")):
        return Response(binary(body, raw_bytes(np.ascontiguousarray(arr, dtype=np.float32), format)),
                        media_type=BINARY_TYPE)
    body["weights"] = encode(np.ascontiguousarray(arr, dtype=np.float32), format)
    return json_response(body)


class Row(BaseModel):
    query: int
    weights: list[float]


@router.get("/{trace_id}/row", summary="One query's exact weights over all T keys.", response_model=Row)
def long_row(trace_id: str, request: Request, settings: SettingsDep, layer: Layer, head: Head,
             query: Annotated[int, Query(ge=0)]) -> dict:
    """One query's exact weights over all T keys (zero for keys the mask removes)."""
    lt = _trace(request, settings, trace_id)
    return {"query": query, "weights": lt.row(layer, _head(head), query).tolist()}


class Received(BaseModel):
    weights: list[float] = Field(description="(T,) the attention each key receives, summed over queries")


@router.get("/{trace_id}/received", summary="The attention each key receives, summed over queries.",
            response_model=Received)
def long_received(trace_id: str, request: Request, settings: SettingsDep, layer: Layer, head: Head) -> dict:
    """The attention each key receives, summed over queries (filled during the forward pass)."""
    lt = _trace(request, settings, trace_id)
    return {"weights": lt.received(layer, _head(head)).tolist()}


class PassageMass(BaseModel):
    passages: list[Passage]
    mass: list[list[float]] = Field(description="passages × passages: the mean over a passage's query tokens "
                                                "of the weight they put on each passage; rows sum to 1")


@router.get("/{trace_id}/passages", summary="Which passage each passage's tokens read: rows sum to 1.",
            response_model=PassageMass)
def long_passages(trace_id: str, request: Request, settings: SettingsDep, layer: Layer, head: Head) -> dict:
    """Which passage each passage's tokens read: the mean weight per passage; rows sum to 1."""
    lt = _trace(request, settings, trace_id)
    return {"passages": lt.passages, "mass": lt.passage_mass(layer, _head(head)).tolist()}


class Distance(BaseModel):
    bins: list[list[int]] = Field(description="[lo, hi) of |query − key|, log-spaced: [0, 1), [1, 2), [2, 4)...")
    mean_weight: list[float] = Field(description="the mean weight of the (query, key) pairs in each bin that the "
                                                 "mask keeps")


@router.get("/{trace_id}/distance", summary="Attention against query − key distance, in log-spaced bins.",
            response_model=Distance)
def long_distance(trace_id: str, request: Request, settings: SettingsDep, layer: Layer, head: Head) -> dict:
    """Attention against |query − key| distance, in log-spaced bins (how far back each head looks)."""
    lt = _trace(request, settings, trace_id)
    bins, mean = lt.distance(layer, _head(head))
    return {"bins": bins, "mean_weight": mean.tolist()}


# --- generation over a long prompt ----------------------------------------------------------------


class LongAnswerRequest(LongRequest):
    max_new_tokens: int = Field(default=32, ge=1, le=64, description="answer tokens to generate (greedy), 1 to 64")


class AnswerStepModel(BaseModel):
    index: int
    token: str
    id: int
    mass: list[list[float]] = Field(description="layers × passages: the weight this token put on each passage "
                                                "(mean over heads)")
    mean_mass: list[float] = Field(description="passages: `mass` averaged over layers")
    passage: int | None = Field(description="the passage with the most mean mass")
    answer_mass: list[float] = Field(description="per layer: the weight on the answer's own tokens")
    top_keys: list[dict] = Field(description="[{index, token, weight}]: the prompt keys it attended to most "
                                             "(mean over layers and heads)")


class LongAnswer(BaseModel):
    trace: LongHeader
    text: str
    tokens: list[str]
    ids: list[int]
    steps: list[AnswerStepModel]


@router.post("/generate", summary="Run a long prompt (documents, then a question), answer it, and say which "
                                  "passage each answer token read.", response_model=LongAnswer)
def long_generate(req: LongAnswerRequest, registry: RegistryDep, settings: SettingsDep, request: Request) -> dict:
    """Run a long prompt (documents, then a question), answer it greedily, and say which passage each token read.

    The prompt runs once as a long trace (kept: its ``trace`` header's ``trace_id`` serves the tile routes)
    with its KV cache; each answer token is one query over the cached keys through the capture function,
    exact and cheap. Per token: ``mass`` (layers × passages, mean over heads), ``mean_mass``, ``passage``,
    ``answer_mass`` and ``top_keys``.
    """
    from attnscope.inspection.longctx.answer import answer, answer_text

    adapter, limit, inputs, tokens = _prepare(req, registry, settings)
    lt, steps = answer(adapter, inputs, tokens, req.text, req.max_new_tokens, req.passages, settings.long_dtype)
    long_cache(request, settings).put(lt)
    return {"trace": header(lt, limit), "text": answer_text(adapter, steps), "tokens": [s.token for s in steps],
            "ids": [s.id for s in steps], "steps": [s.to_dict() for s in steps]}
