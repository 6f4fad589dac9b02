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
#: PyTorch's fused CPU attention, which also returns each row's log-sum-exp (None where absent)
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
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
    return layers * (heads + 1) * g * g * 4 * 2  # float32 (float16 stores keep half: a margin)


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
        qs = qf * scaling  # the scaling folded into q once
        tri = torch.ones(CHUNK, CHUNK, dtype=torch.bool, device=dev).triu(1)  # causal mask of a diagonal block
        fused = softcap is None and window is None and dev.type == "cpu" and _FLASH_CPU is not None
        if fused:  # the output and each row's log-sum-exp from the fused kernel; weights below from the lse
            o, row_lse = _FLASH_CPU(qf[None], kf.repeat_interleave(g, 0)[None], vf.repeat_interleave(g, 0)[None],
                                    0.0, causal, scale=scaling)[:2]
            out, lse = o[0].transpose(0, 1), row_lse[0].float()
        for r0 in range(0, t, CHUNK):
            r1 = min(t, r0 + CHUNK)
            c0 = max(0, r0 - window + 1) if window is not None else 0
            c0 -= c0 % self.cell0  # pooled cells stay aligned
            c1 = r1 if causal else t
            nr = r1 - r0
            qc = qs[:, r0:r1].reshape(kv, g * nr, d)  # (KV, g·R, D): heads kv·g .. kv·g + g - 1
            kt = kf[:, c0:c1].transpose(-1, -2)  # (KV, D, C)
            if fused:  # w = exp(q·kᵀ·scale − lse) in one GEMM and one exp
                w = torch.baddbmm(-lse[:, r0:r1].reshape(kv, g * nr, 1), qc, kt).exp_().view(h, nr, c1 - c0)
                if causal:
                    w[:, :, r0 - c0:].masked_fill_(tri[:nr, :nr], 0.0)
            else:
                w = self._softmax_chunk(qc, kt, h, nr, r0, r1, c0, c1, causal, window, softcap, tri, lse)
                o = torch.matmul(w.view(kv, g * nr, c1 - c0), vf[:, c0:c1])  # (KV, g·R, Dv)
                out[r0:r1] = o.view(h, nr, -1).transpose(0, 1)
            self._accumulate(w, r0, r1, c0, c1, causal, window, pid, edges, pool_max[:h], pool_sum[:h],
                             received[:h], mass[:h], dist_sum[:h], count)
            self._fold_max(w.mean(0, keepdim=True), r0, c0, pool_max[h:])
            del w
        for agg in (pool_sum, received, mass, dist_sum):  # the mean head's linear aggregates: means of the heads'
            agg[h] = agg[:h].mean(0)
        if self.dtype != torch.float32:  # the overviews are kept at the store's precision too
            pool_max, pool_sum = pool_max.to(self.dtype), pool_sum.to(self.dtype)
        self.stores.append(LayerStore(q=q, k=k, lse=lse, scaling=float(scaling), softcap=softcap, window=window,
                                      causal=causal, pool_max=pool_max, pool_sum=pool_sum, received=received,
                                      mass=mass, dist_sum=dist_sum))
        self.counts.append(count)
        if self.on_layer is not None:
            self.on_layer(len(self.stores), self.n_layers)
        return out.to(query.dtype)[None]  # (1, T, H, Dv)

    @staticmethod
    def _softmax_chunk(qc, kt, h, nr, r0, r1, c0, c1, causal, window, softcap, tri, lse) -> torch.Tensor:
        """Weights of one chunk by its own softmax (soft-capped or windowed layers), filling ``lse``."""
        s = torch.matmul(qc, kt).view(h, nr, c1 - c0)  # (H, R, C) scaled scores
        if softcap is not None:
            s.div_(softcap).tanh_().mul_(softcap)
        if causal:  # only the diagonal block has keys after the query
            s[:, :, r0 - c0:].masked_fill_(tri[:nr, :nr], float("-inf"))
        if window is not None:  # only the keys before r1 - window can be out of some row's window
            edge = min(c1, r1 - window + 1)
            if edge > c0:
                rows = torch.arange(r0, r1, device=s.device)[:, None]
                cols = torch.arange(c0, edge, device=s.device)[None, :]
                s[:, :, : edge - c0].masked_fill_((rows - cols) >= window, float("-inf"))
        m = s.amax(-1, keepdim=True)
        w = s.sub_(m).exp_()  # in place: the chunk's scores become its weights
        total = w.sum(-1, keepdim=True)
        lse[:, r0:r1] = (m + torch.log(total))[..., 0]
        return w.div_(total)

    def _fold_max(self, w: torch.Tensor, r0: int, c0: int, grid: torch.Tensor) -> None:
        """Max-pool one chunk's weights (N, R, C) into the overview grid (N, G, G)."""
        cell = self.cell0
        part = pool_rows(pool_cols(w, cell, "max"), cell, "max")
        j0, k0 = r0 // cell, c0 // cell
        view = grid[:, j0:j0 + part.shape[1], k0:k0 + part.shape[2]]
        torch.maximum(view, part, out=view)

    def _accumulate(self, w, r0, r1, c0, c1, causal, window, pid, edges, pool_max, pool_sum, received, mass,
                    dist_sum, count) -> None:
        """Fold one chunk's weights (N, R, C) into the overview and aggregates (views of N heads; count: once)."""
        cell = self.cell0
        cell = self.cell0
        received[:, c0:c1] += w.sum(1)
        # passages and distance bins are contiguous key ranges: differences of one cumulative sum per row
        cs = w.cumsum(-1)  # (N, R, C): cs[..., j - c0] = Σ_{c0 ≤ k ≤ j}
        n = cs.shape[-1]

        def upto(j: torch.Tensor) -> torch.Tensor:  # Σ w over keys [c0, j) per row, j clamped to [c0, c1]
            i = (j - c0).clamp(0, n)
            got = cs.gather(2, (i - 1).clamp(min=0)[None].expand(cs.shape[0], -1, -1))
            return got * (i > 0)

        def span(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # Σ w over keys [lo, hi) per row: (N, R, B)
            return (upto(torch.maximum(hi, lo)) - upto(lo)).clamp(min=0)

        rows = torch.arange(r0, r1, device=w.device)[:, None]  # (R, 1)
        self._fold_max(w, r0, c0, pool_max)
        k_edges = (c0 + torch.arange(0, c1 - c0 + cell, cell, device=w.device))[None].expand(r1 - r0, -1)
        sums = upto(k_edges).diff(dim=-1)  # (N, R, K): each row's keys summed by overview cell
        part = pool_rows(sums, cell, "sum")
        j0, k0 = r0 // cell, c0 // cell
        pool_sum[:, j0:j0 + part.shape[1], k0:k0 + part.shape[2]] += part
        starts, ends = self.passage_bounds(w.device)  # (P,)
        by_key = span(starts[None].expand(r1 - r0, -1), ends[None].expand(r1 - r0, -1))  # (H + 1, R, P)
        mass.index_add_(1, pid[r0:r1], by_key)
        e = edges[None]  # (1, B + 1): bins [e_b, e_b+1) of |q - k|
        before = span(rows - e[:, 1:] + 1, rows - e[:, :-1] + 1)  # keys j ≤ q: q - j in [e_b, e_b+1)
        dist_sum += before.sum(1)
        if not causal:  # keys after the query: j - q in [e_b, e_b+1), bin 0 (j = q) counted once
            one = torch.ones_like(e[:, :-1])
            dist_sum += span(rows + torch.maximum(e[:, :-1], one), rows + e[:, 1:]).sum(1)
        if count is None:
            return
        lo_b, hi_b = (rows - e[:, 1:] + 1).clamp(c0, c1), (rows - e[:, :-1] + 1).clamp(c0, c1)
        if window is not None:
            lo_b = torch.maximum(lo_b, rows - window + 1)
        kept = (hi_b - lo_b).clamp(min=0)
        if not causal:
            lo_a = (rows + torch.maximum(e[:, :-1], torch.ones_like(e[:, :-1]))).clamp(c0, c1)
            hi_a = (rows + e[:, 1:]).clamp(c0, c1)
            kept = kept + (hi_a - lo_a).clamp(min=0)
        count += kept.sum(0).to(count.dtype)

    def passage_bounds(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(P,) first token and one past the last token of each passage (tokens are in passage order)."""
        if getattr(self, "_bounds", None) is None:
            pid = self.passage_of
            n = torch.bincount(pid, minlength=self.n_passages)
            ends = n.cumsum(0)
            self._bounds = (ends - n, ends)
        return tuple(t.to(device) for t in self._bounds)


def pool_rows(w: torch.Tensor, cell: int, reduce: str) -> torch.Tensor:
    """(N, R, K) -> (N, ceil(R / cell), K): rows pooled by cell; a chunk inside one cell gives one row.

    A chunk starts at a multiple of ``cell`` when cells are at most a chunk (256 rows), so its rows make
    whole cells (the last one padded with zeros); larger cells take the whole chunk.
    """
    if cell == 1:
        return w
    if cell > CHUNK:
        return w.amax(1, keepdim=True) if reduce == "max" else w.sum(1, keepdim=True)
    pad = (-w.shape[1]) % cell
    if pad:
        w = torch.nn.functional.pad(w, (0, 0, 0, pad))
    w = w.reshape(w.shape[0], -1, cell, w.shape[-1])
    return w.amax(2) if reduce == "max" else w.sum(2)


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
             should_stop: Callable[[], bool] | None = None, keep_output: bool = False):
    """The long trace of ``text`` through ``adapter``'s model (one forward pass, attention in chunks).

    Args:
        inputs, tokens: from :func:`attnscope.inspection.longctx.long_inputs` (checked against the limit).

    Raises:
        ValueError: a model whose attention does not go through the interface.
        Cancelled: ``should_stop`` said so between layers.

    Returns:
        The :class:`LongTrace`; with ``keep_output``, (trace, the model's output) for generation after it.
    """
    from attnscope.inspection.capture import capture

    started = time.perf_counter()
    spans, owner = split_passages(text, tokens.offsets, passages)
    pid = torch.tensor(owner, dtype=torch.long)
    t = len(tokens)
    rec = LongRecorder(t, pid, len(spans), adapter.info.layers, dtype, on_layer, should_stop)
    with adapter.lock, torch.inference_mode(), capture(adapter.model, long=rec):
        out = adapter.model(**inputs)
    if len(rec.stores) != adapter.info.layers:
        raise ValueError(f"{adapter.info.id}: its attention does not go through transformers' attention "
                         f"interface ({len(rec.stores)} of {adapter.info.layers} layers seen): no long trace")
    lt = LongTrace(trace_id=uuid.uuid4().hex[:16], model=adapter.info.id, tokens=tokens, layers=rec.stores,
                     heads=adapter.info.heads, kv_heads=adapter.info.kv_heads, passages=spans, passage_of=pid,
                     dist_count=rec.counts[0], dist_counts=rec.counts, edges=rec.edges,
                     seconds=time.perf_counter() - started, dtype=dtype)
    return (lt, out) if keep_output else lt
