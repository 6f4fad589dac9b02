"""Inline figures: the data of a view, quantised and embedded, plus the page's own canvas renderer.

An output is one ``<div>`` with a unique id, the data as ``<script type="application/json">`` and one classic
``<script>`` holding ``static/js/heatmap.js`` (the renderer the page's model view uses) and
``static/js/notebook.js`` (the thin notebook host). No plotly, no require.js, no CDN: it draws offline in
Jupyter (classic and Lab), VS Code, Colab and in a saved file.

Weights travel as ``round(255 * w)`` bytes (exact to 1/510), zlib-deflated and base64-encoded: MiniLM's six
layers at 64 tokens are ~0.3 MB of bytes before deflate, where JSON of nested floats (what bertviz embeds) is
13 MB.
"""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from attnscope.resources import static_dir

VIEWS = ("attention", "model", "heads", "steps", "long")  # "long": attnscope._long_html.LongView
# The output's text until its script draws; all that is left of it where scripts do not run (an untrusted notebook)
PLACEHOLDER = ("AttnScope: drawing the figure. If this text stays, the notebook is not trusted, so its JavaScript "
               "does not run: Command Palette → Trust Notebook, or `jupyter trust NOTEBOOK.ipynb` in a terminal "
               "and reopen the notebook.")
_JS_DIRS = (static_dir() / "js",)


def js_source(name: str) -> str:
    """``static/js/<name>`` as a classic-script fragment: ``export`` keywords stripped; imports are refused."""
    return _js_source(name)


@lru_cache(maxsize=None)
def _js_source(name: str) -> str:
    src = _read_js(name)
    if re.search(r"^\s*import\b", src, re.M):
        raise RuntimeError(f"static/js/{name} imports modules: a notebook output cannot load them")
    return _strip_exports(src)


def _read_js(name: str) -> str:
    for d in _JS_DIRS:
        path = d / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"attnscope needs static/js/{name}; looked in {', '.join(map(str, _JS_DIRS))}")


def _strip_exports(src: str) -> str:
    """``export`` dropped before declarations; ``export { a, b };`` re-export lists removed."""
    src = re.sub(r"^export \{[^}]*\};?[^\n]*\n?", "", src, flags=re.M)
    return re.sub(r"^export (?=(async )?function|const|let|class)", "", src, flags=re.M)


_IMPORT = re.compile(r"^[ \t]*import\s*\{[^}]*\}\s*from\s*[\"'](?:\./|\.\./)([\w.-]+\.js)[\"'];?[ \t]*\n?", re.M)


def js_bundle(names: list[str]) -> str:
    """Several ``static/js`` files as one classic-script fragment, in order: ``export`` keywords stripped, and each
    ``import { ... } from "./x.js"`` (or ``"../x.js"``) dropped when x.js comes earlier in ``names``; any other import
    raises RuntimeError (a notebook output cannot load modules)."""
    return _js_bundle(tuple(names))


@lru_cache(maxsize=None)
def _js_bundle(names: tuple[str, ...]) -> str:
    parts = []
    for n, name in enumerate(names):
        src = _read_js(name)

        def drop(m: re.Match, name=name, before=names[:n]) -> str:
            if m.group(1) not in before:
                raise RuntimeError(f"static/js/{name} imports {m.group(1)}, which the bundle "
                                   f"({', '.join(names)}) does not hold before it")
            return ""

        src = _IMPORT.sub(drop, src)
        if re.search(r"^\s*import\b", src, re.M):
            raise RuntimeError(f"static/js/{name} imports modules the bundle cannot inline: a notebook output cannot "
                               "load them")
        parts.append(_strip_exports(src))
    return "\n".join(parts)


def pack(a: np.ndarray, dtype: str = "u8") -> dict:
    """An array as {dtype, shape, deflate, b64}: ``u8`` is round(255 a) for a in [0, 1]; ``f32`` is exact."""
    a = np.asarray(a)
    if dtype == "u8":
        raw = np.rint(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8).tobytes()
    elif dtype == "f32":
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
    else:
        raise ValueError(f"unknown dtype {dtype!r}")
    return {"dtype": dtype, "shape": list(a.shape), "deflate": True,
            "b64": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")}


def unpack(d: dict) -> np.ndarray:
    """The inverse of :func:`pack` (u8 back to weights in [0, 1])."""
    raw = zlib.decompress(base64.b64decode(d["b64"])) if d["deflate"] else base64.b64decode(d["b64"])
    if d["dtype"] == "u8":
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) / 255).reshape(d["shape"])
    return np.frombuffer(raw, dtype="<f4").reshape(d["shape"])


KINDS = ("self", "causal", "cross")  # AttentionBlock.kind: what the caption calls a block group


def block_payload(name: str, weights: np.ndarray, q_tokens, k_tokens, q_special=None, k_special=None,
                  kind: str | None = None, layer_ids=None, head_ids=None) -> dict:
    """One block group: weights (layers, heads, Tq, Tk) in [0, 1] and the tokens on each axis.

    ``kind`` ("self", "causal" or "cross"; default: "cross" for a group named so, else "self") names the
    attention in the caption. ``layer_ids`` / ``head_ids``: the model's own indices of the layers and heads
    kept (bertviz's ``include_layers`` / ``include_heads``), so that labels keep the model's numbering.
    """
    kind = kind or ("cross" if name == "cross" else "self")
    if kind not in KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; expected one of {', '.join(KINDS)}")
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"{name} attention must be (layers, heads, query, key); got shape {w.shape}")
    L, H, Tq, Tk = w.shape
    if len(q_tokens) != Tq or len(k_tokens) != Tk:
        raise ValueError(f"{name} attention is {Tq} x {Tk} tokens but {len(q_tokens)} x {len(k_tokens)} tokens "
                         "were given")
    out = {"name": name, "kind": kind, "L": L, "H": H, "Tq": Tq, "Tk": Tk, "q": [str(t) for t in q_tokens],
           "k": [str(t) for t in k_tokens], "qs": list(q_special or [False] * Tq),
           "ks": list(k_special or [False] * Tk), "weights": pack(w)}
    for key, ids, n in (("layerIds", layer_ids, L), ("headIds", head_ids, H)):
        if ids is not None:
            ids = [int(i) for i in ids]
            if len(ids) != n:
                raise ValueError(f"{name} attention has {n} {key[:-3]}s but {len(ids)} indices were given")
            out[key] = ids
    return out


def blocks_from_trace(core) -> list[dict]:
    """Every block group of a core Trace as payloads."""
    out = []
    for group in core.blocks:
        qt, kt = core.query_key_tokens(group)
        out.append(block_payload(group, core.weights(group), qt.text, kt.text, qt.special, kt.special,
                                 kind=core.blocks[group][0].kind))
    return out


def steps_from_trace(core, group: str, layer: int) -> dict:
    """The scaled scores of every head of one layer (masked keys are -inf), for the steps view."""
    b = core.block(group, layer)
    return {"block": group, "layer": layer, "d_head": int(b.q.shape[-1]), "scale": float(b.scale),
            "scaled": pack(b.scaled(), "f32")}


@dataclass
class View:
    """An inline AttnScope figure: Jupyter, VS Code and Colab display it; :meth:`save_html` writes it to a file."""

    blocks: list[dict]
    view: str = "attention"
    layer: int = 0
    head: int = 0
    block: str | None = None
    title: str = ""
    divider: int | None = None
    steps: dict | None = None

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; expected one of {', '.join(VIEWS)}")
        if self.view == "long":  # its own long trace and renderer (attnscope._long_html.LongView)
            raise ValueError("the long view runs a long trace of its own: use "
                             "attnscope.show(model, tokenizer, text, view='long')")
        if self.view == "steps" and self.steps is None:
            raise ValueError("the steps view needs Q and K: use attnscope.show(model, tokenizer, text, view='steps')")
        first = next((b for b in self.blocks if b["name"] == self.block), self.blocks[0])
        if not 0 <= self.layer < first["L"]:
            raise ValueError(f"layer {self.layer} is out of range: the model has layers 0 to {first['L'] - 1}")
        if not 0 <= self.head < first["H"]:
            raise ValueError(f"head {self.head} is out of range: the model has heads 0 to {first['H'] - 1}")

    @property
    def data(self) -> str:
        """The output's HTML, as ``IPython.display.HTML.data`` holds it (bertviz's ``html_action="return"`` recipe:
        ``open("view.html", "w").write(view.data)``). Each read renders afresh, with its own element id."""
        return self.html()

    def payload(self) -> dict:
        """What the output embeds as JSON for ``mountNotebook`` (static/js/notebook.js)."""
        return {"view": self.view, "title": self.title, "blocks": self.blocks, "block": self.block or "",
                "layer": self.layer, "head": self.head, "divider": self.divider, "steps": self.steps}

    def html(self) -> str:
        """The output fragment: a uniquely named div, its data, and the renderer."""
        uid = "attnscope-" + uuid.uuid4().hex[:12]
        payload = json.dumps(self.payload(), separators=(",", ":"))
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        script = (
            "(async () => {\n" + js_source("heatmap.js") + "\n" + js_source("notebook.js") + "\n"
            f"const root = document.getElementById({json.dumps(uid)});\n"
            f"const data = JSON.parse(document.getElementById({json.dumps(uid + '-data')}).textContent);\n"
            "try { await mountNotebook(root, data); }\n"
            "catch (err) { root.dataset.error = String(err); root.textContent = 'AttnScope could not draw: ' + err; "
            "console.error(err); }\n"
            "})();"
        )
        return (
            f'<div id="{uid}" class="attnscope-output" data-view="{html.escape(self.view)}" '
            'style="font:13px/1.4 system-ui,sans-serif;color:inherit;overflow-x:auto">'
            f"{html.escape(PLACEHOLDER)}</div>\n"
            f'<script type="application/json" id="{uid}-data">{payload}</script>\n'
            f"<script>{script}</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        """A short text form: a notebook stores it beside the HTML as ``text/plain`` (the payload is in the HTML)."""
        first = self.blocks[0] if self.blocks else {}
        shape = f"{first.get('L', '?')} layers x {first.get('H', '?')} heads, {first.get('Tq', '?')} tokens"
        where = f"layer {self.layer}, head {self.head}" + (f", {self.block}" if self.block else "")
        return f"<attnscope.View {self.view!r}: {self.title or 'attention'} ({shape}; {where})>"

    def save_html(self, path: str | Path) -> Path:
        """One self-contained HTML file that opens offline in any current browser."""
        path = Path(path)
        title = html.escape(self.title or "AttnScope")
        path.write_text(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head>\n<body style=\"margin:1.5rem;color:#1d2330\">\n{self.html()}</body></html>\n",
            encoding="utf-8",
        )
        return path
