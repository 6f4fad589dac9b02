"""The textbook model through the API: three blocks, causal masking, translation and its alignment."""

from __future__ import annotations

import numpy as np
import pytest

TEXT = "je suis étudiant"


def attention(client, block, layer=None, **extra):
    body = {"model": "textbook", "text": TEXT, "block": block, **extra}
    if layer is not None:
        body["layer"] = layer
    r = client.post("/api/attention", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_listed_as_an_encoder_decoder(client):
    m = {m["id"]: m for m in client.get("/api/models").json()["models"]}["textbook"]
    assert m["kind"] == "encoder-decoder" and m["positional"] == "sinusoidal"
    assert m["blocks"] == ["encoder", "decoder", "cross"]


def test_three_blocks_on_one_trained_model(client):
    enc = attention(client, "encoder")
    assert enc["query_tokens"] == enc["key_tokens"] == ["je", "suis", "étudiant"]
    assert enc["query_predicts"] is None
    dec = attention(client, "decoder")
    assert dec["query_tokens"] == dec["key_tokens"] == ["<s>", "i", "am", "a", "student"]
    assert dec["target"] == "i am a student"  # the model's own greedy translation
    w = np.array(dec["weights"])  # (L, H, T, T)
    assert np.all(w[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0.0)  # exactly 0 above
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    cross = attention(client, "cross")
    assert cross["query_tokens"] == dec["query_tokens"] and cross["key_tokens"] == enc["tokens"]
    assert cross["query_predicts"] == ["i", "am", "a", "student", "</s>"]
    np.testing.assert_allclose(np.array(cross["weights"]).sum(-1), 1.0, atol=1e-5)


def test_student_attends_most_to_etudiant(client):
    """Mean over the last layer's heads: the row that produces "student" peaks at "étudiant"."""
    cross = attention(client, "cross", layer=1)
    row = cross["query_predicts"].index("student")
    mean = np.array(cross["weights"]).mean(0)
    assert cross["key_tokens"][int(mean[row].argmax())] == "étudiant"
    tr = client.post("/api/translate", json={"model": "textbook", "text": TEXT}).json()
    assert tr["text"] == "i am a student"
    alignment = np.array(tr["cross_attention"]).mean(0)  # (T_out, S), rows = produced words
    assert tr["output_tokens"][:4] == ["i", "am", "a", "student"]
    assert tr["source_tokens"][int(alignment[3].argmax())] == "étudiant"
    np.testing.assert_allclose(alignment[3], mean[row], atol=1e-5)  # the same numbers, two routes


def test_a_given_target_is_teacher_forced(client):
    dec = attention(client, "decoder", target="i am not a student")
    assert dec["query_tokens"] == ["<s>", "i", "am", "not", "a", "student"]
    assert dec["target"] == "i am not a student"


@pytest.mark.parametrize("body, needle", [
    ({"model": "textbook", "text": "je suis étudiant", "strategy": "sideways"}, "strategy"),
    ({"model": "textbook", "text": "je suis étudiant", "beam_width": 0}, "beam_width"),
    ({"model": "textbook", "text": "   "}, "empty"),
    ({"model": "minilm", "text": "hello"}, "cannot translate"),
    ({"model": "textbook", "text": " ".join(["je"] * 40)}, "at most 32"),
])
def test_translate_bad_inputs(client, body, needle):
    r = client.post("/api/translate", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_unknown_words_are_a_note_not_an_error(client):
    r = client.post("/api/translate", json={"model": "textbook", "text": "je suis xyzzy", "strategy": "beam"})
    assert r.status_code == 200
    body = r.json()
    assert "<unk>" in body["source_tokens"] and any("xyzzy" in n for n in body["notes"])


def test_beam_width_one_equals_greedy(client):
    g = client.post("/api/translate", json={"text": "nous avons un chien gris"}).json()
    b = client.post("/api/translate", json={"text": "nous avons un chien gris", "strategy": "beam",
                                            "beam_width": 1}).json()
    assert g["output_tokens"] == b["output_tokens"] and g["text"] == "we have a grey dog"
