"""The inline figures of ``attnscope.norms``, ``attnscope.lens`` and ``attnscope.patch`` (:mod:`attnscope._effects`).

Each is one ``<div>``, its data as ``<script type="application/json">`` and one classic ``<script>`` bundling
``static/js/atlas_grid.js`` (the colour scales and legend the Atlas view uses) and ``static/js/notebook_effects.js``
(the three renderers). Norms travel as exact float32 arrays (``attnscope._html.pack``: deflated, base64); the lens
and patching grids as plain JSON numbers, ``null`` for a cell the frame does not hold. Nothing is fetched.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnscope._html import js_bundle, pack

#: norms: at most this many weights per array (heads x queries x keys) are embedded (five float32 arrays)
MAX_NORM_CELLS = 1 << 21
BUNDLE = ["atlas_grid.js", "notebook_effects_grid.js", "notebook_effects.js"]


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _need(frame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}.show() needs the columns {', '.join(columns)}; this frame has no {', '.join(missing)}")
    if len(frame) == 0:
        raise ValueError(f"{what}.show(): the frame has no rows left to draw")


def _no_duplicates(keys: list[tuple], names: str) -> None:
    if len(set(keys)) != len(keys):
        dup, n = Counter(keys).most_common(1)[0]
        raise ValueError(f"show() draws one row per cell; the frame holds {n} rows for {names} {dup}")


def norms_view(result, head: int = 0) -> EffectsView:
    """The weight | norm figure of a :class:`attnscope._effects.NormsResult`, head ``head`` shown first."""
    core = result.core
    H, Tq, Tk = core.weights.shape
    if not isinstance(head, (int, np.integer)) or not 0 <= head < H:
        raise ValueError(f"head {head!r} is out of range: the layer has heads 0 to {H - 1}")
    if H * Tq * Tk > MAX_NORM_CELLS:
        raise ValueError(f"show() would embed {H} x {Tq} x {Tk} weights five times ({20 * H * Tq * Tk >> 20} MB); "
                         "use a shorter text, or read the arrays")
    arrays = ("weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised")
    data = {"view": "norms", "title": result.title, "block": core.block, "layer": int(core.layer), "head": int(head),
            "heads": H, "query_tokens": [str(t) for t in core.query_tokens],
            "key_tokens": [str(t) for t in core.key_tokens],
            **{a: pack(getattr(core, a), "f32") for a in arrays}}
    return EffectsView(data, f"{H} heads x {Tq} x {Tk} tokens, showing head {head}")


def lens_view(frame) -> EffectsView:
    """The layers x positions figure of a lens frame's rows: top tokens by rank, the final prediction's rank."""
    _need(frame, ["layer", "position", "token", "rank", "top_token", "prob"], "lens(...)")
    layer = frame["layer"].astype(str).tolist()
    position = frame["position"].to_numpy()
    rank = frame["rank"].to_numpy()
    if not (np.issubdtype(position.dtype, np.integer) and np.issubdtype(rank.dtype, np.integer)) or \
            position.min() < 0 or rank.min() < 0:
        raise ValueError("show(): position and rank must be integers from 0")
    keys = list(zip(layer, position.tolist(), rank.tolist()))
    _no_duplicates(keys, "(layer, position, rank)")
    order = list(frame.lens.layers) if frame.lens is not None else []
    present = list(dict.fromkeys(layer))
    layers = [row for row in order if row in present] + [row for row in present if row not in order]
    positions = sorted(set(position.tolist()))
    r_of, c_of = {row: i for i, row in enumerate(layers)}, {p: j for j, p in enumerate(positions)}
    tokens: list[str] = [""] * len(positions)
    cells: list[list] = [[None] * len(positions) for _ in layers]
    has_final = all(c in frame.columns for c in ("final_token", "final_rank", "final_prob"))
    cols = ["token", "top_token", "prob"] + (["final_token", "final_rank", "final_prob"] if has_final else [])
    values = zip(*(frame[c].tolist() for c in cols))
    for (row, p, k), vals in sorted(zip(keys, values), key=lambda kv: kv[0][2]):
        rec = dict(zip(cols, vals))
        j = c_of[p]
        tokens[j] = str(rec["token"])
        cell = cells[r_of[row]][j]
        if cell is None:
            cell = cells[r_of[row]][j] = {"top": []}
            if has_final:
                cell["final"] = [str(rec["final_token"]), int(rec["final_rank"]), _finite(rec["final_prob"])]
        cell["top"].append([str(rec["top_token"]), _finite(rec["prob"])])
    data = {"view": "lens", "title": frame.title or "logit lens", "layers": layers, "positions": positions,
            "tokens": tokens, "cells": cells}
    return EffectsView(data, f"{len(layers)} layers x {len(positions)} positions")


def patch_view(frame) -> EffectsView:
    """The layers x heads (or x positions) figure of a patching frame's rows: effects, diverging around 0."""
    col = "head" if "head" in frame.columns else "position"
    _need(frame, ["layer", col, "effect", "value"], "patch(...)")
    layer, column = frame["layer"].to_numpy(), frame[col].to_numpy()
    if not (np.issubdtype(layer.dtype, np.integer) and np.issubdtype(column.dtype, np.integer)) or \
            layer.min() < 0 or column.min() < 0:
        raise ValueError(f"show(): layer and {col} must be integers from 0")
    keys = list(zip(layer.tolist(), column.tolist()))
    _no_duplicates(keys, f"(layer, {col})")
    res = frame.patching
    n_layers = max(int(layer.max()) + 1, len(res.values) if res is not None else 0)
    if col == "head":
        columns = list(range(max(int(column.max()) + 1, len(res.columns) if res is not None else 0)))
    else:
        columns = sorted(set(column.tolist()) | set(res.columns if res is not None else []))
    c_of = {c: j for j, c in enumerate(columns)}
    effects: list = [None] * (n_layers * len(columns))
    values: list = [None] * (n_layers * len(columns))
    for (l, c), e, v in zip(keys, frame["effect"].tolist(), frame["value"].tolist()):
        effects[l * len(columns) + c_of[c]], values[l * len(columns) + c_of[c]] = _finite(e), _finite(v)
    data = {"view": "patch", "title": frame.title or "activation patching", "mode": "heads" if col == "head" else
            "residual", "layers": n_layers, "columns": columns, "effects": effects, "values": values}
    if res is not None:
        data.update(metric=res.metric, answer=res.answer, foil=res.foil, clean_value=_finite(res.clean_value),
                    corrupt_value=_finite(res.corrupt_value), reason=res.reason, clean_tokens=res.clean_tokens,
                    corrupt_tokens=res.corrupt_tokens, differing=res.differing)
    return EffectsView(data, f"{n_layers} layers x {len(columns)} {col}s")


@dataclass
class EffectsView:
    """An inline norms, lens or patching figure: Jupyter, VS Code and Colab display it; :meth:`save_html` saves it.

    Attributes:
        payload: the data the renderer draws (``payload["view"]``: "norms", "lens" or "patch").
        summary: one line for ``repr``.
    """

    payload: dict
    summary: str = ""

    def html(self) -> str:
        """The output fragment: a uniquely named div, its data, and the renderer."""
        uid = "attnscope-" + uuid.uuid4().hex[:12]
        view = self.payload["view"]
        text = json.dumps(self.payload, separators=(",", ":"), allow_nan=False)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        script = (
            "(async () => {\n" + js_bundle(BUNDLE) + "\n"
            f"const root = document.getElementById({json.dumps(uid)});\n"
            f"const data = JSON.parse(document.getElementById({json.dumps(uid + '-data')}).textContent);\n"
            "try { await mountEffects(root, data); }\n"
            "catch (err) { root.dataset.error = String(err); root.textContent = 'AttnScope could not draw: ' + err; "
            "console.error(err); }\n"
            "})();"
        )
        return (
            f'<div id="{uid}" class="attnscope-output attnscope-effects attnscope-{view}" data-view="{view}" '
            'style="font:13px/1.4 system-ui,sans-serif;color:inherit;overflow-x:auto">'
            "AttnScope: loading the figure (needs JavaScript: trust the notebook if nothing appears)</div>\n"
            f'<script type="application/json" id="{uid}-data">{text}</script>\n'
            f"<script>{script}</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        """One line (a notebook stores it as ``text/plain`` beside the HTML, which holds the payload)."""
        return f"<attnscope.EffectsView {self.payload['view']} {self.payload.get('title', '')!r}: {self.summary}>"

    def save_html(self, path: str | Path) -> Path:
        """One self-contained HTML file that opens offline in any current browser."""
        path = Path(path)
        title = html.escape(self.payload.get("title") or "AttnScope")
        path.write_text(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head>\n<body style=\"margin:1.5rem;color:#1d2330\">\n{self.html()}</body></html>\n",
            encoding="utf-8",
        )
        return path
