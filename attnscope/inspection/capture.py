"""One capture path: an attention function registered with transformers' ``AttentionInterface``.

Almost every transformers family computes attention through one registered function
(``ALL_ATTENTION_FUNCTIONS[config._attn_implementation]``), which receives exactly what the model's
attention uses: q and k after any rotation (and after Qwen3's or Gemma 3's per-head norms), v, the
mask, the scaling, the score soft-cap, the sliding window and T5's position bias. :func:`attention`
is that function: it computes the same eager maths as transformers' ``eager_attention_forward`` and,
while a :class:`Recorder` is active on the thread, records what it received and what it returned.

>>> with capture(model) as rec:
...     model(**inputs)
>>> rec.calls[0].weights.shape          # (batch, heads, Tq, Tk)

:func:`capture` switches the model's configs to this function for the length of the ``with`` block and
puts back what they were (a caller's SDPA model stays SDPA). Families whose attention does not go
through the interface (DeBERTa-v2, the textbook model) keep their own path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

NAME = "attnscope"
#: the long mode's name: the same function, masks as rules (no T × T mask is built)
LONG_NAME = "attnscope_long"

_local = threading.local()


@dataclass
class Call:
    """One call of the attention function: its inputs and outputs (tensors as the model passed them).

    Shapes: B batch, H query heads, KV key/value heads, Tq queries, Tk keys, D head width.

    Attributes:
        module: the attention module that called.
        q: (B, H, Tq, D) queries as the scores use them (after RoPE, after per-head norms).
        k, v: (B, KV, Tk, D) keys and values (not yet expanded to query heads).
        mask: the additive (float) or boolean (True = keep) mask, (B, 1 | H, Tq, Tk), or None.
        scaling: the factor of the scores (1 / sqrt(D) in the textbook formula).
        softcap: c in ``c * tanh(s / c)`` where the model soft-caps its scores, else None.
        sliding_window: the window of a sliding-window layer, else None (already in ``mask``).
        bias: (B | 1, H, Tq, Tk) an additive score bias (T5's relative position bias), or None.
        weights: (B, H, Tq, Tk) the attention probabilities.
        out: (B, Tq, H, D) ``weights @ v`` per head, the input of W_O.
    """

    module: nn.Module
    q: torch.Tensor | None
    k: torch.Tensor | None
    v: torch.Tensor | None
    mask: torch.Tensor | None
    scaling: float
    softcap: float | None
    sliding_window: int | None
    bias: torch.Tensor | None
    weights: torch.Tensor
    out: torch.Tensor | None


class Recorder:
    """The calls of one forward pass, in the order the model made them.

    Args:
        full: keep q, k, v, the mask, the bias and the output too (False: weights and settings only).
    """

    def __init__(self, full: bool = True) -> None:
        self.full = full
        self.calls: list[Call] = []
        #: ``extra(index, module)``: an additive score mask for the ``index``-th call, or None (knockout)
        self.extra: Callable[[int, nn.Module], torch.Tensor | None] | None = None

    def by_module(self) -> dict[int, list[Call]]:
        """``id(module)`` -> its calls, in order (a module shared by several layers, ALBERT's, calls more than once)."""
        out: dict[int, list[Call]] = {}
        for c in self.calls:
            out.setdefault(id(c.module), []).append(c)
        return out


def _repeat(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV, T, D) -> (B, KV * groups, T, D): each KV head serves ``groups`` query heads (GQA)."""
    return t if groups == 1 else t.repeat_interleave(groups, dim=1)


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
              softcap: float | None = None, sliding_window: int | None = None,
              position_bias: torch.Tensor | None = None, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention, as transformers computes it, recording its inputs when a :class:`Recorder` is active.

    ``weights = softmax(cap(q @ k^T * scaling) + bias + mask + extra)`` in float32, cast to q's dtype
    (``extra``: the active recorder's :attr:`Recorder.extra` mask for this call, if any);
    ``out = weights @ v``.

    Args:
        query: (B, H, Tq, D). key, value: (B, KV, Tk, D).
        attention_mask: additive float mask or boolean keep-mask, broadcastable to (B, H, Tq, Tk).

    Returns:
        (out (B, Tq, H, D), weights (B, H, Tq, Tk)).
    """
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    rec = getattr(_local, "recorder", None)
    if rec is not None and getattr(rec, "long", False):  # long inputs: query chunks, no T × T array
        return rec.attend(module, query, key, value, float(scaling), softcap, sliding_window), None
    groups = query.shape[1] // key.shape[1]
    k, v = _repeat(key, groups), _repeat(value, groups)                   # (B, H, Tk, D)
    scores = torch.matmul(query, k.transpose(-1, -2)) * scaling           # (B, H, Tq, Tk)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if position_bias is not None:
        scores = scores + position_bias
    if attention_mask is not None:
        mask = attention_mask[..., : k.shape[-2]]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
    extra = rec.extra(len(rec.calls), module) if rec is not None and rec.extra is not None else None
    if extra is not None:  # a caller's additive mask for this call (-inf: knocked-out edges)
        scores = scores + extra
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if dropout and module.training:
        weights = nn.functional.dropout(weights, p=dropout, training=True)
    out = torch.matmul(weights, v).transpose(1, 2).contiguous()           # (B, Tq, H, D)
    if rec is not None:
        full = rec.full
        rec.calls.append(Call(
            module=module, q=query if full else None, k=key if full else None, v=value if full else None,
            mask=attention_mask if full else None, scaling=float(scaling),
            softcap=float(softcap) if softcap is not None else None,
            sliding_window=int(sliding_window) if sliding_window is not None else None,
            bias=position_bias if full else None, weights=weights, out=out if full else None))
    return out, weights


def no_mask(*_args, **_kwargs) -> None:
    """The long mode's mask function: no tensor; the recorder applies the rules (causal, window) by chunk."""
    return None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attention)
    AttentionInterface.register(LONG_NAME, attention)
    try:  # masks: transformers builds them by implementation name; ours reads eager (additive) masks
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, eager_mask
    except ImportError:  # pragma: no cover  (transformers < 4.53 builds masks without the interface)
        return
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionMaskInterface.register(NAME, eager_mask)
    if LONG_NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionMaskInterface.register(LONG_NAME, no_mask)


def _configs(model: nn.Module) -> list:
    """Every distinct config object the model's modules read (a model's own, its sub-models')."""
    seen: dict[int, object] = {}
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation"):
            seen.setdefault(id(cfg), cfg)
    return list(seen.values())


def uses_interface(model: nn.Module) -> bool:
    """True when the model's attention goes through the interface: one pass on two tokens records calls."""
    ids = torch.zeros((1, 2), dtype=torch.long, device=next(model.parameters()).device)
    kwargs = {"decoder_input_ids": ids} if getattr(model.config, "is_encoder_decoder", False) else {}
    with torch.inference_mode(), capture(model, full=False) as rec:
        try:
            model(input_ids=ids, **kwargs)
        except Exception:  # noqa: BLE001  (a model that cannot run two zeros is judged on real text later)
            return False
    return bool(rec.calls)


@contextmanager
def capture(model: nn.Module, full: bool = True, long=None) -> Iterator[Recorder]:
    """Run ``model`` through :func:`attention` inside the block, recording every call; restore on exit.

    The model's configs get ``_attn_implementation = "attnscope"`` for the block only and their own value
    back in ``finally`` (hold the adapter's lock: the configs are the model's, shared by every caller).

    Args:
        full: record q, k, v, masks and outputs too (else weights only).
        long: a :class:`~attnscope.inspection.longctx.forward.LongRecorder`: attention in query chunks,
            masks as rules, nothing T × T recorded (the block yields it).
    """
    _register()
    configs = _configs(model)
    before = [c._attn_implementation_internal if hasattr(c, "_attn_implementation_internal")
              else c._attn_implementation for c in configs]
    outer = getattr(_local, "recorder", None)
    rec = long if long is not None else Recorder(full)
    _local.recorder = rec
    try:
        for c in configs:
            _set_impl(c, LONG_NAME if long is not None else NAME)
        yield rec
    finally:
        for c, impl in zip(configs, before):
            _set_impl(c, impl)
        _local.recorder = outer


def _set_impl(config, impl) -> None:
    """Set one config's attention implementation without touching its sub-configs (each is set on its own)."""
    if hasattr(config, "_attn_implementation_internal"):
        config._attn_implementation_internal = impl
    else:
        config._attn_implementation = impl
