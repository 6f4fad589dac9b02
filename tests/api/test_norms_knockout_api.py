"""/api/norms and /api/knockout over tiny models: typed answers, the core's numbers, and 422s with a detail."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from attnscope.inspection.knockout import MAX_EDGES, knockout
from attnscope.inspection.norms import norms
from tests.api.test_response_models import response_model, strict
from tests.inspect import family_fixtures as ff

TEXT = "The cat sat on the mat. The cat"
FAMILIES = ("bert", "llama", "gpt2", "t5", "opt", "deberta-v2")


@pytest.fixture(scope="module")
def tiny_client():
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app

    settings = Settings(models=[ModelSpec(id=f"tiny-{f}", source="test") for f in FAMILIES], load_at_start=False)
    registry = Registry(settings, builder=lambda spec: ff.tiny(spec.id.removeprefix("tiny-")))
    with TestClient(create_app(settings, registry)) as c:
        yield c


def post(client, path: str, status: int = 200, **body) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text[:500]
    data = r.json()
    if status == 200:
        strict(response_model("post", path)).model_validate(data)
    return data


@pytest.mark.parametrize("family, block, target", [("bert", None, None), ("llama", None, None),
                                                   ("gpt2", None, None), ("opt", None, None),
                                                   ("t5", "cross", "It sat."), ("t5", "encoder", None)])
def test_norms_answer_the_cores_numbers(tiny_client, family, block, target):
    body = {"model": f"tiny-{family}", "text": TEXT, "layer": 1}
    if block:
        body.update(block=block, target=target)
    data = post(tiny_client, "/api/norms", **body)
    n = norms(ff.tiny(family), TEXT, 1, block, target)
    assert data["block"] == n.block and data["shape"] == list(n.weights.shape) and data["heads"] == 4
    assert data["query_tokens"] == n.query_tokens and data["key_tokens"] == n.key_tokens
    for name in ("weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised",
                 "value_norms", "value_norms_with_wo"):
        np.testing.assert_allclose(np.array(data[name]), getattr(n, name), atol=1e-6, err_msg=name)
    assert "W_O's bias" in data["note"] and len(data["first_key"]["norm"]) == 4
    half = post(tiny_client, "/api/norms", **body, format="f16")
    got = np.frombuffer(base64.b64decode(half["norms_with_wo"]), dtype="<f2").reshape(half["shape"])
    np.testing.assert_allclose(got, n.norms_with_wo, rtol=2e-3, atol=1e-3)


def test_norms_openapi_states_the_definitions(tiny_client):
    op = tiny_client.app.openapi()["paths"]["/api/norms"]["post"]
    assert "‖α_ij · f(x_j)‖" in op["description"] and "W_O^h" in op["description"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("NormsResponse")
    op = tiny_client.app.openapi()["paths"]["/api/knockout"]["post"]
    assert "-inf" in op["description"] and "renormalise" in op["description"]


def test_norms_refusals(tiny_client):
    bad = [({"model": "tiny-bert", "text": TEXT, "layer": 2}, "layer 2 is out of range"),
           ({"model": "tiny-bert", "text": TEXT, "layer": -1}, "layer -1 is out of range"),
           ({"model": "tiny-deberta-v2", "text": TEXT, "layer": 0}, "value-weighted norms are not available"),
           ({"model": "tiny-bert", "text": TEXT, "layer": 0, "block": "cross"}, "has no 'cross' attention"),
           ({"model": "tiny-bert", "text": TEXT}, "layer is required"),
           ({"model": "tiny-bert", "text": " ", "layer": 0}, "text is empty")]
    for body, detail in bad:
        assert detail in post(tiny_client, "/api/norms", 422, **body)["detail"], body
    assert post(tiny_client, "/api/norms", 404, model="nope", text=TEXT, layer=0)["detail"]


def test_knockout_decoder_answer(tiny_client):
    edges = [[0, 5, 2], [0, 5, 0], [1, 9, 1]]
    data = post(tiny_client, "/api/knockout", model="tiny-llama", text=TEXT, edges=edges)
    k = knockout(ff.tiny("llama"), TEXT, edges)
    assert data["kind"] == "decoder" and data["layers"] == [0, 1] and data["edges"] == 3 and data["blocked"] == 3
    assert data["kl"] == pytest.approx(k.extra["kl"]) and data["kl"] > 0
    assert data["before"][0]["id"] == data["top_token"]["id"] and len(data["after"]) == 10
    top = data["top_token"]
    assert top["change"] == pytest.approx(top["prob_after"] - top["prob_before"])
    passages = post(tiny_client, "/api/knockout", model="tiny-llama", text=TEXT,
                    edges={"from_passage": [4, 9], "to_passage": [0, 3]})
    assert passages["edges"] == 2 * 5 * 3 and passages["blocked"] == 2 * 5 * 3


def test_knockout_encoder_and_encoder_decoder_answers(tiny_client):
    enc = post(tiny_client, "/api/knockout", model="tiny-bert", text=TEXT, edges=[[0, 3, 1], [1, 5, 2]])
    assert enc["kind"] == "encoder" and [q["query"] for q in enc["queries"]] == [3, 5]
    assert all(q["cosine"] < 1.0 and q["change_norm"] > 0 for q in enc["queries"])
    assert len(enc["token_cosine"]) == len(enc["query_tokens"])
    none = post(tiny_client, "/api/knockout", model="tiny-bert", text=TEXT, edges=[])
    assert none["queries"] == [] and set(none["token_cosine"]) == {1.0}
    for block in ("encoder", "cross", "decoder"):
        ed = post(tiny_client, "/api/knockout", model="tiny-t5", text=TEXT, target="It sat.", block=block,
                  edges=[[0, 2, 1]])  # layer 0: the next layer carries the change to the last position
        assert ed["kind"] == "encoder-decoder" and ed["block"] == block and ed["target"] == "It sat."
        assert ed["kl"] > 0 and ed["blocked"] == 1
        source, target = (ed["key_tokens"], ed["query_tokens"]) if block == "cross" else (None, None)
        if block == "cross":  # queries: the decoder input (start token + target); keys: the source
            assert len(source) == ff.tiny("t5").count_tokens(TEXT) and len(target) < len(source)
        else:
            assert ed["query_tokens"] == ed["key_tokens"]


def test_knockout_refusals(tiny_client):
    t = ff.tiny("bert").count_tokens(TEXT)
    bad = [
        ({"model": "tiny-bert", "edges": [[2, 0, 0]]}, "layer 2 is out of range"),
        ({"model": "tiny-bert", "edges": [[0, t, 0]]}, f"query {t} is out of range"),
        ({"model": "tiny-bert", "edges": [[0, 0, t]]}, f"key {t} is out of range"),
        ({"model": "tiny-bert", "edges": [[0, 1]]}, "each edge is [layer, query, key]"),
        ({"model": "tiny-bert", "edges": [[0, 1, 1]] * (MAX_EDGES + 1)}, f"at most {MAX_EDGES}"),
        ({"model": "tiny-bert", "edges": {"from_passage": [2, 3], "to_passage": [0, t]}}, "cannot be renormalised"),
        ({"model": "tiny-bert", "edges": {"from_passage": [5, 2], "to_passage": [0, 1]}}, "is not a token range"),
        ({"model": "tiny-bert", "edges": {"from_passage": [0, 2]}}, "edges"),
        ({"model": "tiny-llama", "edges": [[0, 0, 0]]}, "every key it attends to is blocked"),
        ({"model": "tiny-llama", "edges": [], "target": "x"}, "takes no target text"),
        ({"model": "tiny-deberta-v2", "edges": [[0, 1, 1]]}, "attention knockout is not available"),
        ({"model": "tiny-bert"}, "edges is required"),
    ]
    for body, detail in bad:
        got = post(tiny_client, "/api/knockout", 422, text=TEXT, **body)["detail"]
        assert detail in got, (body, got)
