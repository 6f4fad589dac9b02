"""Next-token candidates and step-by-step generation (whole, or streamed as NDJSON), with each step's attention.

Decoders (SmolLM2, GPT-2...) run :mod:`attnscope.inspection.generate`. The textbook encoder-decoder translates
(greedy or beam) with :meth:`TextbookAdapter.translate`; its per-step probabilities and candidates come from
one teacher-forced decoder pass over its own output.

Streaming (``POST /api/generate/stream``, ``application/x-ndjson``): one JSON object per line, each with
an ``event``: ``"start"`` (prompt tokens, shapes), then one ``"step"`` per new token as it is produced,
then ``"done"`` (``"done": true``, the whole continuation, ``"stopped"``) or ``"error"`` (``"done": true``,
``"detail"``). Bad requests are refused before the stream starts (422, as everywhere). To stop, the client
closes the connection (``AbortController.abort()`` in the page): the server notices the disconnect and
generation stops before its next forward pass.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text, resolve
from attnscope_server.api.schemas import GenerateResponse, ModelId, NextTokenResponse, TextRequest
from attnscope.encode import f16_base64
from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.adapters.hf import tokenize
from attnscope.inspection.generate import (MAX_NEW_TOKENS, Candidate, beam_tree, candidates, generate, prompt_ids,
                                  sampled_probs, textbook_beam_tree)
from attnscope.inspection.kv_cache import bytes_per_token
from attnscope.inspection.registry import Registry

router = APIRouter(prefix="/api", tags=["generation"])
log = logging.getLogger("attnscope")


class Sampling(TextRequest):
    model: ModelId = Field(description="a decoder (smollm2) or the textbook encoder-decoder")
    text: str = Field(description="the prompt (decoders) or the French source sentence (textbook)")
    temperature: float = Field(default=1.0, gt=0, le=10, description="divides the logits before the softmax")
    top_k: int = Field(default=0, ge=0, description="keep the k most likely tokens; 0 keeps every token")
    top_p: float = Field(default=1.0, gt=0, le=1, description="keep the smallest set reaching this probability; 1: off")


class NextTokenRequest(Sampling):
    n: int = Field(default=10, ge=1, le=50, description="how many candidates, most likely first")
    target: str | None = Field(
        default=None, description="textbook only: the translation so far (after <s>); omitted = the first word"
    )


class GenerateRequest(Sampling):
    strategy: Literal["greedy", "sample", "beam"] = Field(default="greedy", description="textbook: greedy or beam")
    max_new_tokens: int = Field(default=16, ge=1, le=MAX_NEW_TOKENS, description="textbook: at most 32")
    beam_width: int = Field(default=4, ge=1, le=8, description="beams kept by strategy beam")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="sampling seed; omitted = a fresh one")
    n: int = Field(default=10, ge=1, le=50, description="candidates listed per step")


def _cands(cands: list[Candidate]) -> list[dict]:
    return [c.to_dict() for c in cands]


@router.post("/next-token", summary="The most likely next tokens, before and after temperature, top-k and top-p.",
             response_model=NextTokenResponse, response_model_exclude_unset=True)
def next_token(req: NextTokenRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """The most likely next tokens, before and after temperature, top-k and top-p.

    ``prob`` is the model's softmax at temperature 1; ``prob_sampled`` the distribution sampling draws
    from (after temperature, top-k, top-p; 0 for filtered tokens). Decoders: the token after ``text``.
    textbook: the next English word given the French ``text`` and the translation so far (``target``).
    The logits come from the cached trace, so moving a slider does not run the model again.
    """
    r = resolve(req, registry, settings)
    adapter, text = r.adapter, r.text
    kind = adapter.info.kind
    if kind == "decoder":
        if req.target is not None:
            raise ValueError(f"{req.model} is a decoder-only model: it takes no target; put everything in text")
        ids = prompt_ids(adapter, text)  # (1, P), validated
        trace = registry.trace(req.model, text)
        logits = torch.from_numpy(trace.logits[-1])  # (V,) the last row predicts the next token
        cands = candidates(adapter, logits, sampled_probs(ids, logits, req.temperature, req.top_k, req.top_p), req.n)
        return {"model": req.model, "text": text, "tokens": trace.tokens.text, "candidates": _cands(cands)}
    if kind == "encoder-decoder":
        target = req.target or ""
        if target.strip():
            target = checked_text(target, adapter, settings, what="target")
        trace = registry.trace(req.model, text, target)
        logits = torch.from_numpy(trace.logits[-1])  # (V,) after <s> + target
        ids = torch.tensor([trace.target_tokens.ids])
        sampled = sampled_probs(ids, logits, req.temperature, req.top_k, req.top_p)
        return {"model": req.model, "text": text, "tokens": trace.tokens.text, "target": target,
                "target_tokens": trace.target_tokens.text,
                "candidates": _cands(_vocab_candidates(adapter, logits, sampled, req.n))}
    raise ValueError(f"{req.model} is an {kind}: it does not predict next tokens; choose a decoder such as smollm2 "
                     "(or textbook for the next word of a translation)")


@router.post("/generate", summary="Generate token by token; every step's candidates and attention.",
             response_model=GenerateResponse, response_model_exclude_unset=True)
def generate_all(req: GenerateRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Generate token by token; every step's candidates and attention.

    Each step's ``attention`` is base64 little-endian float16 of ``shape`` (layers, heads, p): the row
    of the query that produced the token, over the p tokens before it. textbook: ``attention`` is the
    decoder self-attention over <s> + earlier output words, ``cross_attention`` (``cross_shape``
    (layers, heads, source tokens)) the attention over the source. Decoders: ``kv_cache`` is the KV cache
    when the step's token is chosen: ``tokens`` (= p) cached positions, ``bytes`` = p x ``bytes_per_token``
    (2 x layers x kv_heads x d_head x 4, float32), ``bytes_all_beams`` for the ``beams`` a beam search keeps.
    Decoders with strategy ``beam`` also return ``beam_tree``: every step's hypotheses, ranked by cumulative
    log-probability (``kept`` the best ``beam_width``, the others pruned), the ``best`` path, and ``greedy``'s
    path with its total ``greedy_score`` and the step where the two part (``diverge_step``).
    """
    run = _start(req, registry, settings, lambda: False)
    steps = list(run.steps)
    return {**run.head, **run.summary(steps, stopped=False), "steps": steps}


@router.post(
    "/generate/stream",
    summary="Generate as a stream of NDJSON lines (start, one per step, done); close the connection to stop.",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}},
                     "description": 'one JSON object per line: {"event": "start"}, {"event": "step"}..., '
                                    '{"event": "done", "done": true}'}},
)
def generate_stream(req: GenerateRequest, registry: RegistryDep, settings: SettingsDep) -> StreamingResponse:
    """Generate as a stream of NDJSON lines (start, one per step, done); close the connection to stop.

    Lines: ``{"event": "start", prompt_tokens, layers, heads, ...}``, then ``{"event": "step", ...}`` as
    in ``/api/generate``, then ``{"event": "done", "done": true, tokens, text, full_text, stopped}`` (or
    ``{"event": "error", "done": true, detail}``). A client that disconnects stops the generation.
    """
    stop = threading.Event()
    run = _start(req, registry, settings, stop.is_set)
    return StoppableStream(_ndjson(run, stop), stop)


# --- runs ---------------------------------------------------------------------------------------


class Run:
    """A validated generation: the ``start`` fields, the lazy step dicts and how to sum them up."""

    def __init__(self, head: dict, steps: Iterator[dict], prompt: str, full: bool, attention_request: Callable,
                 extra: Callable[[], dict] | None = None):
        self.head, self.steps, self.prompt, self.full = head, steps, prompt, full
        self.attention_request = attention_request
        self.extra = extra  # more summary fields (the beam tree), computed once the steps are done

    def summary(self, steps: list[dict], stopped: bool) -> dict:
        text = steps[-1]["text"] if steps else ""
        return {
            "tokens": [s["token"] for s in steps],
            "ids": [s["id"] for s in steps],
            "text": text,
            "full_text": self.prompt + text if self.full else None,
            "finished": bool(steps and steps[-1]["finished"]),
            "stopped": stopped,
            "attention_request": self.attention_request(text) if steps else None,
            **(self.extra() if self.extra is not None and steps and not stopped else {}),
        }


def _start(req: GenerateRequest, registry: Registry, settings, should_stop: Callable[[], bool]) -> Run:
    """Validate everything (ValueError -> 422) before a single token is generated."""
    r = resolve(req, registry, settings)
    adapter, text = r.adapter, r.text
    if adapter.info.kind == "decoder":
        return _decoder_run(adapter, req, text, should_stop)
    if adapter.info.offers("translate"):  # the textbook model translates step by step
        return _textbook_run(adapter, req, text)
    raise ValueError(f"{req.model} is an {adapter.info.kind}: it cannot generate text; choose a decoder such as "
                     "smollm2 (or textbook to translate)")


def _decoder_run(adapter: Adapter, req: GenerateRequest, text: str, should_stop: Callable[[], bool]) -> Run:
    seed = req.seed
    if req.strategy == "sample" and seed is None:  # report the seed so the page can reproduce the text
        seed = random.SystemRandom().randrange(2**31)
    steps = generate(adapter, text, req.strategy, req.max_new_tokens, req.temperature, req.top_k, req.top_p,
                     req.beam_width, seed, should_stop, req.n)  # validates now
    _, toks = tokenize(adapter.tokenizer, text)
    info = adapter.info
    head = {"model": req.model, "kind": info.kind, "strategy": req.strategy,
            "seed": seed if req.strategy == "sample" else None, "prompt": text, "prompt_tokens": toks.text,
            "layers": info.layers, "heads": info.heads, "kv_heads": info.kv_heads, "format": "f16"}

    per_token = bytes_per_token(info.layers, info.kv_heads, info.d_head, "float32")
    beams = req.beam_width if req.strategy == "beam" else 1

    def dicts() -> Iterator[dict]:
        for s in steps:
            p = int(s.attention.shape[-1])  # the tokens whose K and V the cache holds when this token is chosen
            cache = {"tokens": p, "bytes_per_token": per_token, "bytes": p * per_token, "beams": beams,
                     "bytes_all_beams": p * per_token * beams}
            yield {**s.to_dict(), "shape": list(s.attention.shape), "attention": f16_base64(s.attention),
                   "kv_cache": cache}

    extra = None
    if req.strategy == "beam":
        def extra() -> dict:
            return {"beam_tree": beam_tree(adapter, text, req.max_new_tokens, req.beam_width, should_stop).to_dict()}
    return Run(head, dicts(), text, True,
               lambda out: {"model": req.model, "text": text + out, "block": "decoder", "format": "f16"}, extra)


def _textbook_run(adapter, req: GenerateRequest, text: str) -> Run:
    if req.strategy == "sample":
        raise ValueError(f'{req.model} translates with strategy "greedy" or "beam" (it does not sample)')
    cfg = adapter.model.cfg
    src = adapter.source_tokens(text)  # validates the source
    max_len = min(req.max_new_tokens, cfg.max_len)
    head = {"model": req.model, "kind": adapter.info.kind, "strategy": req.strategy, "seed": None,
            "prompt": text, "prompt_tokens": src.text, "layers": cfg.n_decoder_layers, "heads": cfg.n_heads,
            "kv_heads": cfg.n_heads, "format": "f16"}

    def dicts() -> Iterator[dict]:
        result = adapter.call(adapter.translate, text, req.strategy, req.beam_width, max_len)
        ids = result.output.ids
        logits = _teacher_forced(adapter, src.ids, ids)  # (T, V): row t predicts output token t
        for t, step in enumerate(result.steps):
            probs = torch.softmax(logits[t], -1)
            chosen = ids[t]
            cands = _vocab_candidates(adapter, logits[t], probs, req.n, include=chosen)
            yield {"index": t, "token": step.token, "id": chosen, "prob": float(probs[chosen]),
                   "prob_sampled": float(probs[chosen]), "candidates": _cands(cands),
                   "text": adapter.tgt_vocab.decode(ids[: t + 1]), "finished": chosen == cfg.eos_id,
                   "shape": list(step.self_attention.shape), "attention": f16_base64(step.self_attention),
                   "cross_shape": list(step.cross_attention.shape),
                   "cross_attention": f16_base64(step.cross_attention)}

    extra = None
    if req.strategy == "beam":
        def extra() -> dict:
            return {"beam_tree": adapter.call(textbook_beam_tree, adapter, text, max_len, req.beam_width).to_dict()}
    return Run(head, dicts(), text, False,
               lambda out: {"model": req.model, "text": text, "target": out, "block": "decoder", "format": "f16"}, extra)


def _teacher_forced(adapter, src_ids: list[int], out_ids: list[int]) -> torch.Tensor:
    """(T, V) logits of the textbook decoder reading <s> + its own output (row t predicts out_ids[t])."""
    cfg = adapter.model.cfg
    with adapter.lock, torch.inference_mode():
        src = torch.tensor([src_ids])  # (1, S)
        tgt = torch.tensor([[cfg.bos_id, *out_ids[:-1]]])  # (1, T)
        return adapter.model(src, tgt)[0].float()  # (T, V)


def _vocab_candidates(adapter, logits: torch.Tensor, sampled: torch.Tensor, n: int,
                      include: int | None = None) -> list[Candidate]:
    """Candidates of a model with a plain word vocabulary (textbook), most likely first."""
    probs = torch.softmax(logits.float(), -1)
    top = torch.topk(logits, min(n, logits.shape[0])).indices.tolist()
    if include is not None and include not in top:
        top.append(include)
    words = adapter.output_tokens(top)
    return [Candidate(token=w, id=i, logit=float(logits[i]), prob=float(probs[i]), prob_sampled=float(sampled[i]))
            for w, i in zip(words, top, strict=True)]


# --- streaming ----------------------------------------------------------------------------------


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _ndjson(run: Run, stop: threading.Event) -> Iterator[bytes]:
    """start, one line per step as it is produced, then done (or error). Runs in the threadpool."""
    yield _line({"event": "start", **run.head})
    steps: list[dict] = []
    try:
        for step in run.steps:
            steps.append(step)
            yield _line({"event": "step", **step})
            if stop.is_set():
                break
    except ValueError as exc:
        yield _line({"event": "error", "done": True, "detail": str(exc)})
        return
    except Exception as exc:  # noqa: BLE001 - the status line is sent: report the failure in the stream
        log.exception("generation failed")
        yield _line({"event": "error", "done": True, "detail": f"generation failed: {type(exc).__name__}: {exc}"})
        return
    yield _line({"event": "done", "done": True, **run.summary(steps, stopped=stop.is_set())})


class StoppableStream(StreamingResponse):
    """An NDJSON stream that sets ``stop`` when the client disconnects (generate() checks it per token).

    Starlette listens for ``http.disconnect`` while streaming only for servers speaking ASGI spec < 2.4
    (uvicorn: 2.3); newer servers would report it only when a write fails, which during a long beam search
    is never. So the stream always listens, whatever the server's spec version.
    """

    media_type = "application/x-ndjson"

    def __init__(self, content: Iterator[bytes], stop: threading.Event, status_code: int = 200) -> None:
        # status_code: FastAPI reads a response class's default status from its signature (OpenAPI)
        super().__init__(content, status_code, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.stop = stop

    async def listen_for_disconnect(self, receive) -> None:
        await super().listen_for_disconnect(receive)
        self.stop.set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.3"}}
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stop.set()  # however the response ends, nothing keeps generating
