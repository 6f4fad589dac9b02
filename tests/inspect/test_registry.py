"""The registry loads lazily once, accepts only configured ids, survives broken models, and caches traces."""

from __future__ import annotations

import threading

import pytest

from attnscope.settings import ModelSpec, Settings
from attnscope.inspection.registry import ModelUnavailableError, Registry, TraceCache, UnknownModelError


def registry_with(tiny_bert, **extra):
    calls = []

    def builder(spec):
        calls.append(spec.id)
        if spec.id == "broken":
            raise FileNotFoundError("/srv/private/models/x/model.safetensors is missing")
        return tiny_bert

    specs = [ModelSpec(id="tiny", source="test", family="bert"),
             ModelSpec(id="broken", source="/nonexistent", family="bert")]
    return Registry(Settings(models=specs, **extra), builder=builder), calls


def test_lazy_single_load_even_under_concurrency(tiny_bert):
    reg, calls = registry_with(tiny_bert)
    assert reg.status() == {"tiny": "not loaded", "broken": "not loaded"}
    threads = [threading.Thread(target=reg.get, args=("tiny",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["tiny"]
    assert reg.status()["tiny"] == "loaded"


def test_unknown_ids_and_paths_never_reach_the_loader(tiny_bert):
    reg, calls = registry_with(tiny_bert)
    for bad in ["bert-base-uncased", "/etc/passwd", "../models", "minilm"]:
        with pytest.raises(UnknownModelError, match="unknown model"):
            reg.get(bad)
    assert calls == []


def test_broken_model_is_reported_and_others_still_work(tiny_bert):
    reg, calls = registry_with(tiny_bert)
    with pytest.raises(ModelUnavailableError, match="model.safetensors is missing"):
        reg.get("broken")
    assert reg.status()["broken"].startswith("failed: FileNotFoundError")
    assert "/srv" not in reg.status()["broken"]  # the page shows it: no server directories
    with pytest.raises(ModelUnavailableError):
        reg.get("broken")
    assert calls.count("broken") == 1
    assert reg.trace("tiny", "still works").tokens.text[0] == "[CLS]"


def test_second_layer_of_same_sentence_does_not_run_the_model(tiny_bert, monkeypatch):
    reg, _ = registry_with(tiny_bert)
    runs = []
    real = tiny_bert.run
    monkeypatch.setattr(tiny_bert, "run", lambda text, target=None: runs.append(text) or real(text, target))
    a = reg.trace("tiny", "a cat sat")
    b = reg.trace("tiny", "a cat sat")
    assert a is b and runs == ["a cat sat"]
    reg.trace("tiny", "another one")
    assert runs == ["a cat sat", "another one"]


def test_trace_cache_is_bounded_in_bytes(tiny_bert):
    one = tiny_bert.trace("text number 0").nbytes()
    cache = TraceCache(max_bytes=int(one * 3.5))
    for i in range(10):
        cache.put(("m", f"t{i}", None), tiny_bert.trace(f"text number {i}"))
        assert cache.bytes <= cache.max_bytes
    assert len(cache) <= 3
    assert cache.get(("m", "t9", None)) is not None and cache.get(("m", "t0", None)) is None
