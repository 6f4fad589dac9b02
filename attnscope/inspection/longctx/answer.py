"""Generation over a long prompt (RAG): which passage each answer token read.

The prompt (documents, then a question) runs once as a long trace, keeping its KV cache. Each answer token
is then one forward pass of one query over the cached keys, through the capture function: its attention
over every prompt key is exact and costs heads × T per layer, so an 8k-token prompt stays cheap. Per
answer token: the mass on each passage per layer (mean over heads), the mass on the answer so far, and
the prompt keys it attended to most (mean over layers and heads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnscope.inspection.longctx.forward import run_long
from attnscope.inspection.longctx.store import LongTrace

MAX_NEW_TOKENS = 64
TOP_KEYS = 8


@dataclass
class AnswerStep:
    """One answer token and what it read."""

    index: int
    token: str
    id: int
    mass: np.ndarray  # (L, P) per layer, mean over heads: the weight on each passage
    answer_mass: np.ndarray  # (L,) the weight on the answer's own tokens (and the query itself)
    top_keys: list[dict]  # [{index, token, weight}] the prompt keys with the most weight (mean over L, H)

    def to_dict(self) -> dict:
        mean = self.mass.mean(0)
        return {"index": self.index, "token": self.token, "id": self.id, "mass": self.mass.tolist(),
                "mean_mass": mean.tolist(), "passage": int(np.argmax(mean)) if mean.size else None,
                "answer_mass": self.answer_mass.tolist(), "top_keys": self.top_keys}


def _pad_keys(w: torch.Tensor, n: int) -> torch.Tensor:
    """(H, k) attention over a layer's cached keys -> (H, n) over every position (a sliding window caches
    only its last k keys; the earlier ones get zero)."""
    k = w.shape[-1]
    return w if k == n else torch.nn.functional.pad(w, (n - k, 0))


def answer(adapter, inputs: dict, tokens, text: str, max_new_tokens: int = 32, passages: str = "paragraphs",
           dtype: str = "float16", on_layer=None, should_stop=None) -> tuple[LongTrace, list[AnswerStep]]:
    """The long trace of the prompt ``text`` and a greedy answer, each token with what it read.

    Args:
        inputs, tokens: from :func:`attnscope.inspection.longctx.long_inputs` (a decoder's).

    Raises:
        ValueError: not a decoder with a language-model head, or ``max_new_tokens`` out of range.
    """
    from attnscope.inspection.capture import capture
    from attnscope.inspection.generate import eos_ids

    info = adapter.info
    if info.kind != "decoder" or not info.capabilities.get("generate", False):
        raise ValueError(f"{info.id} is an {info.kind} without a language-model head: only decoders answer "
                         "(choose smollm2)")
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be 1 to {MAX_NEW_TOKENS}, got {max_new_tokens!r}")
    lt, out = run_long(adapter, {**inputs, "use_cache": True}, tokens, text, passages, dtype, on_layer,
                       should_stop, keep_output=True)
    t = lt.t
    starts, ends = [p["start"] for p in lt.passages], [p["end"] for p in lt.passages]
    eos, past, logits = eos_ids(adapter.model), out.past_key_values, out.logits[0, -1]
    steps: list[AnswerStep] = []
    generated: list[int] = []
    device = next(adapter.model.parameters()).device
    for i in range(max_new_tokens):
        if should_stop is not None and should_stop():
            break
        chosen = int(torch.argmax(logits))
        generated.append(chosen)
        feed = torch.tensor([[chosen]], device=device)
        with adapter.lock, torch.inference_mode(), capture(adapter.model, full=False):
            out = adapter.model(input_ids=feed, past_key_values=past, use_cache=True, output_attentions=True)
        past, logits = out.past_key_values, out.logits[0, -1]
        n = t + i + 1  # keys: the prompt, the answer so far, this token
        w = torch.stack([_pad_keys(a[0, :, -1, :].float(), n) for a in out.attentions])  # (L, H, n)
        per_layer = w.mean(1)  # (L, n)
        cs = torch.nn.functional.pad(per_layer.cumsum(-1), (1, 0))
        mass = torch.stack([cs[:, e] - cs[:, s] for s, e in zip(starts, ends)], -1)  # (L, P)
        prompt = per_layer[:, :t].mean(0)  # (t,)
        top = torch.topk(prompt, min(TOP_KEYS, t))
        steps.append(AnswerStep(
            index=i, token=adapter.output_tokens([chosen])[0], id=chosen, mass=mass.cpu().numpy(),
            answer_mass=per_layer[:, t:].sum(-1).cpu().numpy(),
            top_keys=[{"index": int(j), "token": tokens.text[int(j)], "weight": float(v)}
                      for v, j in zip(top.values.tolist(), top.indices.tolist())]))
        if chosen in eos:
            break
    return lt, steps


def answer_text(adapter, steps: list[AnswerStep]) -> str:
    return adapter.tokenizer.decode([s.id for s in steps], skip_special_tokens=True)
