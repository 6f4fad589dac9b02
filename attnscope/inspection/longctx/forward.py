"""The long forward pass: the model's own forward, with attention computed in query chunks by the capture function.

Each attention call (one per layer) computes, for 256 query rows at a time, ``s = cap(q·kᵀ·scale) + mask``,
the rows' log-sum-exp, ``w = exp(s − lse)`` and ``w @ v`` (what the model continues with), and while the
chunk's weights exist it fills the layer's overview (max and sum pooling), the attention each key
receives, the passage masses and the distance profile. Masks are rules (causal, sliding window), never a
T × T tensor: the registered mask function returns none.

q and k are rounded to the store dtype (float16 by default) before the scores are computed, so that the
weights any view recomputes later are exactly the ones the forward pass used.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

import torch

from attnscope.inspection.longctx.store import LayerStore, LongTrace, distance_edges, zoom_levels

#: query rows per chunk (the largest block of weights held: H × CHUNK × T floats)
CHUNK = 256
DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}


class Cancelled(RuntimeError):
    """The client went away: the long forward pass stopped between layers."""


def bytes_per_token(layers: int, heads: int, kv_heads: int, d_head: int, dtype: str = "float16") -> int:
    """Bytes a long trace keeps per token (q, k and the log-sum-exp of every layer; the overview is extra)."""
    size = torch.empty(0, dtype=DTYPES[dtype]).element_size()
    return layers * ((heads + kv_heads) * d_head * size + heads * 4 + (heads + 1) * 4)


def overview_bytes(layers: int, heads: int, t: int) -> int:
    """Bytes of the z = 0 overviews of a t-token input (max and sum, every head and the mean): ≤ 256 × 256 cells."""
    g = math.ceil(t / 2 ** (zoom_levels(t) - 1)) if t else 0
    return layers * (heads + 1) * g * g * 4 * 2


class LongRecorder:
    """What :func:`attnscope.inspection.capture.attention` hands each call to in long mode.

    Args:
        t: the number of tokens; passage_of: (T,) the passage of each token; n_passages: P.
        layers: the number of attention calls expected (for progress).
        dtype: the store dtype of q and k.
        on_layer: called as ``on_layer(done, layers)`` after each layer.
        should_stop: checked before each layer; True raises :class:`Cancelled`.
    """

    long = True
    full = False

    def __init__(self, t: int, passage_of: torch.Tensor, n_passages: int, layers: int, dtype: str = "float16",
                 on_layer: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] | None = None):
        self.t, self.passage_of, self.n_passages, self.n_layers = t, passage_of, n_passages, layers
        self.dtype = DTYPES[dtype]
        self.on_layer, self.should_stop = on_layer, should_stop
        self.cell0 = 2 ** (zoom_levels(t) - 1)
        self.edges = distance_edges(t)
        self.stores: list[LayerStore] = []
        self.counts: list[torch.Tensor] = []
        self.calls: list = []

    def attend(self, module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scaling: float,
               softcap: float | None, window: int | None) -> torch.Tensor:
        """Chunked attention of one layer; returns (B, Tq, H, D) like the eager function's output."""
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("the long trace was cancelled")
        if query.shape[0] != 1:
            raise ValueError("a long trace reads one sequence at a time")
        causal = bool(getattr(module, "is_causal", False))
        h, t, d = query.shape[1:]
        kv = key.shape[1]
        g = h // kv
        dev = query.device
        q = query[0].to(self.dtype)  # (H, T, D) kept
        k = key[0].to(self.dtype)  # (KV, T, D) kept
        qf, kf, vf = q.float(), k.float(), value[0].float()  # what the scores use (rounded like the store)
        n_cells = math.ceil(t / self.cell0)
        pool_max = torch.zeros(h + 1, n_cells, n_cells, device=dev)
        pool_sum = torch.zeros(h + 1, n_cells, n_cells, device=dev)
        received = torch.zeros(h + 1, t, device=dev)
        p = self.n_passages
        mass = torch.zeros(h + 1, p, p, device=dev)
        edges = torch.tensor(self.edges, device=dev)
        nb = len(self.edges) - 1
        dist_sum = torch.zeros(h + 1, nb, device=dev)
        count = torch.zeros(nb, device=dev)
        lse = torch.empty(h, t, device=dev)
        out = torch.empty(t, h, vf.shape[-1], device=dev, dtype=torch.float32)
        pid = self.passage_of.to(dev)
        for r0 in range(0, t, CHUNK):
            r1 = min(t, r0 + CHUNK)
            c0 = max(0, r0 - window + 1) if window is not None else 0
            c0 -= c0 % self.cell0  # pooled cells stay aligned
            c1 = r1 if causal else t
            rows = torch.arange(r0, r1, device=dev)[:, None]
            cols = torch.arange(c0, c1, device=dev)[None, :]
            masked = cols > rows if causal else torch.zeros(r1 - r0, c1 - c0, dtype=torch.bool, device=dev)
            if window is not None:
                masked = masked | ((rows - cols) >= window)
            qc = qf[:, r0:r1].reshape(kv, g * (r1 - r0), d)  # (KV, g·R, D): heads kv·g .. kv·g + g - 1
            s = torch.matmul(qc, kf[:, c0:c1].transpose(-1, -2)).reshape(h, r1 - r0, c1 - c0) * scaling
            if softcap is not None:
                s = torch.tanh(s / softcap) * softcap
            s = s.masked_fill(masked, float("-inf"))
            m = s.amax(-1, keepdim=True).clamp(min=torch.finfo(s.dtype).min)
            row_lse = m + torch.log(torch.exp(s - m).sum(-1, keepdim=True))
            w = torch.exp(s - row_lse)  # (H, R, C) exact weights of the chunk
            lse[:, r0:r1] = row_lse[..., 0]
            o = torch.matmul(w.reshape(kv, g * (r1 - r0), c1 - c0), vf[:, c0:c1])  # (KV, g·R, Dv)
            out[r0:r1] = o.reshape(h, r1 - r0, -1).transpose(0, 1)
            self._accumulate(torch.cat([w, w.mean(0, keepdim=True)]), r0, r1, c0, c1, masked, pid, edges,
                             pool_max, pool_sum, received, mass, dist_sum, count)
            del s, w
        self.stores.append(LayerStore(q=q, k=k, lse=lse, scaling=float(scaling), softcap=softcap, window=window,
                                      causal=causal, pool_max=pool_max, pool_sum=pool_sum, received=received,
                                      mass=mass, dist_sum=dist_sum))
        self.counts.append(count)
        if self.on_layer is not None:
            self.on_layer(len(self.stores), self.n_layers)
        return out.to(query.dtype)[None]  # (1, T, H, Dv)

    def _accumulate(self, w, r0, r1, c0, c1, masked, pid, edges, pool_max, pool_sum, received, mass, dist_sum,
                    count) -> None:
        """Fold one chunk's weights (H + 1, R, C) into the layer's overview and aggregates."""
        cell = self.cell0
        received[:, c0:c1] += w.sum(1)
        # overview: pool the keys of each row, then the rows of each cell (a cell may span chunks)
        k0 = c0 // cell
        for reduce, grid in (("max", pool_max), ("sum", pool_sum)):
            cols = pool_cols(w, cell, reduce)  # (H + 1, R, K)
            if cell <= CHUNK:  # r0 is a multiple of cell: whole cells, the last one padded
                pad = (-cols.shape[1]) % cell
                if pad:
                    cols = torch.nn.functional.pad(cols, (0, 0, 0, pad))
                cols = cols.reshape(cols.shape[0], -1, cell, cols.shape[-1])
                part = cols.amax(2) if reduce == "max" else cols.sum(2)  # (H + 1, R / cell, K)
            else:  # every row of the chunk is in one cell
                part = cols.amax(1, keepdim=True) if reduce == "max" else cols.sum(1, keepdim=True)
            j0 = r0 // cell
            view = grid[:, j0:j0 + part.shape[1], k0:k0 + part.shape[2]]
            view.copy_(torch.maximum(view, part) if reduce == "max" else view + part)
        # passages: keys grouped by passage, then rows
        by_key = torch.zeros(w.shape[0], w.shape[1], mass.shape[-1], device=w.device)
        by_key.index_add_(2, pid[c0:c1], w)
        mass.index_add_(1, pid[r0:r1], by_key)
        # distance |q - k| in log-spaced bins
        dist = (torch.arange(r0, r1, device=w.device)[:, None] - torch.arange(c0, c1, device=w.device)[None]).abs()
        b = (torch.bucketize(dist, edges, right=True) - 1).clamp(0, len(edges) - 2)  # (R, C)
        dist_sum.index_add_(1, b.flatten(), w.reshape(w.shape[0], -1))  # masked pairs weigh 0
        count += torch.bincount(b[~masked], minlength=count.shape[0]).to(count.dtype)


def pool_cols(w: torch.Tensor, cell: int, reduce: str) -> torch.Tensor:
    """(..., R, C) -> (..., R, ceil(C / cell)): the keys of each row pooled by cells of ``cell`` keys."""
    if cell == 1:
        return w
    c = w.shape[-1]
    pc = (-c) % cell
    if pc:
        w = torch.nn.functional.pad(w, (0, pc))
    blocks = w.reshape(*w.shape[:-1], w.shape[-1] // cell, cell)
    return blocks.amax(-1) if reduce == "max" else blocks.sum(-1)


def split_passages(text: str, offsets: list, mode: str = "paragraphs") -> tuple[list[dict], list[int]]:
    """Passages at blank lines: ``[{index, start, end, title}]`` as token spans, and each token's passage.

    A token belongs to the passage its characters start in; tokens with no characters (special tokens)
    and those on a blank line go with the passage before them (the first passage for a leading BOS).
    """
    import re

    if mode not in ("paragraphs", "none"):
        raise ValueError(f"passages {mode!r}: use 'paragraphs' or 'none'")
    spans = [(0, len(text))]
    if mode == "paragraphs":
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*$)", text, re.S)] or spans
    owner, cur = [], 0
    for off in offsets:
        if off is not None and off[1] > off[0]:
            while cur + 1 < len(spans) and off[0] >= spans[cur + 1][0]:
                cur += 1
        owner.append(cur)
    passages = []
    for i, (a, b) in enumerate(spans):
        toks = [j for j, o in enumerate(owner) if o == i]
        if not toks:
            continue
        first = text[a:b].strip().splitlines()[0] if text[a:b].strip() else ""
        passages.append({"index": len(passages), "start": toks[0], "end": toks[-1] + 1,
                         "title": first[:60] + ("…" if len(first) > 60 else "")})
    remap = {p["start"]: p["index"] for p in passages}
    idx, out = -1, []
    for j in range(len(owner)):
        if j in remap:
            idx = remap[j]
        out.append(max(idx, 0))
    return passages, out


def run_long(adapter, inputs: dict, tokens, text: str, passages: str = "paragraphs", dtype: str = "float16",
             on_layer: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> LongTrace:
    """The long trace of ``text`` through ``adapter``'s model (one forward pass, attention in chunks).

    Args:
        inputs, tokens: from :func:`attnscope.inspection.longctx.long_inputs` (checked against the limit).

    Raises:
        ValueError: a model whose attention does not go through the interface.
        Cancelled: ``should_stop`` said so between layers.
    """
    from attnscope.inspection.capture import capture

    started = time.perf_counter()
    spans, owner = split_passages(text, tokens.offsets, passages)
    pid = torch.tensor(owner, dtype=torch.long)
    t = len(tokens)
    rec = LongRecorder(t, pid, len(spans), adapter.info.layers, dtype, on_layer, should_stop)
    with adapter.lock, torch.inference_mode(), capture(adapter.model, long=rec):
        adapter.model(**inputs)
    if len(rec.stores) != adapter.info.layers:
        raise ValueError(f"{adapter.info.id}: its attention does not go through transformers' attention "
                         f"interface ({len(rec.stores)} of {adapter.info.layers} layers seen): no long trace")
    return LongTrace(trace_id=uuid.uuid4().hex[:16], model=adapter.info.id, tokens=tokens, layers=rec.stores,
                     heads=adapter.info.heads, kv_heads=adapter.info.kv_heads, passages=spans, passage_of=pid,
                     dist_count=rec.counts[0], dist_counts=rec.counts, edges=rec.edges,
                     seconds=time.perf_counter() - started, dtype=dtype)
