"""The u8 attention format and the single-flight trace: correctness, not speed (speed lives in bench/)."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
import torch

from app.core.config import Settings
from app.inspect.registry import Registry

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


def test_u8_is_only_for_attention(client):
    r = client.post("/api/embeddings", json={"model": "textbook", "text": "hello", "format": "u8"})
    assert r.status_code == 422 and "format" in r.json()["detail"]


class SlowAdapter:
    """Counts forward passes; each takes long enough for concurrent callers to pile up."""

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail
        self.gate = threading.Event()

    def trace(self, text, target=None):
        self.calls += 1
        self.gate.wait(5)
        if self.fail:
            raise ValueError("boom")
        return object.__new__(FakeTrace).init(text)


class FakeTrace:
    def init(self, text):
        self.text = text
        return self

    def nbytes(self) -> int:
        return 10


def concurrent_traces(reg, n, text):
    results, errors = [None] * n, [None] * n

    def ask(i):
        try:
            results[i] = reg.trace("textbook", text)
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
