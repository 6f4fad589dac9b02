"""The head atlas as jobs: start one, follow its progress, list the finished atlases, upload a CLI file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import Field

from attnscope.inspection.atlas import DEFAULT_TASKS, LENGTH_RANGE, PROMPTS_RANGE, TASKS
from attnscope_server.api.schemas import Answer, ModelRequest
from attnscope_server.atlas_jobs import AtlasData, AtlasJobs, JobRefused, Source, Status, for_app

router = APIRouter(prefix="/api", tags=["atlas"])


def get_jobs(request: Request) -> AtlasJobs:
    return for_app(request.app)


JobsDep = Annotated[AtlasJobs, Depends(get_jobs)]
JobId = Annotated[str, Path(max_length=64, description="a job id from POST /api/atlas or /api/atlas/upload")]
TaskName = Annotated[str, Field(max_length=32)]


class AtlasRequest(ModelRequest):
    """One head-atlas job: which model, which tasks, how many seeded repeated random prompts."""

    tasks: Annotated[list[TaskName], Field(max_length=32)] | Annotated[str, Field(max_length=300)] = Field(
        default=list(DEFAULT_TASKS), description=f"task names, a list or a comma string, among: {', '.join(TASKS)}")
    prompts: int = Field(default=20, ge=PROMPTS_RANGE[0],
                         description=f"prompts per kind of prompt (repeated, natural text, needle), "
                                     f"{PROMPTS_RANGE[0]} to the server's atlas_max_prompts "
                                     f"(200 by default; {PROMPTS_RANGE[1]} at most)")
    length: int = Field(default=16, ge=LENGTH_RANGE[0], le=LENGTH_RANGE[1],
                        description="n: a prompt is [BOS] + n random token ids + the same n again")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="the same seed draws the same prompts")
    corpus: str | None = Field(
        default=None, description="text for previous_text, entropy, distance and retrieval, split into passages "
                                  "at blank lines (at most the server's max_chars characters); omitted: the "
                                  "shipped corpus")


class AtlasStarted(Answer):
    """``POST /api/atlas``: the job started (202)."""

    job: str = Field(description="the job id: GET /api/atlas/{job} follows it")


class AtlasJobState(Answer):
    """``GET /api/atlas/{job}``: a job's status and progress; the atlas once done, the reason once failed."""

    job: str
    status: Status = Field(description="queued | running | done | failed")
    done: int = Field(description="prompts scored so far")
    total: int = Field(description="prompts to score: prompts x the kinds the tasks need (repeated, text, needle)")
    result: AtlasData | None = Field(default=None, description="status done: exactly the CLI's JSON (Atlas.to_json)")
    error: str | None = Field(default=None, description="status failed: why")


class AtlasSummary(Answer):
    """One finished atlas: its settings and grid, without the scores."""

    job: str
    model: str
    tasks: list[str]
    prompts: int
    length: int
    seed: int
    layers: int
    heads: int = Field(description="heads per layer")
    created: str = Field(description="when it finished (or was uploaded), ISO 8601 UTC")
    source: Source = Field(description="job: run by this server; upload: a file from attnscope atlas --out")


class AtlasList(Answer):
    atlases: list[AtlasSummary] = Field(description="most recent first")


@router.post("/atlas", status_code=202, response_model=AtlasStarted, response_model_exclude_unset=True,
             summary="Start a head-atlas job: every head of a model scored over seeded random prompts.")
def start_atlas(req: AtlasRequest, jobs: JobsDep) -> dict:
    """Start a head-atlas job: every head of a model scored over seeded random prompts.

    A repeated prompt is ``[BOS] + r + r``, ``r`` being ``length`` random token ids (special ids left
    out) drawn with the seed. Per head, each score is a mean over the prompts of: ``previous``
    w[i, i-1] (i >= 1); ``induction`` w[i, i-n+1] and ``duplicate`` w[i, i-n] over the second copy;
    ``sink`` w[i, 0]; on natural text (``corpus``, else the shipped one): ``previous_text`` (asked for
    with ``previous``), ``entropy`` and ``distance`` as /api/heads; ``retrieval`` (decoders): the
    share of the steps copying a needle at which the head's most-attended key is that needle token.
    Jobs run one at a time in the background: 202 with the job id at once, then follow it with
    GET /api/atlas/{job}. Refused: an unknown model (404), a request the atlas cannot run (an unknown
    task, sizes out of bounds, retrieval on an encoder, an encoder-decoder or the textbook model: 422),
    too many jobs queued or running (429: wait).
    """
    try:
        job = jobs.submit(req.model, req.tasks, req.prompts, req.length, req.seed, req.corpus)
    except JobRefused as exc:
        raise HTTPException(exc.status, exc.detail) from None
    return {"job": job.id}


@router.get("/atlas", response_model=AtlasList, response_model_exclude_unset=True,
            summary="The finished head atlases kept by the server, most recent first.")
def list_atlases(jobs: JobsDep) -> dict:
    """The finished head atlases kept by the server, most recent first.

    Jobs that ran here (``source`` "job") and uploaded files ("upload"); the server keeps the most
    recent ones (``atlas_keep``, 32 by default), across restarts. GET /api/atlas/{job} gives the scores.
    """
    return {"atlases": [j.summary() for j in jobs.finished()]}


@router.get("/atlas/{job}", response_model=AtlasJobState, response_model_exclude_unset=True,
            summary="A head-atlas job's status and progress, and its atlas once done.")
def atlas_job(job: JobId, jobs: JobsDep) -> dict:
    """A head-atlas job's status and progress, and its atlas once done.

    ``status`` is queued, running, done or failed; ``done`` of ``total`` prompts are scored. Once done,
    ``result`` is the atlas, as ``attnscope atlas --out`` writes it: ``{model, tasks, prompts, length,
    seed, heads: [{layer, head, scores: {task: mean score}}], inputs: {task: [[token ids]...]},
    examples: {task: [{layer, head, prompt_index, score}]}}``. Once failed, ``error`` says why.
    """
    state = jobs.state(job)
    if state is None:
        raise HTTPException(404, f"no atlas job {job!r}: the id is wrong or the atlas was dropped "
                                 "(GET /api/atlas lists the ones kept)")
    return state


@router.post("/atlas/upload", status_code=201, response_model=AtlasSummary, response_model_exclude_unset=True,
             summary="Upload a head atlas written by attnscope atlas --out FILE.json.")
def upload_atlas(atlas: AtlasData, jobs: JobsDep) -> dict:
    """Upload a head atlas written by ``attnscope atlas --out FILE.json``.

    The body is the file's JSON. It must hold the complete layer x head grid, each (layer, head)
    once with a finite score for every task of ``tasks``; other keys are kept. 201 with the id under
    which it is listed (GET /api/atlas) and read (GET /api/atlas/{job}, status done); 422 says what
    is wrong with a file; 413 a body over the server's max_body_bytes.
    """
    job = jobs.upload(atlas.model_dump(mode="json", exclude_unset=True))
    return job.summary()
