"""A long trace is a store, not an array: what any attention weight can be recomputed from, and views of it.

For every layer it keeps q (per query head) and k (per KV head) as the attention used them (after RoPE),
each query row's log-sum-exp, the mask rule (causal, sliding window) and the scaling and soft-cap. Any
block of weights is then ``exp(cap(q·kᵀ·scale) + mask − lse)``, exact, and costs only that block. The
forward pass also filled, per head, the z = 0 overview (max and sum pooling of the whole matrix), the
attention each key receives, the passage masses and the distance profile, so those cost nothing later.
No T × T array is ever allocated beyond one (rows × keys) block.

Levels: ``Z = 1 + ceil(log2(ceil(T / 256)))``. At level z a cell covers ``2^(Z-1-z)`` × ``2^(Z-1-z)``
(query, key) pairs, tile (x, y) starts at query ``y·256·cell`` and key ``x·256·cell`` (clipped to T);
z = Z-1 is exact weights; z = 0 is the whole matrix in one tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

TILE = 256
#: rows of weights computed at once when a view recomputes a block
CHUNK = 256


def zoom_levels(t: int) -> int:
    """1 + ceil(log2(ceil(T / 256))): the number of zoom levels of a T-token matrix."""
    return 1 + max(0, math.ceil(math.log2(max(1, math.ceil(t / TILE)))))


def distance_edges(t: int) -> list[int]:
    """Log-spaced bin edges of |query - key| over 0 .. T-1: 0, 1, 2, 4, 8, ... (the last edge is T)."""
    edges = [0, 1]
    while edges[-1] < t:
        edges.append(edges[-1] * 2)
    edges[-1] = max(t, edges[-2] + 1)
    return edges


@dataclass
class LayerStore:
    """One attention layer's kept tensors (on the device the model ran on).

    Shapes: H query heads, KV key heads, T tokens, D head width, G = ceil(T / cell0) overview cells.
    """

    q: torch.Tensor  # (H, T, D) queries as the scores used them, in the store dtype
    k: torch.Tensor  # (KV, T, D)
    lse: torch.Tensor  # (H, T) float32: log Σ_j exp(s_ij) of each query row
    scaling: float
    softcap: float | None
    window: int | None  # keys with q - k >= window are masked (sliding-window layers)
    causal: bool
    pool_max: torch.Tensor  # (H + 1, G, G) z = 0 overview (store dtype); index H is the mean over heads
    pool_sum: torch.Tensor  # (H + 1, G, G)
    received: torch.Tensor  # (H + 1, T) Σ over queries of each key's weight
    mass: torch.Tensor  # (H + 1, P, P) Σ over a passage's queries of the weight on each passage
    dist_sum: torch.Tensor  # (H + 1, B) Σ of weights per distance bin

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.q, self.k, self.lse, self.pool_max, self.pool_sum,
                                                           self.received, self.mass, self.dist_sum))


@dataclass
class LongTrace:
    """A long input's attention store: header facts plus one :class:`LayerStore` per layer."""

    trace_id: str
    model: str
    tokens: object  # Tokens
    layers: list[LayerStore]
    heads: int
    kv_heads: int
    passages: list[dict]  # [{index, start, end, title}] token spans [start, end)
    passage_of: torch.Tensor  # (T,) long: the passage of each token
    dist_count: torch.Tensor  # (B,) the number of unmasked pairs per distance bin (per layer: see counts)
    dist_counts: list[torch.Tensor]  # per layer (B,) (windows differ by layer)
    edges: list[int]
    seconds: float = 0.0
    dtype: str = "float16"
    _tiles: dict = field(default_factory=dict, repr=False)

    @property
    def t(self) -> int:
        return int(self.layers[0].q.shape[1])

    @property
    def zoom_levels(self) -> int:
        return zoom_levels(self.t)

    @property
    def cell0(self) -> int:
        return 2 ** (self.zoom_levels - 1)

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)

    # --- checks -------------------------------------------------------------------

    def _layer(self, layer: int) -> LayerStore:
        if not isinstance(layer, int) or not 0 <= layer < len(self.layers):
            raise ValueError(f"layer {layer} is out of range: this trace has layers 0 to {len(self.layers) - 1}")
        return self.layers[layer]

    def _heads(self, head: int | str) -> list[int] | None:
        """The heads a request reads: [head], or None for "mean" (every head, averaged)."""
        if head == "mean":
            return None
        if not isinstance(head, int) or not 0 <= head < self.heads:
            raise ValueError(f"head {head!r} is out of range: use 0 to {self.heads - 1} or 'mean'")
        return [head]

    # --- exact weights --------------------------------------------------------------

    def block(self, layer: int, head: int, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """Exact weights of one head for queries [r0, r1) and keys [c0, c1): (r1 - r0, c1 - c0) float32."""
        st = self.layers[layer]
        kv = head // (self.heads // self.kv_heads)
        q = st.q[head, r0:r1].float()  # (R, D)
        k = st.k[kv, c0:c1].float()  # (C, D)
        s = (q @ k.T) * st.scaling
        if st.softcap is not None:
            s = torch.tanh(s / st.softcap) * st.softcap
        rows = torch.arange(r0, r1, device=s.device)[:, None]
        cols = torch.arange(c0, c1, device=s.device)[None, :]
        masked = torch.zeros_like(s, dtype=torch.bool)
        if st.causal:
            masked |= cols > rows
        if st.window is not None:
            masked |= (rows - cols) >= st.window
        w = torch.exp(s - st.lse[head, r0:r1, None])
        return w.masked_fill(masked, 0.0)

    def _block_mean(self, layer: int, heads: list[int] | None, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        hs = heads if heads is not None else list(range(self.heads))
        out = self.block(layer, hs[0], r0, r1, c0, c1)
        for h in hs[1:]:
            out += self.block(layer, h, r0, r1, c0, c1)
        return out / len(hs)

    def row(self, layer: int, head: int | str, query: int) -> np.ndarray:
        """One query's exact weights over all T keys: (T,) float32."""
        self._layer(layer)
        heads = self._heads(head)
        if not isinstance(query, int) or not 0 <= query < self.t:
            raise ValueError(f"query {query!r} is out of range: the text has tokens 0 to {self.t - 1}")
        return self._block_mean(layer, heads, query, query + 1, 0, self.t)[0].cpu().numpy()

    # --- tiles ----------------------------------------------------------------------

    def tile_bounds(self, z: int, x: int, y: int) -> tuple[int, int, int, int, int]:
        """(cell, r0, r1, c0, c1) of tile (x, y) at level z; ValueError when out of range."""
        levels = self.zoom_levels
        if not isinstance(z, int) or not 0 <= z < levels:
            raise ValueError(f"z {z!r} is out of range: this trace has zoom levels 0 to {levels - 1}")
        cell = 2 ** (levels - 1 - z)
        span = TILE * cell
        n = math.ceil(self.t / span)
        for name, v in (("x", x), ("y", y)):
            if not isinstance(v, int) or not 0 <= v < n:
                raise ValueError(f"{name} {v!r} is out of range: level {z} has tiles 0 to {n - 1} on each axis")
        r0, c0 = y * span, x * span
        return cell, r0, min(self.t, r0 + span), c0, min(self.t, c0 + span)

    def tile(self, layer: int, head: int | str, z: int, x: int, y: int, reduce: str = "max") -> dict:
        """One tile: ``{rows, cols, z, reduce, shape, weights}``, each cell the max (or sum) of its block.

        The finest level's cells are single weights (exact); z = 0 comes from the overview the forward
        pass filled; levels in between are recomputed from q, k and the log-sum-exp, one row chunk at a time.
        """
        st = self._layer(layer)
        heads = self._heads(head)
        if reduce not in ("max", "sum"):
            raise ValueError(f"reduce {reduce!r}: use 'max' or 'sum'")
        cell, r0, r1, c0, c1 = self.tile_bounds(z, x, y)
        key = (layer, head, z, x, y, reduce)
        w = self._tiles.get(key)
        if w is None:
            if z == 0:
                hi = self.heads if heads is None else heads[0]
                w = (st.pool_max if reduce == "max" else st.pool_sum)[hi]
            elif cell == 1:
                w = self._block_mean(layer, heads, r0, r1, c0, c1)
            else:
                w = self._pooled(layer, heads, cell, r0, r1, c0, c1, reduce)
            w = w.float().cpu().numpy()
            if len(self._tiles) > 512:
                self._tiles.pop(next(iter(self._tiles)))
            self._tiles[key] = w
        return {"rows": [r0, r1], "cols": [c0, c1], "z": z, "reduce": reduce, "shape": list(w.shape), "weights": w}

    def _pooled(self, layer, heads, cell, r0, r1, c0, c1, reduce) -> torch.Tensor:
        nr, nc = math.ceil((r1 - r0) / cell), math.ceil((c1 - c0) / cell)
        out = None
        step = max(cell, (CHUNK // cell) * cell)
        parts = []
        for a in range(r0, r1, step):
            b = min(r1, a + step)
            w = self._block_mean(layer, heads, a, b, c0, c1)  # (rows, keys)
            parts.append(pool(w, cell, reduce))
        out = torch.cat(parts, 0)
        return out[:nr, :nc]

    # --- aggregates -----------------------------------------------------------------

    def received(self, layer: int, head: int | str) -> np.ndarray:
        """(T,) the attention each key receives, summed over queries."""
        st = self._layer(layer)
        heads = self._heads(head)
        return st.received[self.heads if heads is None else heads[0]].cpu().numpy()

    def passage_mass(self, layer: int, head: int | str) -> np.ndarray:
        """(P, P): the mean over a passage's query tokens of the weight they put on each passage (rows sum to 1)."""
        st = self._layer(layer)
        heads = self._heads(head)
        m = st.mass[self.heads if heads is None else heads[0]]
        n = torch.bincount(self.passage_of, minlength=m.shape[0]).clamp(min=1).to(m)
        return (m / n[:, None]).cpu().numpy()

    def distance(self, layer: int, head: int | str) -> tuple[list[list[int]], np.ndarray]:
        """Log-spaced bins [lo, hi) of |query - key| and the mean weight of the unmasked pairs in each."""
        st = self._layer(layer)
        heads = self._heads(head)
        s = st.dist_sum[self.heads if heads is None else heads[0]]
        count = self.dist_counts[layer].to(s)
        mean = torch.where(count > 0, s / count.clamp(min=1), torch.zeros_like(s))
        bins = [[self.edges[i], self.edges[i + 1]] for i in range(len(self.edges) - 1)]
        return bins, mean.cpu().numpy()


def pool(w: torch.Tensor, cell: int, reduce: str) -> torch.Tensor:
    """(R, C) -> (ceil(R / cell), ceil(C / cell)): each cell the max or sum of its block (zero padding)."""
    if cell == 1:
        return w
    r, c = w.shape
    pr, pc = (-r) % cell, (-c) % cell
    if pr or pc:
        w = torch.nn.functional.pad(w, (0, pc, 0, pr))
    blocks = w.reshape(w.shape[0] // cell, cell, w.shape[1] // cell, cell)
    return blocks.amax(dim=(1, 3)) if reduce == "max" else blocks.sum(dim=(1, 3))
