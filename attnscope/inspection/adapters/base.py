"""What every model-family adapter provides."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar
from dataclasses import asdict, dataclass, field

from attnscope.inspection.trace import HeadWeights, Trace

T = TypeVar("T")


@dataclass(frozen=True)
class ModelInfo:
    """The facts ``GET /api/models`` lists for one model."""

    id: str
    name: str
    source: str
    family: str
    kind: str  # "encoder" | "decoder" | "encoder-decoder"
    layers: int
    heads: int
    kv_heads: int
    d_model: int
    d_head: int
    max_tokens: int
    positional: str  # "learned" | "sinusoidal" | "rotary" | ...
    blocks: tuple[str, ...] = ("encoder",)
    #: view or feature -> offered ("attention", "model_view", "heads", "compare", "steps", "ablate",
    #: "generate", "seq2seq"); empty means every view of the model's kind
    capabilities: dict[str, bool] = field(default_factory=dict)
    #: feature -> why it is not offered
    reasons: dict[str, str] = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        if not d["capabilities"]:
            d["capabilities"] = default_capabilities(self)
        return d


def default_capabilities(info: ModelInfo) -> dict[str, bool]:
    """What a hand-written adapter (the textbook model) offers: every view of its kind.

    The textbook encoder-decoder generates (translates) in the generate view through ``/api/generate``.
    """
    return {"attention": True, "model_view": True, "heads": True, "compare": True, "steps": True,
            "ablate": True, "generate": info.kind != "encoder", "seq2seq": info.kind == "encoder-decoder"}


class Adapter(ABC):
    """Runs one loaded model and fills a :class:`Trace`.

    Adapters hold model-global state (hooks), so every pass on the model holds
    ``self.lock`` (:meth:`call`): two passes never overlap on one model.
    """

    info: ModelInfo

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` holding the model lock; return its result."""
        with self.lock:
            return fn(*args, **kwargs)

    @property
    def default_block(self) -> str:
        return self.info.blocks[0]

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes, special tokens included."""

    @abstractmethod
    def run(self, text: str, target: str | None = None) -> Trace:
        """One forward pass over ``text`` (and the decoder input ``target``)."""

    @abstractmethod
    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        """The projection slices of one head of one attention block."""

    def output_tokens(self, ids: list[int]) -> list[str]:
        """Display text of output-vocabulary ids (what a row of ``Trace.logits`` predicts)."""
        raise NotImplementedError(f"{self.info.id} has no output vocabulary")

    def run_weights(self, text: str, target: str | None = None) -> Trace:
        """A forward pass keeping only what the attention views read (``Trace.full`` False).

        The default runs the full pass; adapters where capturing Q/K/V costs time override it.
        """
        return self.run(text, target)

    def trace(self, text: str, target: str | None = None, full: bool = True) -> Trace:
        """Thread-safe :meth:`run` (``full=False``: :meth:`run_weights`, attention weights and logits only)."""
        return self.call(self.run if full else self.run_weights, text, target)
