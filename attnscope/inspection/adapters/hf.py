"""Shared helpers for Hugging Face models: loading and tokenising into :class:`Tokens`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from attnscope.inspection.trace import Tokens


def load_pretrained(source: str, auto_cls, dtype: torch.dtype = torch.float32):
    """Load a model and its tokenizer from a hub id or a local directory.

    Always eager attention (SDPA returns no weights), never remote code, and no
    network when the source is a local directory or ``HF_HUB_OFFLINE`` is set.
    """
    from transformers import AutoTokenizer

    local = Path(source).is_dir()
    offline = local or os.environ.get("HF_HUB_OFFLINE") == "1"
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline, trust_remote_code=False)
    model = auto_cls.from_pretrained(source, attn_implementation="eager",  # SDPA returns no weights
                                     local_files_only=offline, trust_remote_code=False, dtype=dtype)
    model.eval()
    return model, tokenizer


def tokenize(tokenizer, text: str, max_tokens: int | None = None) -> tuple[dict, Tokens]:
    """Tokenise ``text`` with special tokens; return model inputs and :class:`Tokens`."""
    enc = tokenizer(
        text,
        return_tensors="pt",
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        truncation=False,
    )
    ids = enc["input_ids"][0].tolist()
    special = [bool(s) for s in enc.pop("special_tokens_mask")[0].tolist()]
    offsets_raw = enc.pop("offset_mapping")[0].tolist()
    pieces = tokenizer.convert_ids_to_tokens(ids)
    offsets: list[tuple[int, int] | None] = []
    shown: list[str] = []
    unk = getattr(tokenizer, "unk_token", None)
    prev_span = None
    for piece, sp, (a, b) in zip(pieces, special, offsets_raw):
        is_unk = unk is not None and piece == unk and a != b
        sp = sp and not is_unk  # [UNK] stands for real text: keep its offsets
        offsets.append(None if sp or a == b else (int(a), int(b)))
        # an unknown piece shows the text it replaced, e.g. "[UNK:🙂]"
        label = f"{unk[:-1]}:{text[a:b]}]" if is_unk and unk.endswith("]") else display_piece(tokenizer, piece, sp)
        if not sp and a != b and REPLACEMENT in label and REPLACEMENT not in text[a:b]:
            # a byte-level piece of a character split over several tokens: label it with the character its
            # offsets cover; the character's later pieces are marked "·" (the raw pieces: /api/tokenize)
            label = ("·" + text[a:b].strip()) if prev_span == (a, b) else visible(text[a:b])
        prev_span = (a, b)
        shown.append(label)
    return dict(enc), Tokens(text=shown, ids=ids, special=special, offsets=offsets)


REPLACEMENT = "\ufffd"
#: whitespace a label would not show: a visible sign each
WHITESPACE_SIGNS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible(text: str) -> str:
    """``text`` with a leading or whitespace-only run of spaces, newlines and tabs shown as signs."""
    if text and not text.strip():
        return "".join(WHITESPACE_SIGNS.get(c, c) for c in text)
    return text


def display_piece(tokenizer, piece: str, special: bool) -> str:
    """How a token is labelled on the page: WordPiece keeps ``##``; byte-level BPE is decoded; a token of
    whitespace alone shows as signs (␣ ↵ ⇥)."""
    if special or piece.startswith("##"):
        return piece
    try:
        text = tokenizer.convert_tokens_to_string([piece])
    except Exception:  # noqa: BLE001 - some tokenizers cannot decode single pieces
        return piece
    if text and not text.strip():  # a space, newline or tab token: a visible sign, not "Ġ" / "Ċ"
        return visible(text)
    return text if text.strip() or not piece.strip() else piece


def np32(t: torch.Tensor) -> np.ndarray:
    """Float32 numpy, C order; never a view into a parameter that an in-place edit could corrupt.

    A tensor computed under ``torch.inference_mode()`` (an activation: ``is_inference()``) is owned by
    the finished forward pass alone, so its memory is reused without a copy (at 256 tokens the copies
    cost a sixth of MiniLM's forward). Parameters, and views of them, are not inference tensors
    (PyTorch: a view of a normal tensor made in inference mode is a normal tensor): those are copied.
    """
    a = t.detach().to(torch.float32).cpu().numpy()
    if t.is_inference():
        return np.ascontiguousarray(a)
    return a.copy()


def output_tokens(tokenizer, ids: list[int]) -> list[str]:
    """Display text of token ids, as the page labels tokens."""
    specials = set(tokenizer.all_special_ids)
    return [display_piece(tokenizer, p, i in specials) for p, i in zip(tokenizer.convert_ids_to_tokens(ids), ids)]
