"""Logit lens: the last layer read through the final norm and unembedding is the model's own distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.adapters.base import NotOffered
from attnscope.inspection.lens import lens, lens_logits
from tests.inspect import family_fixtures as ff

TEXT = "The animal didn't cross the street"
FAMILIES = ["gpt2", "llama", "qwen3", "gemma3_text", "t5"]


def own_probs(adapter, text: str, target: str | None = None) -> torch.Tensor:
    """(T, V) softmax of the model's own logits (of the decoder input for encoder-decoders)."""
    inputs, _ = adapter.inputs(text)
    if adapter.info.kind == "encoder-decoder":
        inputs.pop("token_type_ids", None)
        inputs["decoder_input_ids"], _ = adapter.target_inputs(target)
    with torch.inference_mode():
        return adapter.model(**inputs, use_cache=False).logits[0].float().softmax(-1)


def check_last_layer(adapter, text: str, target: str | None = None) -> None:
    out = lens(adapter, text, k=5, target=target)
    trace = adapter.trace(text, target if adapter.info.kind == "encoder-decoder" else None)
    hidden = trace.hidden_states["decoder"]  # (L + 1, T, d), before the final norm
    assert out.layers == ["emb", *map(str, range(hidden.shape[0] - 1))]
    last = lens_logits(adapter, hidden[-1]).softmax(-1)  # (T, V)
    own = own_probs(adapter, text, target)
    torch.testing.assert_close(last, own, atol=1e-5, rtol=0)
    top_p, top_i = own.topk(5, dim=-1)
    np.testing.assert_array_equal(out.top_ids[-1], top_i.numpy())
    np.testing.assert_allclose(out.top_probs[-1], top_p.numpy(), atol=1e-5)
    assert (out.final_rank[-1] == 0).all()
    np.testing.assert_array_equal(out.final_ids, own.argmax(-1).numpy())
    assert out.check <= 1e-5
    assert ((out.final_rank >= 0) & (out.final_prob >= 0) & (out.final_prob <= 1)).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_last_layer_is_the_models_own_distribution_on_tiny_models(family):
    target = "It sat." if family == "t5" else None
    check_last_layer(ff.tiny(family), TEXT, target)


def test_an_encoder_decoder_reads_its_greedy_output_by_default():
    adapter = ff.tiny("t5")
    out = lens(adapter, TEXT, k=2)
    assert out.source_tokens is not None and out.tokens[0] == out.tokens[0] and len(out.tokens) >= 1
    assert (out.final_rank[-1] == 0).all()


@pytest.mark.slow
def test_the_last_layer_is_smollm2s_own_distribution(smollm2):
    check_last_layer(smollm2, "The capital of France is")


def test_positions_and_k_select_the_cells():
    adapter = ff.tiny("llama")
    out = lens(adapter, TEXT, positions=[3, 1, 3], k=2)
    assert out.positions == [1, 3] and out.top_ids.shape == (3, 2, 2) and out.final_rank.shape == (3, 2)
    full = lens(adapter, TEXT, k=2)
    np.testing.assert_array_equal(out.top_ids, full.top_ids[:, [1, 3]])
    with pytest.raises(ValueError, match="out of range"):
        lens(adapter, TEXT, positions=[99])
    with pytest.raises(ValueError, match="1 to 20"):
        lens(adapter, TEXT, k=21)


def test_an_encoder_has_no_lens():
    with pytest.raises(NotOffered, match="encoder"):
        lens(ff.tiny("bert"), TEXT)
