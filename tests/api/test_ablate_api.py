"""/api/ablate: knocked-out heads change the output, none change nothing, and the hooks never stay behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.ablate import output_projection, run_ablated
from tests.inspect.decoder_fixtures import tiny_gpt2, tiny_llama

SENTENCE = "The animal didn't cross the street because it was too tired"


def all_heads(layers: int, heads: int) -> list[list[int]]:
    return [[layer, head] for layer in range(layers) for head in range(heads)]


def hook_counts(adapter, block: str) -> list[int]:
    return [len(output_projection(adapter, block, i)._forward_pre_hooks) for i in range(adapter.info.layers)]


@pytest.fixture(scope="module")
def tiny_textbook(tmp_path_factory):
    """A random 2-layer textbook transformer with the real training grammar's vocabulary."""
    from safetensors.torch import save_file

    from attnscope.builtin import data
    from attnscope.builtin.model import TextbookConfig, Transformer, save_config
    from attnscope.builtin.tokenizer import WordTokenizer, save_vocabs
    from attnscope.inspection.adapters.textbook import TextbookAdapter

    d = tmp_path_factory.mktemp("textbook")
    pairs = data.make_splits(0, n_train=300, n_valid=10, n_heldout=10).train
    src = WordTokenizer.build(fr for fr, _ in pairs)
    tgt = WordTokenizer.build(en for _, en in pairs)
    torch.manual_seed(0)
    cfg = TextbookConfig(len(src), len(tgt), d_model=32, n_heads=4, n_encoder_layers=2,
                         n_decoder_layers=2, d_ff=64, max_len=12, dropout=0.0)
    save_file(Transformer(cfg).state_dict(), str(d / "model.safetensors"))
    save_config(cfg, d / "config.json")
    save_vocabs(d / "vocab.json", src, tgt)
    return TextbookAdapter(d)


@pytest.fixture(scope="module")
def tiny_client(tiny_bert, tiny_textbook):
    """The real app over tiny random models: BERT, LLaMA (GQA), GPT-2 and the textbook encoder-decoder."""
    from fastapi.testclient import TestClient

    from attnscope.settings import ModelSpec, Settings
    from attnscope.inspection.registry import Registry
    from attnscope_server.main import create_app

    adapters = {"tiny-bert": tiny_bert, "tiny-llama": tiny_llama(), "tiny-gpt2": tiny_gpt2(),
                "tiny-textbook": tiny_textbook}
    families = {"tiny-bert": "bert", "tiny-llama": "llama", "tiny-gpt2": "gpt2", "tiny-textbook": "textbook"}
    settings = Settings(models=[ModelSpec(id=k, source="test", family=f) for k, f in families.items()])
    with TestClient(create_app(settings, Registry(settings, builder=lambda spec: adapters[spec.id]))) as c:
        yield c


def ablate(client, **body):
    r = client.post("/api/ablate", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
def test_minilm_none_all_and_hooks_removed(client, minilm):
    before_hooks = hook_counts(minilm, "encoder")
    plain = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "layer": 4}).json()
    none = ablate(client, model="minilm", text=SENTENCE, heads=[])
    assert none["kind"] == "encoder" and none["cosine"] == 1.0 and none["before"] == none["after"]
    assert none["tokens"][0] == "[CLS]" and all(c == 1.0 for c in none["token_cosine"])
    everything = ablate(client, model="minilm", text=SENTENCE, heads=all_heads(6, 12))
    assert everything["cosine"] < 0.95 and everything["heads"] == all_heads(6, 12)
    some = ablate(client, model="minilm", text=SENTENCE, heads=[[5, 11], [3, 1], [5, 11]])  # duplicates are fine
    assert some["heads"] == [[3, 1], [5, 11]] and everything["cosine"] < some["cosine"] < 1.0
    assert hook_counts(minilm, "encoder") == before_hooks
    # the cache is bypassed here: a fresh pass on a new text, then the same text again
    fresh = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE + " .", "layer": 4}).json()
    with torch.inference_mode():
        own = minilm.model(**minilm.tokenizer(SENTENCE + " .", return_tensors="pt"),
                           output_attentions=True).attentions[4][0].numpy()
    np.testing.assert_allclose(np.array(fresh["weights"]), own, atol=1e-6)
    again = client.post("/api/attention", json={"model": "minilm", "text": SENTENCE, "layer": 4}).json()
    assert again["weights"] == plain["weights"]


def test_tiny_bert_cosine_and_next_pass_unchanged(tiny_client, tiny_bert):
    text = "a small test of every head"
    before_hooks = hook_counts(tiny_bert, "encoder")
    t0 = tiny_bert.run(text)
    assert ablate(tiny_client, model="tiny-bert", text=text, heads=[])["cosine"] == 1.0
    assert ablate(tiny_client, model="tiny-bert", text=text, heads=all_heads(2, 4))["cosine"] < 1.0
    assert hook_counts(tiny_bert, "encoder") == before_hooks
    t1 = tiny_bert.run(text)  # a fresh forward pass, not the cache
    for a, b in zip(t0.blocks["encoder"], t1.blocks["encoder"]):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.out, b.out)


def test_zeroed_head_removes_exactly_its_slice(tiny_bert):
    """With head 1 of layer 0 knocked out, W_O sees z with that head's columns at 0 and the others intact."""
    dense = output_projection(tiny_bert, "encoder", 0)
    enc = tiny_bert.tokenizer("hello world", return_tensors="pt")

    def z_seen_by_w_o() -> torch.Tensor:
        """The input W_O receives, observed by a pre-hook registered after any ablation hook."""
        seen = []
        handle = dense.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
        try:
            with torch.inference_mode():
                tiny_bert.model(**enc)
        finally:
            handle.remove()
        return seen[0]

    z0 = z_seen_by_w_o()
    z1 = run_ablated(tiny_bert, "encoder", [(0, 1)], z_seen_by_w_o)
    dh = tiny_bert.info.d_head
    # z0, z1: (1, T, H * dh)
    assert torch.all(z1[..., dh : 2 * dh] == 0) and torch.any(z0[..., dh : 2 * dh] != 0)
    torch.testing.assert_close(z1[..., :dh], z0[..., :dh])
    torch.testing.assert_close(z1[..., 2 * dh :], z0[..., 2 * dh :])


def test_hooks_are_removed_when_the_forward_pass_raises(tiny_bert):
    before = hook_counts(tiny_bert, "encoder")

    def boom():
        assert hook_counts(tiny_bert, "encoder") == [1 + n for n in before]
        raise RuntimeError("forward failed")

    with pytest.raises(RuntimeError, match="forward failed"):
        run_ablated(tiny_bert, "encoder", [(0, 0), (1, 3)], boom)
    assert hook_counts(tiny_bert, "encoder") == before


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-gpt2"])
def test_decoders_next_token_candidates_and_kl(tiny_client, model):
    text = "The animal didn't cross the street"
    adapter = tiny_llama() if model == "tiny-llama" else tiny_gpt2()
    before_hooks = hook_counts(adapter, "decoder")
    none = ablate(tiny_client, model=model, text=text, heads=[])
    assert none["kind"] == "decoder" and none["kl"] == 0.0 and none["before"] == none["after"]
    top = none["before"]
    assert len(top) == 10 and all(set(c) == {"token", "id", "prob"} for c in top)
    assert top == sorted(top, key=lambda c: -c["prob"])
    with torch.inference_mode():
        ids = adapter.tokenizer(text, return_tensors="pt")["input_ids"]
        p = adapter.model(ids).logits[0, -1].softmax(-1)
    assert top[0]["id"] == int(p.argmax()) and top[0]["prob"] == pytest.approx(float(p.max()), abs=1e-6)
    everything = ablate(tiny_client, model=model, text=text, heads=all_heads(2, 4))
    assert everything["kl"] > 1e-4 and everything["after"] != everything["before"]
    assert hook_counts(adapter, "decoder") == before_hooks


def test_textbook_translation_before_after(tiny_client, tiny_textbook):
    text = "je suis étudiant"
    none = ablate(tiny_client, model="tiny-textbook", text=text, heads=[])
    assert none["kind"] == "encoder-decoder" and none["block"] == "encoder" and none["kl"] == 0.0
    assert none["translation_before"] == none["translation_after"] == none["before"] == none["after"]
    assert none["before"] == tiny_textbook.translate(text).text
    for block in ("encoder", "decoder", "cross"):
        before_hooks = hook_counts(tiny_textbook, block)
        out = ablate(tiny_client, model="tiny-textbook", text=text, heads=all_heads(2, 4), block=block)
        assert out["block"] == block and out["kl"] > 1e-4
        assert hook_counts(tiny_textbook, block) == before_hooks


def test_textbook_stats_and_rollout_per_block(tiny_client):
    text = "je suis étudiant"
    cross = tiny_client.post("/api/heads", json={"model": "tiny-textbook", "text": text, "block": "cross"}).json()
    s = cross["stats"][0][0]
    assert s["self"] is None and s["previous"] is None and s["next"] is None and 0 <= s["first"] <= 1
    dec = tiny_client.post("/api/heads", json={"model": "tiny-textbook", "text": text, "block": "decoder"}).json()
    assert dec["query_tokens"][0] == "<s>" and dec["stats"][1][3]["self"] is not None
    r = tiny_client.post("/api/rollout", json={"model": "tiny-textbook", "text": text, "block": "cross"})
    assert r.status_code == 422 and "self-attention" in r.json()["detail"]
    r = tiny_client.post("/api/rollout", json={"model": "tiny-textbook", "text": text, "block": "decoder"}).json()
    roll = np.array(r["rollout"])
    assert np.allclose(np.triu(roll, 1), 0.0)  # causal layers multiply into a causal rollout


@pytest.mark.parametrize("body, needle", [
    ({"heads": [[2, 0]]}, "head [2, 0] is out of range: tiny-bert has layers 0 to 1 and heads 0 to 3"),
    ({"heads": [[0, 0], [1, 4]]}, "head [1, 4] is out of range"),
    ({"heads": [[-1, 0]]}, "head [-1, 0] is out of range"),
    ({"heads": [[0]]}, "[layer, head] pair"),
    ({"heads": [[0, 1, 2]]}, "[layer, head] pair"),
    ({"heads": [[0, 0]] * 9}, "9 heads given; tiny-bert has only 8"),
    ({"heads": "all"}, "heads"),
    ({"heads": [["a", 0]]}, "heads"),
    ({"heads": [], "block": "cross"}, "no 'cross' attention"),
    ({"heads": [], "text": ""}, "empty"),
])
def test_bad_heads_get_a_422_naming_them(tiny_client, body, needle):
    r = tiny_client.post("/api/ablate", json={"model": "tiny-bert", "text": "hello world", **body})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_unknown_model_is_404(tiny_client):
    r = tiny_client.post("/api/ablate", json={"model": "nope", "text": "hi", "heads": []})
    assert r.status_code == 404 and "unknown model" in r.json()["detail"]
