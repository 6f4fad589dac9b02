"""KV cache (issue 18, part 1): the sizes the page shows equal the bytes of SmolLM2's own cache."""

from __future__ import annotations

import pytest
import torch

from attnscope.inspection import kv_cache

PROMPT = "Yesterday Alice was wearing a jacket and she"


def cache_bytes(past) -> int:
    """Bytes of every K and V tensor in a transformers cache (DynamicCache or legacy tuples)."""
    if hasattr(past, "layers"):
        return sum(layer.keys.nbytes + layer.values.nbytes for layer in past.layers)
    return sum(k.nbytes + v.nbytes for k, v in past)


def test_formula_on_smollm2_numbers():
    v = {x.name: x for x in kv_cache.variants(30, 9, 3, 64, 1000)}
    assert list(v) == ["multi-head", "grouped-query", "multi-query"]
    assert v["multi-head"].bytes_per_token == 2 * 30 * 9 * 64 * 4 == 138_240
    assert v["grouped-query"].bytes_per_token == 46_080
    assert v["multi-query"].bytes_per_token == 15_360
    assert v["grouped-query"].bytes_total == 46_080_000
    assert v["grouped-query"].ratio_to_mha == pytest.approx(1 / 3)
    assert [x.name for x in kv_cache.variants(6, 12, 12, 32, 5)] == ["multi-head", "multi-query"]


def test_api_sizes_equal_smollm2s_own_cache(client, smollm2):
    """Run SmolLM2 with use_cache: its cache's bytes per token equal the API's grouped-query figure."""
    enc = smollm2.tokenizer(PROMPT, return_tensors="pt")
    n = enc["input_ids"].shape[1]
    with torch.inference_mode():
        past = smollm2.model(**enc, use_cache=True).past_key_values
    measured = cache_bytes(past)
    r = client.get("/api/kv-cache", params={"model": "smollm2", "tokens": n})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "grouped-query" and body["heads"] == 9 and body["kv_heads"] == 3
    gqa = next(v for v in body["variants"] if v["name"] == "grouped-query")
    assert gqa["bytes_total"] == measured
    assert gqa["bytes_per_token"] * n == measured
    mha = next(v for v in body["variants"] if v["name"] == "multi-head")
    mqa = next(v for v in body["variants"] if v["name"] == "multi-query")
    assert mha["bytes_per_token"] == 3 * gqa["bytes_per_token"] and mqa["bytes_per_token"] * 3 == gqa["bytes_per_token"]
    half = client.get("/api/kv-cache", params={"model": "smollm2", "tokens": n, "dtype": "float16"}).json()
    assert half["variants"][1]["bytes_total"] * 2 == measured


def test_generate_steps_report_the_cache_as_it_grows(client, smollm2):
    """Each greedy step's kv_cache equals the real cache after that step's forward pass."""
    r = client.post("/api/generate", json={"model": "smollm2", "text": PROMPT, "max_new_tokens": 3})
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    enc = smollm2.tokenizer(PROMPT, return_tensors="pt")
    feed, past = enc["input_ids"], None
    for s in steps:
        with torch.inference_mode():
            past = smollm2.model(input_ids=feed, past_key_values=past, use_cache=True).past_key_values
        assert s["kv_cache"]["bytes"] == cache_bytes(past)
        assert s["kv_cache"]["tokens"] == s["shape"][-1]
        feed = torch.tensor([[s["id"]]])
    assert [s["kv_cache"]["tokens"] for s in steps] == [enc["input_ids"].shape[1] + i for i in range(3)]


@pytest.mark.parametrize("params, needle", [
    ({"model": "nope"}, "nope"),
    ({"model": "smollm2", "tokens": -1}, "tokens"),
    ({"model": "smollm2", "tokens": 10**9}, "tokens"),
    ({"model": "smollm2", "dtype": "float8"}, "dtype"),
    ({}, "model"),
])
def test_bad_input_is_4xx_with_a_detail(client, params, needle):
    r = client.get("/api/kv-cache", params=params)
    assert 400 <= r.status_code < 500, r.text
    assert needle in str(r.json()["detail"])


def test_encoder_gets_a_note(client):
    body = client.get("/api/kv-cache", params={"model": "minilm", "tokens": 10}).json()
    assert body["kind"] == "multi-head" and "no KV cache" in body["note"]
