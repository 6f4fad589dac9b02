"""Value-weighted norms (Kobayashi et al. 2020) equal a direct computation from each model's own weights.

The reference never goes through AttnScope: the Hugging Face model runs eager with ``output_attentions``;
v is recomputed from BERT's parameters (``x·W_V + b_V`` on the layer's input) and read with a forward hook
on the value projection elsewhere (GQA heads mapped to their KV head by hand); W_O^h is sliced from the
output projection's weight. Then ‖α_ij v_j‖ and ‖α_ij v_j W_O^h‖ are formed literally, vector by vector.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.adapters.base import NotOffered
from attnscope.inspection.norms import norms, normalise_rows
from tests.inspect import family_fixtures as ff

TEXT = "The cat sat on the mat. The cat"
TARGET = "It sat."
SENTENCE = "The animal didn't cross the street because it was too tired"


def _wo(module) -> torch.Tensor:
    """(in, out) weight of a Linear or of GPT-2's Conv1D."""
    return module.weight if type(module).__name__ == "Conv1D" else module.weight.T


#: family -> (block) -> (the attention layer list, value module of a layer, W_O module of a layer)
PATHS = {
    "llama": {"decoder": (lambda m: m.model.layers, lambda lay: lay.self_attn.v_proj,
                          lambda lay: lay.self_attn.o_proj)},
    "gpt2": {"decoder": (lambda m: m.transformer.h, lambda lay: lay.attn.c_attn, lambda lay: lay.attn.c_proj)},
    "opt": {"decoder": (lambda m: m.model.decoder.layers, lambda lay: lay.self_attn.v_proj,
                        lambda lay: lay.self_attn.out_proj)},
    "t5": {"encoder": (lambda m: m.encoder.block, lambda lay: lay.layer[0].SelfAttention.v,
                       lambda lay: lay.layer[0].SelfAttention.o),
           "decoder": (lambda m: m.decoder.block, lambda lay: lay.layer[0].SelfAttention.v,
                       lambda lay: lay.layer[0].SelfAttention.o),
           "cross": (lambda m: m.decoder.block, lambda lay: lay.layer[1].EncDecAttention.v,
                     lambda lay: lay.layer[1].EncDecAttention.o)},
}


def _run(adapter, target: str | None):
    inputs, _ = adapter.inputs(TEXT)
    if adapter.info.kind == "encoder-decoder":
        inputs.pop("token_type_ids", None)
        inputs["decoder_input_ids"] = adapter.target_inputs(target)[0]
    return inputs


def _alpha(out, block: str, layer: int) -> torch.Tensor:
    if block == "cross":
        return out.cross_attentions[layer][0]
    if block == "encoder" and hasattr(out, "encoder_attentions"):
        return out.encoder_attentions[layer][0]
    if block == "decoder" and hasattr(out, "decoder_attentions"):
        return out.decoder_attentions[layer][0]
    return out.attentions[layer][0]  # (H, Tq, Tk)


def reference(adapter, block: str, layer: int, target: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, ‖α_ij v_j‖, ‖α_ij v_j W_O^h‖), each (H, Tq, Tk) float64, from the model's own weights."""
    model, info = adapter.model, adapter.info
    H, KV, dh = info.heads, info.kv_heads, info.d_head
    inputs = _run(adapter, target)
    kw = {} if info.kind == "encoder" else {"use_cache": False}
    with torch.no_grad():
        if info.family == "bert":  # v from the parameters: BERT's attention reads the layer input itself
            out = model(**inputs, output_attentions=True, output_hidden_states=True)
            x = out.hidden_states[layer][0]  # (T, d)
            att = model.encoder.layer[layer].attention
            v = (x @ att.self.value.weight.T + att.self.value.bias).reshape(-1, H, dh).transpose(0, 1)  # (H, T, dh)
            w_o = att.output.dense.weight.T  # (H * dh, d)
        else:  # v from a forward hook on the value projection
            layers, v_of, o_of = PATHS[info.family][block]
            lay = layers(model)[layer]
            seen = {}
            handle = v_of(lay).register_forward_hook(lambda _m, _i, o: seen.update(v=o[0]))  # returns None
            try:
                out = model(**inputs, output_attentions=True, output_hidden_states=True, **kw)
            finally:
                handle.remove()
            y = seen["v"]  # (Tk, KV * dh), or GPT-2's fused (Tk, 3 * d)
            if info.family == "gpt2":
                y = y.split(H * dh, dim=-1)[2]
            v = y.reshape(-1, KV, dh).transpose(0, 1)[torch.arange(H) // (H // KV)]  # (H, Tk, dh): query head -> KV
            w_o = _wo(o_of(lay))
    alpha = _alpha(out, block, layer).double()  # (H, Tq, Tk)
    v, w_o = v.detach().double(), w_o.detach().double().reshape(H, dh, -1)  # (H, Tk, dh), (H, dh, d)
    moved = alpha[..., None] * v[:, None, :, :]  # (H, Tq, Tk, dh): the vector α_ij v_j
    through = torch.einsum("hqkd,hde->hqke", moved, w_o)  # (H, Tq, Tk, d): α_ij v_j W_O^h
    return alpha.numpy(), moved.norm(dim=-1).numpy(), through.norm(dim=-1).numpy()


CASES = [("bert", "encoder"), ("llama", "decoder"), ("gpt2", "decoder"), ("opt", "decoder"),
         ("t5", "encoder"), ("t5", "decoder"), ("t5", "cross")]


@pytest.mark.parametrize("family, block", CASES)
def test_norms_equal_a_direct_computation_from_the_models_weights(family, block):
    adapter = ff.tiny(family)
    target = TARGET if adapter.info.kind == "encoder-decoder" else None
    for layer in range(adapter.info.layers):
        n = norms(adapter, TEXT, layer, block if adapter.info.kind == "encoder-decoder" else None, target)
        alpha, ref, ref_wo = reference(adapter, block, layer, target)
        np.testing.assert_allclose(n.weights, alpha, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(n.norms, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(n.norms_with_wo, ref_wo, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(n.norms_normalised, normalise_rows(ref), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(n.norms_with_wo_normalised, normalise_rows(ref_wo), rtol=1e-5, atol=1e-5)
        assert n.norms.shape == alpha.shape and n.value_norms.shape == (alpha.shape[0], alpha.shape[2])
        rows = n.norms_normalised.sum(-1)
        np.testing.assert_allclose(rows, 1.0, atol=1e-5)  # no row of these models is all zeros


def test_grouped_query_heads_read_their_kv_heads_values():
    adapter = ff.tiny("llama")  # 4 query heads, 2 KV heads: heads 0, 1 read KV 0; heads 2, 3 read KV 1
    n = norms(adapter, TEXT, 0)
    np.testing.assert_array_equal(n.value_norms[0], n.value_norms[1])
    np.testing.assert_array_equal(n.value_norms[2], n.value_norms[3])
    assert not np.allclose(n.value_norms[0], n.value_norms[2])
    assert not np.allclose(n.value_norms_with_wo[0], n.value_norms_with_wo[1])  # each head has its own W_O slice


def test_masked_keys_move_nothing():
    n = norms(ff.tiny("gpt2"), TEXT, 1)
    upper = np.triu(np.ones(n.weights.shape[1:], dtype=bool), 1)
    assert (n.norms[:, upper] == 0).all() and (n.norms_with_wo_normalised[:, upper] == 0).all()


def test_bad_layer_and_families_without_v_are_refused():
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        norms(ff.tiny("bert"), TEXT, 2)
    with pytest.raises(NotOffered, match="values v are not read"):
        norms(ff.tiny("deberta-v2"), TEXT, 0)
    with pytest.raises(ValueError, match="has no 'cross' attention"):
        norms(ff.tiny("bert"), TEXT, 0, "cross")


@pytest.mark.slow
def test_minilm_it_by_weight_and_by_norm(minilm, capsys):
    """The page-facing sanity: layer 5 head 11 (0-based) from "it"; printed, not asserted."""
    n = norms(minilm, SENTENCE, 5)
    i = n.query_tokens.index("it")
    h = 11
    by_weight = int(np.argmax(n.weights[h, i]))
    by_norm = int(np.argmax(n.norms[h, i]))
    by_wo = int(np.argmax(n.norms_with_wo[h, i]))
    with capsys.disabled():
        print(f"\nMiniLM layer 5 head 11, query 'it': by weight {n.key_tokens[by_weight]!r} "
              f"({n.weights[h, i, by_weight]:.3f}); by norm {n.key_tokens[by_norm]!r} "
              f"({n.norms_normalised[h, i, by_norm]:.3f} of the row); by norm through W_O "
              f"{n.key_tokens[by_wo]!r} ({n.norms_with_wo_normalised[h, i, by_wo]:.3f}); "
              f"{n.key_tokens[0]!r}: {n.weights[h, i, 0]:.3f} by weight, {n.norms_normalised[h, i, 0]:.3f} by norm")
    np.testing.assert_allclose(n.weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(n.norms_normalised.sum(-1), 1.0, atol=1e-5)
