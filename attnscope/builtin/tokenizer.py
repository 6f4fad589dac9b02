"""A word-level tokenizer for the textbook transformer.

Rules, in order:

* A *word* is a run of letters (accents kept: "étudiant" stays "étudiant";
  decomposed accents, e + U+0301, are recomposed). Digits form their own
  pieces; every other non-space character (punctuation) is a piece of its own.
* Elision: a word followed by an apostrophe (' or ’) and another word keeps
  the apostrophe and ends there: "l'homme" -> "l'", "homme"; "j'ai" -> "j'", "ai".
  (English contractions split the same way, "don't" -> "don'", "t"; the
  generated English never contains them.)
* Pieces are lowercased and normalised (NFC, ’ -> ') to look them up; their
  character offsets always point into the ORIGINAL text.
* Ids: ``<pad>`` 0, ``<s>`` 1, ``</s>`` 2, ``<unk>`` 3, then the words. A word
  outside the vocabulary becomes ``<unk>``, never an error. Typing "<s>" gives
  the pieces "<", "s", ">", never the special token.

Source (French) and target (English) have separate vocabularies.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

_LETTERS = r"(?:[^\W\d_]|[\u0300-\u036f])+"  # letters, with combining accents
_PIECE = re.compile(rf"{_LETTERS}['’](?={_LETTERS})|{_LETTERS}|\d+|[^\w\s]")


@dataclass(frozen=True)
class Piece:
    """One piece of the input: its normalised text and (start, end) in the original."""

    text: str
    start: int
    end: int


def split(text: str) -> list[Piece]:
    """Split ``text`` into normalised word pieces with character offsets."""
    return [Piece(normalise(m.group()), m.start(), m.end()) for m in _PIECE.finditer(text)]


def normalise(piece: str) -> str:
    """The vocabulary form of a piece: NFC, lowercase, ’ -> '."""
    return unicodedata.normalize("NFC", piece).lower().replace("’", "'")


class WordTokenizer:
    """Word <-> id for one language.

    Args:
        words: the vocabulary, specials first (as :meth:`build` makes it).
    """

    def __init__(self, words: list[str]) -> None:
        if tuple(words[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {words[:4]}")
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> WordTokenizer:
        """A vocabulary of every piece in ``texts``, most frequent first."""
        counts = Counter(p.text for t in texts for p in split(t))
        return cls([*SPECIALS, *sorted(counts, key=lambda w: (-counts[w], w))])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> tuple[list[int], list[Piece]]:
        """Ids and pieces of ``text`` (no special tokens added)."""
        pieces = split(text)
        return [self.ids.get(p.text, UNK_ID) for p in pieces], pieces

    def unknown(self, text: str) -> list[str]:
        """The pieces of ``text`` that are not in the vocabulary, in order, once each."""
        return list(dict.fromkeys(p.text for p in split(text) if p.text not in self.ids))

    def token(self, i: int) -> str:
        return self.words[i]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, special tokens dropped (see :func:`detokenize`)."""
        return detokenize([self.words[i] for i in ids if i >= len(SPECIALS) or i == UNK_ID])


def detokenize(words: list[str]) -> str:
    """Join words: no space before punctuation, none after an elided "l'"."""
    return layout(words)[0]


def layout(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The detokenized text and each word's (start, end) character offsets in it."""
    text, offsets = "", []
    for i, word in enumerate(words):
        if i > 0 and not (word in ".,;:!?)" or words[i - 1].endswith("'") or words[i - 1] == "("):
            text += " "
        offsets.append((len(text), len(text) + len(word)))
        text += word
    return text, offsets


def save_vocabs(path: Path, source: WordTokenizer, target: WordTokenizer) -> None:
    """Write both vocabularies as ``{"source": [...], "target": [...]}``."""
    path.write_text(
        json.dumps({"source": source.words, "target": target.words}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )


def load_vocabs(path: Path) -> tuple[WordTokenizer, WordTokenizer]:
    """Read (source, target) tokenizers from :func:`save_vocabs`' file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return WordTokenizer(data["source"]), WordTokenizer(data["target"])
