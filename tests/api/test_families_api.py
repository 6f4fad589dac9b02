"""The HTTP contract over tiny models of several families: capabilities, parity, seq2seq, and readable failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.inspect import family_fixtures as ff

SENTENCE = "The animal didn't cross the street because it was too tired."
FAMILIES = tuple(ff.ALL)  # every family of the table


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Local model directories: a tiny T5 (family "auto") and a tiny Mamba (no attention at all)."""
    import transformers

    root = tmp_path_factory.mktemp("models")
    model, tok = ff.build("t5")
    model.save_pretrained(root / "t5")
    tok.save_pretrained(root / "t5")
    cfg = transformers.MambaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, state_size=4)
    transformers.MambaForCausalLM(cfg).save_pretrained(root / "mamba")
    tok.save_pretrained(root / "mamba")
    return root


@pytest.fixture(scope="module")
def client(saved):
    from fastapi.testclient import TestClient

    from attnscope.settings import ModelSpec, Settings
    from attnscope.inspection.registry import Registry, build_adapter
    from attnscope_server.main import create_app

    specs = [ModelSpec(id=f"tiny-{f}", source="test") for f in FAMILIES]
    specs += [ModelSpec(id="local-t5", source=str(saved / "t5")), ModelSpec(id="mamba", source=str(saved / "mamba"))]

    specs.append(ModelSpec(id="textbook", source="builtin:textbook", family="textbook"))

    def builder(spec):
        return ff.tiny(spec.id.removeprefix("tiny-")) if spec.source == "test" else build_adapter(spec)

    settings = Settings(models=specs, load_at_start=False, models_wait=30.0)
    with TestClient(create_app(settings, Registry(settings, builder=builder))) as c:
        yield c


def models(client) -> dict[str, dict]:
    return {m["id"]: m for m in client.get("/api/models").json()["models"]}


def test_models_list_capabilities_with_reasons(client):
    ms = models(client)
    assert ms["tiny-t5"]["kind"] == "encoder-decoder" and ms["tiny-t5"]["blocks"] == ["encoder", "decoder", "cross"]
    assert ms["tiny-t5"]["capabilities"]["seq2seq"] and ms["tiny-t5"]["capabilities"]["steps"]
    assert ms["tiny-t5"]["positional"] == "relative bias"
    assert ms["tiny-qwen2"]["capabilities"]["generate"] and ms["tiny-qwen2"]["kv_heads"] == 2
    deberta = ms["tiny-deberta-v2"]
    assert deberta["capabilities"]["attention"] and not deberta["capabilities"]["steps"]
    assert "not q·k" in deberta["reasons"]["steps"]
    assert not ms["tiny-distilbert"]["capabilities"]["generate"] and ms["tiny-distilbert"]["reasons"]["generate"]
    assert ms["local-t5"]["family"] == "t5" and ms["local-t5"]["status"] == "loaded"  # family "auto", local dir


def test_a_model_without_attention_fails_readably_and_the_others_keep_working(client):
    ms = models(client)
    mamba = ms["mamba"]
    assert mamba["status"] == "failed" and "no attention heads" in mamba["error"]
    assert not any(mamba["capabilities"].values()) and "failed to load" in mamba["reasons"]["attention"]
    health = client.get("/healthz").json()["models"]
    assert health["mamba"].startswith("failed: ") and "no attention" in health["mamba"]
    r = client.post("/api/attention", json={"model": "mamba", "text": SENTENCE, "layer": 0})
    assert 400 <= r.status_code < 500 or r.status_code == 503
    assert "no attention heads" in r.json()["detail"]
    ok = client.post("/api/attention", json={"model": "tiny-bart", "text": SENTENCE, "layer": 0})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("family", FAMILIES)
def test_attention_equals_the_models_own(client, family):
    adapter = ff.tiny(family)
    target = "It was tired." if adapter.info.kind == "encoder-decoder" else None
    for block in adapter.info.blocks:
        body = {"model": f"tiny-{family}", "text": SENTENCE, "layer": 1, "block": block, "format": "json"}
        if target:
            body["target"] = target
        r = client.post("/api/attention", json=body)
        assert r.status_code == 200, r.text
        got = r.json()
        weights = np.asarray(got["weights"], dtype=np.float32)
        trace = adapter.trace(SENTENCE, target)
        ids = torch.tensor([trace.tokens.ids])
        with torch.inference_mode():
            if target:
                out = adapter.model(input_ids=ids, decoder_input_ids=torch.tensor([trace.target_tokens.ids]),
                                    output_attentions=True, use_cache=False)
                own = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
                       "cross": out.cross_attentions}[block][1][0].numpy()
            else:
                own = adapter.model(input_ids=ids, output_attentions=True).attentions[1][0].numpy()
        assert got["shape"] == list(own.shape)
        np.testing.assert_allclose(weights.reshape(own.shape), own, atol=1e-5)
        if block == "cross":
            assert own.shape[1:] == (len(got["query_tokens"]), len(got["key_tokens"]))  # (target x source)


def test_seq2seq_route(client):
    r = client.post("/api/seq2seq", json={"model": "tiny-t5", "text": SENTENCE, "max_new_tokens": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shape"] == [4, len(body["output_tokens"]), len(body["source_tokens"])] and body["layer"] == 1
    np.testing.assert_allclose(np.asarray(body["cross_attention"]).sum(-1), 1.0, atol=1e-5)
    bad = client.post("/api/seq2seq", json={"model": "tiny-qwen2", "text": SENTENCE})
    assert bad.status_code == 422 and "encoder-decoder" in bad.json()["detail"]
    bad = client.post("/api/seq2seq", json={"model": "tiny-t5", "text": SENTENCE, "layer": 7})
    assert bad.status_code == 422 and "out of range" in bad.json()["detail"]


def test_steps_ablate_and_generate_where_offered(client):
    r = client.post("/api/steps", json={"model": "tiny-t5", "text": SENTENCE, "layer": 0, "head": 1, "query": 2})
    assert r.status_code == 200, r.text
    s = r.json()
    scaled = np.asarray([np.nan if v is None else v for v in s["scaled"]])
    # T5: the bias is part of the scaled scores, and softmax(scaled) is the weights
    e = np.exp(scaled - np.nanmax(scaled))
    np.testing.assert_allclose(np.nan_to_num(e / np.nansum(e)), s["weights"], atol=1e-5)
    assert s["bias"] is not None and s["scale"] == 1.0
    r = client.post("/api/steps", json={"model": "tiny-deberta-v2", "text": SENTENCE, "layer": 0, "head": 0,
                                        "query": 0})
    assert r.status_code == 422 and "not q·k" in r.json()["detail"]
    # Qwen3 normalises q and k per head before RoPE: a step of its own, so its steps are offered
    r = client.post("/api/steps", json={"model": "tiny-qwen3", "text": SENTENCE, "layer": 0, "head": 0, "query": 0})
    assert r.status_code == 200 and r.json()["qk_norm"] is not None
    r = client.post("/api/ablate", json={"model": "tiny-gpt_neox", "text": SENTENCE, "heads": [[0, 1]]})
    assert r.status_code == 200, r.text
    assert r.json()["kl"] > 0
    every = [[layer, head] for layer in range(2) for head in range(4)]
    for block in ("encoder", "decoder", "cross"):
        r = client.post("/api/ablate", json={"model": "tiny-bart", "text": SENTENCE, "heads": every, "block": block})
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == "encoder-decoder" and r.json()["kl"] > 0
    none = client.post("/api/ablate", json={"model": "tiny-t5", "text": SENTENCE, "heads": []}).json()
    assert none["kl"] == 0 and none["translation_before"] == none["translation_after"]
    r = client.post("/api/ablate", json={"model": "tiny-deberta-v2", "text": SENTENCE, "heads": [[0, 1]]})
    assert r.status_code == 422 and "not available" in r.json()["detail"]


def test_seq2seq_serves_the_textbook_model_too(client):
    from attnscope.inspection.adapters.textbook import TextbookAdapter

    r = client.post("/api/seq2seq", json={"model": "textbook", "text": "je suis étudiant"})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = TextbookAdapter().translate("je suis étudiant", "greedy", 1)
    assert body["text"] == expected.text and body["output_tokens"] == expected.output.text
    assert body["shape"] == [4, len(expected.output.text), len(expected.source.text)]
    np.testing.assert_allclose(np.asarray(body["cross_attention"])[:, 0], expected.steps[0].cross_attention[-1],
                               atol=1e-6)
    caps = models(client)["textbook"]["capabilities"]
    assert caps["seq2seq"] and caps["generate"] and caps["steps"]


@pytest.mark.parametrize("family", FAMILIES)
def test_no_route_answers_500_for_any_family(client, family):
    """Every model route on every family: 200, or a 4xx whose detail says why (never a 500)."""
    m = f"tiny-{family}"
    kind = ff.kind(family)
    target = {"target": "It was tired."} if kind == "encoder-decoder" else {}
    calls = [
        ("/api/heads", {"model": m, "text": SENTENCE, **target}),
        ("/api/rollout", {"model": m, "text": SENTENCE}),
        ("/api/embeddings", {"model": m, "text": SENTENCE}),
        ("/api/similarity", {"model": m, "a": {"text": SENTENCE, "index": 1}, "b": {"text": "A cat.", "index": 1}}),
        ("/api/steps", {"model": m, "text": SENTENCE, "layer": 1, "head": 3, "query": 1, **target}),
        ("/api/ablate", {"model": m, "text": SENTENCE, "heads": [[1, 2]]}),
        ("/api/next-token", {"model": m, "text": SENTENCE}),
        ("/api/generate", {"model": m, "text": SENTENCE, "max_new_tokens": 2}),
        ("/api/translate", {"model": m, "text": SENTENCE}),
        ("/api/seq2seq", {"model": m, "text": SENTENCE, "max_new_tokens": 2}),
    ]
    for blk in ff.tiny(family).info.blocks:
        calls.append(("/api/attention", {"model": m, "text": SENTENCE, "block": blk, **target}))
    for path, body in calls:
        r = client.post(path, json=body)
        assert r.status_code < 500, (path, r.text)
        if r.status_code >= 400:
            assert isinstance(r.json().get("detail"), str) and r.json()["detail"], (path, r.text)
    r = client.get("/api/positional", params={"kind": "learned", "model": m, "positions": 8})
    assert r.status_code < 500, r.text


def test_translate_generalises_to_hugging_face_encoder_decoders(client):
    seq = client.post("/api/seq2seq", json={"model": "tiny-marian", "text": SENTENCE}).json()
    r = client.post("/api/translate", json={"model": "tiny-marian", "text": SENTENCE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == seq["text"] and body["output_tokens"] == seq["output_tokens"]
    assert body["cross_attention"] == seq["cross_attention"] and body["strategy"] == "greedy"
    beam = client.post("/api/translate", json={"model": "tiny-marian", "text": SENTENCE, "strategy": "beam"})
    assert beam.status_code == 422 and "greedy" in beam.json()["detail"]


def test_qk_norm_families_get_steps_with_their_norm(client):
    """Qwen3 and Gemma 3: Step by step is offered, and the answer carries the per-head q/k norm."""
    for mid, offset in (("tiny-qwen3", 0.0), ("tiny-gemma3_text", 1.0)):
        r = client.post("/api/steps", json={"model": mid, "text": SENTENCE, "layer": 1, "head": 0, "query": 3})
        assert r.status_code == 200, r.text
        norm = r.json()["qk_norm"]
        assert len(norm["q_gamma"]) == len(norm["k_gamma"]) == r.json()["d_head"] and norm["offset"] == offset
    assert client.post("/api/steps", json={"model": "tiny-llama", "text": SENTENCE, "layer": 0, "head": 0,
                                           "query": 1}).json()["qk_norm"] is None


def test_the_kv_cache_counts_gemma3s_sliding_layer_by_its_window(client):
    body = client.get("/api/kv-cache", params={"model": "tiny-gemma3_text", "tokens": 100}).json()
    assert body["windows"] == [4, None] and body["sliding_layers"] == 1
    gqa = next(v for v in body["variants"] if v["name"] == "grouped-query")
    assert gqa["bytes_total"] == gqa["bytes_per_token"] * (4 + 100) // 2
    llama = client.get("/api/kv-cache", params={"model": "tiny-llama", "tokens": 100}).json()
    assert llama["windows"] is None and llama["sliding_layers"] == 0
    assert llama["variants"][0]["bytes_total"] == llama["variants"][0]["bytes_per_token"] * 100
