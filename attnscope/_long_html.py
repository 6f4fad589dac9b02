"""The long-context view in a notebook, standalone: a long trace's deep zoom precomputed and embedded in one output.

``attnscope.show(model, tokenizer, long_text, view="long")`` runs one long forward pass
(:func:`attnscope.inspection.longctx.long_trace`: attention in query chunks, no T x T matrix held) and embeds

* the z = 0 overview (max pooling) of every layer x head and of the mean head, for the thumbnail grid;
* the zoom levels z = 0, 1, ... of the selected layer / head, max pooling, as deep as the byte budget
  allows (``max_bytes``, raw bytes before deflate), then sum pooling to whatever depth the rest allows;
* the passage x passage matrix and the distance profile of the selected head; the tokens and passages.

Tiles travel as u8 with a per-tile scale (``round(255 w / scale)``, ``scale`` = the tile's largest value),
zlib-deflated and base64-encoded: a max-pooled cell is exact to ``scale / 510 <= 1/510``; sum-pooled cells
exceed 1, hence the scale. Tiles that are all zero (a decoder's above the diagonal, those outside a sliding
window) are left out.
Deeper levels, the finer levels of the other heads and exact rows need the server (``attnscope serve``).
The renderer is ``static/js/notebook_long.js`` (with ``heatmap.js``'s colour table and ``longzoom.js``, the code it
shares with the page's long view), inlined as one classic script (:func:`attnscope._html.js_bundle`): offline, no CDN,
no plotly.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from pathlib import Path

import numpy as np

from attnscope._html import js_bundle, pack

#: default byte budget of the embedded arrays (u8 tiles and thumbnails, raw bytes before deflate)
DEFAULT_MAX_BYTES = 6_000_000
#: share of the budget the thumbnails keep when the selected head's levels need the rest
THUMB_SHARE = 0.5
#: thumbnails keep at least this many cells a side (fewer read as noise)
THUMB_MIN = 32
TILE = 256


def _quantise(w: np.ndarray) -> tuple[np.ndarray, float]:
    """w / scale in [0, 1] and its scale (the largest value; 1 for an all-zero array)."""
    w = np.asarray(w, dtype=np.float32)
    top = float(w.max()) if w.size else 0.0
    scale = top if top > 0 else 1.0
    return w / scale, scale


def _maxpool(w: np.ndarray, f: int) -> np.ndarray:
    """(R, C) -> (ceil(R / f), ceil(C / f)), each cell the max of its f x f block (zero padding)."""
    if f == 1:
        return w
    r, c = w.shape
    p = np.zeros((-(-r // f) * f, -(-c // f) * f), dtype=w.dtype)
    p[:r, :c] = w
    return p.reshape(p.shape[0] // f, f, p.shape[1] // f, f).max(axis=(1, 3))


class LongView:
    """An inline long-context figure of one :class:`~attnscope.inspection.longctx.LongTrace`.

    Args:
        trace: the long trace (``view.trace`` keeps it: ``view.trace.tile(...)`` recomputes any tile).
        layer, head: the head whose finer zoom levels are embedded (0-based; ``head="mean"`` for the mean head).
        levels: how many zoom levels of that head to embed, z = 0 included (None: as many as ``max_bytes``
            allows; ValueError when the given number does not fit).
        max_bytes: the budget of the embedded arrays, raw bytes before deflate (default ~6 MB).
        title: the figure's title.
        kind: "encoder" or "decoder" (default: "decoder" when every layer is causal).
    """

    def __init__(self, trace, layer: int = 0, head: int | str = 0, levels: int | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, title: str = "", kind: str = ""):
        L, H = len(trace.layers), trace.heads
        if not isinstance(layer, int) or not 0 <= layer < L:
            raise ValueError(f"layer {layer!r} is out of range: the model has layers 0 to {L - 1}")
        if head != "mean" and (not isinstance(head, int) or not 0 <= head < H):
            raise ValueError(f"head {head!r} is out of range: use 0 to {H - 1} or 'mean'")
        if levels is not None and (not isinstance(levels, int) or levels < 1):
            raise ValueError(f"levels must be a positive number of zoom levels (z = 0 counts), got {levels!r}")
        kind = kind or ("decoder" if all(s.causal for s in trace.layers) else "encoder")
        self.trace, self.layer, self.head, self.title, self.kind = trace, layer, head, title, kind
        self.max_bytes = int(max_bytes)
        self._build(levels)

    # ------------------------------------------------------------------ building

    def _level_cells(self, z: int) -> int:
        """u8 cells of level z of the selected head, without the tiles a causal mask makes zero."""
        lt = self.trace
        cell = 2 ** (lt.zoom_levels - 1 - z)
        span = TILE * cell
        n = math.ceil(lt.t / span)
        a = np.array([math.ceil((min(lt.t, (i + 1) * span) - i * span) / cell) for i in range(n)], dtype=np.int64)
        if lt.layers[self.layer].causal:  # tiles (x, y) with x <= y: the others lie above the diagonal
            return int((a * np.cumsum(a)).sum())
        return int(a.sum() ** 2)

    def _build(self, levels: int | None) -> None:
        lt, L, H = self.trace, len(self.trace.layers), self.trace.heads
        hi = H if self.head == "mean" else self.head
        Z = lt.zoom_levels
        # what is not a tile: tokens, passages, the selected head's passages matrix and distance profile
        bins, dist = lt.distance(self.layer, self.head)
        mass = lt.passage_mass(self.layer, self.head)
        self._extras = {
            "tokens": [str(t) for t in lt.tokens.text], "special": [bool(s) for s in lt.tokens.special],
            "passages": [{k: p[k] for k in ("index", "start", "end", "title")} for p in lt.passages],
            "distance": {"bins": bins, "mean": [float(f"{v:.6g}") for v in dist.tolist()]},
            "passage_mass": pack(mass, "f32"),
        }
        extra = len(json.dumps({k: v for k, v in self._extras.items() if k != "passage_mass"})) + mass.size * 4
        room = self.max_bytes - extra
        # thumbnails: every layer x (heads + mean) at z = 0, whole when the selected head's every level fits beside
        # them; else max-pooled further until they take at most the rest or THUMB_SHARE of the budget
        level_bytes = [self._level_cells(z) for z in range(Z)]
        g = math.ceil(lt.t / lt.cell0)
        side, f = g, 1
        allowed = max(room - sum(level_bytes), THUMB_SHARE * room)
        while L * (H + 1) * side * side > allowed and side > THUMB_MIN:
            f *= 2
            side = math.ceil(g / f)
        thumb_bytes = L * (H + 1) * side * side
        rest = room - thumb_bytes
        if rest < level_bytes[0]:
            raise ValueError(f"max_bytes={self.max_bytes:,} is too small for this trace: its thumbnails and overview "
                             f"need {extra + thumb_bytes + level_bytes[0]:,} bytes")
        fit = 0  # levels of max pooling that fit
        while fit < Z and sum(level_bytes[:fit + 1]) <= rest:
            fit += 1
        if levels is not None:
            want = min(levels, Z)
            if want > fit:
                need = extra + thumb_bytes + sum(level_bytes[:want])
                raise ValueError(f"levels={levels} needs {need:,} bytes of tiles but max_bytes is {self.max_bytes:,}: "
                                 f"pass max_bytes={need:,} or levels={fit} (deeper zoom: run the server)")
            fit = want
        rest -= sum(level_bytes[:fit])
        fit_sum = 0
        while fit_sum < fit and sum(level_bytes[:fit_sum + 1]) <= rest:
            fit_sum += 1

        thumbs, scales = np.zeros((L, H + 1, side, side), np.float32), np.ones((L, H + 1))
        for layer in range(L):
            for h in range(H + 1):
                w = lt.tile(layer, "mean" if h == H else h, 0, 0, 0, "max")["weights"]
                q, scales[layer, h] = _quantise(_maxpool(w, f))
                thumbs[layer, h, : q.shape[0], : q.shape[1]] = q
        self._thumbs = {"side": side, "pool": f, "cell": lt.cell0 * f, "shape": [L, H + 1, side, side],
                        "scales": [[float(s) for s in row] for row in scales], "data": pack(thumbs)}
        self._levels = {"max": [self._level(z, "max") for z in range(fit)],
                        "sum": [self._level(z, "sum") for z in range(fit_sum)]}
        self._head_index = hi
        self.nbytes = extra + thumb_bytes + sum(lv["bytes"] for r in self._levels.values() for lv in r)

    def _level(self, z: int, reduce: str) -> dict:
        """Every tile of level z of the selected head: one deflated u8 buffer and each tile's place and scale."""
        lt = self.trace
        cell = 2 ** (lt.zoom_levels - 1 - z)
        n = math.ceil(lt.t / (TILE * cell))
        causal = lt.layers[self.layer].causal
        tiles, parts, offset = [], [], 0
        for y in range(n):
            for x in range(n):
                if causal and x > y:
                    continue  # wholly above the diagonal: zero
                t = lt.tile(self.layer, self.head, z, x, y, reduce)
                if not t["weights"].any():
                    continue  # every weight masked (outside a sliding window): drawn as zero
                q, scale = _quantise(t["weights"])
                tiles.append({"x": x, "y": y, "rows": t["rows"], "cols": t["cols"], "shape": list(q.shape),
                              "offset": offset, "scale": scale})
                parts.append(q.ravel())
                offset += q.size
        flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return {"z": z, "cell": cell, "n": n, "tiles": tiles, "bytes": int(flat.size), "data": pack(flat)}

    # ------------------------------------------------------------------ reading back (tests, users)

    def embedded_levels(self, reduce: str = "max") -> list[int]:
        """The zoom levels of the selected head embedded for ``reduce`` ("max" or "sum")."""
        return [lv["z"] for lv in self._levels[reduce]]

    def data(self) -> dict:
        lt = self.trace
        return {"view": "long", "title": self.title, "model": lt.model, "kind": self.kind, "T": lt.t,
                "L": len(lt.layers), "H": lt.heads, "Z": lt.zoom_levels, "cell0": lt.cell0,
                "causal": [bool(s.causal) for s in lt.layers], "layer": self.layer, "head": self.head,
                "headIndex": self._head_index, "thumbs": self._thumbs, "levels": self._levels,
                "bytes": self.nbytes, "budget": self.max_bytes, **self._extras}

    # ------------------------------------------------------------------ output

    def html(self) -> str:
        """The output fragment: a uniquely named div, its data, and the renderer."""
        uid = "attnscope-" + uuid.uuid4().hex[:12]
        payload = json.dumps(self.data(), separators=(",", ":"))
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        script = (
            "(async () => {\n" + js_bundle(["heatmap.js", "longzoom.js", "notebook_long_zoom.js", "notebook_long.js"]) + "\n"
            f"const root = document.getElementById({json.dumps(uid)});\n"
            f"const data = JSON.parse(document.getElementById({json.dumps(uid + '-data')}).textContent);\n"
            "try { await mountLong(root, data); }\n"
            "catch (err) { root.dataset.error = String(err); root.textContent = 'AttnScope could not draw: ' + err; "
            "console.error(err); }\n"
            "})();"
        )
        return (
            f'<div id="{uid}" class="attnscope-output attnscope-long" data-view="long" '
            'style="font:13px/1.4 system-ui,sans-serif;color:inherit;max-width:1200px">'
            "AttnScope: loading the figure (needs JavaScript: trust the notebook if nothing appears)</div>\n"
            f'<script type="application/json" id="{uid}-data">{payload}</script>\n'
            f"<script>{script}</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        """One line (a notebook stores it as ``text/plain`` beside the HTML, which holds the payload)."""
        lt = self.trace
        zs = self.embedded_levels("max")
        sums = self.embedded_levels("sum")
        head = "mean head" if self.head == "mean" else f"head {self.head}"
        pooled = f"max{'+sum' if sums else ''}"
        return (f"<attnscope.LongView {self.title or lt.model!r}: {lt.t} tokens, {len(lt.layers)} layers x "
                f"{lt.heads} heads; layer {self.layer}, {head}: zoom levels 0-{zs[-1]} of 0-{lt.zoom_levels - 1} "
                f"embedded ({pooled}), {self.nbytes / 1e6:.1f} MB raw>")

    def save_html(self, path: str | Path) -> Path:
        """One self-contained HTML file that opens offline in any current browser."""
        path = Path(path)
        title = html.escape(self.title or "AttnScope long context")
        path.write_text(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head>\n<body style=\"margin:1.5rem;color:#1d2330\">\n{self.html()}</body></html>\n",
            encoding="utf-8",
        )
        return path


def long_view(model, tokenizer, text: str, layer: int = 0, head: int | str = 0, levels: int | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES, passages: str = "paragraphs", name: str | None = None,
              dtype: str = "float16", memory_bytes: int = 2 << 30) -> LongView:
    """One long forward pass of ``text`` through ``model`` and its :class:`LongView`.

    Args:
        model, tokenizer: a loaded transformers encoder or decoder and its (fast) tokenizer.
        text: the long input; blank lines split it into passages (``passages="none"``: one passage).
        layer, head, levels, max_bytes: see :class:`LongView`.
        name: the title (default: the model's name or path).
        dtype: the store dtype of q and k ("float16", "bfloat16", "float32").
        memory_bytes: the memory budget of the trace itself (q, k and overviews), which caps the length.
    """
    from pathlib import PurePath

    from attnscope._trace import adapter_for
    from attnscope.inspection.longctx import long_trace

    adapter = adapter_for(model, tokenizer, name=name)
    lt = long_trace(adapter, text, passages, memory_bytes, dtype)
    src = PurePath(str(adapter.info.source))
    model_name = name or ("/".join(src.parts[-2:]) if src.name == "model" else src.name) or adapter.info.id
    words = " ".join(text.split())
    snippet = words if len(words) <= 80 else words[:79].rsplit(" ", 1)[0] + " …"
    return LongView(lt, layer, head, levels, max_bytes, title=f"{model_name} · {snippet}", kind=adapter.info.kind)
