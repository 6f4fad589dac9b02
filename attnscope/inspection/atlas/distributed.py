"""The atlas on Ray: prompt batches go to actors, each holding one copy of the model.

``ray="local"`` starts a local Ray instance (``workers`` CPUs) and stops it after; an address
(``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``) joins a running cluster and leaves it running.
Each actor either loads the model itself from ``model_ref`` (a configured id or a model folder, read on the
actor's node) or receives the driver's model through Ray's object store. The prompts are drawn on the
driver and every prompt is scored by the same function as a local run, so the scores are the local run's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

ACTOR_BATCHES = 4  # batches per actor: progress is reported as each batch comes back


def load_ref(ref: str):
    """The model of a configured id or a local transformers folder."""
    import os

    from attnscope.inspection.atlas.core import load_local

    if os.path.isdir(ref):
        return load_local(ref).model
    from attnscope.inspection.registry import shared_registry

    return shared_registry().get(ref).model


def ship(model) -> dict:
    """What rebuilds ``model`` on an actor: its class, its config and its weights (a model object itself does
    not pickle: transformers keeps context variables on it)."""
    return {"cls": type(model), "config": model.config.to_dict(),
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def rebuild(spec: dict):
    """The model :func:`ship` described, in eval mode with eager attention."""
    import torch

    cls = spec["cls"]
    cfg = cls.config_class.from_dict(spec["config"])
    cfg._attn_implementation = "eager"
    dtype = next(iter(spec["state"].values())).dtype if spec["state"] else torch.float32
    with torch.device("cpu"):
        model = cls(cfg).to(dtype)
    model.load_state_dict(spec["state"], strict=True)
    return model.eval()


class _Worker:
    """One Ray actor: a model, scoring batches of atlas items."""

    def __init__(self, model_or_ref, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.model = load_ref(model_or_ref) if isinstance(model_or_ref, str) else rebuild(model_or_ref)

    def score(self, items: list[dict], ctx: dict) -> list[dict]:
        from attnscope.inspection.atlas.core import score_item

        return [score_item(self.model, it, ctx) for it in items]


def run_ray(items: Sequence[dict], ctx: dict, model=None, model_ref: str | None = None, address: str = "local",
            workers: int = 2, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Score ``items`` on Ray actors; results in the items' order.

    Raises:
        ImportError: Ray is not installed (``pip install 'attnscope[ray]'``).
        ValueError: ``workers`` below 1, or neither a model nor a reference.
    """
    try:
        import ray
    except ImportError:
        raise ImportError("the atlas's --ray needs Ray: pip install 'attnscope[ray]'") from None
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if model is None and model_ref is None:
        raise ValueError("run_ray needs the model or a reference to load it by")
    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            started = True
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        handle = model_ref if model_ref is not None else ray.put(ship(model))
        actor = ray.remote(num_cpus=1)(_Worker)
        actors = [actor.remote(handle, 1) for _ in range(workers)]
        size = max(1, math.ceil(len(items) / (workers * ACTOR_BATCHES)))
        batches = [list(items[i:i + size]) for i in range(0, len(items), size)]
        pending = {actors[n % workers].score.remote(b, ctx): n for n, b in enumerate(batches)}
        results: dict[int, list[dict]] = {}
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                n = pending.pop(ref)
                results[n] = ray.get(ref)
                done += len(results[n])
                if progress is not None:
                    progress(done, len(items))
        for a in actors:
            ray.kill(a)
        return [r for n in range(len(batches)) for r in results[n]]
    finally:
        if started:
            ray.shutdown()
