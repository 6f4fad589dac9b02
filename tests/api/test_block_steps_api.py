"""Add & Norm and the feed-forward step (issue 18, part 3), checked against the models' own hidden states."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from attnscope.inspection.adapters.blocks import BLOCKS, attr
from tests.inspect import family_fixtures as ff

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


# --- every family with a block layout: tiny random-weight models served through the app ----------------------

TINY_TEXT = "The animal didn't cross the street because it was too tired."
#: config variants the layouts read: OPT-350m's post-norm, GPT-NeoX without the parallel residual,
#: T5 v1.1's gated-gelu, ALBERT with two shared groups, Marian's swish
VARIANTS = {"opt-post": ("opt", dict(do_layer_norm_before=False)),
            "gpt_neox-serial": ("gpt_neox", dict(use_parallel_residual=False)),
            "t5-gated": ("t5", dict(feed_forward_proj="gated-gelu")),
            "albert-groups": ("albert", dict(num_hidden_layers=4, num_hidden_groups=2)),
            "marian-swish": ("marian", dict(activation_function="swish"))}
WITH_LAYOUT = tuple(f for f in ff.ALL if f in BLOCKS)


@functools.cache
def tiny_model(name: str):
    """The adapter of ``tiny-<name>``: a family of the fixtures, or one of :data:`VARIANTS`."""
    if name not in VARIANTS:
        return ff.tiny(name)
    from attnscope.inspection.adapters import wrap

    family, overrides = VARIANTS[name]
    model, tok = ff.build(family, **overrides)
    return wrap(model, tok, model_id=f"tiny-{name}")


@pytest.fixture(scope="module")
def tiny_client():
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app

    names = [*ff.ALL, *VARIANTS]
    settings = Settings(models=[ModelSpec(id=f"tiny-{n}", source="test") for n in names], load_at_start=False,
                        models_wait=30.0)
    registry = Registry(settings, builder=lambda spec: tiny_model(spec.id.removeprefix("tiny-")))
    with TestClient(create_app(settings, registry)) as c:
        yield c


def model_states(adapter, text: str) -> np.ndarray:
    """Independent of the block table: the model's own residual stream (L + 1, T, d) of its first block.

    ``output_hidden_states`` (the encoder's, for encoder-decoders), except the last entry: pre-norm
    models give it after their final norm (ln_f, norm), so it is a forward hook's output of the last layer
    (found as the first ModuleList of num_hidden_layers modules; ALBERT has none and no final norm).
    """
    model, kind = adapter.model, adapter.info.kind
    enc = adapter.tokenizer(text, return_tensors="pt")
    if kind != "encoder":
        enc.pop("token_type_ids", None)
    extra = {"use_cache": False} if kind == "decoder" else {}
    if kind == "encoder-decoder":
        extra["decoder_input_ids"] = torch.tensor([[model.config.decoder_start_token_id]])
    n = model.config.num_hidden_layers
    lists = [m for m in model.base_model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n]
    last: list[torch.Tensor] = []
    hook = lists[0][-1].register_forward_hook(
        lambda _m, _a, o: last.append(o[0] if isinstance(o, tuple) else o)) if lists else None
    try:
        with torch.inference_mode():
            out = model(**enc, output_hidden_states=True, **extra)
    finally:
        if hook is not None:
            hook.remove()
    hs = out.encoder_hidden_states if kind == "encoder-decoder" else out.hidden_states
    states = [h[0].double().numpy() for h in hs]
    if last:
        states[-1] = last[0][0].double().numpy()
    return np.stack(states)


@pytest.mark.parametrize("name", [*WITH_LAYOUT, *VARIANTS])
def test_every_family_with_a_layout_matches_its_own_hidden_states(tiny_client, name):
    adapter = tiny_model(name)
    states = model_states(adapter, TINY_TEXT)
    query = 3
    for layer in range(states.shape[0] - 1):
        r = post(tiny_client, model=f"tiny-{name}", text=TINY_TEXT, layer=layer, query=query)
        assert r["family"] == adapter.info.family and r["layers"] == states.shape[0] - 1
        np.testing.assert_allclose(r["x"], states[layer, query], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(r["block_out"], states[layer + 1, query], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(r["model_out"], states[layer + 1, query], atol=1e-5, rtol=1e-5)
        assert r["max_diff"] < 1e-5 * max(1.0, np.abs(states[layer + 1, query]).max())


@pytest.mark.parametrize("name, placement, norm, act, gated, parallel", [
    ("mistral", "pre", "rmsnorm", "silu", True, False),
    ("qwen2", "pre", "rmsnorm", "silu", True, False),
    ("gpt2", "pre", "layernorm", "gelu_tanh", False, False),
    ("t5", "pre", "rmsnorm", "relu", False, False),
    ("t5-gated", "pre", "rmsnorm", "gelu_tanh", True, False),
    ("gpt_neox", "pre", "layernorm", "gelu", False, True),
    ("opt", "pre", "layernorm", "relu", False, False),
    ("opt-post", "post", "layernorm", "relu", False, False),
    ("gemma2", "pre", "rmsnorm", "gelu_tanh", True, False),
    ("phi3", "pre", "rmsnorm", "silu", True, False),
    ("bart", "post", "layernorm", "gelu", False, False),
    ("marian-swish", "post", "layernorm", "silu", False, False),
])
def test_layout_read_from_the_config(tiny_client, name, placement, norm, act, gated, parallel):
    r = post(tiny_client, model=f"tiny-{name}", text=TINY_TEXT, layer=1, query=2)
    assert (r["placement"], r["norm1"]["kind"], r["act"], r["gated"], r["parallel"]) == \
        (placement, norm, act, gated, parallel)
    assert (r["attn_in"] is None) == (placement == "post") and (r["norm2"] is None) == (placement == "pre")
    assert (r["ffn_up"] is not None) == gated and set(r["ffn_shapes"]) == set(r["ffn_modules"]) == set(r["ffn_bias"])


def check_norm(n: dict, layer_module) -> None:
    """One norm's numbers from its input: μ, σ, the normalised vector, times γ (+ β); γ, β the module's own."""
    v = np.array(n["input"])
    mod = attr(layer_module, n["path"])
    assert n["module"] == type(mod).__name__
    if n["kind"] == "layernorm":
        assert n["mean"] == pytest.approx(v.mean(), abs=1e-5)
        assert n["std"] == pytest.approx(np.sqrt(v.var() + n["eps"]), rel=1e-5)
        normalized = (v - v.mean()) / n["std"]
    else:
        assert n["mean"] is None and n["beta"] is None
        assert n["std"] == pytest.approx(np.sqrt((v**2).mean() + n["eps"]), rel=1e-5)
        normalized = v / n["std"]
    np.testing.assert_allclose(n["normalized"], normalized, atol=1e-5)
    np.testing.assert_allclose(n["gamma"], mod.weight.detach().double().numpy(), atol=1e-6)
    beta = 0.0 if n["beta"] is None else np.array(n["beta"])
    if n["beta"] is not None:
        np.testing.assert_allclose(n["beta"], mod.bias.detach().double().numpy(), atol=1e-6)
    np.testing.assert_allclose(n["output"], normalized * (n["scale_offset"] + np.array(n["gamma"])) + beta,
                               atol=1e-5, rtol=1e-5)
    with torch.inference_mode():  # the model's own module on the same input
        own = mod(torch.tensor(v, dtype=torch.float32)[None]).double().numpy()[0]
    np.testing.assert_allclose(n["output"], own, atol=1e-5, rtol=1e-5)


#: family -> its feed-forward module (path from the layer), to run the model's own on norm1's output
MLP = {"gpt2": "mlp", "gpt_neox": "mlp", "gemma2": "mlp", "phi3": "mlp", "t5-gated": "layer.1.DenseReluDense",
       "mistral": "mlp", "bart": None, "opt-post": None}


@pytest.mark.parametrize("name", list(MLP))
def test_every_intermediate_identity(tiny_client, name):
    from transformers.activations import ACT2FN

    adapter = tiny_model(name)
    layer, query = 1, 4
    r = post(tiny_client, model=f"tiny-{name}", text=TINY_TEXT, layer=layer, query=query)
    a = lambda k: np.array(r[k])  # noqa: E731
    mod = list(attr(adapter.model.base_model, BLOCKS[adapter.info.family].layers))[layer]
    for k in ("attn_in", "attn_out_norm", "norm1", "ffn_out_norm", "norm2"):
        if r[k] is not None:
            check_norm(r[k], mod)
    added = a("out") if r["attn_out_norm"] is None else np.array(r["attn_out_norm"]["output"])
    np.testing.assert_allclose(r["residual"], a("x") + added, atol=1e-5)
    if r["attn_out_norm"] is not None:  # Gemma 2 normalises the attention output before adding it
        np.testing.assert_allclose(r["attn_out_norm"]["input"], r["out"], atol=1e-6)
    if r["attn_in"] is not None:
        np.testing.assert_allclose(r["attn_in"]["input"], r["x"], atol=1e-6)
    np.testing.assert_allclose(r["norm1"]["input"], r["x"] if r["parallel"] else r["residual"], atol=1e-6)
    act = ACT2FN[r["act_name"]](torch.tensor(a("ffn_pre"))).numpy()
    np.testing.assert_allclose(r["ffn_act"], act * a("ffn_up") if r["gated"] else act, atol=1e-5, rtol=1e-5)
    if MLP[name]:
        with torch.inference_mode():
            own = attr(mod, MLP[name])(torch.tensor(r["norm1"]["output"], dtype=torch.float32)[None])[0]
        np.testing.assert_allclose(r["ffn_out"], own.double().numpy(), atol=1e-5, rtol=1e-5)
    ffn = a("ffn_out") if r["ffn_out_norm"] is None else np.array(r["ffn_out_norm"]["output"])
    if r["placement"] == "post":
        np.testing.assert_allclose(r["residual2"], np.array(r["norm1"]["output"]) + ffn, atol=1e-5)
        np.testing.assert_allclose(r["block_out"], r["norm2"]["output"], atol=1e-6)
        np.testing.assert_allclose(r["norm2"]["input"], r["residual2"], atol=1e-6)
    else:
        np.testing.assert_allclose(r["residual2"], a("residual") + ffn, atol=1e-5)
        np.testing.assert_allclose(r["block_out"], r["residual2"], atol=1e-6)
    if adapter.info.capabilities.get("steps"):  # Step by step's x and out are this x (pre-norm: N(x)) and out
        s = tiny_client.post("/api/steps", json={"model": f"tiny-{name}", "text": TINY_TEXT, "layer": layer, "head": 0,
                                                 "query": query}).json()
        np.testing.assert_allclose(r["out"], s["out"], atol=1e-5, rtol=1e-5)
        seen = r["x"] if r["attn_in"] is None else r["attn_in"]["output"]
        np.testing.assert_allclose(seen, s["x"][query], atol=1e-5, rtol=1e-5)


def test_parallel_residual_adds_both_sublayers_to_x(tiny_client):
    r = post(tiny_client, model="tiny-gpt_neox", text=TINY_TEXT, layer=0, query=1)
    x, out, f = (np.array(r[k]) for k in ("x", "out", "ffn_out"))
    np.testing.assert_allclose(r["block_out"], x + out + f, atol=1e-5)
    assert r["ffn_modules"] == {"W_1": "mlp.dense_h_to_4h", "W_2": "mlp.dense_4h_to_h"}


def test_gpt2_conv1d_and_phi3_fused_gate_up(tiny_client):
    g = post(tiny_client, model="tiny-gpt2", text=TINY_TEXT, layer=0, query=1)
    assert g["ffn_shapes"] == {"W_1": [32, 128], "W_2": [128, 32]} and g["act_name"] == "gelu_new"
    assert g["attn_in"]["path"] == "ln_1" and g["norm1"]["path"] == "ln_2"
    p = post(tiny_client, model="tiny-phi3", text=TINY_TEXT, layer=0, query=1)
    assert p["ffn_modules"] == {"W_gate": "mlp.gate_up_proj[:64]", "W_up": "mlp.gate_up_proj[64:]",
                                "W_down": "mlp.down_proj"}
    assert p["activation"] == "silu (SwiGLU)" and p["ffn_bias"] == {"W_gate": False, "W_up": False, "W_down": False}


def test_gemma_scales_by_one_plus_gamma(tiny_client):
    for name in ("gemma", "gemma2"):
        r = post(tiny_client, model=f"tiny-{name}", text=TINY_TEXT, layer=0, query=1)
        assert r["norm1"]["scale_offset"] == 1.0 and r["activation"] == "gelu_tanh (GeGLU)"
    assert r["attn_out_norm"]["path"] == "post_attention_layernorm"
    assert r["norm1"]["path"] == "pre_feedforward_layernorm"
    assert r["ffn_out_norm"]["path"] == "post_feedforward_layernorm"


@pytest.mark.parametrize("body, status, needle", [
    ({"model": "tiny-deberta-v2", "text": TINY_TEXT, "layer": 0, "query": 0}, 422, "no 'deberta-v2'"),
    ({"model": "tiny-t5", "text": TINY_TEXT, "layer": 0, "query": 0, "block": "decoder"}, 422, "encoder block only"),
    ({"model": "tiny-gpt2", "text": TINY_TEXT, "layer": 2, "query": 0}, 422, "0 to 1"),
    ({"model": "tiny-albert-groups", "text": TINY_TEXT, "layer": 4, "query": 0}, 422, "4 layers"),
    ({"model": "tiny-t5", "text": TINY_TEXT, "layer": 0, "query": 50}, 422, "query 50"),
])
def test_tiny_bad_requests_say_why(tiny_client, body, status, needle):
    r = tiny_client.post("/api/block-steps", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
