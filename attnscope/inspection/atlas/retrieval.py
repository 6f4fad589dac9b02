"""Retrieval heads (Wu et al. 2024, "Retrieval Head Mechanistically Explains Long-Context Factuality").

On a needle-in-a-haystack prompt (:func:`attnscope.inspection.atlas.text.needle_inputs`) the model
generates greedily. A *copy step* is a step whose generated token ``w`` is one of the needle's tokens. At a
copy step a head *retrieves* when its most-attended key (the argmax of the query's attention row, the
query being the position that produced ``w``) lies in the needle and holds ``w``. A head's score on one
prompt is the fraction of copy steps where it retrieves; the atlas averages it over the prompts that had
at least one copy step (0 when none had, with the count of copy steps reported).

The weights come from one teacher-forced pass over the prompt and the generated tokens, through the
capture path; row ``P - 1 + s`` of that pass (``P`` the prompt's length) is the query that produced
generated token ``s``.
"""

from __future__ import annotations

import inspect

import numpy as np

from attnscope.inspection.atlas.tasks import attention_weights


def greedy(model, ids: list[int], new_tokens: int) -> list[int]:
    """``new_tokens`` greedy next tokens after ``ids`` (with the model's KV cache)."""
    import torch

    device = next(model.parameters()).device
    # transformers 5 names the cache argument `cache`; earlier releases `past_key_values`
    key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out: list[int] = []
    with torch.inference_mode():
        res = model(input_ids=torch.tensor([ids], device=device), use_cache=True)
        for _ in range(new_tokens):
            nxt = int(res.logits[0, -1].argmax())
            out.append(nxt)
            past = getattr(res, "cache", None) or res.past_key_values
            res = model(input_ids=torch.tensor([[nxt]], device=device), use_cache=True, **{key: past})
    return out


def copy_scores(w: np.ndarray, full: list[int], prompt_len: int, start: int, end: int
                ) -> tuple[np.ndarray | None, int]:
    """(L, H) fraction of copy steps at which each head retrieves, and the number of copy steps.

    Args:
        w: (L, H, T, T) weights of the pass over ``full`` (prompt then generated tokens).
        full: the ids of that pass. prompt_len: ``P``. start, end: the needle's token span.

    Returns:
        the scores (None when no step copied) and the number of copy steps.
    """
    full_a = np.asarray(full)
    needle = set(int(t) for t in full_a[start:end])
    hits = np.zeros(w.shape[:2], dtype=np.float64)
    steps = 0
    for s, tok in enumerate(full_a[prompt_len:]):
        if int(tok) not in needle:
            continue
        steps += 1
        j = w[:, :, prompt_len - 1 + s, :].argmax(-1)  # (L, H) most-attended key
        hits += (j >= start) & (j < end) & (full_a[j] == tok)
    return (hits / steps if steps else None), steps


def retrieval_item(model, ids: list[int], start: int, end: int, new_tokens: int
                   ) -> tuple[np.ndarray | None, list[int], int]:
    """Generate on one needle prompt, then score it: (scores or None, prompt + generated ids, copy steps)."""
    full = list(ids) + greedy(model, ids, new_tokens)
    w = attention_weights(model, full)
    scores, steps = copy_scores(w, full, len(ids), start, end)
    return scores, full, steps
