"""POST /api/steps: every number of one head for one query token, checked against identities and the model itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

SENTENCE = "The animal didn't cross the street because it was too tired"
FIELDS = {"tokens", "query_tokens", "key_tokens", "d_model", "d_head", "scale", "x", "w_q", "w_k", "w_v",
          "b_q", "b_k", "b_v", "q", "k", "v", "scores", "scaled", "masked", "weights", "z", "concat", "out"}


def steps(client, **body) -> dict:
    r = client.post("/api/steps", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def arr(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()


def check_identities(b: dict) -> None:
    """The lecture's formulas hold between the response's own numbers (no model involved)."""
    x, q, k, v = arr(b["x"]), arr(b["q"]), arr(b["k"]), arr(b["v"])
    bias = {n: arr(b[f"b_{n}"]) if b[f"b_{n}"] is not None else 0.0 for n in "qkv"}
    i = b["query"]
    np.testing.assert_allclose(q, x[i] @ arr(b["w_q"]) + bias["q"], atol=1e-4)
    if b["block"] != "cross":  # cross: k and v come from the encoder's output, not x
        np.testing.assert_allclose(k, x @ arr(b["w_k"]) + bias["k"], atol=1e-4)
        np.testing.assert_allclose(v, x @ arr(b["w_v"]) + bias["v"], atol=1e-4)
    np.testing.assert_allclose(arr(b["scores"]), k @ q, rtol=1e-5, atol=1e-4)
    masked = np.array(b["masked"])
    assert [s is None for s in b["scaled"]] == masked.tolist()
    live = ~masked
    scaled = arr([s for s in b["scaled"] if s is not None])
    np.testing.assert_allclose(scaled, arr(b["scores"])[live] / b["scale"], rtol=1e-5, atol=1e-5)
    w = arr(b["weights"])
    assert (w[masked] == 0).all()
    np.testing.assert_allclose(w[live], softmax(scaled), atol=1e-5)
    assert w.sum() == pytest.approx(1.0, abs=1e-5)
    z = arr(b["z"])
    np.testing.assert_allclose(z, w @ v, atol=1e-4)
    dh, h = b["d_head"], b["head"]
    np.testing.assert_allclose(arr(b["concat"])[h * dh:(h + 1) * dh], z, atol=1e-6)
    assert len(b["concat"]) == b["heads"] * dh and len(b["out"]) == b["d_model"] == x.shape[1]


@pytest.mark.slow
def test_minilm_steps_match_the_formulas_and_the_attention_api(client, minilm):
    b = steps(client, model="minilm", text=SENTENCE, layer=2, head=5, query=10)
    assert FIELDS <= set(b)
    t = len(b["tokens"])
    assert b["query_tokens"][10] == "it" and b["tokens"] == b["query_tokens"] == b["key_tokens"]
    assert (b["d_model"], b["d_head"], b["heads"]) == (384, 32, 12)
    assert b["scale"] == pytest.approx(32 ** 0.5)
    assert arr(b["x"]).shape == (t, 384) and arr(b["k"]).shape == arr(b["v"]).shape == (t, 32)
    assert arr(b["w_q"]).shape == arr(b["w_k"]).shape == arr(b["w_v"]).shape == (384, 32)
    assert len(b["b_q"]) == 32 and len(b["q"]) == 32 and len(b["concat"]) == 384
    assert b["masked"] == [False] * t
    check_identities(b)
    att = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "layer": 2}).json()
    np.testing.assert_allclose(arr(b["weights"]), arr(att["weights"])[5, 10], atol=1e-6)


@pytest.mark.slow
def test_minilm_x_and_out_equal_the_models_own_numbers(client, minilm):
    """x is the layer's input (hidden state L); out is what attention.output.dense returns, hooked independently."""
    layer, query = 3, 4
    b = steps(client, model="minilm", text=SENTENCE, layer=layer, head=0, query=query)
    got = {}

    def grab(_module, _inputs, output) -> None:
        got["out"] = output[0].numpy().copy()

    dense = minilm.model.encoder.layer[layer].attention.output.dense
    handle = dense.register_forward_hook(grab)
    try:
        enc = minilm.tokenizer(SENTENCE, return_tensors="pt")
        with torch.inference_mode():
            res = minilm.model(**enc, output_hidden_states=True)
    finally:
        handle.remove()
    np.testing.assert_allclose(arr(b["x"]), res.hidden_states[layer][0].numpy(), atol=1e-4)
    np.testing.assert_allclose(arr(b["out"]), got["out"][query], atol=1e-4)
    # and out = concat @ W_O + b_O with the model's own W_O
    w_o, b_o = dense.weight.detach().numpy().T, dense.bias.detach().numpy()
    np.testing.assert_allclose(arr(b["concat"]) @ w_o + b_o, arr(b["out"]), atol=1e-3)


@pytest.mark.slow
def test_every_head_and_query_is_served_from_the_cache(client, registry):
    steps(client, model="minilm", text="hello brave world", layer=0, head=0, query=0)
    misses = registry.cache.misses
    for head, query in [(0, 1), (11, 4), (6, 2)]:
        b = steps(client, model="minilm", text="hello brave world", layer=5, head=head, query=query)
        check_identities(b)
    assert registry.cache.misses == misses  # no extra forward pass


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


def test_tiny_bert_every_head_and_query(tiny_client, tiny_bert):
    text = "a small test of every head"
    first = steps(tiny_client, model="tiny-bert", text=text, layer=1, head=0, query=0)
    t = len(first["tokens"])
    enc = tiny_bert.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        own = tiny_bert.model(**enc, output_attentions=True).attentions[1][0].numpy()  # (H, T, T)
    for head in range(4):
        for query in range(t):
            b = steps(tiny_client, model="tiny-bert", text=text, layer=1, head=head, query=query)
            check_identities(b)
            np.testing.assert_allclose(arr(b["weights"]), own[head, query], atol=1e-6)


@pytest.mark.parametrize("patch, status, detail", [
    ({"query": 20}, 422, "query 20 is out of range: the sentence has 15 tokens (0 to 14)"),
    ({"query": -1}, 422, "query -1 is out of range: the sentence has 15 tokens (0 to 14)"),
    ({"head": 12}, 422, "head 12 is out of range: minilm has 12 heads (0 to 11)"),
    ({"head": -1}, 422, "head -1 is out of range"),
    ({"layer": 6}, 422, "layer 6 is out of range"),
    ({"layer": -1}, 422, "layer -1 is out of range"),
    ({"model": "gpt-17"}, 404, "unknown model 'gpt-17'"),
    ({"text": ""}, 422, "text is empty"),
    ({"text": "  \n "}, 422, "text is empty"),
    ({"block": "cross"}, 422, "no 'cross' attention"),
    ({"block": "sideways"}, 422, "block"),
    ({"query": "it"}, 422, "valid integer"),
    ({"query": None}, 422, "valid integer"),
    ({"surprise": 1}, 422, "surprise"),
])
def test_bad_inputs_get_a_readable_4xx(client, patch, status, detail):
    body = {"model": "minilm", "text": SENTENCE, "layer": 0, "head": 0, "query": 0, **patch}
    r = client.post("/api/steps", json=body)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


def test_missing_fields_are_named(client):
    r = client.post("/api/steps", json={"model": "minilm", "text": "hi"})
    assert r.status_code == 422
    assert "layer is required; head is required" in r.json()["detail"]
    # app/api/errors.py drops every loc part named "query" (meant for the query-string source), so a
    # missing body field `query` reads "request body is required" until _where strips only loc[0].


# --------------------------------------------------------------------------- textbook (encoder-decoder)
# Run after the textbook adapter (attnscope/inspection/adapters/textbook.py) is integrated:
#   pytest tests/api/test_steps_api.py -k textbook


def test_textbook_decoder_masks_future_keys_after_integration(client):
    text = "je suis étudiant"
    first = steps(client, model="textbook", text=text, block="decoder", layer=0, head=0, query=0)
    assert first["kind"] == "causal" and first["block"] == "decoder"
    t = len(first["query_tokens"])
    assert t >= 2 and first["key_tokens"] == first["query_tokens"]
    for layer in (0, 1):
        for query in range(t):
            b = steps(client, model="textbook", text=text, block="decoder", layer=layer, head=1, query=query)
            future = [j > query for j in range(t)]
            assert b["masked"] == future
            assert [s is None for s in b["scaled"]] == future
            assert all(w == 0 for w, f in zip(b["weights"], future) if f)
            check_identities(b)


def test_textbook_cross_keys_come_from_the_encoder_output_after_integration(client, registry):
    text = "je suis étudiant"
    b = steps(client, model="textbook", text=text, block="cross", layer=1, head=2, query=1)
    trace = registry.trace("textbook", text, None)
    memory = trace.hidden_states["encoder"][-1].astype(np.float64)  # (T_src, d_model)
    assert b["key_tokens"] == trace.tokens.text and b["query_tokens"] == trace.target_tokens.text
    assert arr(b["x"]).shape[0] == len(b["query_tokens"])
    bias = {n: arr(b[f"b_{n}"]) if b[f"b_{n}"] is not None else 0.0 for n in "kv"}
    np.testing.assert_allclose(arr(b["k"]), memory @ arr(b["w_k"]) + bias["k"], atol=1e-4)
    np.testing.assert_allclose(arr(b["v"]), memory @ arr(b["w_v"]) + bias["v"], atol=1e-4)
    check_identities(b)
    att = client.post("/api/attention", json={"model": "textbook", "text": text, "block": "cross", "layer": 1}).json()
    np.testing.assert_allclose(arr(b["weights"]), arr(att["weights"])[2, 1], atol=1e-6)
