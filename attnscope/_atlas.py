"""``attnscope.atlas``: every head of the user's own model scored on the atlas tasks, as a pandas DataFrame.

The frame is long format, one row per (task, layer, head): ``layer, head, task, score``, where ``score`` is
:func:`attnscope.inspection.atlas.head_atlas`'s mean over the prompts (the definitions are in
:mod:`attnscope.inspection.atlas.tasks`). It is a small :class:`pandas.DataFrame` subclass, so filtering and
sorting keep ``.show()`` (the layer x head grid, inline and offline), ``.atlas`` (the
:class:`~attnscope.inspection.atlas.Atlas`: per-prompt scores, inputs, top examples) and ``.to_json()``.

The figure is one ``<div>``, its data as ``<script type="application/json">`` (scores as plain JSON numbers,
``null`` for a cell the frame does not hold) and one classic ``<script>`` bundling ``static/js/atlas_grid.js``
(the grid renderer the page's Atlas view uses) and ``static/js/notebook_atlas.js`` (the thin notebook host).
"""

from __future__ import annotations

import html
import json
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from attnscope._html import js_bundle

COLUMNS = ["layer", "head", "task", "score"]
NOTEBOOK_EXTRA = "pip install 'attnscope[notebook]'"


def atlas(model, tokenizer, tasks: str | Sequence[str] | None = None, prompts: int = 20, length: int = 16,
          seed: int = 0, corpus: str | Path | Sequence[str] | None = None, name: str | None = None):
    """Score every head of ``model`` on the atlas tasks over seeded prompts; a DataFrame ``layer, head, task, score``.

    Args:
        model: a loaded transformers encoder or decoder (eager, SDPA...: it is read through AttnScope's capture
            function and left as it was, training mode included).
        tokenizer: its tokenizer.
        tasks: names of :data:`attnscope.inspection.atlas.TASKS` (a list or ``"previous,induction"``; default
            :data:`~attnscope.inspection.atlas.DEFAULT_TASKS`). ``previous`` brings ``previous_text``.
        prompts: prompts per task group, 1-1000. length: ``n``, one copy of the repeated random tokens, 2-512.
        seed: the same seed gives the same prompts and scores.
        corpus: natural text for ``previous_text``, ``entropy``, ``distance`` and ``retrieval``: a list of
            passages, a ``Path`` (or a string ending in ``.txt`` / ``.jsonl``) of a file, or one string of text
            split at blank lines (default: the shipped public-domain corpus).
        name: the model's name in the atlas and on the figure (default: its folder name).

    Returns:
        an ``AtlasFrame`` (a DataFrame, ``L * H * len(frame.atlas.tasks)`` rows in task, layer, head order) with
        ``.show(task=None)``, ``.atlas`` and ``.to_json()``.

    Raises:
        ImportError: pandas is missing. ValueError: an unknown task, bounds not met, an encoder-decoder (see
            :func:`attnscope.inspection.atlas.head_atlas`).
    """
    _require_pandas()
    from attnscope._trace import adapter_for
    from attnscope.inspection.atlas import head_atlas, parse_tasks

    names = parse_tasks(tasks)  # a bad task fails before the model is touched
    passages = _passages(corpus)
    training = getattr(model, "training", False)
    try:
        adapter = adapter_for(model, tokenizer, model_id=name or _model_name(model))  # puts the model in eval()
        result = head_atlas(adapter, names, prompts=prompts, length=length, seed=seed, corpus=passages)
    finally:
        model.train(training)
    return frame_of(result)


def frame_of(result):
    """The long-format ``AtlasFrame`` of an :class:`~attnscope.inspection.atlas.Atlas` (exact float64 scores)."""
    pd = _require_pandas()
    scores = result.scores
    L, H = result.layers, result.heads
    layer, head = (a.ravel() for a in np.meshgrid(np.arange(L), np.arange(H), indexing="ij"))
    parts = [pd.DataFrame({"layer": layer, "head": head, "task": t,
                           "score": np.asarray(scores[t], dtype=np.float64).ravel()}) for t in result.tasks]
    frame = _frame_class()(pd.concat(parts, ignore_index=True)[COLUMNS])
    frame.atlas = result
    return frame


def _require_pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"attnscope.atlas returns a pandas DataFrame: {NOTEBOOK_EXTRA}") from None
    return pd


def _model_name(model) -> str:
    src = Path(str(getattr(model.config, "name_or_path", "") or model.config.model_type))
    return ("/".join(src.parts[-2:]) if src.name == "model" else src.name) or model.config.model_type


def _passages(corpus) -> list[str] | None:
    """The corpus as passages: a list as is, a file read (``.txt``: blank lines; ``.jsonl``), a text split."""
    from attnscope.inspection.atlas import read_corpus
    from attnscope.inspection.atlas.text import split_passages

    if corpus is None:
        return None
    if isinstance(corpus, Path) or isinstance(corpus, str) and "\n" not in corpus and \
            corpus.lower().endswith((".txt", ".jsonl")):
        return read_corpus(corpus)
    if isinstance(corpus, str):
        out = split_passages(corpus)
    else:
        items = list(corpus)
        if any(not isinstance(p, str) for p in items):
            raise ValueError("corpus must be a list of strings, a file path or one string of text")
        out = [p.strip() for p in items if p.strip()]
    if not out:
        raise ValueError("the corpus holds no text")
    return out


@lru_cache(maxsize=None)
def _frame_class():
    """``AtlasFrame``, defined on first use (pandas is optional)."""
    import pandas as pd

    class AtlasFrame(pd.DataFrame):
        """A head atlas in long format (``layer, head, task, score``); filtering and sorting keep its methods."""

        _metadata = ["atlas"]
        atlas = None  # the Atlas the rows came from (None for a frame built by hand)

        @property
        def _constructor(self):
            return AtlasFrame

        def show(self, task: str | None = None):
            """Draw the layer x head grid of each task in this frame, inline (None) or, outside IPython, as a view.

            Cells the frame does not hold (filtered out) are drawn grey and hover as "not in this frame".

            Raises:
                ValueError: a column is missing, no rows, two rows for one cell, a task not in the frame.
            """
            from attnscope import _display

            return _display(view_of(self, task))

        def to_json(self, path_or_buf=None, **kwargs):
            """The atlas as the JSON ``attnscope atlas --out`` writes (the whole atlas, whatever rows are left).

            Returns the text, or writes it to ``path_or_buf`` (a path or a text file) and returns None. Given any
            pandas keyword (``orient=...``), it is pandas' own ``DataFrame.to_json`` of these rows.
            """
            if kwargs or self.atlas is None:
                return super().to_json(path_or_buf, **kwargs)
            text = json.dumps(self.atlas.to_json())
            if path_or_buf is None:
                return text
            if hasattr(path_or_buf, "write"):
                path_or_buf.write(text)
            else:
                Path(path_or_buf).write_text(text, encoding="utf-8")
            return None

    AtlasFrame.__module__, AtlasFrame.__qualname__ = __name__, "AtlasFrame"
    return AtlasFrame


def __getattr__(name: str):
    if name == "AtlasFrame":  # attnscope._atlas.AtlasFrame: built on first access (pickling finds it here)
        return _frame_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def view_of(frame, task: str | None = None) -> AtlasView:
    """The :class:`AtlasView` of an atlas frame's rows: one layer-major grid per task, ``None`` where a cell is absent."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"show() needs the columns {', '.join(COLUMNS)}; this frame has no "
                         f"{', '.join(missing)}")
    if len(frame) == 0:
        raise ValueError("show(): the frame has no rows left to draw")
    res = frame.atlas
    order = list(res.tasks) if res is not None else []
    present = list(dict.fromkeys(frame["task"].astype(str)))
    tasks = [t for t in order if t in present] + [t for t in present if t not in order]
    if task is not None and task not in tasks:
        raise ValueError(f"task {task!r} is not in this frame; it holds {', '.join(tasks)}")
    layer = frame["layer"].to_numpy()
    head = frame["head"].to_numpy()
    if not (np.issubdtype(layer.dtype, np.integer) and np.issubdtype(head.dtype, np.integer)) or \
            layer.min() < 0 or head.min() < 0:
        raise ValueError("show(): layer and head must be integers from 0")
    L = max(int(layer.max()) + 1, res.layers if res is not None else 0)
    H = max(int(head.max()) + 1, res.heads if res is not None else 0)
    keys = list(zip(frame["task"].astype(str), layer.tolist(), head.tolist()))
    if len(set(keys)) != len(keys):
        dup, n = Counter(keys).most_common(1)[0]
        raise ValueError(f"show() draws one score per cell; the frame holds {n} rows for task {dup[0]}, "
                         f"layer {dup[1]}, head {dup[2]}")
    grids: dict[str, list] = {t: [None] * (L * H) for t in tasks}
    for (t, l, h), v in zip(keys, frame["score"].to_numpy(dtype=np.float64).tolist()):
        grids[t][l * H + h] = v if math.isfinite(v) else None
    settings = {}
    if res is not None:
        settings = {"prompts": res.prompts, "length": res.length, "seed": res.seed}
    model = res.model if res is not None else "atlas"
    return AtlasView(scores=grids, layers=L, heads=H, task=task or tasks[0], title=f"{model} · head atlas",
                     settings=settings, rows=len(frame))


@dataclass
class AtlasView:
    """The inline atlas grid: Jupyter, VS Code and Colab display it; :meth:`save_html` writes it to a file.

    Attributes:
        scores: task -> flat layer-major scores (``layers * heads``), None where the frame holds no row.
        task: the task shown first. settings: ``{prompts, length, seed}`` for the caption. rows: rows drawn.
    """

    scores: dict[str, list]
    layers: int
    heads: int
    task: str
    title: str = ""
    settings: dict | None = None
    rows: int = 0

    def data(self) -> dict:
        return {"title": self.title, "layers": self.layers, "heads": self.heads, "tasks": list(self.scores),
                "task": self.task, "scores": self.scores, "settings": self.settings or {}}

    def html(self) -> str:
        """The output fragment: a uniquely named div, its data, and the renderer."""
        uid = "attnscope-" + uuid.uuid4().hex[:12]
        payload = json.dumps(self.data(), separators=(",", ":"), allow_nan=False)
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        script = (
            "(async () => {\n" + js_bundle(["atlas_grid.js", "notebook_atlas.js"]) + "\n"
            f"const root = document.getElementById({json.dumps(uid)});\n"
            f"const data = JSON.parse(document.getElementById({json.dumps(uid + '-data')}).textContent);\n"
            "try { mountAtlas(root, data); }\n"
            "catch (err) { root.dataset.error = String(err); root.textContent = 'AttnScope could not draw: ' + err; "
            "console.error(err); }\n"
            "})();"
        )
        return (
            f'<div id="{uid}" class="attnscope-output attnscope-atlas" data-view="atlas" '
            'style="font:13px/1.4 system-ui,sans-serif;color:inherit;overflow-x:auto">'
            "AttnScope: loading the head atlas (needs JavaScript: trust the notebook if nothing appears)</div>\n"
            f'<script type="application/json" id="{uid}-data">{payload}</script>\n'
            f"<script>{script}</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        """One line (a notebook stores it as ``text/plain`` beside the HTML, which holds the payload)."""
        return (f"<attnscope.AtlasView {self.title!r}: {self.layers} layers x {self.heads} heads, tasks "
                f"{', '.join(self.scores)}; showing {self.task}>")

    def save_html(self, path: str | Path) -> Path:
        """One self-contained HTML file that opens offline in any current browser."""
        path = Path(path)
        title = html.escape(self.title or "AttnScope head atlas")
        path.write_text(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head>\n<body style=\"margin:1.5rem;color:#1d2330\">\n{self.html()}</body></html>\n",
            encoding="utf-8",
        )
        return path
