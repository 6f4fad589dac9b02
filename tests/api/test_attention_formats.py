"""The u8 attention format and the single-flight trace: correctness, not speed (speed lives in bench/)."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
import torch

from attnscope.settings import Settings
from attnscope.inspection.registry import Registry

SENTENCE = "The animal didn't cross the street because it was too tired"


def own_attentions(minilm, text):
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return np.stack([a[0].float().numpy() for a in minilm.model(**enc, output_attentions=True).attentions])


@pytest.mark.slow
def test_u8_all_layers_dequantise_to_the_float32_weights(client, minilm):
    r = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "format": "u8"})
    assert r.status_code == 200, r.text
    body = r.json()
    own = own_attentions(minilm, SENTENCE)
    assert body["format"] == "u8" and body["shape"] == list(own.shape)
    raw = base64.b64decode(body["weights"])
    assert len(raw) == own.size  # one byte a weight
    got = np.frombuffer(raw, dtype=np.uint8).reshape(body["shape"]).astype(np.float32) / 255
    assert np.abs(got - own).max() <= 0.002
    f16 = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "format": "f16"})
    assert len(r.content) < 0.6 * len(f16.content)


@pytest.mark.slow
def test_u8_one_layer_matches_json(client):
    req = {"model": "minilm", "text": "hello there world", "layer": 2}
    j = client.post("/api/attention", json=req).json()
    u = client.post("/api/attention", json={**req, "format": "u8"}).json()
    got = np.frombuffer(base64.b64decode(u["weights"]), dtype=np.uint8).reshape(u["shape"]) / 255
    assert u["shape"] == j["shape"] == [12, 5, 5]
    np.testing.assert_allclose(got, np.array(j["weights"]), atol=0.002)
    assert {k: v for k, v in u.items() if k not in ("weights", "format")} == \
        {k: v for k, v in j.items() if k not in ("weights", "format")}


@pytest.mark.slow
def test_f32_binary_and_base64_are_the_models_float32_weights(client, minilm):
    from attnscope.encode import unpack_binary
    req = {"model": "minilm", "text": SENTENCE, "layer": 5, "format": "f32"}
    own = own_attentions(minilm, SENTENCE)[5]
    b = client.post("/api/attention", json=req).json()
    assert b["format"] == "f32" and b["shape"] == list(own.shape)
    got = np.frombuffer(base64.b64decode(b["weights"]), dtype="<f4").reshape(b["shape"])
    np.testing.assert_allclose(got, own, atol=1e-6)
    r = client.post("/api/attention", json=req, headers={"Accept": "application/octet-stream"})
    assert r.headers["content-type"].startswith("application/octet-stream")
    header, payload = unpack_binary(r.content)
    assert header["shape"] == list(own.shape) and "weights" not in header and len(payload) == 4 * own.size
    np.testing.assert_array_equal(np.frombuffer(payload, dtype="<f4").reshape(own.shape), got)


def test_u8_is_only_for_attention(client):
    r = client.post("/api/embeddings", json={"model": "textbook", "text": "hello", "format": "u8"})
    assert r.status_code == 422 and "format" in r.json()["detail"]


class SlowAdapter:
    """Counts forward passes; each takes long enough for concurrent callers to pile up."""

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail
        self.gate = threading.Event()

    def trace(self, text, target=None, full=True):
        self.calls += 1
        self.gate.wait(5)
        if self.fail:
            raise ValueError("boom")
        return object.__new__(FakeTrace).init(text, full)


class FakeTrace:
    def init(self, text, full=True):
        self.text = text
        self.full = full
        return self

    def nbytes(self) -> int:
        return 10


def concurrent_traces(reg, n, text, full=True):
    results, errors = [None] * n, [None] * n

    def ask(i):
        try:
            results[i] = reg.trace("textbook", text, full=full if isinstance(full, bool) else full[i])
        except Exception as exc:  # noqa: BLE001
            errors[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


def test_concurrent_requests_for_one_new_sentence_share_one_forward_pass():
    reg = Registry(Settings())
    fake = SlowAdapter()
    reg._adapters["textbook"] = fake
    threads, results, errors = concurrent_traces(reg, 6, "hello")
    while len(reg._flights) == 0:  # the leader is in its forward pass
        pass
    threading.Event().wait(0.2)  # let the others reach the flight
    fake.gate.set()
    for t in threads:
        t.join(10)
    assert errors == [None] * 6
    assert fake.calls == 1 and reg.forward_passes == 1
    assert all(r is results[0] for r in results) and results[0].text == "hello"
    assert reg.trace("textbook", "hello") is results[0] and fake.calls == 1  # now from the cache
    assert reg._flights == {}


def test_a_failed_forward_pass_reaches_every_waiter_and_is_not_cached():
    reg = Registry(Settings())
    fake = SlowAdapter(fail=True)
    reg._adapters["textbook"] = fake
    threads, results, errors = concurrent_traces(reg, 4, "hello")
    while len(reg._flights) == 0:
        pass
    threading.Event().wait(0.2)
    fake.gate.set()
    for t in threads:
        t.join(10)
    assert all(isinstance(e, ValueError) and str(e) == "boom" for e in errors)
    assert fake.calls == 1 and len(reg.cache) == 0 and reg._flights == {}


@pytest.mark.slow
def test_two_concurrent_requests_for_a_new_sentence_run_the_model_once(client, registry, minilm):
    from concurrent.futures import ThreadPoolExecutor

    text = "A sentence nobody has asked this server about before, sent twice at once"
    before = registry.forward_passes
    req = {"model": "minilm", "text": text, "layer": 1, "format": "u8"}
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: client.post("/api/attention", json=req), range(2))
    assert a.status_code == b.status_code == 200, a.text
    assert a.json() == b.json() and a.json()["text"] == text
    assert registry.forward_passes - before == 1


def test_weights_only_callers_share_a_full_pass_and_a_full_trace_is_never_downgraded():
    reg = Registry(Settings())
    fake = SlowAdapter()
    reg._adapters["textbook"] = fake
    # one full caller first, then weights-only callers while it runs: one pass serves all
    threads, results, errors = concurrent_traces(reg, 1, "hello", full=True)
    while len(reg._flights) == 0:
        pass
    more, more_results, more_errors = concurrent_traces(reg, 3, "hello", full=False)
    threading.Event().wait(0.2)
    fake.gate.set()
    for t in threads + more:
        t.join(10)
    assert errors == [None] and more_errors == [None] * 3
    assert fake.calls == 1 and all(r is results[0] and r.full for r in more_results)
    # a weights-only trace does not replace the cached full one
    reg.cache.put(("textbook", "hello", None), object.__new__(FakeTrace).init("hello", full=False))
    assert reg.trace("textbook", "hello").full and fake.calls == 1


def test_a_weights_only_trace_is_upgraded_when_a_view_needs_the_full_one():
    reg = Registry(Settings())
    fake = SlowAdapter()
    fake.gate.set()
    reg._adapters["textbook"] = fake
    light = reg.trace("textbook", "hello", full=False)
    assert not light.full and reg.trace("textbook", "hello", full=False) is light and fake.calls == 1
    heavy = reg.trace("textbook", "hello")  # Step by step needs Q, K, V: a new, full pass
    assert heavy.full and fake.calls == 2
    assert reg.trace("textbook", "hello", full=False) is heavy  # and it now serves the attention view too


@pytest.mark.slow
def test_weights_only_trace_equals_the_full_trace_and_the_models_own(minilm):
    text = "Weights only: the attention view captures nothing else"
    light, full = minilm.trace(text, full=False), minilm.trace(text)
    own = own_attentions(minilm, text)
    assert not light.full and full.full
    assert light.tokens == full.tokens
    for i, (a, b) in enumerate(zip(light.blocks["encoder"], full.blocks["encoder"])):
        np.testing.assert_allclose(a.weights, own[i], atol=1e-6)
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-6)
        assert a.q.shape[-1] == 0 and b.q.shape[-1] == minilm.info.d_head  # nothing else captured
    assert light.hidden_states == {} and light.nbytes() < 0.5 * full.nbytes()


@pytest.mark.slow
def test_weights_only_decoder_keeps_logits_and_the_causal_mask(smollm2):
    text = "The cat sat on the"
    light, full = smollm2.trace(text, full=False), smollm2.trace(text)
    np.testing.assert_allclose(light.logits, full.logits, atol=1e-4, rtol=1e-4)
    for a, b in zip(light.blocks["decoder"], full.blocks["decoder"]):
        assert (a.mask == b.mask).all()
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-5)
        assert (a.weights[:, a.mask] == 0).all()


@pytest.mark.slow
def test_the_attention_route_tokenises_its_text_once(client, minilm, monkeypatch):
    import attnscope.inspection.adapters.hf_inputs as generic  # where the generic adapter tokenises

    calls = []
    real = generic.tokenize
    monkeypatch.setattr(generic, "tokenize", lambda tok, text, *a, **k: (calls.append(text), real(tok, text, *a, **k))[1])
    text = "Tokenised once: checked for length, then run"
    r = client.post("/api/attention", json={"model": "minilm", "text": text, "layer": 0, "format": "u8"})
    assert r.status_code == 200, r.text
    assert calls == [text]


OCTET = {"Accept": "application/octet-stream"}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["f16", "u8"])
def test_binary_answer_holds_the_json_answer_and_the_models_weights(client, minilm, fmt):
    from attnscope.encode import unpack_binary

    text = "Binary answers carry the same weights without base64"
    req = {"model": "minilm", "text": text, "layer": 3, "format": fmt}
    j = client.post("/api/attention", json=req).json()
    r = client.post("/api/attention", json=req, headers=OCTET)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    head, payload = unpack_binary(r.content)
    assert (len(r.content) - len(payload)) % 4 == 0  # the array starts 4-byte aligned
    assert head == {k: v for k, v in j.items() if k != "weights"}
    dtype = "<f2" if fmt == "f16" else np.uint8
    got = np.frombuffer(payload, dtype=dtype).reshape(head["shape"]).astype(np.float32)
    if fmt == "u8":
        got /= 255
    own = own_attentions(minilm, text)[3]
    assert np.abs(got - own).max() <= (0.002 if fmt == "u8" else 1e-3)
    assert len(payload) == np.prod(head["shape"]) * (2 if fmt == "f16" else 1)  # raw bytes, no base64
    assert len(r.content) < len(client.post("/api/attention", json=req).content)


@pytest.mark.parametrize("accept, binary", [
    ("application/octet-stream", True),
    ("application/octet-stream, application/json;q=0.5", True),
    ("application/json, application/octet-stream;q=0.5", False),
    ("*/*", False),
    ("", False),
    ("application/octet-stream;q=bogus", False),
])
def test_binary_only_when_the_client_prefers_it(client, accept, binary):
    req = {"model": "textbook", "text": "je suis étudiant", "layer": 0, "format": "u8"}
    r = client.post("/api/attention", json=req, headers={"Accept": accept} if accept else {})
    assert r.status_code == 200
    assert (r.headers["content-type"] == "application/octet-stream") is binary
    if not binary:
        assert r.json()["format"] == "u8"


def test_json_format_and_errors_stay_json_for_binary_clients(client):
    r = client.post("/api/attention", json={"model": "textbook", "text": "je suis", "layer": 0}, headers=OCTET)
    assert r.headers["content-type"].startswith("application/json") and isinstance(r.json()["weights"], list)
    bad = client.post("/api/attention", json={"model": "textbook", "text": "je suis", "layer": 99, "format": "u8"},
                      headers=OCTET)
    assert bad.status_code == 422 and "layer" in bad.json()["detail"]
