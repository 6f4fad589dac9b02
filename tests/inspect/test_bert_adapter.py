"""The BERT adapter's Trace equals the model's own numbers (parity) and keeps its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

SENTENCE = "The animal didn't cross the street because it was too tired"


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def own_outputs(adapter, text):
    enc = adapter.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return adapter.model(**enc, output_attentions=True, output_hidden_states=True)


def check_trace(adapter, text, atol=1e-5):
    trace = adapter.trace(text)
    own = own_outputs(adapter, text)
    assert len(trace.blocks["encoder"]) == adapter.info.layers
    for i, block in enumerate(trace.blocks["encoder"]):
        ref = own.attentions[i][0].numpy()
        # parity: the model's own output_attentions
        np.testing.assert_allclose(block.weights, ref, atol=atol)
        # the textbook formula on our Q and K reproduces them
        np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=atol)
        np.testing.assert_allclose(block.weights.sum(-1), 1.0, atol=1e-5)
        # z = weights @ v, and out = concat(z) @ W_o + b_o
        np.testing.assert_allclose(np.einsum("hqk,hkd->hqd", block.weights, block.v), block.z, atol=atol)
        hw = adapter.head_weights("encoder", i, 1)
        np.testing.assert_allclose(block.x @ hw.w_q + hw.b_q, block.q[1], atol=atol)
        np.testing.assert_allclose(block.x @ hw.w_k + hw.b_k, block.k[1], atol=atol)
        np.testing.assert_allclose(block.x @ hw.w_v + hw.b_v, block.v[1], atol=atol)
        concat = block.z.transpose(1, 0, 2).reshape(block.z.shape[1], -1)
        np.testing.assert_allclose(concat @ hw.w_o + hw.b_o, block.out, atol=1e-4)
        np.testing.assert_allclose(block.x, own.hidden_states[i][0].numpy(), atol=atol)
        assert block.scale == pytest.approx(np.sqrt(adapter.info.d_head))
        assert not block.mask.any()
    np.testing.assert_allclose(trace.hidden_states["encoder"], np.stack([h[0].numpy() for h in own.hidden_states]))
    return trace


def test_tiny_bert_parity(tiny_bert):
    trace = check_trace(tiny_bert, SENTENCE)
    assert trace.tokens.text[0] == "[CLS]" and trace.tokens.text[-1] == "[SEP]"


def test_tokens_carry_offsets_and_special_flags(tiny_bert):
    text = "Unbelievable, it works"
    trace = tiny_bert.trace(text)
    toks = trace.tokens
    assert toks.special[0] and toks.special[-1] and not any(toks.special[1:-1])
    assert toks.offsets[0] is None and toks.offsets[-1] is None
    for piece, off in zip(toks.text[1:-1], toks.offsets[1:-1]):
        assert text[off[0]:off[1]].lower() == piece.removeprefix("##").lower()


def test_hooks_are_removed_even_when_the_pass_fails(tiny_bert, monkeypatch):
    def count():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in tiny_bert.model.modules())

    before = count()
    monkeypatch.setattr(tiny_bert.model.encoder.layer[1].attention.output, "forward",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        tiny_bert.trace("hello")
    assert count() == before
    monkeypatch.undo()
    tiny_bert.trace("hello")
    assert count() == before


@pytest.mark.slow
def test_real_minilm_parity(minilm):
    trace = check_trace(minilm, SENTENCE, atol=2e-5)
    assert minilm.info.layers == 6 and minilm.info.heads == 12 and minilm.info.d_model == 384
    assert trace.tokens.text[:4] == ["[CLS]", "the", "animal", "didn"]
    assert trace.position_embeddings.shape == trace.token_embeddings.shape == (len(trace.tokens), 384)
