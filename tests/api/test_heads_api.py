"""/api/heads and /api/rollout: every statistic recomputed by hand from /api/attention's weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

SENTENCE = "The animal didn't cross the street because it was too tired"


@pytest.fixture(scope="module")
def tiny_client(tiny_bert):
    """The real app over a registry that holds only the random tiny BERT."""
    from fastapi.testclient import TestClient

    from attnscope.settings import ModelSpec, Settings
    from attnscope.inspection.registry import Registry
    from attnscope_server.main import create_app

    settings = Settings(models=[ModelSpec(id="tiny-bert", source="test", family="bert")])
    with TestClient(create_app(settings, Registry(settings, builder=lambda _spec: tiny_bert))) as c:
        yield c


def by_hand(w: list[list[float]], special: list[bool]) -> dict:
    """One head's statistics with explicit loops (no mask: BERT sees every key)."""
    t = len(w)
    ent = ent_norm = dist = self_w = prev = nxt = first = spec = 0.0
    for i in range(t):
        row_ent = 0.0
        for j in range(t):
            if w[i][j] > 0:
                row_ent -= w[i][j] * math.log(w[i][j])
            dist += w[i][j] * abs(i - j)
            if special[j]:
                spec += w[i][j]
        ent += row_ent
        ent_norm += row_ent / math.log(t)
        self_w += w[i][i]
        first += w[i][0]
        if i >= 1:
            prev += w[i][i - 1]
        if i <= t - 2:
            nxt += w[i][i + 1]
    return {"entropy": ent / t, "entropy_norm": ent_norm / t, "distance": dist / t, "self": self_w / t,
            "previous": prev / (t - 1), "next": nxt / (t - 1), "first": first / t, "special": spec / t}


def check_every_head(client, model: str, text: str) -> dict:
    att = client.post("/api/attention", json={"model": model, "text": text}).json()
    heads = client.post("/api/heads", json={"model": model, "text": text})
    assert heads.status_code == 200, heads.text
    body = heads.json()
    weights = att["weights"]  # (L, H, T, T) nested lists
    n_layers, n_heads = att["shape"][:2]
    assert (body["model"], body["block"], body["layers"], body["heads"]) == (model, "encoder", n_layers, n_heads)
    assert len(body["stats"]) == n_layers and all(len(row) == n_heads for row in body["stats"])
    for layer in range(n_layers):
        for head in range(n_heads):
            want = by_hand(weights[layer][head], att["key_special"])
            got = body["stats"][layer][head]
            for name, value in want.items():
                assert got[name] == pytest.approx(value, abs=1e-5), (layer, head, name)
    return body


@pytest.mark.slow
def test_minilm_every_head_by_hand(client):
    body = check_every_head(client, "minilm", SENTENCE)
    labels = {r["label"] for r in body["labels_rules"]}
    assert {"previous-token", "broad", "mixed"} <= labels
    assert all(s["label"] in labels for row in body["stats"] for s in row)
    assert body["key_tokens"][0] == "[CLS]" and body["key_tokens"][-1] == "[SEP]"


def test_tiny_bert_every_head_by_hand(tiny_client):
    check_every_head(tiny_client, "tiny-bert", "a small test of every head")


def test_rules_are_listed_in_order(tiny_client):
    body = tiny_client.post("/api/heads", json={"model": "tiny-bert", "text": "hello"}).json()
    rules = body["labels_rules"]
    assert rules[0] == {"label": "previous-token", "rule": "previous >= 0.5",
                        "meaning": "most weight on the token just before"}
    assert rules[-1]["label"] == "mixed" and all(set(r) == {"label", "rule", "meaning"} for r in rules)


def direct_rollout(weights: np.ndarray, layer: int) -> np.ndarray:
    """Abnar and Zuidema's rollout straight from (L, H, T, T) weights."""
    t = weights.shape[-1]
    r = np.eye(t)
    for layer_w in weights[: layer + 1]:
        a = 0.5 * layer_w.mean(0) + 0.5 * np.eye(t)
        a /= a.sum(-1, keepdims=True)
        r = a @ r
    return r


@pytest.mark.parametrize("model, text, layer", [
    ("tiny-bert", "a small test of every head", 0),
    ("tiny-bert", "a small test of every head", 1),
])
def test_rollout_equals_numpy(tiny_client, model, text, layer):
    check_rollout(tiny_client, model, text, layer)


@pytest.mark.slow
@pytest.mark.parametrize("layer", [0, 3, 5])
def test_minilm_rollout_equals_numpy(client, layer):
    check_rollout(client, "minilm", SENTENCE, layer)


def check_rollout(client, model, text, layer):
    att = client.post("/api/attention", json={"model": model, "text": text}).json()
    w = np.array(att["weights"])
    r = client.post("/api/rollout", json={"model": model, "text": text, "layer": layer})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["layer"] == layer and body["tokens"] == att["tokens"]
    np.testing.assert_allclose(np.array(body["rollout"]), direct_rollout(w, layer), atol=1e-5)
    np.testing.assert_allclose(np.array(body["mean"]), w[layer].mean(0), atol=1e-6)
    np.testing.assert_allclose(np.array(body["rollout"]).sum(-1), 1.0, atol=1e-5)


def test_rollout_default_layer_is_the_last(tiny_client):
    body = tiny_client.post("/api/rollout", json={"model": "tiny-bert", "text": "hello world"}).json()
    assert body["layer"] == 1


@pytest.mark.parametrize("path, body, status, needle", [
    ("/api/heads", {"model": "tiny-bert", "text": ""}, 422, "empty"),
    ("/api/heads", {"model": "tiny-bert", "text": "hi", "block": "cross"}, 422, "no 'cross' attention"),
    ("/api/heads", {"model": "tiny-bert", "text": "hi", "block": "sideways"}, 422, "block"),
    ("/api/heads", {"model": "nope", "text": "hi"}, 404, "unknown model 'nope'"),
    ("/api/heads", {"model": "tiny-bert"}, 422, "text is required"),
    ("/api/heads", {"model": "tiny-bert", "text": "hi", "layer": 1}, 422, "layer"),
    ("/api/rollout", {"model": "tiny-bert", "text": "hi", "layer": 2}, 422, "layer 2 is out of range"),
    ("/api/rollout", {"model": "tiny-bert", "text": "hi", "layer": -1}, 422, "out of range"),
    ("/api/rollout", {"model": "tiny-bert", "text": "hi", "block": "cross"}, 422, "no 'cross' attention"),
    ("/api/rollout", {"model": "tiny-bert", "text": "   "}, 422, "empty"),
])
def test_bad_inputs_get_a_clear_4xx(tiny_client, path, body, status, needle):
    r = tiny_client.post(path, json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
