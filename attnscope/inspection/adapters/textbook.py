"""Adapter for the built-in textbook transformer (French -> English, ``models/textbook/``).

The Trace it fills:

* ``tokens``: the source words exactly as the encoder reads them. The encoder
  sees no special token (no <s>, no </s>), as in the lectures' "je suis étudiant".
  A word outside the vocabulary is shown as ``<unk>`` (its offsets still point at the word).
* ``target_tokens``: the decoder INPUT, ``<s>`` then the target words. Row t of
  the decoder and cross blocks is the query of input token t, which predicts
  token t + 1: the step that OUTPUTS "student" is the row of the input "a".
* ``blocks``: "encoder" (kind "self"), "decoder" ("causal"), "cross" ("cross"),
  one per layer. For "cross", ``x`` is the decoder-side input (queries) and the
  keys and values are computed from the encoder output, which is
  ``hidden_states["encoder"][-1]``: ``k = enc_out @ w_k + b_k`` with
  :meth:`TextbookAdapter.head_weights`.
* ``token_embeddings`` / ``position_embeddings``: the two terms added at the
  encoder input (token embedding x sqrt(d_model), sinusoidal PE), so
  ``hidden_states["encoder"][0]`` is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from attnscope.builtin.model import AttentionRecord, Recording, beam_search, greedy_decode, load_model
from attnscope.builtin.tokenizer import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    UNK,
    UNK_ID,
    layout,
    load_vocabs,
    split,
)
from attnscope.inspection.adapters.base import Adapter, ModelInfo, default_capabilities
from attnscope.inspection.trace import AttentionBlock, HeadWeights, Tokens, Trace
from attnscope.resources import models_dir

MODEL_DIR = models_dir() / "textbook"

_KINDS = {"encoder": "self", "decoder": "causal", "cross": "cross"}


@dataclass
class TranslationStep:
    """One generation step: the token produced and the attention of the query that produced it."""

    token: str
    self_attention: np.ndarray  # (L, H, t + 1) over the decoder inputs <s> .. token t-1
    cross_attention: np.ndarray  # (L, H, S) over the source tokens


@dataclass
class Translation:
    """A translation with the attention of every step."""

    source: Tokens  # what the encoder read
    output: Tokens  # generated tokens, ending with </s> unless the length cap was hit
    text: str  # the translation, special tokens left out
    steps: list[TranslationStep]  # one per output token
    strategy: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "source": self.source.to_dict(),
            "output": self.output.to_dict(),
            "text": self.text,
            "strategy": self.strategy,
            "notes": self.notes,
            "steps": [
                {
                    "token": s.token,
                    "self_attention": s.self_attention.tolist(),
                    "cross_attention": s.cross_attention.tolist(),
                }
                for s in self.steps
            ],
        }


class TextbookAdapter(Adapter):
    """Runs the textbook transformer and fills a :class:`Trace`.

    Args:
        directory: where config.json, model.safetensors and vocab.json are.
    """

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        super().__init__()
        self.model = load_model(directory)
        self.src_vocab, self.tgt_vocab = load_vocabs(directory / "vocab.json")
        cfg = self.model.cfg
        self.info = ModelInfo(
            id="textbook",
            name="Textbook transformer (fr→en)",
            source="models/textbook",
            family="textbook",
            kind="encoder-decoder",
            layers=cfg.n_encoder_layers,
            heads=cfg.n_heads,
            kv_heads=cfg.n_heads,
            d_model=cfg.d_model,
            d_head=cfg.d_k,
            max_tokens=cfg.max_len,
            positional="sinusoidal",
            blocks=("encoder", "decoder", "cross"),
        )
        # every view of an encoder-decoder, and what only this model does: beam translation step by
        # step, efficient-attention patterns on its encoder, and the lectures' worked numbers
        self.info = replace(self.info, capabilities={
            **default_capabilities(self.info), "block_steps": True, "translate": True, "patterns": True,
            "slides": True})

    # --- tokens -------------------------------------------------------------------

    def output_tokens(self, ids: list[int]) -> list[str]:
        return [self.tgt_vocab.token(i) for i in ids]

    def count_tokens(self, text: str) -> int:
        """Number of source tokens (the encoder adds no special token)."""
        return len(split(text))

    def vocab_size(self) -> int:
        """The source (French) vocabulary's size."""
        return len(self.src_vocab)

    def source_tokens(self, text: str) -> Tokens:
        """The encoder's tokens; ValueError for empty or too long text."""
        if not text.strip():
            raise ValueError('The text is empty: type a French sentence, e.g. "je suis étudiant".')
        ids, pieces = self.src_vocab.encode(text)
        if not ids:
            raise ValueError("The text has no words the tokenizer can read.")
        self._check_length(len(ids), "source text", self.model.cfg.max_len)
        return Tokens(
            [UNK if i == UNK_ID else p.text for i, p in zip(ids, pieces, strict=True)],
            ids,
            [False] * len(ids),
            [(p.start, p.end) for p in pieces],
        )

    def target_tokens(self, target: str) -> Tokens:
        """The decoder input for a given translation: <s> + its tokens."""
        ids, pieces = self.tgt_vocab.encode(target)
        self._check_length(len(ids) + 1, "target text (with <s>)", self.model.cfg.max_len)
        return Tokens(
            [BOS, *(UNK if i == UNK_ID else p.text for i, p in zip(ids, pieces, strict=True))],
            [BOS_ID, *ids],
            [True] + [False] * len(ids),
            [None, *((p.start, p.end) for p in pieces)],
        )

    def _check_length(self, n: int, what: str, limit: int) -> None:
        if n > limit:
            raise ValueError(
                f"The {what} has {n} tokens; the textbook model reads at most {limit}."
            )

    def _output_tokens(self, ids: list[int]) -> tuple[Tokens, str]:
        """Generated ids -> Tokens (offsets into the translation text) and that text."""
        words = [self.tgt_vocab.token(i) for i in ids if i != EOS_ID]
        text, offsets = layout(words)
        special = [i == EOS_ID for i in ids]
        return Tokens(
            [self.tgt_vocab.token(i) for i in ids],
            list(ids),
            special,
            [*offsets, *[None] * special.count(True)],
        ), text

    # --- the trace ------------------------------------------------------------------

    def run(self, text: str, target: str | None = None) -> Trace:
        """Encoder over ``text``; decoder over <s> + ``target``.

        ``target`` defaults to the model's own greedy translation.
        """
        self.model.eval()
        src = self.source_tokens(text)
        with torch.inference_mode():
            if target is None:
                out = greedy_decode(self.model, src.ids, self.model.cfg.max_len - 1)
                output, target = self._output_tokens(out.tokens)
                tgt = _decoder_input(output)
            else:
                tgt = self.target_tokens(target)
            rec = Recording()
            src_ids, tgt_ids = torch.tensor([src.ids]), torch.tensor([tgt.ids])
            logits = self.model(src_ids, tgt_ids, rec)  # (1, T, V)
            embed = self.model.encoder.embed
            token_emb = embed.token_part(src_ids)[0].numpy()  # (S, d_model)
            pos_emb = embed.position_part(len(src)).numpy()  # (S, d_model)
        return Trace(
            model=self.info.id,
            text=text,
            tokens=src,
            target=target,
            target_tokens=tgt,
            blocks={
                g: [self._block(g, i, r) for i, r in enumerate(getattr(rec, g))] for g in _KINDS
            },
            token_embeddings=token_emb.astype(np.float32),
            position_embeddings=pos_emb.astype(np.float32),
            hidden_states={
                "encoder": _stack(rec.encoder_hidden),
                "decoder": _stack(rec.decoder_hidden),
            },
            logits=logits[0].numpy().astype(np.float32),
        )

    def _block(self, group: str, layer: int, r: AttentionRecord) -> AttentionBlock:
        """One recorded attention call (batch of 1) as an AttentionBlock.

        Shapes: x (Tq, d_model); q (H, Tq, d_k); k, v (H, Tk, d_k); mask (Tq, Tk);
        weights (H, Tq, Tk); z (H, Tq, d_k); out (Tq, d_model).
        """
        f32 = lambda t: t[0].numpy().astype(np.float32)  # noqa: E731
        return AttentionBlock(
            kind=_KINDS[group],
            layer=layer,
            x=f32(r.x),
            q=f32(r.q),
            k=f32(r.k),
            v=f32(r.v),
            mask=r.mask[0].numpy().astype(bool),
            weights=f32(r.weights),
            z=f32(r.z),
            out=f32(r.out),
            scale=float(np.sqrt(self.model.cfg.d_k)),
            kv_head=np.arange(self.model.cfg.n_heads),
        )

    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        """Slices of head ``head`` such that ``q[head] = x @ w_q + b_q``.

        For "cross", ``k``/``v`` come from the encoder output:
        ``k[head] = hidden_states["encoder"][-1] @ w_k + b_k``.
        ``w_o`` is the whole output projection, (H * d_head, d_model).
        """
        attn = self._attention(block, layer)
        cfg = self.model.cfg
        if not 0 <= head < cfg.n_heads:
            raise ValueError(
                f"head {head} is out of range: the textbook model has heads 0 to {cfg.n_heads - 1}"
            )
        cols = slice(head * cfg.d_k, (head + 1) * cfg.d_k)
        w = lambda lin: lin.weight.detach()[cols].T.numpy().astype(np.float32).copy()  # noqa: E731
        b = lambda lin: lin.bias.detach()[cols].numpy().astype(np.float32).copy()  # noqa: E731
        return HeadWeights(
            w_q=w(attn.w_q),
            b_q=b(attn.w_q),
            w_k=w(attn.w_k),
            b_k=b(attn.w_k),
            w_v=w(attn.w_v),
            b_v=b(attn.w_v),
            w_o=attn.w_o.weight.detach().T.numpy().astype(np.float32).copy(),
            b_o=attn.w_o.bias.detach().numpy().astype(np.float32).copy(),
        )

    def output_projection(self, block: str, layer: int) -> torch.nn.Module:
        """``w_o`` of one attention block (its input is ``concat(z)``)."""
        return self._attention(block, layer).w_o

    def _attention(self, block: str, layer: int) -> torch.nn.Module:
        if block not in _KINDS:
            raise ValueError(
                f"unknown block {block!r}; the textbook model has: {', '.join(_KINDS)}"
            )
        stack = self.model.encoder if block == "encoder" else self.model.decoder
        if not 0 <= layer < len(stack.layers):
            raise ValueError(
                f"layer {layer} is out of range: {block} has layers 0 to {len(stack.layers) - 1}"
            )
        return getattr(stack.layers[layer], "cross_attn" if block == "cross" else "self_attn")

    # --- translation ------------------------------------------------------------------

    def translate(
        self, text: str, strategy: str = "greedy", beam_width: int = 4, max_len: int | None = None
    ) -> Translation:
        """Translate ``text`` and return each step's attention.

        Args:
            text: French text. Unknown words become <unk> (see ``notes``).
            strategy: "greedy" or "beam".
            beam_width: beams kept by "beam" (1 to 16).
            max_len: cap on generated tokens, 1 to the model's max_len (default: max_len).
        """
        cfg = self.model.cfg
        if strategy not in ("greedy", "beam"):
            raise ValueError(f'unknown strategy {strategy!r}; use "greedy" or "beam"')
        if not 1 <= beam_width <= 16:
            raise ValueError(f"beam_width must be between 1 and 16, got {beam_width}")
        max_len = cfg.max_len if max_len is None else max_len
        if not 1 <= max_len <= cfg.max_len:
            raise ValueError(f"max_len must be between 1 and {cfg.max_len}, got {max_len}")
        src = self.source_tokens(text)
        self.model.eval()
        with torch.inference_mode():
            if strategy == "greedy":
                out = greedy_decode(self.model, src.ids, max_len)
            else:
                out = beam_search(self.model, src.ids, beam_width, max_len)
        output, translation = self._output_tokens(out.tokens)
        steps = [
            TranslationStep(tok, s.numpy().astype(np.float32), c.numpy().astype(np.float32))
            for tok, s, c in zip(output.text, out.self_attention, out.cross_attention, strict=True)
        ]
        return Translation(src, output, translation, steps, strategy, self._notes(text, out.tokens))

    def _notes(self, text: str, out_ids: list[int]) -> list[str]:
        notes = []
        unknown = self.src_vocab.unknown(text)
        if unknown:
            words = ", ".join(f'"{w}"' for w in unknown)
            notes.append(
                f"Not in the model's vocabulary, read as {UNK}: {words}. The textbook model "
                f"knows only the {len(self.src_vocab) - 4} French words of its training grammar."
            )
        if not out_ids or out_ids[-1] != EOS_ID:
            notes.append(f"Stopped at the length cap before the model produced {EOS}.")
        return notes


def _decoder_input(output: Tokens) -> Tokens:
    """<s> + generated tokens, </s> left out: what the decoder reads for this translation."""
    keep = [i for i, tid in enumerate(output.ids) if tid != EOS_ID]
    return Tokens(
        [BOS, *(output.text[i] for i in keep)],
        [BOS_ID, *(output.ids[i] for i in keep)],
        [True, *(output.special[i] for i in keep)],
        [None, *(output.offsets[i] for i in keep)],
    )


def _stack(hidden: list[torch.Tensor]) -> np.ndarray:
    """Per-layer (1, T, d_model) tensors -> (L + 1, T, d_model) float32."""
    return torch.cat(hidden).numpy().astype(np.float32)
