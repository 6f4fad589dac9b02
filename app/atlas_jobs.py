"""The server's head-atlas jobs: one worker thread, a bounded queue, finished atlases in memory and on disk.

A job is one :func:`attnscope.inspection.atlas.head_atlas` run. Jobs run one at a time on a single
daemon thread (started on the first job), never on the event loop: ``head_atlas`` takes the model's
lock per prompt, so interactive requests on the same model run between two prompts. A job is
``queued``, ``running``, then ``done`` (its ``result`` is exactly ``Atlas.to_json()``) or ``failed``
(its ``error`` says why).

Finished atlases (a job's, or a file from ``attnscope atlas --out`` that was uploaded) are kept, the
``settings.atlas_keep`` most recent, in memory and as one JSON file each under ``settings.atlas_dir``
(default ``settings.cache / "atlas"``): ``{job, source, created, total, atlas}``. They are read on the first
look-up after a start, so the atlases outlive the process; the oldest atlas out of memory is deleted
from the folder too. Failed jobs are kept in memory only.

The request checks that need no forward pass (tasks, sizes, the model's kind and length limit) run in
:meth:`AtlasJobs.submit`, so a request the atlas cannot run is refused at once, not as a failed job.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from attnscope.inspection.atlas import PROMPTS_RANGE, TASKS, head_atlas, parse_tasks, plan
from attnscope.inspection.atlas.text import split_passages
from attnscope.inspection.registry import Registry
from attnscope.settings import Settings

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed"]
Source = Literal["job", "upload"]
#: job ids: ``secrets.token_urlsafe`` strings (the pattern bounds the ids read back from files)
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{6,32}$")

_Index = Annotated[int, Field(ge=0, strict=True)]
_Score = Annotated[float, Field(allow_inf_nan=False)]


# --- the atlas file: what a job's result is, what an upload must be -----------------------------------


class AtlasHead(BaseModel):
    """One head's mean score per task."""

    model_config = ConfigDict(extra="allow")

    layer: _Index
    head: _Index
    scores: dict[str, _Score] = Field(description="task -> the mean score over the prompts (a finite number)")


class AtlasExample(BaseModel):
    """One (layer, head, prompt) with one of the highest per-prompt scores of a task."""

    model_config = ConfigDict(extra="allow")

    layer: _Index
    head: _Index
    prompt_index: _Index = Field(description="index into inputs[task]")
    score: _Score


class AtlasNeedle(BaseModel):
    """One retrieval prompt: where its needle's tokens are, and how many copy steps it had."""

    model_config = ConfigDict(extra="allow")

    start: _Index
    end: _Index
    prompt_tokens: _Index
    copy_steps: _Index


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("atlas_file", message)


class HeadExample(BaseModel):
    """One of a head's best prompts for a task."""

    model_config = ConfigDict(extra="allow")

    prompt_index: _Index = Field(description="index into inputs[task]")
    score: _Score


class AtlasData(BaseModel):
    """A head atlas, as ``Atlas.to_json()`` and ``attnscope atlas --out FILE.json`` write it.

    ``heads`` is the complete layer x head grid, each (layer, head) once, each carrying a score for
    every task of ``tasks``. Keys it does not declare pass through.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200, description="the model's id (or folder name)")
    tasks: list[str] = Field(min_length=1, description=f"the tasks scored, among {', '.join(TASKS)}")
    prompts: int = Field(ge=1, strict=True, description="number of prompts")
    length: int = Field(ge=1, strict=True, description="n: the length of one copy of a repeated random prompt")
    seed: int = Field(ge=0, strict=True, description="the seed the prompts were drawn with")
    heads: list[AtlasHead] = Field(min_length=1, description="every (layer, head) of the model, with its scores")
    inputs: dict[str, list[list[_Index]]] = Field(
        default_factory=dict, description="task -> the exact token ids of every prompt")
    examples: dict[str, list[AtlasExample]] = Field(
        default_factory=dict, description="task -> the highest per-prompt scores, best first")
    layers: int | None = Field(default=None, ge=1, strict=True, description="layers of the grid")
    heads_per_layer: int | None = Field(default=None, ge=1, strict=True, description="heads of the grid per layer")
    texts: dict[str, list[str]] = Field(default_factory=dict, description="task -> each prompt decoded")
    head_examples: dict[str, list[list[HeadExample]]] = Field(
        default_factory=dict, description="task -> per head (layer-major) its best prompts, best first")
    needles: list[AtlasNeedle] | None = Field(
        default=None, description="retrieval: each needle prompt's needle token span and copy steps")

    @model_validator(mode="before")
    @classmethod
    def _finite(cls, data):
        """Every number of the file finite, the keys this model does not declare included (JSON has no NaN)."""
        todo = [data]
        while todo:
            x = todo.pop()
            if isinstance(x, float) and not math.isfinite(x):
                raise _refuse("the file holds NaN or Infinity: every number of an atlas must be finite")
            if isinstance(x, dict):
                todo.extend(x.values())
            elif isinstance(x, list):
                todo.extend(x)
        return data

    @model_validator(mode="after")
    def _complete(self) -> AtlasData:
        try:
            parse_tasks(self.tasks)
        except ValueError as exc:
            raise _refuse(f"tasks: {exc}") from None
        if len(set(self.tasks)) != len(self.tasks):
            raise _refuse("tasks: a task is listed twice")
        want = set(self.tasks)
        seen: set[tuple[int, int]] = set()
        for h in self.heads:
            where = f"heads: layer {h.layer}, head {h.head}"
            if (h.layer, h.head) in seen:
                raise _refuse(f"{where} appears twice")
            seen.add((h.layer, h.head))
            if set(h.scores) != want:
                missing, extra = sorted(want - set(h.scores)), sorted(set(h.scores) - want)
                raise _refuse(f"{where} has no score for {', '.join(map(repr, missing))}" if missing else
                              f"{where} scores {', '.join(map(repr, extra))}, which is not among the tasks")
        layers, heads = grid((h.layer, h.head) for h in self.heads)
        if len(seen) != layers * heads:
            gap = next((l, h) for l in range(layers) for h in range(heads) if (l, h) not in seen)
            raise _refuse(f"heads: not a complete layer x head grid ({layers} layers x {heads} heads): "
                          f"layer {gap[0]}, head {gap[1]} is missing")
        for what, n in (("layers", self.layers), ("heads_per_layer", self.heads_per_layer)):
            if n is not None and n != (layers, heads)[what != "layers"]:
                raise _refuse(f"{what} is {n}, but the heads form a {layers} x {heads} grid")
        for what, keys in (("inputs", self.inputs), ("examples", self.examples), ("texts", self.texts)):
            extra = sorted(set(keys) - want)
            if extra:
                raise _refuse(f"{what}: {', '.join(map(repr, extra))} is not among the tasks")
        for task, examples in self.examples.items():
            for e in examples:
                if e.layer >= layers or e.head >= heads:
                    raise _refuse(f"examples.{task}: layer {e.layer}, head {e.head} is outside the "
                                  f"{layers} x {heads} grid")
        return self


def grid(cells: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(layers, heads) of the grid of these (layer, head) cells."""
    layers, heads = zip(*cells)
    return 1 + max(layers), 1 + max(heads)


class StoredAtlas(BaseModel):
    """One file of ``atlas_dir``."""

    job: str = Field(pattern=JOB_ID.pattern)
    source: Source
    created: str
    total: int | None = Field(default=None, ge=1, description="the prompts the job scored; uploads: prompts")
    atlas: dict


# --- jobs ---------------------------------------------------------------------------------------------


class JobRefused(Exception):
    """A job the server will not take now; ``status`` is the HTTP status (429: too many jobs)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class _Stopped(Exception):
    """Raised from the progress callback when the server stops: ends the running ``head_atlas``."""


@dataclass
class Job:
    """One atlas: a job's settings and state, or a finished atlas read from a file."""

    id: str
    model: str
    tasks: tuple[str, ...]
    prompts: int
    length: int
    seed: int
    source: Source = "job"
    status: Status = "queued"
    done: int = 0
    total: int = 0
    corpus: list[str] | None = None
    result: dict | None = None
    error: str | None = None
    created: str = ""

    def state(self) -> dict:
        """``{job, status, done, total}``, and ``result`` once done, ``error`` once failed."""
        out: dict = {"job": self.id, "status": self.status, "done": self.done, "total": self.total}
        if self.status == "done":
            out["result"] = self.result
        if self.status == "failed":
            out["error"] = self.error
        return out

    def summary(self) -> dict:
        """What ``GET /api/atlas`` lists of a finished atlas."""
        data = self.result or {}
        layers, heads = grid((h["layer"], h["head"]) for h in data["heads"])
        return {"job": self.id, "model": data["model"], "tasks": list(data["tasks"]), "prompts": data["prompts"],
                "length": data["length"], "seed": data["seed"], "layers": layers, "heads": heads,
                "created": self.created, "source": self.source}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def passages(corpus: str, max_chars: int) -> list[str]:
    """A corpus text split into passages at blank lines; ValueError when too long or empty."""
    if len(corpus) > max_chars:
        raise ValueError(f"corpus is {len(corpus):,} characters long; the limit is {max_chars:,}")
    try:
        corpus.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("corpus contains invalid Unicode (a lone surrogate character)") from None
    parts = split_passages(corpus)
    if not parts:
        raise ValueError("corpus is empty: give passages of text separated by blank lines")
    return parts


def check_request(adapter, tasks: str | Sequence[str], prompts: int, length: int, seed: int,
                  corpus: Sequence[str] | None, max_prompts: int) -> tuple[tuple[str, ...], int]:
    """The server's prompt cap, then every refusal of ``head_atlas`` (its :func:`plan`: no forward pass).

    Returns:
        the tasks (in :data:`TASKS` order) and the number of prompts the job scores (its ``total``).

    Raises:
        ValueError: an unknown or empty task list, sizes out of bounds, an encoder-decoder or a model
            without a Hugging Face model and tokenizer (the textbook model), retrieval on an encoder,
            prompts longer than the model takes.
    """
    names = parse_tasks(tasks)
    lo, hi = PROMPTS_RANGE[0], min(PROMPTS_RANGE[1], max_prompts)
    if not lo <= prompts <= hi:
        cap = " (this server's limit)" if hi < PROMPTS_RANGE[1] else ""
        raise ValueError(f"prompts must be an integer from {lo} to {hi}{cap}, not {prompts}")
    items, _ctx, _bos = plan(adapter, names, prompts, length, seed, corpus)
    return names, len(items)


class AtlasJobs:
    """The atlas jobs of one app: submit, follow, list, upload; one worker thread runs them in turn."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self.dir = Path(settings.atlas_dir or settings.cache / "atlas")
        self._lock = threading.Lock()
        self._active: dict[str, Job] = {}  # queued and running, in submission order
        self._finished: OrderedDict[str, Job] = OrderedDict()  # done, oldest first (as the files)
        self._failed: OrderedDict[str, Job] = OrderedDict()  # failed, oldest first (memory only)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loaded = False

    # --- the public surface ---

    def submit(self, model: str, tasks: str | Sequence[str], prompts: int, length: int, seed: int,
               corpus: str | None = None) -> Job:
        """Check a request and queue it as a job.

        Raises:
            UnknownModelError, ModelUnavailableError: from the registry.
            ValueError: a request the atlas cannot run (:func:`check_request`), a bad corpus.
            JobRefused: ``atlas_max_jobs`` jobs are queued or running (429), or the server is stopping (503).
        """
        self._ensure_loaded()  # the ids of the folder's atlases are taken
        adapter = self.registry.get(model)
        texts = passages(corpus, self.settings.max_chars) if corpus is not None else None
        names, total = check_request(adapter, tasks, prompts, length, seed, texts, self.settings.atlas_max_prompts)
        with self._lock:
            if self._stop.is_set():
                raise JobRefused(503, "the server is stopping: start the atlas again in a moment")
            if len(self._active) >= self.settings.atlas_max_jobs:
                raise JobRefused(429, f"{len(self._active)} atlas jobs are queued or running, the most this "
                                      "server takes: wait for one to finish, then start this one again")
            job = Job(id=self._new_id(), model=model, tasks=names, prompts=prompts, length=length, seed=seed,
                      total=total, corpus=texts, created=_now())
            self._active[job.id] = job
            self._start_worker()
        self._queue.put(job)
        return job

    def state(self, job_id: str) -> dict | None:
        """:meth:`Job.state` of ``job_id`` (read while the worker cannot change it), or None."""
        self._ensure_loaded()
        with self._lock:
            job = self._active.get(job_id) or self._finished.get(job_id) or self._failed.get(job_id)
            return None if job is None else job.state()

    def finished(self) -> list[Job]:
        """Every finished atlas kept, most recent first."""
        self._ensure_loaded()
        with self._lock:
            return list(reversed(self._finished.values()))

    def upload(self, data: dict) -> Job:
        """Keep an atlas file (an :class:`AtlasData` already checked) as a finished atlas."""
        self._ensure_loaded()
        with self._lock:
            job = Job(id=self._new_id(), model=data["model"], tasks=tuple(data["tasks"]), prompts=data["prompts"],
                      length=data["length"], seed=data["seed"], source="upload", status="done",
                      done=data["prompts"], total=data["prompts"], result=data, created=_now())
        self._write(job)
        self._keep(job)
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: the running job ends after its current prompt; it and the queued ones fail."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the worker ---

    def _new_id(self) -> str:
        while True:  # 48 random bits: a collision is for the tests of the far future
            jid = secrets.token_urlsafe(6)
            if jid not in self._active and jid not in self._finished and jid not in self._failed:
                return jid

    def _start_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="attnscope-atlas", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _progress(self, job: Job, done: int, total: int) -> None:
        if self._stop.is_set():
            raise _Stopped
        with self._lock:
            job.done, job.total = done, total

    def _run(self, job: Job) -> None:
        if self._stop.is_set():
            return self._fail(job, "the server stopped before the job ran")
        with self._lock:
            job.status = "running"
        try:
            adapter = self.registry.get(job.model)
            atlas = head_atlas(adapter, job.tasks, prompts=job.prompts, length=job.length, seed=job.seed,
                               progress=lambda done, total: self._progress(job, done, total), corpus=job.corpus)
            data = atlas.to_json()
            AtlasData.model_validate(data)  # what a job serves is what an upload must be
        except _Stopped:
            return self._fail(job, "the server stopped while the job ran")
        except ValidationError as exc:
            log.error("atlas job %s made an atlas that is not a valid atlas file: %s", job.id, exc)
            return self._fail(job, f"the atlas came out invalid: {_first_error(exc)}")
        except ValueError as exc:
            return self._fail(job, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure ends this job, not the worker
            log.exception("atlas job %s failed", job.id)
            return self._fail(job, f"{type(exc).__name__}: {exc}")
        job.result, job.created, job.corpus = data, _now(), None
        self._write(job)
        with self._lock:
            job.status = "done"
        self._keep(job)

    def _fail(self, job: Job, error: str) -> None:
        with self._lock:
            job.status, job.error = "failed", error
            self._active.pop(job.id, None)
            self._failed[job.id] = job
            while len(self._failed) > self.settings.atlas_keep:
                self._failed.popitem(last=False)

    # --- keeping finished atlases ---

    def _keep(self, job: Job) -> None:
        """Add a finished atlas (its file written) to memory, and drop the oldest beyond ``atlas_keep``."""
        self._ensure_loaded()
        with self._lock:
            self._active.pop(job.id, None)
            self._finished[job.id] = job
            while len(self._finished) > self.settings.atlas_keep:
                _, old = self._finished.popitem(last=False)
                (self.dir / f"{old.id}.json").unlink(missing_ok=True)

    def _write(self, job: Job) -> None:
        record = {"job": job.id, "source": job.source, "created": job.created, "total": job.total,
                  "atlas": job.result}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".{job.id}.json.tmp"
            tmp.write_text(json.dumps(record, allow_nan=False), encoding="utf-8")
            os.replace(tmp, self.dir / f"{job.id}.json")
        except (OSError, ValueError) as exc:  # kept in memory all the same; lost at the next start
            log.error("atlas %s could not be written to %s: %s", job.id, self.dir, exc)

    def _ensure_loaded(self) -> None:
        """Read the folder's atlases once (the ``atlas_keep`` most recent), behind any kept since the start."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            found = [job for path in sorted(self.dir.glob("*.json")) if (job := _read(path)) is not None] \
                if self.dir.is_dir() else []
            found.sort(key=lambda j: j.created)
            merged = {j.id: j for j in found[-self.settings.atlas_keep:]}
            merged.update(self._finished)
            self._finished = OrderedDict(sorted(merged.items(), key=lambda kv: kv[1].created))
            while len(self._finished) > self.settings.atlas_keep:
                self._finished.popitem(last=False)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


def _read(path: Path) -> Job | None:
    """The finished atlas of one file of ``atlas_dir``, or None (logged) when it is not one."""
    try:
        record = StoredAtlas.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if record.job != path.stem:
            raise ValueError(f"the file's job id is {record.job!r}")
        data = AtlasData.model_validate(record.atlas)
    except (OSError, ValueError) as exc:  # ValidationError and JSONDecodeError are ValueErrors
        log.warning("skipping %s: not an atlas file (%s)", path, str(exc).splitlines()[0])
        return None
    total = record.total or data.prompts
    return Job(id=record.job, model=data.model, tasks=tuple(data.tasks), prompts=data.prompts, length=data.length,
               seed=data.seed, source=record.source, status="done", done=total, total=total,
               result=record.atlas, created=record.created)


_FOR_APP = threading.Lock()


def for_app(app) -> AtlasJobs:
    """The app's :class:`AtlasJobs` (``app.state.atlas_jobs``), made on first use."""
    jobs = getattr(app.state, "atlas_jobs", None)
    if jobs is None:
        with _FOR_APP:
            jobs = getattr(app.state, "atlas_jobs", None)
            if jobs is None:
                jobs = app.state.atlas_jobs = AtlasJobs(app.state.registry, app.state.settings)
    return jobs
