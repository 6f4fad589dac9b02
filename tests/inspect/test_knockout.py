"""Attention knockout: blocked edges weigh exactly 0, rows still sum to 1, and the outputs equal the model's own.

The references never go through AttnScope's knockout: the plain Hugging Face model (eager) for "nothing
blocked", and, on a tiny LLaMA, the model given an explicit 4-D additive attention mask with -inf at the
blocked entries (every layer), or that mask handed to one layer's attention by a forward pre-hook.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.adapters.base import NotOffered
from attnscope.inspection.capture import capture
from attnscope.inspection.knockout import MAX_EDGES, Passages, knockout
from tests.inspect import family_fixtures as ff
from tests.inspect.decoder_fixtures import tiny_llama

TEXT = "The cat sat on the mat. The cat"
EDGES = [[0, 5, 2], [0, 5, 0], [1, 7, 3], [1, 8, 8], [1, 9, 1]]
FAMILIES = ["bert", "llama", "gpt2", "opt", "t5", "gemma3_text"]


def _block(adapter) -> str | None:
    return "cross" if adapter.info.kind == "encoder-decoder" else None


def _target(adapter) -> str | None:
    return "It sat on the mat." if adapter.info.kind == "encoder-decoder" else None


@pytest.mark.parametrize("family", FAMILIES)
def test_a_blocked_edge_weighs_exactly_zero_and_rows_still_sum_to_one(family):
    adapter = ff.tiny(family)
    for edges in (EDGES, Passages((4, 9), (0, 3))):
        k = knockout(adapter, TEXT, edges, _block(adapter), _target(adapter))
        assert k.attention_after and set(k.attention_after) == set(k.knocked)
        for layer, w in k.attention_after.items():  # (H, Tq, Tk): what the capture path's softmax returned
            m = k.knocked[layer]
            assert (w[:, m] == 0.0).all(), (family, layer)
            np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
        assert k.blocked <= k.edges


@pytest.mark.parametrize("family", FAMILIES + ["albert"])
def test_blocking_nothing_is_the_models_own_output(family):
    adapter = ff.tiny(family)
    model, kind = adapter.model, adapter.info.kind
    k = knockout(adapter, TEXT, [], _block(adapter), _target(adapter))
    inputs, _ = adapter.inputs(TEXT)
    if kind == "encoder-decoder":
        inputs.pop("token_type_ids", None)
        inputs["decoder_input_ids"] = adapter.target_inputs(_target(adapter))[0]
    with torch.no_grad():  # the plain model, eager, no capture
        out = model(**inputs, **({} if kind == "encoder" else {"use_cache": False}))
    assert k.edges == 0 and k.blocked == 0 and k.layers == []
    if kind == "encoder":
        own = out.last_hidden_state[0].numpy()
        np.testing.assert_allclose(k.hidden_before, own, atol=1e-6)
        np.testing.assert_allclose(k.hidden_after, own, atol=1e-6)
        assert all(c == 1.0 for c in k.extra["token_cosine"]) and k.extra["queries"] == []
    else:
        own = out.logits[0, -1].numpy()
        np.testing.assert_allclose(k.logits_before, own, atol=1e-6)
        np.testing.assert_allclose(k.logits_after, own, atol=1e-6)
        assert k.extra["kl"] == 0.0 and k.extra["before"] == k.extra["after"]
        assert k.extra["top_token"]["change"] == 0.0


def _masked_4d(t: int, knocked: np.ndarray) -> torch.Tensor:
    """(1, 1, T, T) additive: causal (finfo.min above the diagonal), -inf at the blocked entries."""
    mask = torch.zeros((1, 1, t, t))
    mask = mask.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), torch.finfo(torch.float32).min)
    return mask.masked_fill(torch.as_tensor(knocked), float("-inf"))


def test_tiny_llama_knockout_equals_an_explicit_masked_computation():
    adapter = tiny_llama()
    model = adapter.model
    ids = adapter.inputs(TEXT)[0]["input_ids"]
    t = ids.shape[1]
    pairs = [(5, 2), (5, 0), (7, 3), (8, 8), (9, 1), (t - 1, 0), (t - 1, t - 2)]
    k = knockout(adapter, TEXT, [[layer, q, key] for layer in range(2) for q, key in pairs])
    knocked = np.zeros((t, t), dtype=bool)
    for q, key in pairs:
        knocked[q, key] = True
    with torch.no_grad():
        plain = model(input_ids=ids).logits[0, -1]
        direct = model(input_ids=ids, attention_mask=_masked_4d(t, knocked)).logits[0, -1]  # eager, every layer
    np.testing.assert_allclose(k.logits_after, direct.numpy(), atol=1e-5)
    assert not np.allclose(k.logits_after, plain.numpy(), atol=1e-3)  # the knockout did change the output
    assert k.blocked == 2 * len(pairs) and k.layers == [0, 1]


def test_tiny_llama_one_layer_knockout_equals_that_layers_mask_changed_by_hand():
    adapter = tiny_llama()
    model = adapter.model
    ids = adapter.inputs(TEXT)[0]["input_ids"]
    t = ids.shape[1]
    k = knockout(adapter, TEXT, {"from_passage": [6, t], "to_passage": [0, 2]})  # every layer, as a dict
    one = knockout(adapter, TEXT, [[0, q, key] for q in range(6, t) for key in range(2)])
    knocked = np.zeros((t, t), dtype=bool)
    knocked[6:, :2] = True

    def swap_mask(_m, args, kwargs):
        return args, {**kwargs, "attention_mask": _masked_4d(t, knocked)}

    handle = model.model.layers[0].self_attn.register_forward_pre_hook(swap_mask, with_kwargs=True)
    try:
        with torch.no_grad():
            direct = model(input_ids=ids).logits[0, -1]
    finally:
        handle.remove()
    np.testing.assert_allclose(one.logits_after, direct.numpy(), atol=1e-5)
    assert one.layers == [0] and k.layers == [0, 1] and k.edges == 2 * one.edges
    assert not np.allclose(one.logits_after, k.logits_after, atol=1e-4)


def test_bad_edges_are_refused_with_a_reason():
    bert, llama = ff.tiny("bert"), tiny_llama()
    t = bert.count_tokens(TEXT)
    cases = [
        (bert, [[2, 0, 0]], "layer 2 is out of range: tiny-bert's encoder attention has 2 layers"),
        (bert, [[0, t, 0]], f"query {t} is out of range: the text has {t} tokens"),
        (bert, [[0, 0, -1]], "key -1 is out of range"),
        (bert, [[0, 1]], r"each edge is \[layer, query, key\]"),
        (bert, [[0, 1, 1]] * (MAX_EDGES + 1), f"{MAX_EDGES + 1} edges given; at most {MAX_EDGES}"),
        (bert, {"from_passage": [3, 3], "to_passage": [0, 2]}, r"from_passage \[3, 3\] is not a token range"),
        (bert, {"from_passage": [0, 2], "to_passage": [0, t + 1]}, "to_passage"),
        (bert, {"from_passage": [2, 3], "to_passage": [0, t]}, "layer 0, query 2 .*cannot be renormalised"),
        (llama, [[1, 0, 0]], "layer 1, query 0 .*every key it attends to is blocked"),
        (llama, [[0, 2, 0], [0, 2, 1], [0, 2, 2]], "layer 0, query 2"),
    ]
    for adapter, edges, match in cases:
        with pytest.raises(ValueError, match=match):
            knockout(adapter, TEXT, edges)
    assert knockout(llama, TEXT, [[0, 2, 0], [0, 2, 1], [0, 2, 3]]).blocked == 2  # key 3 is masked already
    with pytest.raises(ValueError, match="takes no target text"):
        knockout(llama, TEXT, [], target="x")


def test_models_outside_the_capture_path_are_not_offered_and_nothing_leaks():
    with pytest.raises(NotOffered, match="does not go through AttnScope's capture function"):
        knockout(ff.tiny("deberta-v2"), TEXT, [[0, 1, 1]])
    adapter = tiny_llama()
    knockout(adapter, TEXT, EDGES)
    with torch.inference_mode(), capture(adapter.model) as rec:  # a later capture runs unknocked
        adapter.model(**adapter.inputs(TEXT)[0], use_cache=False)
    assert rec.extra is None and all((c.weights[0, :, 5, 2] > 0).all() for c in rec.calls[:1])
