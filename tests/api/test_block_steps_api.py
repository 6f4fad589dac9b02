"""Add & Norm and the feed-forward step (issue 18, part 3), checked against the models' own hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TEXT = "The animal didn't cross the street because it was too tired"


def post(client, **body) -> dict:
    r = client.post("/api/block-steps", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def own_hidden(adapter, text: str, layer: int) -> np.ndarray:
    """Independent: the model's output_hidden_states after ``layer`` (T, d)."""
    enc = adapter.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = adapter.model(**enc, output_hidden_states=True)
    return out.hidden_states[layer + 1][0].double().numpy(), out.hidden_states[layer][0].double().numpy()


@pytest.mark.parametrize("layer", [0, 3, 5])
def test_minilm_post_ln_block_equals_its_hidden_state(client, minilm, layer):
    r = post(client, model="minilm", text=TEXT, layer=layer, query=3)
    after, before = own_hidden(minilm, TEXT, layer)
    assert r["placement"] == "post" and r["activation"] == "gelu" and r["norm1"]["kind"] == "layernorm"
    np.testing.assert_allclose(r["x"], before[3], atol=1e-5)
    np.testing.assert_allclose(r["block_out"], after[3], atol=1e-5)
    assert r["max_diff"] < 1e-5
    # the LayerNorm's own numbers: μ and σ of x + out, normalised, times γ plus β
    res = np.array(r["residual"])
    np.testing.assert_allclose(res, np.array(r["x"]) + np.array(r["out"]), atol=1e-5)
    assert r["norm1"]["mean"] == pytest.approx(res.mean(), abs=1e-5)
    assert r["norm1"]["std"] == pytest.approx(np.sqrt(res.var() + 1e-12), rel=1e-5)
    ln = minilm.model.encoder.layer[layer].attention.output.LayerNorm
    np.testing.assert_allclose(r["norm1"]["gamma"], ln.weight.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(r["norm1"]["beta"], ln.bias.detach().numpy(), atol=1e-6)
    assert r["d_ff"] == 1536 and r["ffn_shapes"] == {"W_1": [384, 1536], "W_2": [1536, 384]}


def test_minilm_out_is_step_by_steps_out(client):
    s = client.post("/api/steps", json={"model": "minilm", "text": TEXT, "layer": 2, "head": 0, "query": 4}).json()
    r = post(client, model="minilm", text=TEXT, layer=2, query=4)
    np.testing.assert_allclose(r["out"], s["out"], atol=1e-5)
    np.testing.assert_allclose(r["x"], s["x"][4], atol=1e-5)


@pytest.mark.parametrize("layer", [0, 14, 29])
def test_smollm2_pre_rmsnorm_swiglu_block_equals_its_hidden_state(client, smollm2, layer):
    text = "Yesterday Alice was wearing a jacket and she was freezing"
    r = post(client, model="smollm2", text=text, layer=layer, query=5)
    after, before = own_hidden(smollm2, text, layer)
    assert r["placement"] == "pre" and r["norm1"]["kind"] == "rmsnorm" and r["norm2"] is None
    assert r["norm1"]["mean"] is None and r["norm1"]["beta"] is None
    scale = max(1.0, np.abs(after[5]).max())
    np.testing.assert_allclose(r["x"], before[5], atol=1e-5 * scale)
    out = np.array(r["block_out"])
    if layer == 29:  # transformers' last hidden state is after the final RMSNorm
        norm = smollm2.model.model.norm
        out = out / np.sqrt((out**2).mean() + norm.variance_epsilon) * norm.weight.detach().double().numpy()
    np.testing.assert_allclose(out, after[5], atol=1e-5 * scale)
    res = np.array(r["residual"])
    assert r["norm1"]["std"] == pytest.approx(np.sqrt((res**2).mean() + r["norm1"]["eps"]), rel=1e-5)
    # what attention read is RMSNorm(x): Step by step's x
    s = client.post("/api/steps", json={"model": "smollm2", "text": text, "layer": layer, "head": 0, "query": 5}).json()
    np.testing.assert_allclose(r["attn_in"]["output"], s["x"][5], atol=1e-4)
    np.testing.assert_allclose(r["out"], s["out"], atol=1e-4 * scale)
    assert r["ffn_shapes"]["W_gate"] == [576, 1536]


def test_textbook_encoder_add_and_norm(client, registry):
    r = post(client, model="textbook", text="je suis étudiant", layer=1, query=2)
    assert r["activation"] == "relu" and r["max_diff"] < 1e-5
    assert min(r["ffn_act"]) >= 0
    a = registry.get("textbook")
    from attnscope.builtin.model import Recording
    rec = Recording()
    with torch.inference_mode():
        a.model.encode(torch.tensor([a.source_tokens("je suis étudiant").ids]), rec)
    np.testing.assert_allclose(r["block_out"], rec.encoder_hidden[2][0, 2].double().numpy(), atol=1e-5)


def test_norm_axes_rows_vs_columns(client):
    ax = post(client, model="minilm", text=TEXT, layer=1, query=1)["norm_axes"]
    ln, bn = np.array(ax["layer_norm"]), np.array(ax["batch_norm"])
    np.testing.assert_allclose(ln.mean(1), 0, atol=1e-5)  # every token (row) has mean 0 over its features
    np.testing.assert_allclose(bn.mean(0), 0, atol=1e-5)  # every feature (column) has mean 0 over the tokens
    np.testing.assert_allclose(bn.std(0), 1, atol=1e-3)
    m = np.array(ax["input"])
    np.testing.assert_allclose(ax["layer_mean"], m.mean(1), atol=1e-5)


@pytest.mark.parametrize("body, needle", [
    ({"model": "minilm", "text": TEXT, "layer": 6, "query": 0}, "layer"),
    ({"model": "minilm", "text": TEXT, "layer": 0, "query": 99}, "query"),
    ({"model": "minilm", "text": "  ", "layer": 0, "query": 0}, "empty"),
    ({"model": "textbook", "text": "je suis", "layer": 0, "query": 0, "block": "cross"}, "cross"),
    ({"model": "nope", "text": "x", "layer": 0, "query": 0}, "nope"),
])
def test_bad_input_is_4xx(client, body, needle):
    r = client.post("/api/block-steps", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert needle in str(r.json()["detail"])
