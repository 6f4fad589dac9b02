"""``attnscope.trace``: one forward pass of the user's own model, as arrays, a DataFrame or an HTML file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnscope.inspection.trace import Trace as CoreTrace


def adapter_for(model, tokenizer, model_id: str | None = None, name: str | None = None):
    """The adapter of ``model``'s family (``attnscope.inspection.adapters.wrap``: the families table).

    Any attention implementation works (SDPA included): each pass runs through AttnScope's capture
    function and the model and its config are left as they were.
    """
    from attnscope.inspection.adapters import wrap

    return wrap(model, tokenizer, model_id=model_id, name=name)


class Trace:
    """One forward pass: the server's :class:`attnscope.inspection.trace.Trace` plus numpy, pandas and HTML out.

    Every attribute of the core trace reads through (``tokens``, ``blocks``, ``weights(block, layer)``,
    ``block(block, layer).q`` ...), with the same names the API and the page use.
    """

    def __init__(self, core: CoreTrace, title: str | None = None):
        self.core = core
        self.title = title or core.model

    def __getattr__(self, name: str):
        return getattr(self.core, name)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{g}: {tuple(self.to_numpy(g).shape)}" for g in self.core.blocks)
        return f"<attnscope.Trace {self.title!r}, {len(self.core.tokens)} tokens, weights {shapes}>"

    @property
    def block_names(self) -> list[str]:
        """The attention block groups of this model, in page order ("encoder", "decoder", "cross")."""
        return list(self.core.blocks)

    def to_numpy(self, block: str | None = None) -> np.ndarray:
        """Attention weights of every layer: float32 array (layers, heads, query tokens, key tokens)."""
        return self.core.weights(block or self.block_names[0])

    def to_dataframe(self, block: str | None = None, layer: int | None = None):
        """A tidy pandas DataFrame, one row per weight: ``layer, head, query, key, weight`` (plus token texts).

        ``query`` and ``key`` are token indices; ``query_token`` and ``key_token`` their texts.
        """
        import pandas as pd  # optional: only this method needs it

        group = block or self.block_names[0]
        w = self.to_numpy(group) if layer is None else self.core.weights(group, layer)[None]
        L, H, Tq, Tk = w.shape
        layers = np.arange(L) if layer is None else np.array([layer])
        l_, h_, q_, k_ = (a.ravel() for a in np.meshgrid(layers, np.arange(H), np.arange(Tq), np.arange(Tk),
                                                         indexing="ij"))
        qt, kt = self.core.query_key_tokens(group)
        return pd.DataFrame({
            "layer": l_, "head": h_, "query": q_, "key": k_, "weight": w.ravel(),
            "query_token": np.asarray(qt.text, dtype=object)[q_], "key_token": np.asarray(kt.text, dtype=object)[k_],
        })

    def view(self, view: str = "attention", layer: int = 0, head: int = 0, block: str | None = None):
        """The inline figure of this trace (a :class:`attnscope.View`; Jupyter shows it when it ends a cell)."""
        from attnscope._html import View, blocks_from_trace, steps_from_trace

        group = block or self.block_names[0]
        steps = steps_from_trace(self.core, group, layer) if view == "steps" else None
        return View(blocks_from_trace(self.core), view=view, layer=layer, head=head, block=group,
                    title=f"{self.title} · {self.core.text[:80]}", steps=steps)

    def save_html(self, path: str | Path, view: str = "model", layer: int = 0, head: int = 0) -> Path:
        """Write one self-contained HTML file (no network needed to open it); returns its path."""
        return self.view(view, layer, head).save_html(path)


def trace(model, tokenizer, text: str, target: str | None = None, name: str | None = None) -> Trace:
    """Run ``text`` through the user's own ``model`` and return its :class:`Trace`.

    Args:
        model: a loaded transformers model of a supported family (BERT-like, GPT-2, LLaMA-like).
        tokenizer: its tokenizer.
        text: the input sentence.
        target: the decoder input, for encoder-decoders.
        name: the title shown on figures (default: the model's name or path).
    """
    if not text or not text.strip():
        raise ValueError("text is empty: type a sentence")
    adapter = adapter_for(model, tokenizer, name=name)
    n = adapter.count_tokens(text)
    if n > adapter.info.max_tokens:
        raise ValueError(f"text is {n} tokens long; this model takes at most {adapter.info.max_tokens} tokens")
    src = Path(str(adapter.info.source))
    title = name or ("/".join(src.parts[-2:]) if src.name == "model" else src.name) or adapter.info.id
    return Trace(adapter.trace(text, target), title=title)
