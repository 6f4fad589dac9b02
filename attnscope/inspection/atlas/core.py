"""The head atlas: every attention head of a model scored over many seeded prompts.

The tasks and their exact definitions are in :mod:`attnscope.inspection.atlas.tasks` (``previous``,
``induction``, ``duplicate``, ``sink`` on repeated random tokens; ``previous_text``, ``entropy``, ``distance``
on natural text), :mod:`.retrieval` (``retrieval``, decoders only) and :mod:`.text` (the corpus, its windows
and the needle prompts). A head's score is the mean of its per-prompt scores. Every prompt runs through
the model alone (batch 1, no padding) inside :func:`attnscope.inspection.capture.capture`, with the model's
own ``output_attentions``; with ``ray=...`` the prompts are scored on Ray actors by the same function.

>>> atlas = head_atlas(adapter, prompts=20, length=16, seed=0)
>>> atlas.top("induction")[0]      # {"layer": ..., "head": ..., "prompt_index": ..., "score": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from attnscope.inspection.atlas.retrieval import retrieval_item
from attnscope.inspection.atlas.tasks import (REPEAT_TASKS, RETRIEVAL_TASKS, TASKS, TEXT_TASKS, attention_weights,
                                              make_inputs, parse_tasks, prompt_scores, text_scores)
from attnscope.inspection.atlas.text import needle_inputs, shipped_corpus, text_inputs

#: how many (layer, head, prompt) examples ``to_json`` keeps per task
TOP_EXAMPLES = 5
#: how many prompts ``to_json``'s ``head_examples`` keeps per head and task
HEAD_EXAMPLES = 3
GROUPS = {"repeat": REPEAT_TASKS, "text": TEXT_TASKS, "retrieval": RETRIEVAL_TASKS}


@dataclass
class Atlas:
    """The scores of every head of one model, per task.

    Attributes:
        model: the model's id.
        tasks: the tasks scored, in :data:`TASKS` order.
        prompts: prompts per task. length: ``n``, the length of one copy. seed: the generators' seed.
        bos: the id prefixed to every prompt, or None.
        inputs: task -> the exact token ids of every prompt it was scored on (for ``retrieval``: the
            prompt and the generated tokens).
        per_prompt: task -> (prompts, layers, heads) float64 per-prompt scores (``retrieval``: NaN for a
            prompt without a copy step).
        texts: task -> each prompt decoded (``to_json`` adds ``head_examples``: per head, layer-major, its
            best prompts per task). needles: per retrieval prompt, ``{start, end, prompt_tokens,
            copy_steps}``.
    """

    model: str
    tasks: tuple[str, ...]
    prompts: int
    length: int
    seed: int
    bos: int | None
    inputs: dict[str, list[list[int]]]
    per_prompt: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    needles: list[dict] = field(default_factory=list)

    @property
    def scores(self) -> dict[str, np.ndarray]:
        """task -> (layers, heads) mean score over the prompts (``retrieval``: over prompts that copied)."""
        out = {}
        for t, v in self.per_prompt.items():
            ok = ~np.isnan(v[:, 0, 0])
            out[t] = v[ok].mean(0) if ok.any() else np.zeros(v.shape[1:])
        return out

    @property
    def layers(self) -> int:
        return next(iter(self.per_prompt.values())).shape[1]

    @property
    def heads(self) -> int:
        return next(iter(self.per_prompt.values())).shape[2]

    def top(self, task: str, k: int = TOP_EXAMPLES) -> list[dict]:
        """The ``k`` (layer, head, prompt) triples with the highest per-prompt ``task`` score, best first."""
        v = np.nan_to_num(self.per_prompt[task], nan=-np.inf)  # (P, L, H)
        flat = v.reshape(-1)
        order = np.argsort(-flat, kind="stable")[:k]
        out = []
        for idx in order:
            if not np.isfinite(flat[idx]):
                break
            p, l, h = np.unravel_index(int(idx), v.shape)
            out.append({"layer": int(l), "head": int(h), "prompt_index": int(p), "score": float(flat[idx])})
        return out

    def head_top(self, task: str, k: int = HEAD_EXAMPLES) -> list[list[dict]]:
        """Per head (layer-major), its ``k`` prompts with the highest ``task`` score, best first."""
        v = np.nan_to_num(self.per_prompt[task], nan=-np.inf)  # (P, L, H)
        order = np.argsort(-v, axis=0, kind="stable")[:k]  # (k, L, H)
        return [[{"prompt_index": int(order[r, l, h]), "score": float(v[order[r, l, h], l, h])}
                 for r in range(order.shape[0]) if np.isfinite(v[order[r, l, h], l, h])]
                for l in range(self.layers) for h in range(self.heads)]

    def to_json(self) -> dict:
        """The atlas as a JSON-ready dict: settings, every head's mean scores, inputs, texts and top examples."""
        means = self.scores
        heads = [
            {"layer": l, "head": h, "scores": {t: float(means[t][l, h]) for t in self.tasks}}
            for l in range(self.layers) for h in range(self.heads)
        ]
        out = {
            "model": self.model, "tasks": list(self.tasks), "prompts": self.prompts, "length": self.length,
            "seed": self.seed, "layers": self.layers, "heads_per_layer": self.heads, "heads": heads,
            "inputs": {t: [list(ids) for ids in self.inputs[t]] for t in self.tasks},
            "texts": {t: list(self.texts.get(t, [])) for t in self.tasks},
            "examples": {t: self.top(t) for t in self.tasks},
            "head_examples": {t: self.head_top(t) for t in self.tasks},
        }
        if self.needles:
            out["needles"] = self.needles
        return out


def score_item(model, item: dict, ctx: dict) -> dict:
    """Score one prompt (an item of :func:`plan`): task -> (L, H) lists, plus what retrieval generated."""
    group, ids = item["group"], item["ids"]
    tasks = [t for t in ctx["tasks"] if t in GROUPS[group]]
    out: dict = {"group": group, "index": item["index"]}
    if group == "retrieval":
        scores, full, steps = retrieval_item(model, ids, item["start"], item["end"], item["new"])
        layers_heads = None if scores is not None else attention_weights(model, ids[:2]).shape[:2]
        out.update(full=full, steps=steps,
                   scores={"retrieval": scores if scores is not None else np.full(layers_heads, np.nan)})
        return out
    w = attention_weights(model, ids)
    out["scores"] = (prompt_scores(w, ctx["length"], ctx["offset"], ctx["causal"], tasks) if group == "repeat"
                     else text_scores(w, ctx["causal"], tasks))
    return out


def _is_causal(model) -> bool:
    cfg = model.config
    return bool(getattr(cfg, "is_decoder", False)) or not getattr(cfg, "is_encoder_decoder", False) and (
        "ForCausalLM" in type(model).__name__ or "LMHead" in type(model).__name__
        or any("CausalLM" in a or "LMHead" in a for a in (getattr(cfg, "architectures", None) or [])))


def plan(adapter, names: Sequence[str], prompts: int, length: int, seed: int,
         corpus: Sequence[str] | None = None) -> tuple[list[dict], dict, int | None]:
    """The items (one prompt each) to score and the scoring context, drawn on the driver.

    Raises:
        ValueError: an encoder-decoder, no tokenizer, prompts longer than the model accepts, retrieval on
            an encoder, bounds not met.
    """
    model, tok = getattr(adapter, "model", None), getattr(adapter, "tokenizer", None)
    info = getattr(adapter, "info", None)
    model_id = getattr(info, "id", None) or type(model).__name__
    if getattr(info, "kind", None) == "encoder-decoder" or getattr(getattr(model, "config", None),
                                                                     "is_encoder_decoder", False):
        raise ValueError(f"{model_id!r} is an encoder-decoder: the head atlas scores encoders and decoders "
                         "only for now")
    if model is None or tok is None or not hasattr(model, "config"):
        raise ValueError(f"{model_id!r} has no Hugging Face model and tokenizer: the head atlas cannot run it")
    kind = getattr(info, "kind", None)
    causal = kind == "decoder" if kind in ("encoder", "decoder") else _is_causal(model)
    if "retrieval" in names and not causal:
        raise ValueError(f"{model_id!r} is an encoder: retrieval scores copying during generation (decoders only)")
    repeat, bos = make_inputs(tok, prompts, length, seed, getattr(model.config, "vocab_size", None))
    limit = getattr(info, "max_tokens", None) or getattr(model.config, "max_position_embeddings", None) or 10**6
    if len(repeat[0]) > limit:
        parts = "1 BOS + 2 x length" if bos is not None else "2 x length"
        raise ValueError(f"{model_id!r} takes at most {limit} tokens; a prompt of length {length} is "
                         f"{len(repeat[0])} tokens ({parts})")
    items: list[dict] = []
    if any(t in REPEAT_TASKS for t in names):
        items += [{"group": "repeat", "index": p, "ids": ids} for p, ids in enumerate(repeat)]
    if any(t in TEXT_TASKS + RETRIEVAL_TASKS for t in names):
        corpus = list(corpus) if corpus else shipped_corpus()
    if any(t in TEXT_TASKS for t in names):
        text = text_inputs(tok, corpus, prompts, len(repeat[0]), seed)
        items += [{"group": "text", "index": p, "ids": ids} for p, ids in enumerate(text)]
    if "retrieval" in names:
        for p, nd in enumerate(needle_inputs(tok, corpus, prompts, length, seed, int(limit))):
            items.append({"group": "retrieval", "index": p, "ids": nd.ids, "start": nd.start, "end": nd.end,
                          "new": nd.new_tokens})
    ctx = {"length": length, "offset": 1 if bos is not None else 0, "causal": causal, "tasks": list(names),
           "model": model_id}
    return items, ctx, bos


def head_atlas(adapter, tasks: str | Sequence[str] | None = TASKS[:-1], prompts: int = 20, length: int = 16,
               seed: int = 0, progress: Callable[[int, int], None] | None = None,
               corpus: Sequence[str] | None = None, ray: str | None = None, workers: int = 2,
               model_ref: str | None = None) -> Atlas:
    """Score every head of ``adapter``'s model on the atlas tasks over seeded prompts.

    Args:
        adapter: an adapter (:func:`attnscope.inspection.adapters.wrap`, the registry's) of a
            transformers encoder or decoder.
        tasks: a subset of :data:`TASKS` (comma string or list; default all but retrieval).
        prompts: prompts per task group, 1-1000. length: ``n``, one copy's length, 2-512.
        seed: the generators' seed: the same seed gives the same inputs and scores.
        progress: called as ``progress(done, total)`` after each prompt (each batch on Ray).
        corpus: natural-text passages for ``previous_text``, ``entropy``, ``distance`` and ``retrieval``
            (default: the shipped public-domain corpus).
        ray: None (here), ``"local"`` (a local Ray instance) or a Ray cluster's address.
        workers: Ray actors, one model copy each. model_ref: a configured id or model folder the actors
            load (default: the driver's model is shipped through Ray's object store).

    Returns:
        the :class:`Atlas`.

    Raises:
        ValueError: see :func:`plan`; an unknown task.
    """
    names = parse_tasks(tasks)
    items, ctx, bos = plan(adapter, names, prompts, length, seed, corpus)
    if ray is not None:
        from attnscope.inspection.atlas.distributed import run_ray

        results = run_ray(items, ctx, model=None if model_ref else adapter.model, model_ref=model_ref,
                          address=ray, workers=workers, progress=progress)
    else:
        results = []
        lock = getattr(adapter, "lock", None)
        for n, it in enumerate(items):
            if lock is not None:
                with lock:
                    results.append(score_item(adapter.model, it, ctx))
            else:
                results.append(score_item(adapter.model, it, ctx))
            if progress is not None:
                progress(n + 1, len(items))
    return assemble(adapter, names, prompts, length, seed, bos, items, results)


def assemble(adapter, names, prompts, length, seed, bos, items, results) -> Atlas:
    """The :class:`Atlas` of scored items."""
    tok = adapter.tokenizer
    per: dict[str, list] = {t: [None] * prompts for t in names}
    inputs: dict[str, list] = {t: [None] * prompts for t in names}
    needles: list[dict] = []
    for it, res in zip(items, results):
        p = it["index"]
        ids = res.get("full", it["ids"])
        for t, v in res["scores"].items():
            per[t][p] = np.asarray(v, dtype=np.float64)
            inputs[t][p] = [int(i) for i in ids]
        if it["group"] == "retrieval":
            needles.append({"start": it["start"], "end": it["end"], "prompt_tokens": len(it["ids"]),
                            "copy_steps": int(res["steps"])})
    texts = {t: [tok.decode(ids) for ids in inputs[t]] for t in names}
    info = getattr(adapter, "info", None)
    return Atlas(model=getattr(info, "id", None) or type(adapter.model).__name__, tasks=tuple(names),
                 prompts=prompts, length=length, seed=seed, bos=bos, inputs=inputs,
                 per_prompt={t: np.stack(v) for t, v in per.items()}, texts=texts, needles=needles)


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
