"""POST /api/embeddings and POST /api/similarity: parity with the model's own numbers, PCA, cosines, bad input."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from attnscope.inspection import positional

pytestmark = pytest.mark.slow  # runs the real MiniLM

SENTENCE = "I bought an apple and an orange"
APPLE = ("My favorite fruit is apple", "My favorite brand is apple")
BANK = ("I sat on the bank of the river", "I deposited money at the bank")
#: What MiniLM (all-MiniLM-L6-v2) really gives for 'apple' in APPLE, layer 0 (embedding output) to 6.
APPLE_COSINE = [1.0, 0.9669, 0.9531, 0.9452, 0.9349, 0.9143, 0.8566]
#: ... and for 'bank' in BANK (position 5 vs 6, so layer 0 already differs).
BANK_COSINE = [0.9884, 0.9234, 0.8863, 0.8454, 0.8585, 0.8852, 0.7860]


def embed(client, text, model="minilm", fmt="json"):
    r = client.post("/api/embeddings", json={"model": model, "text": text, "format": fmt})
    assert r.status_code == 200, r.text
    return r.json()


def own_outputs(minilm, text):
    """MiniLM run directly (no hooks, no adapter): ids, hidden states (L + 1, T, d), word and position embeddings."""
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = minilm.model(**enc, output_hidden_states=True)
        ids = enc["input_ids"]
        words = minilm.model.embeddings.word_embeddings(ids)[0].numpy()
        pos = minilm.model.embeddings.position_embeddings.weight[: ids.shape[1]].numpy()
    hidden = torch.stack(out.hidden_states)[:, 0].numpy()
    return ids[0].tolist(), hidden, words, pos


def cos(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# --------------------------------------------------------------------------- /api/embeddings


def test_embeddings_equal_the_models_own_numbers(client, minilm):
    body = embed(client, SENTENCE)
    ids, hidden, words, pos = own_outputs(minilm, SENTENCE)
    t = len(ids)
    assert body["tokens"] == minilm.tokenizer.convert_ids_to_tokens(ids)
    assert body["ids"] == ids and body["special"] == [True] + [False] * (t - 2) + [True]
    assert (body["layers"], body["d_model"], body["vocab_size"], body["positional"]) == (6, 384, 30522, "learned")
    assert body["shape"] == {"token_embeddings": [t, 384], "position_embeddings": [t, 384],
                             "hidden_states": [7, t, 384], "norms": [7, t], "pca": [7, t, 2]}
    np.testing.assert_allclose(np.array(body["hidden_states"]), hidden, atol=1e-5)
    np.testing.assert_allclose(np.array(body["token_embeddings"]), words, atol=1e-6)
    np.testing.assert_allclose(np.array(body["position_embeddings"]), pos, atol=1e-6)
    np.testing.assert_allclose(np.array(body["norms"]), np.linalg.norm(hidden, axis=-1), atol=1e-4)


def test_f16_decodes_to_the_json_numbers(client):
    j = embed(client, SENTENCE)
    f = embed(client, SENTENCE, fmt="f16")
    assert f["format"] == "f16" and f["shape"] == j["shape"]
    for name in ("token_embeddings", "position_embeddings", "hidden_states"):
        raw = base64.b64decode(f[name])
        shape = f["shape"][name]
        assert len(raw) == 2 * int(np.prod(shape)), name
        dec = np.frombuffer(raw, dtype="<f2").reshape(shape).astype(np.float64)
        ref = np.array(j[name])
        # float16 keeps ~3 significant digits: relative error <= 2**-11, plus subnormals near 0
        np.testing.assert_allclose(dec, ref, rtol=1e-3, atol=1e-4, err_msg=name)
        assert np.abs(dec - ref).max() <= 1e-2 * np.abs(ref).max(), name
    assert f["norms"] == j["norms"] and f["pca"] == j["pca"]  # small arrays stay JSON


def test_pca_equals_an_independent_svd_up_to_sign(client, minilm):
    body = embed(client, SENTENCE)
    _, hidden, _, _ = own_outputs(minilm, SENTENCE)
    points = np.array(body["pca"]["points"])  # (L + 1, T, 2)
    ratio = np.array(body["pca"]["explained_variance_ratio"])  # (L + 1, 2)
    for layer in range(hidden.shape[0]):
        x = hidden[layer].astype(np.float64)
        xc = x - x.mean(0)
        u, s, _ = np.linalg.svd(xc, full_matrices=False)
        proj = u[:, :2] * s[:2]  # (T, 2): the scores on the first two components
        for c in range(2):
            got = points[layer, :, c]
            sign = 1.0 if got @ proj[:, c] >= 0 else -1.0
            np.testing.assert_allclose(got, sign * proj[:, c], atol=1e-3, err_msg=f"layer {layer} PC{c + 1}")
        np.testing.assert_allclose(ratio[layer], s[:2] ** 2 / (s**2).sum(), atol=1e-5)
        assert ratio[layer, 0] >= ratio[layer, 1] > 0
    for layer in range(1, hidden.shape[0]):  # signs are aligned with the previous layer's: no mirror jumps
        for c in range(2):
            assert points[layer, :, c] @ points[layer - 1, :, c] >= 0


def test_one_token_gives_zero_pca_not_nan(client):
    body = embed(client, "hi")  # [CLS] hi [SEP]: three points, so PC2 still exists
    assert np.isfinite(np.array(body["pca"]["points"])).all()
    assert np.isfinite(np.array(body["pca"]["explained_variance_ratio"])).all()


@pytest.mark.parametrize("body, status, needle", [
    ({"model": "minilm", "text": ""}, 422, "empty"),
    ({"model": "minilm", "text": "word " * 600}, 422, "602 tokens"),
    ({"model": "minilm"}, 422, "text is required"),
    ({"model": "gpt-17", "text": "hi"}, 404, "unknown model 'gpt-17'"),
    ({"model": "minilm", "text": "hi", "format": "xml"}, 422, "format"),
    ({"model": "minilm", "text": "hi", "layer": 2}, 422, "layer"),
])
def test_embeddings_bad_inputs(client, body, status, needle):
    r = client.post("/api/embeddings", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


# --------------------------------------------------------------------------- /api/similarity


def similarity(client, a, b, model="minilm", **extra):
    return client.post("/api/similarity", json={"model": model, "a": a, "b": b, **extra})


def test_cosine_per_layer_equals_a_hand_computation_from_the_hidden_states(client):
    a, b = "The cat sat on the mat", "A cat is sleeping"
    r = similarity(client, {"text": a, "index": 2}, {"text": b, "index": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    ha, hb = np.array(embed(client, a)["hidden_states"]), np.array(embed(client, b)["hidden_states"])
    assert body["tokens_a"][2] == body["a_token"] == "cat" and body["b_token"] == "cat"
    assert body["layers"] == list(range(7))
    hand = [cos(ha[layer, 2], hb[layer, 2]) for layer in range(7)]
    np.testing.assert_allclose(body["cosine"], hand, atol=1e-6)
    wa = np.array(body["within_a"])
    assert wa.shape == (7, len(body["tokens_a"]), len(body["tokens_a"])) == tuple(body["shape"]["within_a"])
    for layer in (0, 3, 6):
        unit = ha[layer] / np.linalg.norm(ha[layer], axis=-1, keepdims=True)
        np.testing.assert_allclose(wa[layer], unit @ unit.T, atol=1e-6)
    np.testing.assert_allclose(np.diagonal(wa, axis1=1, axis2=2), 1.0, atol=1e-6)


def test_apple_preset_what_minilm_really_does(client):
    r = similarity(client, {"text": APPLE[0], "word": "apple"}, {"text": APPLE[1], "word": "Apple"})
    assert r.status_code == 200, r.text
    body = r.json()
    c = body["cosine"]
    print("apple cosine by layer:", [round(x, 4) for x in c])
    assert body["tokens_a"] == ["[CLS]", "my", "favorite", "fruit", "is", "apple", "[SEP]"]
    assert body["tokens_b"] == ["[CLS]", "my", "favorite", "brand", "is", "apple", "[SEP]"]
    assert body["a_index"] == body["b_index"] == 5
    # layer 0 = embedding output (token + position + type, LayerNorm): same token at the same position -> identical
    assert c[0] == pytest.approx(1.0, abs=1e-6)
    # every layer mixes in the context (fruit vs brand): the two vectors drift apart, most in the last layer
    assert all(x < 0.97 for x in c[1:])
    assert all(c[i + 1] < c[i] for i in range(len(c) - 1))
    assert c[-1] < 0.9
    np.testing.assert_allclose(c, APPLE_COSINE, atol=2e-3)


def test_bank_preset_differs_already_at_layer_0_because_the_positions_differ(client):
    body = similarity(client, {"text": BANK[0], "word": "bank"}, {"text": BANK[1], "word": "bank"}).json()
    c = body["cosine"]
    print("bank cosine by layer:", [round(x, 4) for x in c])
    assert (body["a_index"], body["b_index"]) == (5, 6)
    assert 0.95 < c[0] < 0.999  # same token, positions 5 and 6: only the position embedding differs
    assert min(c[1:]) < c[0] and c[-1] < 0.8
    np.testing.assert_allclose(c, BANK_COSINE, atol=2e-3)


def test_word_and_index_pick_the_same_token(client):
    by_word = similarity(client, {"text": APPLE[0], "word": "APPLE"}, {"text": APPLE[1], "word": "fruit"})
    assert by_word.status_code == 422 and "sentence b has no token 'fruit'" in by_word.json()["detail"]
    by_word = similarity(client, {"text": APPLE[0], "word": "APPLE"}, {"text": APPLE[1], "word": "brand"}).json()
    by_index = similarity(client, {"text": APPLE[0], "index": 5}, {"text": APPLE[1], "index": 3}).json()
    assert by_word["cosine"] == by_index["cosine"] and by_word["b_token"] == "brand"


@pytest.mark.parametrize("a, b, status, needle", [
    ({"text": "hello world", "index": 9}, {"text": "hi", "index": 0}, 422,
     "index 9 is out of range: sentence a has 4 tokens (0 to 3)"),
    ({"text": "hello world", "index": 0}, {"text": "My favorite fruit is apple", "index": 7}, 422,
     "sentence b has 7 tokens (0 to 6)"),
    ({"text": "hello world", "index": -1}, {"text": "hi", "index": 0}, 422, "index -1 is out of range"),
    ({"text": "hello world", "word": "apple"}, {"text": "hi", "index": 0}, 422,
     "sentence a has no token 'apple'; its tokens are: '[CLS]', 'hello', 'world', '[SEP]'"),
    ({"text": "hello world", "word": "hello", "index": 1}, {"text": "hi", "index": 0}, 422, "either index or word"),
    ({"text": "hello world"}, {"text": "hi", "index": 0}, 422, "either index or word"),
    ({"text": "", "index": 0}, {"text": "hi", "index": 0}, 422, "sentence a is empty"),
    ({"text": "hi", "index": 0}, {"text": "word " * 600, "index": 0}, 422, "sentence b is 602 tokens long"),
    ({"index": 0}, {"text": "hi", "index": 0}, 422, "a.text is required"),
])
def test_similarity_bad_inputs_name_the_sentence(client, a, b, status, needle):
    r = similarity(client, a, b)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_similarity_unknown_model_is_404(client):
    r = similarity(client, {"text": "a", "index": 0}, {"text": "b", "index": 0}, model="gpt-17")
    assert r.status_code == 404 and "unknown model 'gpt-17'" in r.json()["detail"]


# --------------------------------------------------------------------------- the textbook model


def test_textbook_position_embeddings_are_the_sinusoidal_table(client, registry):
    """The built-in textbook model adds the lecture's sinusoidal PE (d = d_model, n = its pe_base)."""
    text = "je suis étudiant"
    body = embed(client, text, model="textbook")
    cfg = registry.get("textbook").model.cfg
    d, n = cfg.d_model, cfg.pe_base
    t = len(body["tokens"])
    assert body["tokens"] == ["je", "suis", "étudiant"] and body["positional"] == "sinusoidal"
    assert body["shape"]["position_embeddings"] == [t, d] and body["d_model"] == d
    pe = positional.encode("sinusoidal", t, d, n).values
    np.testing.assert_allclose(np.array(body["position_embeddings"]), pe, atol=1e-6)
    hidden = np.array(body["hidden_states"])  # the encoder's input is token part + PE
    np.testing.assert_allclose(hidden[0], np.array(body["token_embeddings"]) + pe, atol=1e-4)
    r = client.get("/api/positional", params={"kind": "learned", "model": "textbook"})
    assert r.status_code == 422 and "textbook has no learned position table" in r.json()["detail"]


# --------------------------------------------------------------------------- a rotary model


def test_rotary_model_has_no_position_vectors_so_layer_0_ignores_position(client, smollm2):
    """SmolLM2 rotates q and k instead of adding a position vector: 'bank' at positions 4 and 5 starts identical."""
    body = embed(client, BANK[0], model="smollm2")
    assert body["position_embeddings"] is None and body["shape"]["position_embeddings"] is None
    assert body["positional"] == "rotary" and body["layers"] == smollm2.info.layers
    r = similarity(client, {"text": BANK[0], "word": "bank"}, {"text": BANK[1], "word": "bank"}, model="smollm2")
    assert r.status_code == 200, r.text
    sim = r.json()
    assert sim["a_token"].strip() == sim["b_token"].strip() == "bank" and sim["a_index"] != sim["b_index"]
    assert sim["cosine"][0] == pytest.approx(1.0, abs=1e-6)
    assert sim["cosine"][-1] < 0.9
