"""The /api/long routes over tiny long-context models: header, tiles (JSON and binary), rows, aggregates, errors."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from attnscope.encode import unpack_binary
from attnscope.inspection.longctx import zoom_levels
from tests.asgi_stream import read_then_disconnect_sync
from tests.long.long_fixtures import passages_text, tiny_long


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry, build_adapter
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app
    from tests.inspect import family_fixtures as ff

    specs = [ModelSpec(id=f"long-{f}", source="test") for f in ("llama", "mistral", "bert")]
    specs += [ModelSpec(id="tiny-t5", source="test"), ModelSpec(id="textbook", source="builtin:textbook",
                                                                family="textbook")]

    def builder(spec):
        if spec.id == "tiny-t5":
            return ff.tiny("t5")
        return tiny_long(spec.id.removeprefix("long-"))[0] if spec.source == "test" else build_adapter(spec)

    settings = Settings(models=specs, load_at_start=False, long_dtype="float32")
    with TestClient(create_app(settings, Registry(settings, builder=builder))) as c:
        yield c


@pytest.fixture(scope="module")
def header(client):
    r = client.post("/api/long", json={"model": "long-llama", "text": passages_text()})
    assert r.status_code == 200, r.text
    return r.json()


def eager(model_id: str, text: str) -> np.ndarray:
    adapter, model = tiny_long(model_id.removeprefix("long-"))
    with torch.inference_mode():
        own = model(input_ids=adapter.tokenized(text)[0]["input_ids"], output_attentions=True).attentions
    return torch.stack([a[0] for a in own]).numpy()  # (L, H, T, T)


def test_the_header(header):
    t = len(header["tokens"])
    assert set(header) >= {"trace_id", "model", "tokens", "special", "offsets", "layers", "heads", "kv_heads", "tile",
                           "zoom_levels", "passages", "seconds", "bytes_kept"}
    assert header["tile"] == 256 and header["zoom_levels"] == zoom_levels(t) == 3 and t > 800
    assert header["layers"] == 2 and header["heads"] == 4 and header["kv_heads"] == 2
    assert [p["index"] for p in header["passages"]] == list(range(8))
    assert header["passages"][3]["title"] == "Passage 3" and header["passages"][0]["start"] == 0
    assert all(a["end"] == b["start"] for a, b in zip(header["passages"], header["passages"][1:]))
    assert 0 < header["bytes_kept"] < 2 * 4 * t * t * 4 and header["dtype"] == "float32"


def test_a_kept_trace_answers_its_header_again(client, header):
    again = client.get(f"/api/long/{header['trace_id']}")
    assert again.status_code == 200 and again.json() == {**header, "seconds": again.json()["seconds"]}
    assert client.get("/api/long/0123456789abcdef").status_code == 404


def test_tiles_rows_and_aggregates_equal_eager(client, header):
    w = eager("long-llama", passages_text())
    tid, levels, t = header["trace_id"], header["zoom_levels"], len(header["tokens"])
    r = client.get(f"/api/long/{tid}/tile", params=dict(layer=1, head=2, z=levels - 1, x=1, y=2))
    tile = r.json()
    assert r.status_code == 200 and tile["rows"] == [512, min(t, 768)] and tile["cols"] == [256, 512]
    np.testing.assert_allclose(tile["weights"], w[1, 2, 512:768, 256:512], atol=1e-5)
    assert tile["z"] == levels - 1 and tile["reduce"] == "max" and tile["shape"] == [min(t, 768) - 512, 256]
    z0 = client.get(f"/api/long/{tid}/tile", params=dict(layer=0, head="mean", z=0, x=0, y=0, reduce="sum")).json()
    mean = w[0].mean(0)
    cell = 2 ** (levels - 1)
    n = -(-t // cell)
    want = np.pad(mean, (0, n * cell - t)).reshape(n, cell, n, cell).sum((1, 3))
    np.testing.assert_allclose(z0["weights"], want, rtol=1e-5, atol=1e-5)
    row = client.get(f"/api/long/{tid}/row", params=dict(layer=1, head=0, query=t - 1)).json()
    assert row["query"] == t - 1
    np.testing.assert_allclose(row["weights"], w[1, 0, t - 1], atol=1e-5)
    rec = client.get(f"/api/long/{tid}/received", params=dict(layer=1, head=3)).json()["weights"]
    np.testing.assert_allclose(rec, w[1, 3].sum(0), rtol=1e-5, atol=1e-4)
    pm = client.get(f"/api/long/{tid}/passages", params=dict(layer=0, head=1)).json()
    assert len(pm["passages"]) == 8
    np.testing.assert_allclose(np.sum(pm["mass"], 1), 1, atol=1e-5)
    dist = client.get(f"/api/long/{tid}/distance", params=dict(layer=0, head=0)).json()
    assert dist["bins"][:3] == [[0, 1], [1, 2], [2, 4]] and len(dist["mean_weight"]) == len(dist["bins"])
    assert abs(dist["mean_weight"][0] - np.mean(np.diag(w[0, 0]))) < 1e-5


def test_binary_and_compact_tiles(client, header):
    tid, levels = header["trace_id"], header["zoom_levels"]
    params = dict(layer=0, head=1, z=levels - 1, x=0, y=0)
    exact = np.array(client.get(f"/api/long/{tid}/tile", params=params).json()["weights"])
    for fmt, tol in (("f16", 1e-3), ("u8", 1 / 255)):
        r = client.get(f"/api/long/{tid}/tile", params=params | {"format": fmt},
                       headers={"Accept": "application/octet-stream"})
        assert r.headers["content-type"] == "application/octet-stream"
        head, raw = unpack_binary(r.content)
        arr = (np.frombuffer(raw, "<f2") if fmt == "f16" else np.frombuffer(raw, np.uint8) / 255.0) * head["scale"]
        np.testing.assert_allclose(arr.reshape(head["shape"]), exact, atol=tol)
    r = client.get(f"/api/long/{tid}/tile", params=dict(layer=0, head=0, z=0, x=0, y=0, reduce="sum", format="u8"),
                   headers={"Accept": "application/octet-stream"})
    head, raw = unpack_binary(r.content)
    assert head["scale"] > 1  # sums pass 1: the bytes are relative to the tile's max
    assert np.frombuffer(raw, np.uint8).max() == 255


def test_a_sliding_window_model_and_an_encoder(client):
    text = passages_text(6)
    for mid in ("long-mistral", "long-bert"):
        h = client.post("/api/long", json={"model": mid, "text": text, "passages": "none"}).json()
        assert len(h["passages"]) == 1 and h["passages"][0]["end"] == len(h["tokens"])
        w = eager(mid, text)
        t = len(h["tokens"])
        row = client.get(f"/api/long/{h['trace_id']}/row", params=dict(layer=1, head=3, query=t - 1)).json()
        np.testing.assert_allclose(row["weights"], w[1, 3, t - 1], atol=1e-5)


@pytest.mark.parametrize("params, status, needle", [
    (dict(z=3), 422, "zoom levels 0 to 2"),
    (dict(x=1), 422, "tiles 0 to 0"),
    (dict(z=2, y=4), 422, "out of range"),
    (dict(layer=2), 422, "layer 2"),
    (dict(head=9), 422, "head 9"),
    (dict(head="first"), 422, "head"),
    (dict(reduce="median"), 422, "reduce"),
    (dict(z=-1), 422, "z"),
])
def test_bad_tile_parameters_are_4xx(client, header, params, status, needle):
    r = client.get(f"/api/long/{header['trace_id']}/tile", params=dict(layer=0, head=0, z=0, x=0, y=0) | params)
    assert r.status_code == status and needle in json.dumps(r.json()["detail"]), r.text


@pytest.mark.parametrize("path", ["tile?layer=0&head=0&z=0&x=0&y=0", "row?layer=0&head=0&query=0",
                                  "received?layer=0&head=0", "passages?layer=0&head=0", "distance?layer=0&head=0"])
def test_an_unknown_trace_is_404(client, path):
    r = client.get(f"/api/long/0123456789abcdef/{path}")
    assert r.status_code == 404 and "unknown or was evicted" in r.json()["detail"]


@pytest.mark.parametrize("body, needle", [
    ({"model": "tiny-t5", "text": "hello"}, "encoder-decoder"),
    ({"model": "textbook", "text": "le chat"}, "keep their limit"),
    ({"model": "long-llama", "text": "   "}, "empty"),
    ({"model": "long-llama", "text": passages_text(60, 80)}, "at most 4096 tokens"),
    ({"model": "nope", "text": "hi"}, "nope"),
    ({"model": "long-llama", "text": "hi", "passages": "sentences"}, "passages"),
])
def test_bad_requests_are_4xx(client, body, needle):
    r = client.post("/api/long", json=body)
    assert 400 <= r.status_code < 500 and needle in json.dumps(r.json()["detail"]), r.text


def test_the_stream_reports_each_layer_then_the_header(client):
    with client.stream("POST", "/api/long/stream", json={"model": "long-mistral", "text": passages_text(4)}) as r:
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert [x["progress"] for x in lines[:-1]] == [{"layer": 1, "layers": 2}, {"layer": 2, "layers": 2}]
    trace = lines[-1]["trace"]
    assert trace["layers"] == 2 and client.get(f"/api/long/{trace['trace_id']}/received",
                                               params=dict(layer=0, head=0)).status_code == 200


def test_the_stream_stops_when_the_client_disconnects(client, header, monkeypatch):  # header: a kept trace
    from attnscope.inspection.longctx import forward

    done, real = [], forward.LongRecorder.attend

    def slow(self, *args, **kwargs):  # each layer takes a while: the client leaves during the second
        time.sleep(0.4)
        out = real(self, *args, **kwargs)  # checks the stop flag first
        done.append(threading.current_thread().name)
        return out

    monkeypatch.setattr(forward.LongRecorder, "attend", slow)
    cache = client.app.state.long_cache
    before = len(cache)
    body = {"model": "long-llama", "text": passages_text(3)}
    lines = read_then_disconnect_sync(client.app, "/api/long/stream", body, lambda got: len(got) >= 1)
    assert lines == [{"progress": {"layer": 1, "layers": 2}}]
    time.sleep(1.2)
    assert len(done) == 1, done  # the second layer never completed
    assert len(cache) == before  # and nothing was kept
    adapter = tiny_long("llama")[0]
    assert adapter.lock.acquire(timeout=2)
    adapter.lock.release()


def test_an_answer_over_a_long_prompt_reads_its_passages(client):
    """Greedy answer tokens equal model.generate; each token's passage masses are its own attention row's."""
    text = passages_text(5) + "\n\nQuestion: which passage"
    r = client.post("/api/long/generate", json={"model": "long-llama", "text": text, "max_new_tokens": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    adapter, model = tiny_long("llama")
    ids = adapter.tokenized(text)[0]["input_ids"]
    with torch.inference_mode():
        want = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)[0, ids.shape[1]:].tolist()
    assert body["ids"] == want[: len(body["ids"])] and len(body["ids"]) >= 1
    t = len(body["trace"]["tokens"])
    assert len(body["trace"]["passages"]) == 6
    full = torch.tensor([ids[0].tolist() + body["ids"]])
    with torch.inference_mode():
        own = model(input_ids=full, output_attentions=True).attentions
    for step in body["steps"]:
        q = t + step["index"]  # the query that read this token as input
        row = torch.stack([a[0, :, q, : q + 1] for a in own]).mean(1).numpy()  # (L, keys)
        spans = [(p["start"], p["end"]) for p in body["trace"]["passages"]]
        want_mass = np.stack([row[:, a:b].sum(1) for a, b in spans], -1)
        np.testing.assert_allclose(step["mass"], want_mass, atol=1e-4)
        np.testing.assert_allclose(np.sum(step["mass"], 1) + step["answer_mass"], 1, atol=1e-4)
        top = step["top_keys"][0]
        assert top["index"] == int(np.argmax(row[:, :t].mean(0))) and top["token"] == body["trace"]["tokens"][top["index"]]
        assert step["passage"] == int(np.argmax(np.mean(step["mass"], 0)))
    tid = body["trace"]["trace_id"]
    assert client.get(f"/api/long/{tid}/passages", params=dict(layer=0, head="mean")).status_code == 200


def test_only_decoders_answer(client):
    r = client.post("/api/long/generate", json={"model": "long-bert", "text": passages_text(2)})
    assert r.status_code == 422 and "only decoders answer" in r.json()["detail"]
    r = client.post("/api/long/generate", json={"model": "long-llama", "text": "hi", "max_new_tokens": 65})
    assert r.status_code == 422
