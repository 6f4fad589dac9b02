"""The atlas's tasks: their names, the random repeated prompts, and the per-prompt scores of one head.

For one head's weights ``w`` (T, T) (rows are queries ``i``, columns keys ``j``) on a repeated prompt
``[bos] + r + r`` (``off`` = 1 with a BOS, else 0; ``T = off + 2n``), the scores of the prompt are, as
TransformerLens defines them:

* ``induction``: mean over the second copy (``off + n <= i < T``) of ``w[i, i - n + 1]``;
* ``duplicate``: mean over the second copy of ``w[i, i - n]``;
* ``previous``: mean over ``i >= 1`` of ``w[i, i - 1]``; ``previous_text`` is the same on natural text;
* ``sink``: mean over every query of ``w[i, 0]``;
* ``entropy`` and ``distance`` (on natural text): :func:`attnscope.inspection.stats.block_stats`'s, as
  ``/api/heads``;
* ``retrieval``: :mod:`attnscope.inspection.atlas.retrieval`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnscope.inspection.stats import block_stats

#: every task the atlas scores, in output order
TASKS = ("previous", "previous_text", "induction", "duplicate", "sink", "entropy", "distance", "retrieval")
#: what ``attnscope atlas`` scores without ``--tasks``
DEFAULT_TASKS = ("previous", "previous_text", "induction", "duplicate", "sink")
#: tasks on the random repeated prompts, on natural text (the corpus), and on needle-in-a-haystack prompts
REPEAT_TASKS = ("previous", "induction", "duplicate", "sink")
TEXT_TASKS = ("previous_text", "entropy", "distance")
RETRIEVAL_TASKS = ("retrieval",)
PROMPTS_RANGE = (1, 1000)
LENGTH_RANGE = (2, 512)


def parse_tasks(tasks: str | Sequence[str] | None) -> tuple[str, ...]:
    """Tasks as a tuple in :data:`TASKS` order, from ``"previous,induction"`` or a list.

    ``previous`` brings ``previous_text`` with it (the issue's "on the same prompts and also on natural
    text"); ask for ``previous_text`` alone to skip the random prompts.

    Raises:
        ValueError: an unknown or empty task list.
    """
    if tasks is None:
        return DEFAULT_TASKS
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if str(t).strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known tasks: {', '.join(TASKS)}")
    if not names:
        raise ValueError(f"no task given; known tasks: {', '.join(TASKS)}")
    if "previous" in names:
        names.append("previous_text")
    return tuple(t for t in TASKS if t in names)


def check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")


def candidate_ids(tokenizer, vocab_size: int | None = None) -> np.ndarray:
    """The ids prompts are drawn from: the tokenizer's vocabulary (capped by the model's) less special ids."""
    n = len(tokenizer)
    if vocab_size:
        n = min(n, int(vocab_size))
    special = set(int(i) for i in (tokenizer.all_special_ids or []))
    ids = np.array([i for i in range(n) if i not in special], dtype=np.int64)
    if ids.size == 0:
        raise ValueError("the tokenizer has no ordinary (non-special) token ids to draw prompts from")
    return ids


def bos_of(tokenizer) -> int | None:
    bos = getattr(tokenizer, "bos_token_id", None)
    return int(bos) if bos is not None else None


def make_inputs(tokenizer, prompts: int, length: int, seed: int,
                vocab_size: int | None = None) -> tuple[list[list[int]], int | None]:
    """The repeated random prompts: ``prompts`` lists of ``[bos] + r + r``, ``r`` of ``length`` ids.

    Ids are drawn with ``numpy.random.default_rng(seed)``; the same (tokenizer, prompts, length, seed)
    gives the same ids.

    Returns:
        the prompts' ids, and the BOS id prefixed (None when the tokenizer has none).
    """
    check_range("prompts", prompts, PROMPTS_RANGE)
    check_range("length", length, LENGTH_RANGE)
    pool = candidate_ids(tokenizer, vocab_size)
    rng = np.random.default_rng(seed)
    draws = pool[rng.integers(0, pool.size, size=(prompts, length))]
    bos = bos_of(tokenizer)
    head = [bos] if bos is not None else []
    return [head + [int(x) for x in row] * 2 for row in draws], bos


def prompt_scores(w: np.ndarray, length: int, offset: int, causal: bool,
                  tasks: Sequence[str] = REPEAT_TASKS) -> dict[str, np.ndarray]:
    """Per-head scores of one repeated prompt from its attention weights.

    Args:
        w: (L, H, T, T) attention probabilities, ``T = offset + 2 * length``.
        length: ``n``, one copy's length. offset: 1 when a BOS token comes first, else 0.
        causal: the model masks future keys (entropy's key set, as ``/api/heads``).
        tasks: which scores to compute (names of :data:`REPEAT_TASKS`; ``entropy`` / ``distance`` too).

    Returns:
        task -> (L, H) float64.
    """
    w = np.asarray(w, dtype=np.float64)
    t = w.shape[-1]
    second = np.arange(offset + length, t)
    out: dict[str, np.ndarray] = {}
    if "induction" in tasks:
        out["induction"] = w[:, :, second, second - length + 1].mean(-1)
    if "duplicate" in tasks:
        out["duplicate"] = w[:, :, second, second - length].mean(-1)
    if "previous" in tasks:
        out["previous"] = previous(w)
    if "sink" in tasks:
        out["sink"] = w[:, :, :, 0].mean(-1)
    out.update(text_scores(w, causal, [x for x in tasks if x in ("entropy", "distance")]))
    return out


def previous(w: np.ndarray) -> np.ndarray:
    """(L, H) mean over ``i >= 1`` of ``w[i, i - 1]``."""
    rows = np.arange(1, w.shape[-1])
    return np.asarray(w, dtype=np.float64)[:, :, rows, rows - 1].mean(-1)


def text_scores(w: np.ndarray, causal: bool, tasks: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-head scores of one natural-text prompt: ``previous_text``, ``entropy``, ``distance``."""
    w = np.asarray(w, dtype=np.float64)
    n_layers, _, t, _ = w.shape
    out: dict[str, np.ndarray] = {}
    if "previous_text" in tasks:
        out["previous_text"] = previous(w)
    if "entropy" in tasks or "distance" in tasks:
        mask = np.triu(np.ones((t, t), dtype=bool), 1) if causal else np.zeros((t, t), dtype=bool)
        special = np.zeros(t, dtype=bool)
        per_layer = [block_stats(w[l], mask, special, square=True)[0] for l in range(n_layers)]
        for name in ("entropy", "distance"):
            if name in tasks:
                out[name] = np.stack([s[name] for s in per_layer])
    return out


def attention_weights(model, ids: list[int]) -> np.ndarray:
    """(L, H, T, T) attention weights of one prompt, through the capture path (batch 1, no padding)."""
    import torch

    from attnscope.inspection.capture import capture

    device = next(model.parameters()).device
    x = torch.tensor([ids], dtype=torch.long, device=device)
    with torch.inference_mode(), capture(model, full=False):
        out = model(input_ids=x, output_attentions=True, use_cache=False)
    att = getattr(out, "attentions", None)
    if not att or any(a is None for a in att):
        raise ValueError(f"{type(model).__name__} returned no attention weights")
    return np.stack([a[0].float().cpu().numpy() for a in att])
