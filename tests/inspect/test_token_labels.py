"""Readable token labels (issue 25): byte-level pieces of one character show that character, not "�", and a
token of whitespace alone shows as a visible sign, not "Ġ"."""

from __future__ import annotations

import pytest

from attnscope.inspection.adapters.hf import output_tokens, tokenize

pytestmark = pytest.mark.slow


def test_byte_level_pieces_show_the_characters_they_spell(smollm2):
    text = "我喜欢机器学习 🤖 a  b"
    _, toks = tokenize(smollm2.tokenizer, text)
    assert "\ufffd" not in "".join(toks.text)
    assert len(toks.text) > len(text.split()) + 7  # the characters really are split into several pieces
    firsts = [t for t in toks.text if not t.startswith("·")]
    assert "".join(firsts).replace("␣", " ").startswith("我喜欢机器学习")
    for label, span in zip(toks.text, toks.offsets):  # a continuation piece names the character it belongs to
        if label.startswith("·"):
            assert label[1:] == text[span[0]:span[1]].strip()
    assert "␣" in toks.text  # the second space of "a  b" is a token of its own
    assert not any("Ġ" in t for t in toks.text)


def test_whitespace_tokens_in_generated_text_are_visible_signs(smollm2):
    tok = smollm2.tokenizer
    space, newline = tok.convert_tokens_to_ids("Ġ"), tok.convert_tokens_to_ids("Ċ")
    assert output_tokens(tok, [space, newline]) == ["␣", "↵"]
    word = tok(" animal", add_special_tokens=False)["input_ids"]
    assert output_tokens(tok, word) == [tok.decode([w]) for w in word]  # ordinary pieces are unchanged
