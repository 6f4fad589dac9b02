"""What every model-family adapter provides, and how it says what else it can do.

Callers never probe an adapter (``hasattr``, ``getattr``) or switch on its family name. They ask:

* ``info.capabilities`` / ``info.reasons`` (:class:`ModelInfo`): which views and features the model
  offers, and why one is not; ``GET /api/models`` lists them, and :meth:`ModelInfo.offers` reads them;
* the methods and attributes of :class:`Adapter`, whose defaults say "this model has none"
  (None, or :class:`NotOffered` with a readable message) where a model lacks the feature.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from dataclasses import asdict, dataclass, field

from attnscope.inspection.trace import HeadWeights, Tokens, Trace

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

T = TypeVar("T")


class NotOffered(NotImplementedError, ValueError):
    """The model does not offer what was asked (a ValueError too: the API answers it with a 422)."""


#: every view and feature ``ModelInfo.capabilities`` names (``GET /api/models`` lists each one):
#: the views; "block_steps" (Add & Norm, feed-forward); "ablate"; "generate" (continue text, or the
#: textbook model's translation in the generate view); "seq2seq" (greedy encoder-decoder output);
#: "translate" (translation step by step, greedy or beam, each step's attention: :meth:`Adapter.translate`);
#: "patterns" (efficient-attention masks on the encoder); "slides" (the lectures' numbers are this model's)
FEATURES = ("attention", "model_view", "heads", "compare", "steps", "block_steps", "ablate", "generate",
            "seq2seq", "translate", "patterns", "slides")
#: why a feature an adapter does not list is not offered
NOT_LISTED = {
    "translate": "translation step by step (greedy or beam) is the textbook model's; other encoder-decoders "
                 "translate greedily with /api/seq2seq",
    "patterns": "efficient-attention patterns run on the textbook encoder-decoder",
    "slides": "the lectures' printed numbers are the textbook model's",
}


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
    #: view or feature (:data:`FEATURES`) -> offered; empty means every view of the model's kind
    #: (:func:`default_capabilities`); a feature not listed is not offered (:meth:`offers`)
    capabilities: dict[str, bool] = field(default_factory=dict)
    #: feature -> why it is not offered
    reasons: dict[str, str] = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"

    def to_dict(self) -> dict:
        """The facts as ``GET /api/models`` lists them: every feature of :data:`FEATURES` in ``capabilities``."""
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        caps = dict(self.capabilities or default_capabilities(self))
        reasons = dict(self.reasons)
        for f in FEATURES:
            if f not in caps:
                caps[f] = False
                if f in NOT_LISTED:
                    reasons.setdefault(f, NOT_LISTED[f])
        d["capabilities"], d["reasons"] = caps, reasons
        return d

    def offers(self, feature: str) -> bool:
        """Whether the model offers ``feature`` (a view or feature of :data:`FEATURES`).

        An empty ``capabilities`` means every view of the model's kind (:func:`default_capabilities`);
        a feature the capabilities do not list is not offered.
        """
        return bool((self.capabilities or default_capabilities(self)).get(feature, False))


def default_capabilities(info: ModelInfo) -> dict[str, bool]:
    """What a hand-written adapter offers when it lists nothing: every view of its kind.

    An encoder-decoder generates (translates) in the generate view through ``/api/generate``.
    """
    return {"attention": True, "model_view": True, "heads": True, "compare": True, "steps": True,
            "ablate": True, "generate": info.kind != "encoder", "seq2seq": info.kind == "encoder-decoder"}


class Adapter(ABC):
    """Runs one loaded model and fills a :class:`Trace`.

    Adapters hold model-global state (hooks), so every pass on the model holds
    ``self.lock`` (:meth:`call`): two passes never overlap on one model.
    """

    info: ModelInfo
    #: the torch module run (a ``transformers`` model, or the textbook model)
    model: Any = None
    #: the Hugging Face tokenizer; None for a model with its own word vocabulary (the textbook model)
    tokenizer: Any = None
    #: where the model's parameters are: inputs are moved there
    device: Any = "cpu"

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

    # --- what else the model can do: defaults for a model that cannot -----------------------

    def _missing(self, what: str) -> NotOffered:
        return NotOffered(f"{self.info.id} ({self.info.family}) {what}")

    def vocab_size(self) -> int | None:
        """How many ids the model's input vocabulary has (None: unknown). Default: the tokenizer's length."""
        return int(len(self.tokenizer)) if self.tokenizer is not None else None

    def inputs(self, text: str) -> tuple[dict, Tokens]:
        """The model's keyword inputs for ``text`` (on its device) and its tokens; ValueError for bad text.

        Default: the Hugging Face tokenizer's encoding (``token_type_ids`` dropped for decoders).
        """
        if self.tokenizer is None:
            raise self._missing("has no Hugging Face tokenizer to make model inputs with")
        from attnscope.inspection.adapters.hf import tokenize

        inputs, tokens = tokenize(self.tokenizer, text)
        if self.info.kind == "decoder":
            inputs.pop("token_type_ids", None)
        return inputs, tokens

    def output_projection(self, block: str, layer: int) -> nn.Module:
        """W_O of one attention block: the module whose input is ``concat(z)`` (what ablation hooks)."""
        raise self._missing("does not say where its output projection is: ablation is not available")

    def position_table(self) -> np.ndarray | None:
        """The learned absolute position-embedding table, (positions, d_model) float32; None without one."""
        return None

    def layer_windows(self) -> list[int | None] | None:
        """Each layer's sliding window (None: the layer keeps every token); None when no layer slides."""
        return None

    def rope_base(self) -> float | None:
        """The rotary base ``n`` (``rope_theta``); None for a model that does not rotate q and k."""
        return None

    def rotate(self, t: np.ndarray, positions: np.ndarray | list[int] | None = None,
               layer: int | None = None) -> np.ndarray:
        """The model's rotary embedding applied to (T, d_head) or (H, T, d_head) q or k given before rotation
        (at ``positions``, default 0..T-1; ``layer`` for models whose layers rotate differently)."""
        raise self._missing(f"does not rotate q and k (its positions are {self.info.positional})")

    def seq2seq(self, text: str, max_new_tokens: int = 32) -> dict:
        """Greedy output of an encoder-decoder and each output token's cross-attention: ``{"text",
        "source_tokens", "output_tokens", "output_ids", "cross_attention"}`` ((L, H, T_out, S) float32)."""
        raise self._missing("is not a Hugging Face encoder-decoder: it has no greedy seq2seq output")

    def translate(self, text: str, strategy: str = "greedy", beam_width: int = 4, max_len: int | None = None):
        """A translation step by step (greedy or beam), with each step's attention (``info.offers("translate")``).

        Returns a :class:`~attnscope.inspection.adapters.textbook.Translation`.
        """
        raise self._missing("does not translate step by step")
