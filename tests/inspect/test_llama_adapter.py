"""The LLaMA adapter's Trace equals the model's own numbers (RoPE, GQA, causal mask), and the GGUF cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import decoder_fixtures as df

SENTENCE = "The animal didn't cross the street because it was too tired"


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def own_outputs(adapter, text):
    enc = adapter.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return enc["input_ids"], adapter.model(**enc, output_attentions=True, output_hidden_states=True)


def check_trace(adapter, text, atol=1e-5):
    trace = adapter.trace(text)
    ids, own = own_outputs(adapter, text)
    assert trace.tokens.ids == ids[0].tolist()
    t, info = len(trace.tokens), adapter.info
    blocks = trace.blocks["decoder"]
    assert list(trace.blocks) == ["decoder"] and len(blocks) == info.layers
    groups = info.heads // info.kv_heads
    for i, block in enumerate(blocks):
        assert block.kind == "causal" and block.layer == i
        assert block.q.shape == block.k.shape == block.v.shape == (info.heads, t, info.d_head)
        # parity: the model's own output_attentions, and the textbook formula on post-RoPE q, k
        np.testing.assert_allclose(block.weights, own.attentions[i][0].numpy(), atol=atol)
        np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=atol)
        np.testing.assert_allclose(block.weights.sum(-1), 1.0, atol=1e-5)
        # causal: True strictly above the diagonal, and the weights there exactly 0
        np.testing.assert_array_equal(block.mask, np.triu(np.ones((t, t), dtype=bool), 1))
        assert (block.weights[:, block.mask] == 0).all()
        # GQA: head h reads KV head h // groups, and shares its k and v with its group
        np.testing.assert_array_equal(block.kv_head, np.arange(info.heads) // groups)
        for h in range(info.heads):
            first = int(block.kv_head[h]) * groups
            np.testing.assert_array_equal(block.k[h], block.k[first])
            np.testing.assert_array_equal(block.v[h], block.v[first])
        # z = weights @ v; out = concat(z) @ W_o (+ b_o)
        np.testing.assert_allclose(np.einsum("hqk,hkd->hqd", block.weights, block.v), block.z, atol=atol)
        hw = adapter.head_weights("decoder", i, info.heads - 1)
        concat = block.z.transpose(1, 0, 2).reshape(t, -1)
        np.testing.assert_allclose(concat @ hw.w_o + (hw.b_o if hw.b_o is not None else 0), block.out, atol=1e-4)
        # x @ w_q is the query BEFORE RoPE; rotate() turns it into the block's q (and likewise for k)
        for h in (0, info.heads - 1):
            hw = adapter.head_weights("decoder", i, h)
            q_pre = block.x @ hw.w_q + (hw.b_q if hw.b_q is not None else 0)
            k_pre = block.x @ hw.w_k + (hw.b_k if hw.b_k is not None else 0)
            np.testing.assert_allclose(adapter.rotate(q_pre), block.q[h], atol=atol)
            np.testing.assert_allclose(adapter.rotate(k_pre), block.k[h], atol=atol)
            np.testing.assert_allclose(block.x @ hw.w_v + (hw.b_v if hw.b_v is not None else 0), block.v[h], atol=atol)
            if t > 1:
                assert not np.allclose(q_pre[1:], block.q[h][1:], atol=1e-3)  # RoPE really rotated
            np.testing.assert_allclose(q_pre[0], block.q[h][0], atol=atol)  # position 0: no rotation
        # x is input_layernorm of the residual stream entering the layer
        layer = adapter.model.model.layers[i]
        with torch.inference_mode():
            x = layer.input_layernorm(torch.from_numpy(trace.hidden_states["decoder"][i])).numpy()
        np.testing.assert_allclose(block.x, x, atol=atol)
        assert block.scale == pytest.approx(np.sqrt(info.d_head))
    hidden = trace.hidden_states["decoder"]
    assert hidden.shape == (info.layers + 1, t, info.d_model)
    # transformers' hidden_states: same up to the last, which it reports after the final RMSNorm
    np.testing.assert_allclose(hidden[:-1], np.stack([h[0].numpy() for h in own.hidden_states[:-1]]), atol=atol)
    with torch.inference_mode():
        normed = adapter.model.model.norm(torch.from_numpy(hidden[-1])).numpy()
    np.testing.assert_allclose(normed, own.hidden_states[-1][0].numpy(), atol=1e-4)
    np.testing.assert_allclose(trace.token_embeddings, hidden[0])
    assert trace.position_embeddings is None
    np.testing.assert_allclose(trace.logits, own.logits[0].numpy(), atol=1e-4)
    return trace


@pytest.mark.parametrize("bias", [False, True])
def test_tiny_llama_parity(bias):
    adapter = df.tiny_llama(bias)
    trace = check_trace(adapter, SENTENCE)
    assert adapter.info.family == "llama" and adapter.info.kind == "decoder"
    assert adapter.info.positional == "rotary" and adapter.info.kv_heads == 2 and adapter.info.blocks == ("decoder",)
    assert (adapter.head_weights("decoder", 0, 0).b_q is not None) == bias
    assert trace.logits.shape == (len(trace.tokens), adapter.model.config.vocab_size)


def test_single_token_and_bad_inputs():
    adapter = df.tiny_llama()
    trace = check_trace(adapter, "The")
    assert trace.blocks["decoder"][0].weights.shape == (4, 1, 1)
    with pytest.raises(ValueError, match="empty"):
        adapter.trace("")
    with pytest.raises(ValueError, match="no target"):
        adapter.trace("The", "cat")
    with pytest.raises(ValueError, match="only 'decoder'"):
        adapter.head_weights("encoder", 0, 0)
    with pytest.raises(ValueError, match="head 4 is out of range"):
        adapter.head_weights("decoder", 0, 4)
    with pytest.raises(ValueError, match="at most"):
        adapter.trace("the " * (adapter.info.max_tokens + 1))


def test_head_weights_read_the_right_kv_head():
    adapter = df.tiny_llama()
    attn = adapter.model.model.layers[1].self_attn
    dh = adapter.info.d_head
    for h in range(4):
        hw = adapter.head_weights("decoder", 1, h)
        kv = h // 2
        np.testing.assert_array_equal(hw.w_q, attn.q_proj.weight[h * dh:(h + 1) * dh].T.detach().numpy())
        np.testing.assert_array_equal(hw.w_k, attn.k_proj.weight[kv * dh:(kv + 1) * dh].T.detach().numpy())
        np.testing.assert_array_equal(hw.w_v, attn.v_proj.weight[kv * dh:(kv + 1) * dh].T.detach().numpy())
        assert hw.w_o.shape == (4 * dh, 32)


def test_rotate_positions():
    adapter = df.tiny_llama()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(adapter.rotate(q, [0, 0, 0]), q, atol=1e-6)
    moved = adapter.rotate(q, [5, 6, 7])
    np.testing.assert_allclose(np.linalg.norm(moved, axis=-1), np.linalg.norm(q, axis=-1), rtol=1e-5)  # a rotation
    # the score of two rotated vectors depends only on their distance
    k = rng.standard_normal((1, 8)).astype(np.float32)
    s1 = adapter.rotate(q[:1], [7]) @ adapter.rotate(k, [3]).T
    s2 = adapter.rotate(q[:1], [14]) @ adapter.rotate(k, [10]).T
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    with pytest.raises(ValueError, match="positions"):
        adapter.rotate(q, [0, 1])


def test_byte_level_pieces_are_readable():
    adapter = df.tiny_llama()
    trace = adapter.trace(SENTENCE)
    assert "".join(trace.tokens.text) == SENTENCE
    assert not any("Ġ" in p for p in trace.tokens.text)
    for piece, (a, b) in zip(trace.tokens.text, trace.tokens.offsets):
        assert SENTENCE[a:b] == piece


def test_hooks_are_removed_even_when_the_pass_fails(monkeypatch):
    adapter = df.tiny_llama()

    def count():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in adapter.model.modules())

    adapter.trace("hello")  # transformers installs its own permanent output-capturing hooks on the first pass
    before = count()
    monkeypatch.setattr(adapter.model.model.layers[1].self_attn.o_proj, "forward",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        adapter.trace("hello")
    assert count() == before
    monkeypatch.undo()
    adapter.trace("hello")
    assert count() == before


# --- the GGUF -> safetensors cache (a fake conversion: fast) ---------------------------------------


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A .gguf file whose "conversion" returns the tiny LLaMA; counts conversions."""
    from attnscope.inspection import gguf_cache

    gguf = tmp_path / "pkg" / "Tiny-Model.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    calls = []

    def convert(path):
        calls.append(path)
        return df.tiny_llama_model(), df.tiny_tokenizer()

    monkeypatch.setattr(gguf_cache, "convert", convert)
    return gguf, tmp_path / "cache", calls


def test_gguf_cache_converts_once_then_loads_safetensors(fake_gguf, caplog):
    from attnscope.inspection import gguf_cache

    gguf, root, calls = fake_gguf
    assert gguf_cache.status(str(gguf)) is None
    with caplog.at_level("INFO", logger="attnscope"):
        model, tok = gguf_cache.load_causal_lm(str(gguf), root)
    target = root / "tiny-model.q4_1"
    assert len(calls) == 1 and gguf_cache.is_cached(gguf, root)
    files = {p.name for p in target.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", gguf_cache.MARKER} <= files
    assert json.loads((target / gguf_cache.MARKER).read_text())["gguf"] == gguf.name
    assert [p.name for p in root.iterdir()] == [target.name]  # no temporary directory left
    assert "first run only" in caplog.text
    assert gguf_cache.status(f"package:pkg/{gguf.name}") == "ready"
    assert model.config._attn_implementation == "eager" and not model.training
    # second load: no conversion, from the cache directory
    model2, _ = gguf_cache.load_causal_lm(str(gguf), root)
    assert len(calls) == 1 and model2.name_or_path == str(target)
    for a, b in zip(df.tiny_llama_model().parameters(), model2.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gguf_cache_is_atomic_and_notices_a_different_file(fake_gguf, monkeypatch):
    from attnscope.inspection import gguf_cache

    gguf, root, calls = fake_gguf

    def crash(path):
        raise MemoryError("killed half way")

    monkeypatch.setattr(gguf_cache, "convert", crash)
    with pytest.raises(MemoryError):
        gguf_cache.ensure_safetensors(gguf, root)
    assert list(root.iterdir()) == [] and gguf_cache.status(str(gguf)) is None  # no half cache
    monkeypatch.undo()
    def convert(path):
        calls.append(path)
        return df.tiny_llama_model(), df.tiny_tokenizer()

    monkeypatch.setattr(gguf_cache, "convert", convert)
    target = gguf_cache.ensure_safetensors(gguf, root)
    assert len(calls) == 1
    gguf.write_bytes(b"GGUF" + b"\1" * 100)  # a new release of the package: another file
    assert not gguf_cache.is_cached(gguf, root)
    assert gguf_cache.ensure_safetensors(gguf, root) == target and len(calls) == 2
    assert [p.name for p in root.iterdir()] == [target.name]
    with pytest.raises(gguf_cache.GGUFConversionError, match="does not exist"):
        gguf_cache.ensure_safetensors(root / "missing.gguf", root)


# --- the real SmolLM2-135M-Instruct ----------------------------------------------------------------


@pytest.mark.slow
def test_real_smollm2_config_and_parity():
    adapter = df.smollm2()
    info = adapter.info
    cfg = adapter.model.config
    assert (info.layers, info.heads, info.kv_heads, info.d_model, info.d_head) == (30, 9, 3, 576, 64)
    assert cfg.vocab_size == 49152 and cfg.rope_parameters["rope_type"] == "default"
    assert info.positional == "rotary" and info.family == "llama"
    trace = check_trace(adapter, SENTENCE, atol=5e-5)
    assert trace.tokens.text[:3] == ["The", " animal", " didn"]
    assert not any(trace.tokens.special)  # SmolLM2's tokenizer adds no BOS
    np.testing.assert_array_equal(trace.blocks["decoder"][0].kv_head, [0, 0, 0, 1, 1, 1, 2, 2, 2])


@pytest.mark.slow
def test_real_smollm2_second_load_comes_from_the_safetensors_cache(monkeypatch):
    from attnscope.inspection import gguf_cache

    gguf, root, seconds = df.smollm2_cache()
    target = gguf_cache.cache_dir_for(gguf, root)
    assert gguf_cache.is_cached(gguf, root)
    assert (target / "model.safetensors").stat().st_size > 500e6  # float32, embeddings tied
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in target.iterdir()}

    def no_conversion(path):
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_cache, "convert", no_conversion)
    model, tok = gguf_cache.load_causal_lm(str(gguf), root)
    assert model.name_or_path == str(target) and model.config.num_hidden_layers == 30
    assert tok("Hello")["input_ids"] == df.smollm2().tokenizer("Hello")["input_ids"]
    assert gguf_cache.status(df.SMOLLM2_SOURCE) == "ready"
    print(f"SmolLM2 GGUF conversion: {seconds:.1f} s")
