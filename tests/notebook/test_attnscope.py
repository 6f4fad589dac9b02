"""The public `attnscope` module: the user's own model in, the API's numbers out, small offline HTML."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import attnscope
from attnscope._html import unpack

pytestmark = pytest.mark.slow
TEXT = "Alice is wearing a jacket and she is freezing"
STEP = 0.5 / 255  # 8-bit weights: round(255 w) / 255 is within half a step of w


@pytest.fixture(scope="session")
def user_model(minilm_dir):
    """MiniLM loaded the way a notebook user loads a model: their own AutoModel object, not the server's."""
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(minilm_dir, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(minilm_dir)


def embedded(fragment: str) -> dict:
    m = re.search(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', fragment, re.S)
    assert m and f'<div id="{m[1]}"' in fragment
    return json.loads(m[2])


def long_text(n_tokens: int) -> str:
    return " ".join(("the cat sat on the mat and looked at the dog " * 60).split()[: n_tokens - 2])


def test_show_draws_the_weights_the_api_returns(user_model, client):
    model, tok = user_model
    view = attnscope.show(model, tok, TEXT, view="model")  # outside IPython: the View comes back
    data = embedded(view._repr_html_())
    body = client.post("/api/attention", json={"model": "minilm", "text": TEXT}).json()
    api = np.array(body["weights"])  # (L, H, T, T), every layer
    shown = unpack(data["blocks"][0]["weights"])
    assert shown.shape == api.shape == (6, 12, len(body["tokens"]), len(body["tokens"]))
    assert data["blocks"][0]["q"] == body["query_tokens"] and data["blocks"][0]["k"] == body["key_tokens"]
    np.testing.assert_allclose(shown, api, atol=STEP + 1e-6, rtol=0)
    assert np.abs(shown - api).max() > 0  # it is the 8-bit copy, not the float one
    t = attnscope.trace(model, tok, TEXT)
    np.testing.assert_allclose(t.to_numpy(), api, atol=1e-6, rtol=0)  # the trace itself is exact
    assert t.tokens.text == body["tokens"]


def test_trace_to_numpy_and_a_tidy_dataframe(user_model):
    model, tok = user_model
    t = attnscope.trace(model, tok, TEXT)
    w = t.to_numpy()
    L, H, T, _ = w.shape
    df = t.to_dataframe()
    assert list(df.columns[:5]) == ["layer", "head", "query", "key", "weight"]
    assert len(df) == L * H * T * T
    row = df[(df["layer"] == 3) & (df["head"] == 7) & (df["query"] == 2) & (df["key"] == 5)].iloc[0]  # df.head is a method
    assert row["weight"] == w[3, 7, 2, 5] and row["query_token"] == t.tokens.text[2] and row["key_token"] == t.tokens.text[5]
    np.testing.assert_allclose(df.groupby(["layer", "head", "query"]).weight.sum(), 1, atol=1e-5)
    assert len(t.to_dataframe(layer=2)) == H * T * T
    assert t.weights("encoder", 1).shape == (H, T, T)  # the core Trace's names read through


def test_steps_view_embeds_the_scaled_scores_of_the_layer(user_model):
    model, tok = user_model
    t = attnscope.trace(model, tok, TEXT)
    data = embedded(t.view("steps", layer=3, head=2).html())
    assert data["view"] == "steps" and data["steps"]["layer"] == 3 and data["steps"]["d_head"] == 32
    np.testing.assert_array_equal(unpack(data["steps"]["scaled"]), t.block("encoder", 3).scaled())
    with pytest.raises(ValueError, match="out of range"):
        t.view("attention", layer=6)
    with pytest.raises(ValueError, match="unknown view"):
        attnscope.show(model, tok, TEXT, view="bogus")


def test_bertviz_arguments_tensors_arrays_pairs_and_encoder_decoder(user_model):
    import torch

    model, tok = user_model
    inputs = tok("The cat sat.", "It was tired.", return_tensors="pt")
    with torch.no_grad():
        att = model(**inputs, output_attentions=True).attentions
    tokens = tok.convert_ids_to_tokens(inputs["input_ids"][0])
    b_start = inputs["token_type_ids"][0].tolist().index(1)
    v = attnscope.head_view(att, tokens, sentence_b_start=b_start, html_action="return")
    d = embedded(v.html())
    assert d["view"] == "attention" and d["divider"] == b_start and d["blocks"][0]["q"] == tokens
    np.testing.assert_allclose(unpack(d["blocks"][0]["weights"]), torch.stack(att)[:, 0].numpy(), atol=STEP + 1e-6)
    m = embedded(attnscope.model_view(tuple(a.numpy() for a in att), tokens, include_layers=[0, 5],
                                      include_heads=[1, 2, 3], html_action="return").html())
    assert m["view"] == "model" and unpack(m["blocks"][0]["weights"]).shape == (2, 3, len(tokens), len(tokens))
    src, tgt = ["a", "b", "c"], ["x", "y"]
    enc = tuple(np.full((1, 2, 3, 3), 1 / 3) for _ in range(2))
    dec = tuple(np.tril(np.ones((1, 2, 2, 2))) / np.arange(1, 3)[:, None] for _ in range(2))
    cross = tuple(np.full((1, 2, 2, 3), 1 / 3) for _ in range(2))
    ed = embedded(attnscope.model_view(encoder_attention=enc, decoder_attention=dec, cross_attention=cross,
                                       encoder_tokens=src, decoder_tokens=tgt, html_action="return").html())
    assert [(b["name"], b["Tq"], b["Tk"]) for b in ed["blocks"]] == [("encoder", 3, 3), ("decoder", 2, 2), ("cross", 2, 3)]
    assert ed["blocks"][2]["q"] == tgt and ed["blocks"][2]["k"] == src
    with pytest.raises(ValueError, match="batch"):
        attnscope.head_view(tuple(np.zeros((2, 2, 3, 3)) for _ in range(2)), src, html_action="return")
    with pytest.raises(ValueError, match="tokens"):
        attnscope.head_view(enc, ["a", "b"], html_action="return")


def test_save_html_is_small_and_self_contained(user_model, tmp_path):
    model, tok = user_model
    t = attnscope.trace(model, tok, long_text(64))
    w = t.to_numpy()
    assert w.shape == (6, 12, 64, 64)
    path = t.save_html(tmp_path / "minilm64.html")
    size = path.stat().st_size
    # bertviz embeds every weight as JSON text (13,238,700 bytes for this input, measured with bertviz 1.4.1);
    # the JSON of the weights alone is a lower bound for it
    json_bytes = len(json.dumps(w.tolist()))
    print(f"attnscope save_html at 64 tokens: {size} bytes; the weights as JSON alone: {json_bytes} bytes")
    assert size * 20 <= json_bytes
    text = path.read_text()
    assert text.startswith("<!doctype html>") and not re.search(r"\b(src|href)=|https?:", text)


def test_empty_text_is_a_clear_error(user_model):
    model, tok = user_model
    with pytest.raises(ValueError, match="empty"):
        attnscope.trace(model, tok, "  ")


def test_a_model_on_sdpa_is_read_and_left_on_sdpa(minilm_dir, minilm_tokenizer, user_model):
    """The user's SDPA model is traced as it is: its config keeps SDPA, the weights equal eager's."""
    import warnings

    from transformers import AutoModel

    model = AutoModel.from_pretrained(minilm_dir, attn_implementation="sdpa").eval()
    config = model.config
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: nothing is switched
        t = attnscope.trace(model, minilm_tokenizer, TEXT)
    assert model.config is config and config._attn_implementation == "sdpa"
    eager = attnscope.trace(user_model[0], minilm_tokenizer, TEXT)
    np.testing.assert_allclose(t.to_numpy(), eager.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(t.to_numpy().sum(-1), 1, atol=1e-5)


def test_a_view_has_a_short_text_form(user_model):
    """A notebook stores text/plain beside the HTML: the repr names the view, not the payload again."""
    model, tok = user_model
    view = attnscope.trace(model, tok, long_text(200)).view("model")
    text = repr(view)
    assert len(text) < 200 < len(view.html()) // 1000, (len(text), len(view.html()))
    assert text.startswith("<attnscope.View 'model'") and "6 layers x 12 heads" in text, text


def test_a_short_trace_refuses_the_long_view_with_directions(user_model):
    model, tok = user_model
    with pytest.raises(ValueError, match="view='long'"):
        attnscope.trace(model, tok, TEXT).view("long")
