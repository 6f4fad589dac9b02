"""``attnscope.norms``, ``attnscope.lens`` and ``attnscope.patch``: beyond the weights, on the user's own model.

* :func:`norms`: value-weighted attention of one layer (Kobayashi et al. 2020): ``‖α_ij · f(x_j)‖`` and the same
  through each head's slice of W_O, beside the weights (:mod:`attnscope.inspection.norms`). Numpy arrays, a tidy
  DataFrame and ``.show(head)``: weight and norm side by side.
* :func:`lens`: the logit lens, each layer's top-k next tokens read through the model's final norm and
  unembedding (:mod:`attnscope.inspection.lens`). A DataFrame, ``.show()``: the layers x positions grid.
* :func:`patch`: activation patching of each head (or the residual stream at each position) from a clean prompt
  into a corrupted one (:mod:`attnscope.inspection.patch`). A DataFrame, ``.show()``: the grid of effects.

The numbers are the core functions' own (the server's API answers with the same ones). The model is read as it
is (eager, SDPA...) and left as it was, its training mode included. The figures are ``attnscope._effects_view``'s:
one ``<div>``, its data as JSON, and one classic script bundling ``static/js/notebook_effects.js``; no CDN.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import numpy as np

NOTEBOOK_EXTRA = "pip install 'attnscope[notebook]'"
NORMS_COLUMNS = ["head", "query", "key", "query_token", "key_token", "weight", "norm", "norm_with_wo"]
LENS_COLUMNS = ["layer", "position", "token", "rank", "top_token", "top_id", "prob", "final_token", "final_rank",
                "final_prob"]
PATCH_VALUES = ["effect", "value"]


def _require_pandas(what: str):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"attnscope.{what} returns a pandas DataFrame: {NOTEBOOK_EXTRA}") from None
    return pd


@contextmanager
def _adapter(model, tokenizer):
    """The model's adapter (``attnscope._trace.adapter_for``: it puts the model in eval()); training mode restored."""
    from attnscope._atlas import _model_name
    from attnscope._trace import adapter_for

    training = getattr(model, "training", False)
    try:
        yield adapter_for(model, tokenizer, model_id=_model_name(model))
    finally:
        model.train(training)


def _text(text, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} is empty: type a sentence")
    return text


def _check_length(adapter, text: str, what: str = "text") -> None:
    n = adapter.count_tokens(text)
    if n > adapter.info.max_tokens:
        raise ValueError(f"{what} is {n} tokens long; this model takes at most {adapter.info.max_tokens} tokens")


# --- norms -------------------------------------------------------------------------------------------------------


def norms(model, tokenizer, text: str, layer: int, block: str | None = None, target: str | None = None):
    """Value-weighted attention of every head of one layer: the weights α and what each head moves.

    For head h, query i, key j (definitions: :mod:`attnscope.inspection.norms`): ``weights[h, i, j] = α_ij``;
    ``norms[h, i, j] = ‖α_ij · f(x_j)‖``, f(x) = x·W_V^h + b_V^h the value the head reads; ``norms_with_wo`` the
    same through W_O^h (W_O's bias, shared by the heads, left out); ``*_normalised``: rows divided by their sums.

    Args:
        model: a loaded transformers model (any attention implementation; left as it was).
        tokenizer: its tokenizer.
        text: the input sentence (the encoder's, for encoder-decoders).
        layer: the layer, from 0.
        block: "encoder", "decoder" or "cross" for models with several attention kinds (default: the first).
        target: the decoder input, for encoder-decoders.

    Returns:
        a :class:`NormsResult`: ``.weights``, ``.norms``, ``.norms_with_wo`` (H, Tq, Tk) float32, the normalised
        rows, ``.tokens``, ``.to_dataframe()`` and ``.show(head=0)``.

    Raises:
        ValueError: empty or too long text, no such layer or block, or a model whose v or W_O is not known.
    """
    from attnscope.inspection.norms import norms as core_norms

    _text(text)
    with _adapter(model, tokenizer) as adapter:
        _check_length(adapter, text)
        result = core_norms(adapter, text, layer, block, target)
        title = f"{adapter.info.id} · layer {layer} ({result.block}) · {text[:80]}"
    return NormsResult(result, title)


class NormsResult:
    """Value-weighted norms of one layer: the core :class:`attnscope.inspection.norms.Norms` plus pandas and HTML.

    Every attribute of the core result reads through (``value_norms``, ``value_norms_with_wo``, ``query_tokens``,
    ``key_tokens``, ``block``, ``layer``, ``first_key()``), with the names the API uses.
    """

    def __init__(self, core, title: str = ""):
        self.core = core
        self.title = title

    def __getattr__(self, name: str):
        if name == "core":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.core, name)

    weights = property(lambda self: self.core.weights, doc="(H, Tq, Tk) α, the model's attention probabilities")
    norms = property(lambda self: self.core.norms, doc="(H, Tq, Tk) ‖α_ij · f(x_j)‖")
    norms_with_wo = property(lambda self: self.core.norms_with_wo, doc="(H, Tq, Tk) ‖α_ij · f(x_j) · W_O^h‖")
    norms_normalised = property(lambda self: self.core.norms_normalised, doc="norms, rows divided by their sums")
    norms_with_wo_normalised = property(lambda self: self.core.norms_with_wo_normalised,
                                        doc="norms_with_wo, rows divided by their sums")
    tokens = property(lambda self: self.core.query_tokens,
                      doc="the query tokens (the rows; the keys too, except for cross attention: key_tokens)")

    def __repr__(self) -> str:
        h, tq, tk = self.core.weights.shape
        return f"<attnscope.NormsResult {self.title!r}: {h} heads x {tq} queries x {tk} keys>"

    def to_dataframe(self):
        """One row per (head, query, key): ``head, query, key, query_token, key_token, weight, norm, norm_with_wo``."""
        pd = _require_pandas("norms(...).to_dataframe()")
        w = self.core.weights
        h_, q_, k_ = (a.ravel() for a in np.meshgrid(*map(np.arange, w.shape), indexing="ij"))
        return pd.DataFrame({
            "head": h_, "query": q_, "key": k_,
            "query_token": np.asarray(self.core.query_tokens, dtype=object)[q_],
            "key_token": np.asarray(self.core.key_tokens, dtype=object)[k_],
            "weight": w.ravel(), "norm": self.core.norms.ravel(), "norm_with_wo": self.core.norms_with_wo.ravel(),
        })[NORMS_COLUMNS]

    def show(self, head: int = 0):
        """Draw weight and norm of every head side by side, inline (None) or, outside IPython, as a view.

        Raises:
            ValueError: ``head`` out of range, or a layer too large to embed.
        """
        from attnscope import _display
        from attnscope._effects_view import norms_view

        return _display(norms_view(self, head))


# --- lens --------------------------------------------------------------------------------------------------------


def lens(model, tokenizer, text: str, positions: list[int] | None = None, k: int = 5, target: str | None = None):
    """The logit lens: each layer's top-k next tokens at each position, read with the model's own unembedding.

    Row ``"emb"`` reads the embeddings, row ``"l"`` the residual stream after block l (before the final norm); each
    goes through the model's final norm and LM head, then a softmax (definitions: :mod:`attnscope.inspection.lens`).
    The last row is the model's own next-token distribution.

    Args:
        model: a loaded transformers decoder (or encoder-decoder) with an LM head; left as it was.
        tokenizer: its tokenizer.
        text: the input sentence.
        positions: the positions read, from 0 (default: every position, at most 512).
        k: top tokens per layer and position, 1 to 20.
        target: encoder-decoders: the decoder input read (default: the model's greedy output).

    Returns:
        a ``LensFrame``, one row per (layer, position, rank): ``layer`` ("emb", "0" ... as the API's rows),
        ``position``, ``token`` (the input token there), ``rank`` (0 = most likely), ``top_token``, ``top_id``,
        ``prob``, ``final_token`` (the model's prediction at that position), ``final_rank`` and ``final_prob`` (its
        rank and probability at that layer); ``.show()`` and ``.lens`` (the core
        :class:`~attnscope.inspection.lens.Lens`).

    Raises:
        ValueError: an encoder (no LM head), bad positions or k, empty or too long text.
    """
    from attnscope.inspection.lens import lens as core_lens

    pd = _require_pandas("lens")
    _text(text)
    with _adapter(model, tokenizer) as adapter:
        _check_length(adapter, text)
        result = core_lens(adapter, text, positions, k, target)
        answer = result.to_dict(adapter)
        name = adapter.info.id
    rows, P, K = result.top_ids.shape
    r_, p_, k_ = (a.ravel() for a in np.meshgrid(np.arange(rows), np.arange(P), np.arange(K), indexing="ij"))
    pos = np.asarray(result.positions)[p_]
    top_text = np.asarray([[[c["token"] for c in cell] for cell in row] for row in answer["top"]], dtype=object)
    frame = _frame_class("LensFrame")(pd.DataFrame({
        "layer": np.asarray(result.layers, dtype=object)[r_], "position": pos,
        "token": np.asarray(result.tokens, dtype=object)[pos], "rank": k_,
        "top_token": top_text.reshape(-1), "top_id": result.top_ids.ravel(), "prob": result.top_probs.ravel(),
        "final_token": np.asarray(answer["final_tokens"], dtype=object)[p_],
        "final_rank": result.final_rank[r_, p_], "final_prob": result.final_prob[r_, p_],
    })[LENS_COLUMNS])
    frame.lens, frame.title = result, f"{name} · logit lens · {text[:80]}"
    return frame


# --- patch -------------------------------------------------------------------------------------------------------


def patch(model, tokenizer, clean: str, corrupt: str, target: str | None = None, foil: str | None = None,
          metric: str = "logit_diff", mode: str = "heads", heads=None, positions: list[int] | None = None):
    """Activation patching: each head's output (or the residual stream) copied from ``clean`` into ``corrupt``.

    Each cell runs the corrupt prompt with one site taken from the clean run and reads the metric m of the next
    token after the last one: ``logit_diff`` (logit[answer] - logit[foil]), ``prob`` (p(answer)) or ``kl``
    (KL(clean || patched), nats). ``effect = (m - m(corrupt)) / (m(clean) - m(corrupt))``: 1 = fully restored,
    0 = no change (definitions: :mod:`attnscope.inspection.patch`).

    Args:
        model: a loaded transformers decoder; left as it was.
        tokenizer: its tokenizer.
        clean, corrupt: two prompts with the same number of tokens.
        target, foil: the answer and the foil, one token each (default: clean's and corrupt's top next tokens).
        metric: "logit_diff", "prob" or "kl".
        mode: "heads" (grid layers x heads) or "residual" (the stream after each layer at each position).
        heads: mode "heads": the ``[layer, head]`` pairs to try (default every head).
        positions: mode "heads": where each head is patched (default all); "residual": the positions tried.

    Returns:
        a ``PatchFrame``, one row per site tried: ``layer``, ``head`` (or ``position``), ``effect`` (NaN where the
        normalisation is undefined: ``.reason`` says why), ``value`` (m with that site patched); ``.show()``,
        ``.clean_value``, ``.corrupt_value``, ``.answer`` and ``.foil`` (``{token, id}``), ``.reason`` and
        ``.patching`` (the core :class:`~attnscope.inspection.patch.Patching`).

    Raises:
        ValueError: different token counts (both tokenisations are named), not a decoder, bad names or sites.
    """
    from attnscope.inspection.patch import patch as core_patch

    pd = _require_pandas("patch")
    _text(clean, "clean")
    _text(corrupt, "corrupt")
    with _adapter(model, tokenizer) as adapter:
        _check_length(adapter, clean, "clean")
        result = core_patch(adapter, clean, corrupt, metric, mode, target, foil, heads, positions)
        name = adapter.info.id
    col = "head" if mode == "heads" else "position"
    cells = [(r, c, v, None if result.effects is None else result.effects[r][j])
             for r, row in enumerate(result.values) for j, (c, v) in enumerate(zip(result.columns, row))
             if v is not None]
    frame = _frame_class("PatchFrame")(pd.DataFrame({
        "layer": np.array([c[0] for c in cells], dtype=np.int64),
        col: np.array([c[1] for c in cells], dtype=np.int64),
        "effect": np.array([np.nan if c[3] is None else c[3] for c in cells], dtype=np.float64),
        "value": np.array([c[2] for c in cells], dtype=np.float64),
    }))
    frame.patching, frame.title = result, f"{name} · patching ({metric}, {mode})"
    return frame


# --- the frames ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _frame_class(kind: str):
    """``LensFrame`` or ``PatchFrame``, defined on first use (pandas is optional)."""
    import pandas as pd

    class _Frame(pd.DataFrame):
        title = ""

        @property
        def _constructor(self):
            return type(self)

    class LensFrame(_Frame):
        """A logit lens in long format (one row per layer, position and rank); filtering and sorting keep it."""

        _metadata = ["lens", "title"]
        lens = None  # the core Lens the rows came from (None for a frame built by hand)

        def show(self):
            """Draw the layers x positions grid of the rows left (top-1 token, coloured by probability), inline."""
            from attnscope import _display
            from attnscope._effects_view import lens_view

            return _display(lens_view(self))

    class PatchFrame(_Frame):
        """A patching grid in long format (one row per site tried); filtering and sorting keep it."""

        _metadata = ["patching", "title"]
        patching = None  # the core Patching the rows came from

        def _get(self, name: str):
            return getattr(self.patching, name) if self.patching is not None else None

        clean_value = property(lambda self: self._get("clean_value"), doc="m(clean) (0 for kl)")
        corrupt_value = property(lambda self: self._get("corrupt_value"), doc="m(corrupt)")
        answer = property(lambda self: self._get("answer"), doc="{token, id} of the answer")
        foil = property(lambda self: self._get("foil"), doc="{token, id} of the foil (logit_diff), else None")
        reason = property(lambda self: self._get("reason"), doc="why the effects are undefined (NaN), else None")

        def show(self):
            """Draw the grid of effects of the rows left (diverging around 0; 1 = fully restored), inline."""
            from attnscope import _display
            from attnscope._effects_view import patch_view

            return _display(patch_view(self))

    cls = {"LensFrame": LensFrame, "PatchFrame": PatchFrame}[kind]
    cls.__module__, cls.__qualname__ = __name__, kind
    return cls


def __getattr__(name: str):
    if name in ("LensFrame", "PatchFrame"):  # attnscope._effects.LensFrame: built on first access (pickling)
        return _frame_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
