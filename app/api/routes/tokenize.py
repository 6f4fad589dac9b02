"""The same text through each model's tokenizer: pieces and ids side by side (WordPiece vs BPE)."""

from __future__ import annotations

import re

from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.schemas import Answer, Strict
from attnscope.inspection.adapters.hf import tokenize

router = APIRouter(prefix="/api", tags=["embeddings"])

WHY = {
    "WordPiece": "WordPiece keeps whole words that are in its vocabulary and splits the others into the longest known "
                 "pieces.",
    "BPE": "Byte-pair encoding builds its vocabulary by merging the most frequent pairs of symbols; a rare word stays "
           "in several pieces.",
    "Unigram": "Unigram keeps the split with the highest probability under its piece model.",
}
#: the markers tokenizers write into their pieces, and what each means
MARKERS = {
    "##": "'##' marks a piece that continues the word before it (WordPiece).",
    "Ġ": "'Ġ' marks a piece that starts with a space (byte-level BPE: every byte is a symbol, a space is shown as Ġ).",
    "▁": "'▁' marks a piece that starts with a space (SentencePiece, as in LLaMA, T5 and Gemma).",
}


def marker_note(pieces: list[str]) -> str:
    """What the markers that actually occur in ``pieces`` mean (the tokenizer's own convention)."""
    found = [note for mark, note in MARKERS.items()
             if any(p.startswith(mark) and len(p) > len(mark) or p == mark for p in pieces)]
    return " ".join(found)


class TokenizeRequest(Strict):
    text: str = Field(description="the text to tokenise")
    models: list[str] | None = Field(default=None, max_length=8,
                                     description="model ids; default: every loaded model with a subword tokenizer")


class Word(Answer):
    word: str
    pieces: list[str] = Field(description="the pieces inside the word (more than one: the word was split)")


class Tokenization(Answer):
    model: str
    name: str
    algorithm: str = Field(description="WordPiece, BPE, Unigram...")
    pieces: list[str] = Field(description="as the tokenizer writes them (##ing, Ġthe)")
    tokens: list[str] = Field(description="display text")
    ids: list[int]
    special: list[bool]
    words: list[Word]
    split_words: int = Field(description="words in more than one piece")
    why: str = Field(description="one line on why words split")


class TokenizeResponse(Answer):
    text: str
    tokenizers: list[Tokenization]


def _words(text: str, offsets: list, pieces: list[str]) -> list[dict]:
    """Each whitespace-separated word of ``text`` with the pieces whose offsets fall inside it."""
    out = []
    for m in re.finditer(r"\S+", text):
        inside = [p for p, o in zip(pieces, offsets) if o is not None and o[0] < m.end() and o[1] > m.start()]
        out.append({"word": m.group(), "pieces": inside})
    return out


@router.post("/tokenize", summary="The same text through each model's tokenizer: pieces and ids side by side.",
             response_model=TokenizeResponse, response_model_exclude_unset=True)
def tokenize_route(req: TokenizeRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """The same text through each model's tokenizer: pieces and ids side by side.

    Per model: ``algorithm`` (WordPiece, BPE, ...), ``pieces`` (as the tokenizer writes them: ``##ing``,
    ``Ġthe``), ``tokens`` (display text), ``ids``, ``special``, ``words`` (each word with its pieces; a word
    in more than one piece was split) and ``why`` (one line on why words split).
    """
    ids = req.models
    if ids is None:
        ids = [i for i, status in registry.status().items() if status == "loaded"]
    out = []
    for mid in ids:
        adapter = registry.get(mid)
        tok = adapter.tokenizer  # None for a model with its own word vocabulary (textbook)
        backend = getattr(tok, "backend_tokenizer", None) if tok is not None else None  # a fast (subword) one
        if backend is None:
            if req.models is not None:
                raise ValueError(f"{mid} has no subword tokenizer (it splits on words); choose minilm or smollm2")
            continue
        text = checked_text(req.text, adapter, settings)
        _, toks = tokenize(tok, text)
        pieces = tok.convert_ids_to_tokens(toks.ids)
        algo = type(backend.model).__name__
        words = _words(text, toks.offsets, pieces)
        out.append({"model": mid, "name": adapter.info.name, "algorithm": algo, "pieces": pieces, "tokens": toks.text,
                    "ids": toks.ids, "special": toks.special, "words": words,
                    "split_words": sum(len(w["pieces"]) > 1 for w in words),
                    "why": " ".join(x for x in (WHY.get(algo, ""), marker_note(pieces)) if x)})
    if not out:
        raise ValueError("no loaded model has a subword tokenizer yet; try again when minilm or smollm2 has loaded")
    return {"text": req.text, "tokenizers": out}
