"""Head ablation: knock out chosen heads and compare the model's output before and after.

A head is knocked out by zeroing its slice of the per-head outputs ``z``
(columns ``h * d_head .. (h + 1) * d_head`` of ``concat(z)``) BEFORE the output
projection ``W_O``: a forward pre-hook on that projection (BERT
``attention.output.dense``, LLaMA ``self_attn.o_proj``, GPT-2 ``attn.c_proj``,
textbook ``w_o``). The head then adds only nothing (plus the shared bias) to
the residual stream. Hooks are removed in ``finally`` and every pass holds the
adapter's lock, so no other request ever runs with a head knocked out.

What is compared depends on the model:

* decoders (kind "decoder"): the next-token distribution after the last
  input token: top candidates before and after, and ``KL(before || after)`` in nats.
* encoder-decoders (the textbook model; T5, BART, Marian through ``generate``): the greedy
  output before and after, and the mean per-step ``KL(before || after)`` of the next-token
  distributions along the unablated translation (teacher forcing).
* encoders without a head (MiniLM): the mean-pooled last hidden state before
  and after and their cosine similarity (1.0 = unchanged), plus each token's cosine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.hooks import hooks

TOP_K = 10


def output_projection(adapter: Adapter, block: str, layer: int) -> nn.Module:
    """The module whose input is ``concat(z)`` of one attention block (W_O): the adapter's own
    (:meth:`~attnscope.inspection.adapters.base.Adapter.output_projection`)."""
    caps = adapter.info.capabilities
    if caps and not caps.get("ablate", True):
        raise ValueError(f"ablation is not available for {adapter.info.id}: {adapter.info.reasons['ablate']}")
    return adapter.output_projection(block, layer)


def check_heads(adapter: Adapter, heads: Iterable[Iterable[int]]) -> list[tuple[int, int]]:
    """Validated, de-duplicated, sorted (layer, head) pairs; ValueError naming the first bad pair."""
    info = adapter.info
    pairs = [tuple(p) for p in heads]
    if len(pairs) > info.layers * info.heads:
        raise ValueError(f"{len(pairs)} heads given; {info.id} has only {info.layers * info.heads} "
                         f"({info.layers} layers x {info.heads} heads)")
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"each head is a [layer, head] pair; got {list(p)}")
        layer, head = p
        if not (0 <= layer < info.layers and 0 <= head < info.heads):
            raise ValueError(f"head [{layer}, {head}] is out of range: {info.id} has layers 0 to "
                             f"{info.layers - 1} and heads 0 to {info.heads - 1}")
    return sorted(set(pairs))


def _zero_heads(heads: list[int], d_head: int):
    """A forward pre-hook that zeroes the listed heads' columns of the projection's input."""

    def hook(_module, args, kwargs):
        x = args[0] if args else kwargs["input"]
        x = x.clone()  # (B, T, H * d_head)
        for h in heads:
            x[..., h * d_head : (h + 1) * d_head] = 0
        if args:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, "input": x}

    return hook


def run_ablated(adapter: Adapter, block: str, pairs: list[tuple[int, int]], fn):
    """Call ``fn()`` with ``pairs`` knocked out in ``block``; the caller holds ``adapter.lock``."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in pairs:
        by_layer.setdefault(layer, []).append(head)
    with hooks() as hs:
        for layer, heads in by_layer.items():
            hs.pre(output_projection(adapter, block, layer), _zero_heads(heads, adapter.info.d_head))
        return fn()


@dataclass
class Ablation:
    """Before/after of one ablation; ``to_dict`` is the API's response."""

    kind: str  # "decoder" | "encoder-decoder" | "encoder"
    block: str
    heads: list[tuple[int, int]]
    before: object
    after: object
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "block": self.block, "heads": [list(p) for p in self.heads],
                "before": self.before, "after": self.after, **self.extra}


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats over the last axis, from logits: (...,) ."""
    lp, lq = p_logits.double().log_softmax(-1), q_logits.double().log_softmax(-1)
    return (lp.exp() * (lp - lq)).sum(-1).clamp_min(0.0)


def ablate(adapter: Adapter, text: str, heads: Iterable[Iterable[int]], block: str | None = None) -> Ablation:
    """Knock out ``heads`` (``[layer, head]`` pairs of ``block``) and compare the output before and after."""
    caps = adapter.info.capabilities
    if caps and not caps.get("ablate", True):
        raise ValueError(f"ablation is not available for {adapter.info.id}: {adapter.info.reasons.get('ablate', '')}")
    block = block or adapter.default_block
    if block not in adapter.info.blocks:
        raise ValueError(f"{adapter.info.id} has no {block!r} attention; it has: {', '.join(adapter.info.blocks)}")
    pairs = check_heads(adapter, heads)
    kind = adapter.info.kind
    with adapter.lock:
        if kind == "encoder-decoder":
            return _translation(adapter, text, block, pairs)
        if kind == "decoder":
            return _next_token(adapter, text, block, pairs)
        return _pooled(adapter, text, block, pairs)


def _inputs(adapter: Adapter, text: str) -> tuple[dict, list[str]]:
    """Model inputs for ``text`` (the trace's own, on the model's device) and its tokens as the pages show them."""
    inputs, tokens = adapter.inputs(text)
    return inputs, tokens.text


def _next_token(adapter: Adapter, text: str, block: str, pairs) -> Ablation:
    inputs, _ = _inputs(adapter, text)
    model = adapter.model.eval()
    with torch.inference_mode():
        before = model(**inputs, use_cache=False).logits[0, -1]  # (V,)
        after = run_ablated(adapter, block, pairs, lambda: model(**inputs, use_cache=False).logits[0, -1])

    def top(logits: torch.Tensor) -> list[dict]:
        p = logits.softmax(-1)
        vals, ids = p.topk(min(TOP_K, p.shape[-1]))
        return [{"token": adapter.tokenizer.decode([i]), "id": int(i), "prob": float(v)}
                for v, i in zip(vals.tolist(), ids.tolist())]

    return Ablation("decoder", block, pairs, top(before), top(after), {"kl": float(kl(before, after))})


def _pooled(adapter: Adapter, text: str, block: str, pairs) -> Ablation:
    inputs, tokens = _inputs(adapter, text)
    model = adapter.model.eval()

    def last_hidden() -> torch.Tensor:  # (T, d); a model with a task head (…ForSequenceClassification) too
        out = model(**inputs, output_hidden_states=True)
        last = getattr(out, "last_hidden_state", None)
        return (last if last is not None else out.hidden_states[-1])[0]

    with torch.inference_mode():
        h0 = last_hidden()  # (T, d)
        h1 = run_ablated(adapter, block, pairs, last_hidden)  # (T, d)
    h0, h1 = h0.cpu().double(), h1.cpu().double()  # float64: identical outputs give a cosine of exactly 1
    p0, p1 = h0.mean(0), h1.mean(0)  # (d,)
    cos = torch.nn.functional.cosine_similarity(p0, p1, dim=0)
    per_token = torch.nn.functional.cosine_similarity(h0, h1, dim=-1)  # (T,)
    return Ablation("encoder", block, pairs, _round(p0), _round(p1), {
        "cosine": _unit(cos),
        "tokens": tokens,
        "token_cosine": [_unit(c) for c in per_token],
    })


def _seq2seq(adapter: Adapter, text: str, block: str, pairs) -> Ablation:
    """A Hugging Face encoder-decoder (T5, BART, Marian): greedy outputs before and after, and the mean KL."""
    inputs, _ = adapter.inputs(text)
    inputs.pop("token_type_ids", None)
    model = adapter.model.eval()

    def greedy():
        return model.generate(**inputs, max_new_tokens=32, do_sample=False, num_beams=1)  # (1, 1 + N)

    with torch.inference_mode():
        ids0 = greedy()
        ids1 = run_ablated(adapter, block, pairs, greedy)
        dec = ids0[:, :-1] if ids0.shape[1] > 1 else ids0  # teacher forcing on the unablated output
        l0 = model(**inputs, decoder_input_ids=dec, use_cache=False).logits[0].float()  # (T, V)
        l1 = run_ablated(adapter, block, pairs,
                         lambda: model(**inputs, decoder_input_ids=dec, use_cache=False).logits[0].float())
    before = adapter.tokenizer.decode(ids0[0, 1:], skip_special_tokens=True)
    after = adapter.tokenizer.decode(ids1[0, 1:], skip_special_tokens=True)
    return Ablation("encoder-decoder", block, pairs, before, after, {
        "translation_before": before,
        "translation_after": after,
        "kl": float(kl(l0.cpu(), l1.cpu()).mean()),
    })


def _translation(adapter: Adapter, text: str, block: str, pairs) -> Ablation:
    if not adapter.info.offers("translate"):  # T5, BART, Marian: through generate
        return _seq2seq(adapter, text, block, pairs)
    before = adapter.translate(text)
    after = run_ablated(adapter, block, pairs, lambda: adapter.translate(text))
    model = adapter.model.eval()
    src = torch.tensor([before.source.ids])  # (1, S)
    bos = model.cfg.bos_id
    tgt = torch.tensor([[bos, *before.output.ids[:-1]]]) if before.output.ids else torch.tensor([[bos]])  # (1, T)
    with torch.inference_mode():
        l0 = model(src, tgt)[0]  # (T, V)
        l1 = run_ablated(adapter, block, pairs, lambda: model(src, tgt)[0])
    return Ablation("encoder-decoder", block, pairs, before.text, after.text, {
        "translation_before": before.text,
        "translation_after": after.text,
        "kl": float(kl(l0, l1).mean()),
    })


def _round(t: torch.Tensor) -> list[float]:
    return np.round(t.double().numpy(), 6).tolist()


def _unit(c: torch.Tensor) -> float:
    """A float64 cosine rounded to 12 decimals (identical vectors give exactly 1.0, not 0.9999999999999997)."""
    return min(1.0, round(float(c), 12))
