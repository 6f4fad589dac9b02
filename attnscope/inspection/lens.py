"""Logit lens: what the residual stream predicts after each layer, read with the model's own unembedding.

Rows (``layers``): ``"emb"`` is the first block's input (the token embeddings as that block receives
them: scaled and with learned positions added where the model does so); row ``l + 1`` (labelled
``"l"``) is the residual stream after block ``l``, ``l = 0 .. L-1``. Every row is the hidden state
BEFORE the final norm (:attr:`Trace.hidden_states`), for every family; each goes through what the model
itself applies after its last block:

    logits = cap(scale · LMHead(project(FinalNorm(h))) + bias)

``FinalNorm`` is the decoder stack's own final norm (LLaMA ``model.norm``, GPT-2 ``ln_f``, OPT and T5
``final_layer_norm``; none for the post-norm BART and Marian), ``project`` OPT's ``project_out``,
``scale`` T5's ``d_model ** -0.5`` (tied embeddings), ``bias`` BART's ``final_logits_bias`` and ``cap``
Gemma 2/3's ``c · tanh(x / c)``. The last row is therefore the model's own logits: every call measures it
(:attr:`Lens.check`) and refuses a model where it is not (a final step the lens does not know).

Per row and position: the top-k tokens of ``softmax(logits)`` with their probabilities, and the rank
(0 = most likely) of the *final prediction* (the last row's argmax at that position) under that row.
Encoder-decoders are read on the decoder (the start token, then the target; default: the model's
greedy output). Encoders have no LM head to read with: :class:`NotOffered` (a 422).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from attnscope.inspection.adapters.base import Adapter, NotOffered
from attnscope.inspection.adapters.projections import attr
from attnscope.inspection.trace import Trace

TOP_K, MAX_K = 5, 20
MAX_POSITIONS = 512
#: the final norm's attribute name on the decoder stack, by family (the first one present is used)
FINAL_NORMS = ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f", "layer_norm")
#: the last row must reproduce the model's logits to this (relative to 1 + max |logit|)
CHECK_TOLERANCE = 1e-4


@dataclass
class Unembedding:
    """The model's final norm and LM head as one function (..., d_model) -> (..., vocab)."""

    norm: nn.Module | None
    project: nn.Module | None
    head: nn.Module
    scale: float = 1.0
    bias: torch.Tensor | None = None
    softcap: float | None = None

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            h = self.norm(h)
        if self.project is not None:
            h = self.project(h)
        logits = self.head(h * self.scale if self.scale != 1.0 else h)  # (..., V)
        if self.bias is not None:
            logits = logits + self.bias.reshape(-1).to(logits.dtype)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def _stacks(adapter) -> list[nn.Module]:
    """Modules that may hold the decoder's final norm: the parent of its layer list, then the base model."""
    base = adapter.base
    out = []
    path = adapter.fam.layers.get("decoder")
    if path:
        out.append(attr(base, path.rsplit(".", 1)[0]) if "." in path else base)
    out += [base, getattr(base, "decoder", None)]
    return [m for m in out if isinstance(m, nn.Module)]


def unembedding(adapter: Adapter) -> Unembedding:
    """The final norm and unembedding of ``adapter``'s model; :class:`NotOffered` where there is none."""
    info = adapter.info
    if info.kind == "encoder":
        raise NotOffered(f"{info.id} is an encoder without a language-model head: the logit lens reads "
                         "next-token predictions (decoders, and the decoder of an encoder-decoder)")
    model = adapter.model
    if not hasattr(adapter, "fam") or adapter.tokenizer is None:
        raise NotOffered(f"{info.id} ({info.family}) does not say where its final norm and unembedding are: "
                         "the logit lens reads Hugging Face models")
    head = model.get_output_embeddings()
    if head is None:
        raise NotOffered(f"{info.id} ({type(model).__name__}) has no language-model head to read the layers with")
    norm = project = None
    for stack in _stacks(adapter):
        norm = next((m for n in FINAL_NORMS if isinstance(m := getattr(stack, n, None), nn.Module)), None)
        project = getattr(stack, "project_out", None)
        if norm is not None:
            break
    cfg = model.config
    scale = cfg.d_model ** -0.5 if cfg.model_type in ("t5", "mt5") and getattr(cfg, "tie_word_embeddings", False) \
        else 1.0
    bias = getattr(model, "final_logits_bias", None)
    return Unembedding(norm, project if isinstance(project, nn.Module) else None, head, scale,
                       bias if isinstance(bias, torch.Tensor) else None,
                       getattr(cfg, "final_logit_softcapping", None))


@dataclass
class Lens:
    """Each row's (layer's) top-k tokens and the rank of the final prediction, at each position read.

    Attributes:
        tokens: the tokens read (the decoder input for encoder-decoders).
        layers: row labels, ``["emb", "0", ..., "L-1"]``.
        positions: the positions read, ascending.
        top_ids, top_probs: (rows, P, k) the most likely tokens, most likely first, and their probabilities.
        final_ids: (P,) the final prediction at each position (the last row's argmax).
        final_rank: (rows, P) its rank under each row (0 = the row's most likely token).
        final_prob: (rows, P) its probability under each row.
        check: max |last row's logits - the model's logits| / (1 + max |logit|) at the positions read.
    """

    tokens: list[str]
    layers: list[str]
    positions: list[int]
    top_ids: np.ndarray
    top_probs: np.ndarray
    final_ids: np.ndarray
    final_rank: np.ndarray
    final_prob: np.ndarray
    check: float
    source_tokens: list[str] | None = None
    target: str | None = None

    def to_dict(self, adapter: Adapter) -> dict:
        """The API's answer (without ``model``)."""
        vocab = sorted({int(i) for i in self.top_ids.ravel()} | {int(i) for i in self.final_ids})
        shown = dict(zip(vocab, adapter.output_tokens(vocab)))
        top = [[[{"token": shown[int(i)], "id": int(i), "prob": float(p)} for i, p in zip(ids, probs)]
                for ids, probs in zip(row_ids, row_probs)] for row_ids, row_probs in zip(self.top_ids, self.top_probs)]
        out = {"tokens": self.tokens, "layers": self.layers, "positions": self.positions, "top": top,
               "final_rank": self.final_rank.tolist(), "final_prob": self.final_prob.tolist(),
               "final_tokens": [shown[int(i)] for i in self.final_ids],
               "final_ids": [int(i) for i in self.final_ids], "check": self.check}
        if self.source_tokens is not None:
            out["source_tokens"], out["target"] = self.source_tokens, self.target
        return out


def check_positions(positions: list[int] | None, n: int) -> list[int]:
    """Validated, sorted, de-duplicated positions of an ``n``-token sequence (None: all, at most 512)."""
    if positions is None:
        return list(range(min(n, MAX_POSITIONS)))
    if len(positions) > MAX_POSITIONS:
        raise ValueError(f"{len(positions)} positions given; at most {MAX_POSITIONS}")
    bad = [p for p in positions if not 0 <= p < n]
    if bad:
        raise ValueError(f"position {bad[0]} is out of range: the text has {n} tokens (positions 0 to {n - 1})")
    if not positions:
        raise ValueError("positions is empty: give at least one position, or omit it for all")
    return sorted(set(positions))


def lens_logits(adapter: Adapter, hidden: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The model's final norm and unembedding applied to hidden states (..., d_model) -> (..., vocab) float32."""
    un = unembedding(adapter)
    h = torch.as_tensor(hidden).to(adapter.device, next(adapter.model.parameters()).dtype)
    with torch.inference_mode():
        return un(h).float()


def lens(adapter: Adapter, text: str, positions: list[int] | None = None, k: int = TOP_K,
         target: str | None = None, run: Callable[[str, str | None], Trace] | None = None) -> Lens:
    """The logit lens of ``text`` on ``adapter``'s model (see the module docstring for the definitions).

    Args:
        positions: positions of the sequence read (default all, at most 512).
        k: how many top tokens per row and position (1 to 20).
        target: encoder-decoders: the decoder input text (default: the model's greedy output).
        run: ``run(text, target)`` gives the full trace (default ``adapter.trace``; the server passes its
            registry's cached one).

    Raises:
        NotOffered: an encoder, a model without an LM head, or one whose last row misses its logits.
        ValueError: bad positions or k.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k is {k}; give 1 to {MAX_K} tokens per cell")
    un = unembedding(adapter)
    info = adapter.info
    group = "decoder"
    if info.kind == "encoder-decoder" and target is None:
        target = adapter.seq2seq(text, max_new_tokens=16)["text"]
    trace = (run or adapter.trace)(text, target if info.kind == "encoder-decoder" else None)
    hidden = trace.hidden_states.get(group)
    if hidden is None or trace.logits is None:
        raise NotOffered(f"{info.id} ({info.family}): the trace has no decoder hidden states or logits to read")
    seq = trace.target_tokens if info.kind == "encoder-decoder" else trace.tokens
    pos = check_positions(positions, hidden.shape[1])
    dtype = next(adapter.model.parameters()).dtype
    rows = hidden.shape[0]
    top_ids = np.zeros((rows, len(pos), k), np.int64)
    top_probs = np.zeros((rows, len(pos), k), np.float32)
    rank = np.zeros((rows, len(pos)), np.int64)
    final_prob = np.zeros((rows, len(pos)), np.float32)
    with adapter.lock, torch.inference_mode():  # not around run(): the registry's single flight takes the lock
        last = un(torch.as_tensor(hidden[-1, pos]).to(adapter.device, dtype)).float()  # (P, V)
        own = torch.as_tensor(trace.logits[pos]).to(last.device)  # (P, V)
        check = float((last - own).abs().max() / (1.0 + own.abs().max()))
        if not check <= CHECK_TOLERANCE:
            raise NotOffered(f"{info.id} ({info.family}): the lens's last layer misses the model's own logits by "
                             f"{check:.3g}: its final norm or unembedding is not the one AttnScope applies")
        final = last.argmax(-1)  # (P,)
        for r in range(rows):  # one row at a time: (P, V) floats, not (rows, P, V)
            logits = last if r == rows - 1 else un(torch.as_tensor(hidden[r, pos]).to(adapter.device, dtype)).float()
            probs = logits.softmax(-1)  # (P, V)
            p, i = probs.topk(min(k, probs.shape[-1]), dim=-1)  # (P, k)
            top_ids[r], top_probs[r] = i.cpu().numpy(), p.cpu().numpy()
            mine = logits.gather(-1, final[:, None])  # (P, 1)
            rank[r] = (logits > mine).sum(-1).cpu().numpy()
            final_prob[r] = probs.gather(-1, final[:, None])[:, 0].cpu().numpy()
    layers = ["emb", *(str(i) for i in range(rows - 1))]
    out = Lens(seq.text, layers, pos, top_ids, top_probs, final.cpu().numpy(), rank, final_prob, check)
    if info.kind == "encoder-decoder":
        out.source_tokens, out.target = trace.tokens.text, trace.target or ""
    return out
