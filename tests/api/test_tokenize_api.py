"""Tokenisation and causal context (issue 18, part 8)."""

from __future__ import annotations

import numpy as np
import pytest

TEXT = "Tokenisation unbelievably splits words"


def test_wordpiece_and_bpe_side_by_side(client, minilm_dir, smollm2):
    from transformers import AutoTokenizer

    r = client.post("/api/tokenize", json={"text": TEXT, "models": ["minilm", "smollm2"]})
    assert r.status_code == 200, r.text
    t = {x["model"]: x for x in r.json()["tokenizers"]}
    fresh = AutoTokenizer.from_pretrained(minilm_dir)  # independent of the registry's copy
    assert t["minilm"]["ids"] == fresh(TEXT)["input_ids"]
    assert t["minilm"]["algorithm"] == "WordPiece" and t["smollm2"]["algorithm"] == "BPE"
    assert t["minilm"]["pieces"][:3] == ["[CLS]", "token", "##isation"]
    assert t["smollm2"]["ids"] == smollm2.tokenizer(TEXT)["input_ids"]
    assert "Ġunbelie" in t["smollm2"]["pieces"]
    words = {w["word"]: w["pieces"] for w in t["minilm"]["words"]}
    assert words["unbelievably"] == ["un", "##bel", "##ie", "##va", "##bly"] and words["words"] == ["words"]
    assert t["minilm"]["split_words"] == 2 and "##" in t["minilm"]["why"] and "Ġ" in t["smollm2"]["why"]


@pytest.mark.parametrize("body, needle", [
    ({"text": ""}, "empty"), ({"text": "x", "models": ["textbook"]}, "subword"), ({"text": "x", "models": ["nope"]}, "nope"),
])
def test_bad_input(client, body, needle):
    r = client.post("/api/tokenize", json=body)
    assert 400 <= r.status_code < 500 and needle in str(r.json()["detail"]), r.text


def test_causal_apple_is_the_same_vector_whatever_follows(client):
    """Lecture 001: "I bought an apple watch" / "...apple and an orange": a decoder cannot see "watch"."""
    def cos(model):
        r = client.post("/api/similarity", json={"model": model, "a": {"text": "I bought an apple watch", "word": "apple"},
                                                 "b": {"text": "I bought an apple and an orange", "word": "apple"}})
        assert r.status_code == 200, r.text
        return np.array(r.json()["cosine"])
    causal = cos("smollm2")
    np.testing.assert_allclose(causal, 1.0, atol=1e-4)
    assert cos("minilm")[-1] < 0.99  # an encoder sees the words after it


def test_the_note_explains_the_marker_each_tokenizer_writes():
    """'▁' is SentencePiece's space, 'Ġ' byte-level BPE's, '##' WordPiece's continuation: said where they occur."""
    from attnscope_server.api.routes.tokenize import marker_note

    assert "SentencePiece" in marker_note(["▁The", "▁cat", "s"]) and "Ġ" not in marker_note(["▁The"])
    assert "byte-level BPE" in marker_note(["The", "Ġcat"]) and "▁" not in marker_note(["The", "Ġcat"])
    assert "continues the word" in marker_note(["play", "##ing"])
    assert marker_note(["plain", "words"]) == ""
