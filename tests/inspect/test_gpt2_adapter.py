"""The GPT-2 adapter's Trace equals the model's own numbers: fused Q/K/V split, learned positions, causal mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import decoder_fixtures as df

SENTENCE = "The animal didn't cross the street because it was too tired"


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("scale_by_layer", [False, True])
def test_tiny_gpt2_parity(scale_by_layer):
    adapter = df.tiny_gpt2(scale_by_layer)
    trace = adapter.trace(SENTENCE)
    enc = adapter.tokenizer(SENTENCE, return_tensors="pt")
    with torch.inference_mode():
        own = adapter.model(**enc, output_attentions=True, output_hidden_states=True)
    t, info = len(trace.tokens), adapter.info
    assert trace.tokens.ids == enc["input_ids"][0].tolist()
    assert (info.family, info.kind, info.positional, info.kv_heads) == ("gpt2", "decoder", "learned", 4)
    for i, block in enumerate(trace.blocks["decoder"]):
        assert block.kind == "causal"
        np.testing.assert_allclose(block.weights, own.attentions[i][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=1e-5)
        np.testing.assert_array_equal(block.mask, np.triu(np.ones((t, t), dtype=bool), 1))
        assert (block.weights[:, block.mask] == 0).all()
        np.testing.assert_array_equal(block.kv_head, np.arange(4))
        np.testing.assert_allclose(np.einsum("hqk,hkd->hqd", block.weights, block.v), block.z, atol=1e-5)
        # the head's slices of the fused c_attn Conv1D reproduce q, k, v (no transpose)
        for h in range(4):
            hw = adapter.head_weights("decoder", i, h)
            np.testing.assert_allclose(block.x @ hw.w_q + hw.b_q, block.q[h], atol=1e-5)
            np.testing.assert_allclose(block.x @ hw.w_k + hw.b_k, block.k[h], atol=1e-5)
            np.testing.assert_allclose(block.x @ hw.w_v + hw.b_v, block.v[h], atol=1e-5)
        concat = block.z.transpose(1, 0, 2).reshape(t, -1)
        np.testing.assert_allclose(concat @ hw.w_o + hw.b_o, block.out, atol=1e-4)
        ln_1 = adapter.model.transformer.h[i].ln_1
        with torch.inference_mode():
            x = ln_1(torch.from_numpy(trace.hidden_states["decoder"][i])).numpy()
        np.testing.assert_allclose(block.x, x, atol=1e-5)
        expected = np.sqrt(info.d_head) * ((i + 1) if scale_by_layer else 1)
        assert block.scale == pytest.approx(expected)
    hidden = trace.hidden_states["decoder"]
    np.testing.assert_allclose(hidden[:-1], np.stack([h[0].numpy() for h in own.hidden_states[:-1]]), atol=1e-5)
    np.testing.assert_allclose(trace.token_embeddings + trace.position_embeddings, hidden[0], atol=1e-6)
    np.testing.assert_allclose(trace.position_embeddings,
                               adapter.model.transformer.wpe.weight[:t].detach().numpy())
    np.testing.assert_allclose(trace.logits, own.logits[0].numpy(), atol=1e-4)


def test_bad_inputs():
    adapter = df.tiny_gpt2()
    with pytest.raises(ValueError, match="only 'decoder'"):
        adapter.head_weights("cross", 0, 0)
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        adapter.head_weights("decoder", 2, 0)
    with pytest.raises(ValueError, match="at most 64"):
        adapter.trace("the " * 65)
    with pytest.raises(ValueError, match="no target"):
        adapter.trace("a", "b")


def test_hooks_are_removed_even_when_the_pass_fails(monkeypatch):
    adapter = df.tiny_gpt2()

    def count():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in adapter.model.modules())

    adapter.trace("hello")  # transformers installs its own permanent output-capturing hooks on the first pass
    before = count()
    monkeypatch.setattr(adapter.model.transformer.h[1].attn.c_proj, "forward",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        adapter.trace("hello")
    assert count() == before
    monkeypatch.undo()
    adapter.trace("hello")
    assert count() == before
