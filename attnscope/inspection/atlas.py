"""The head atlas: every attention head of a model scored over many seeded random prompts.

Each prompt is ``n`` random token ids (the tokenizer's vocabulary less its special ids, drawn with
``numpy.random.default_rng(seed)``) repeated twice, prefixed by the tokenizer's BOS id when it has one
(``off`` = 1, else 0), so a prompt has ``T = off + 2n`` tokens. For one head's weights ``w`` (T, T)
(rows are queries ``i``, columns keys ``j``), the scores of one prompt are (as TransformerLens):

* ``induction``: mean over the second copy (``off + n <= i < T``) of ``w[i, i - n + 1]``;
* ``duplicate``: mean over the second copy of ``w[i, i - n]``;
* ``previous``: mean over ``i >= 1`` of ``w[i, i - 1]``;
* ``sink``: mean over every query of ``w[i, 0]``;
* ``entropy`` and ``distance``: :func:`attnscope.inspection.stats.block_stats`'s, as ``/api/heads``.

A head's score is the mean of its per-prompt scores. Every prompt runs through the model alone
(batch 1, no padding) inside :func:`attnscope.inspection.capture.capture`, with the model's own
``output_attentions``.

>>> atlas = head_atlas(adapter, prompts=20, length=16, seed=0)
>>> atlas.top("induction")[0]      # {"layer": ..., "head": ..., "prompt_index": ..., "score": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from attnscope.inspection.stats import block_stats

#: every task the atlas scores, in output order
TASKS = ("previous", "induction", "duplicate", "sink", "entropy", "distance")
#: what ``attnscope atlas`` scores without ``--tasks``
DEFAULT_TASKS = ("previous", "induction", "duplicate", "sink")
PROMPTS_RANGE = (1, 1000)
LENGTH_RANGE = (2, 512)
#: how many (layer, head, prompt) examples ``to_json`` keeps per task
TOP_EXAMPLES = 5


@dataclass
class Atlas:
    """The scores of every head of one model, per task.

    Attributes:
        model: the model's id.
        tasks: the tasks scored, in :data:`TASKS` order.
        prompts: number of prompts. length: ``n``, the length of one copy. seed: the generator's seed.
        bos: the id prefixed to every prompt, or None.
        inputs: the exact token ids of every prompt (``prompts`` lists of ``off + 2n`` ids).
        per_prompt: task -> (prompts, layers, heads) float64 per-prompt scores.
    """

    model: str
    tasks: tuple[str, ...]
    prompts: int
    length: int
    seed: int
    bos: int | None
    inputs: list[list[int]]
    per_prompt: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, np.ndarray]:
        """task -> (layers, heads) mean score over the prompts."""
        return {t: v.mean(0) for t, v in self.per_prompt.items()}

    @property
    def layers(self) -> int:
        return next(iter(self.per_prompt.values())).shape[1]

    @property
    def heads(self) -> int:
        return next(iter(self.per_prompt.values())).shape[2]

    def top(self, task: str, k: int = TOP_EXAMPLES) -> list[dict]:
        """The ``k`` (layer, head, prompt) triples with the highest per-prompt ``task`` score, best first."""
        v = self.per_prompt[task]  # (P, L, H)
        flat = v.reshape(-1)
        order = np.argsort(-flat, kind="stable")[:k]
        out = []
        for idx in order:
            p, l, h = np.unravel_index(int(idx), v.shape)
            out.append({"layer": int(l), "head": int(h), "prompt_index": int(p), "score": float(flat[idx])})
        return out

    def to_json(self) -> dict:
        """The atlas as a JSON-ready dict: settings, every head's mean scores, inputs and top examples."""
        means = self.scores
        heads = [
            {"layer": l, "head": h, "scores": {t: float(means[t][l, h]) for t in self.tasks}}
            for l in range(self.layers) for h in range(self.heads)
        ]
        return {
            "model": self.model, "tasks": list(self.tasks), "prompts": self.prompts, "length": self.length,
            "seed": self.seed, "heads": heads,
            "inputs": {t: [list(ids) for ids in self.inputs] for t in self.tasks},
            "examples": {t: self.top(t) for t in self.tasks},
        }


def parse_tasks(tasks: str | Sequence[str] | None) -> tuple[str, ...]:
    """Tasks as a tuple in :data:`TASKS` order, from ``"previous,induction"`` or a list.

    Raises:
        ValueError: an unknown or empty task list.
    """
    if tasks is None:
        return DEFAULT_TASKS
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known tasks: {', '.join(TASKS)}")
    if not names:
        raise ValueError(f"no task given; known tasks: {', '.join(TASKS)}")
    return tuple(t for t in TASKS if t in names)


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    if not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
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


def make_inputs(tokenizer, prompts: int, length: int, seed: int,
                vocab_size: int | None = None) -> tuple[list[list[int]], int | None]:
    """The repeated random prompts: ``prompts`` lists of ``[bos] + r + r``, ``r`` of ``length`` ids.

    The same (tokenizer, prompts, length, seed) gives the same ids.

    Returns:
        the prompts' ids, and the BOS id prefixed (None when the tokenizer has none).
    """
    _check_range("prompts", prompts, PROMPTS_RANGE)
    _check_range("length", length, LENGTH_RANGE)
    pool = candidate_ids(tokenizer, vocab_size)
    rng = np.random.default_rng(seed)
    draws = pool[rng.integers(0, pool.size, size=(prompts, length))]
    bos = getattr(tokenizer, "bos_token_id", None)
    head = [int(bos)] if bos is not None else []
    return [head + [int(x) for x in row] * 2 for row in draws], (int(bos) if bos is not None else None)


def prompt_scores(w: np.ndarray, length: int, offset: int, causal: bool,
                  tasks: Sequence[str] = TASKS) -> dict[str, np.ndarray]:
    """Per-head scores of one prompt from its attention weights.

    Args:
        w: (L, H, T, T) attention probabilities, ``T = offset + 2 * length``.
        length: ``n``, one copy's length. offset: 1 when a BOS token comes first, else 0.
        causal: the model masks future keys (entropy's key set, as ``/api/heads``).
        tasks: which scores to compute.

    Returns:
        task -> (L, H) float64.
    """
    w = np.asarray(w, dtype=np.float64)
    n_layers, n_heads, t, _ = w.shape
    second = np.arange(offset + length, t)
    rows = np.arange(1, t)
    out: dict[str, np.ndarray] = {}
    if "induction" in tasks:
        out["induction"] = w[:, :, second, second - length + 1].mean(-1)
    if "duplicate" in tasks:
        out["duplicate"] = w[:, :, second, second - length].mean(-1)
    if "previous" in tasks:
        out["previous"] = w[:, :, rows, rows - 1].mean(-1)
    if "sink" in tasks:
        out["sink"] = w[:, :, :, 0].mean(-1)
    if "entropy" in tasks or "distance" in tasks:
        mask = np.triu(np.ones((t, t), dtype=bool), 1) if causal else np.zeros((t, t), dtype=bool)
        special = np.zeros(t, dtype=bool)
        per_layer = [block_stats(w[l], mask, special, square=True)[0] for l in range(n_layers)]
        for name in ("entropy", "distance"):
            if name in tasks:
                out[name] = np.stack([s[name] for s in per_layer])
    return out


def _is_causal(model) -> bool:
    cfg = model.config
    return bool(getattr(cfg, "is_decoder", False)) or not getattr(cfg, "is_encoder_decoder", False) and (
        "ForCausalLM" in type(model).__name__ or "LMHead" in type(model).__name__
        or any("CausalLM" in a or "LMHead" in a for a in (getattr(cfg, "architectures", None) or [])))


def attention_weights(model, ids: list[int]) -> np.ndarray:
    """(L, H, T, T) attention weights of one prompt, through the capture path."""
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


def head_atlas(adapter, tasks: str | Sequence[str] | None = TASKS, prompts: int = 20, length: int = 16,
               seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Atlas:
    """Score every head of ``adapter``'s model on the atlas tasks over seeded repeated random prompts.

    Args:
        adapter: an adapter (:func:`attnscope.inspection.adapters.wrap`, the registry's) of a
            transformers encoder or decoder.
        tasks: a subset of :data:`TASKS` (comma string or list; default all).
        prompts: number of prompts, 1-1000. length: ``n``, one copy's length, 2-512.
        seed: the generator's seed: the same seed gives the same inputs and scores.
        progress: called as ``progress(done, total)`` after each prompt.

    Returns:
        the :class:`Atlas`.

    Raises:
        ValueError: an encoder-decoder (not in scope), a model without a tokenizer, an unknown task,
            bounds not met, or prompts longer than the model accepts.
    """
    names = parse_tasks(tasks)
    model, tok = getattr(adapter, "model", None), getattr(adapter, "tokenizer", None)
    info = getattr(adapter, "info", None)
    model_id = getattr(info, "id", None) or type(model).__name__
    if getattr(info, "kind", None) == "encoder-decoder" or getattr(getattr(model, "config", None),
                                                                     "is_encoder_decoder", False):
        raise ValueError(f"{model_id!r} is an encoder-decoder: the head atlas scores encoders and decoders "
                         "only for now")
    if model is None or tok is None or not hasattr(model, "config"):
        raise ValueError(f"{model_id!r} has no Hugging Face model and tokenizer: the head atlas cannot run it")
    inputs, bos = make_inputs(tok, prompts, length, seed, getattr(model.config, "vocab_size", None))
    limit = getattr(info, "max_tokens", None)
    if limit and len(inputs[0]) > limit:
        parts = "1 BOS + 2 x length" if bos is not None else "2 x length"
        raise ValueError(f"{model_id!r} takes at most {limit} tokens; a prompt of length {length} is "
                         f"{len(inputs[0])} tokens ({parts})")
    kind = getattr(info, "kind", None)
    causal = kind == "decoder" if kind in ("encoder", "decoder") else _is_causal(model)
    offset = 1 if bos is not None else 0
    per: dict[str, list[np.ndarray]] = {t: [] for t in names}
    lock = getattr(adapter, "lock", None)
    for p, ids in enumerate(inputs):
        if lock is not None:
            with lock:
                w = attention_weights(model, ids)
        else:
            w = attention_weights(model, ids)
        for t, v in prompt_scores(w, length, offset, causal, names).items():
            per[t].append(v)
        if progress is not None:
            progress(p + 1, len(inputs))
    return Atlas(model=model_id, tasks=names, prompts=prompts, length=length, seed=seed, bos=bos,
                 inputs=inputs, per_prompt={t: np.stack(v) for t, v in per.items()})


def load_local(path: str):
    """The adapter of a saved transformers model folder (config, weights, tokenizer).

    Decoders load with ``AutoModelForCausalLM``, encoders with ``AutoModel``.

    Raises:
        ValueError: the folder holds an encoder-decoder.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    from attnscope.inspection.adapters import wrap

    cfg = AutoConfig.from_pretrained(path)
    if getattr(cfg, "is_encoder_decoder", False):
        raise ValueError(f"{path!r} is an encoder-decoder: the head atlas scores encoders and decoders only for now")
    archs = getattr(cfg, "architectures", None) or []
    causal = any("CausalLM" in a or "LMHead" in a for a in archs)
    cls = AutoModelForCausalLM if causal else AutoModel
    model = cls.from_pretrained(path, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(path)
    return wrap(model, tok, model_id=path.rstrip("/").split("/")[-1])
