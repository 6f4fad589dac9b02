"""Embeddings and hidden states of a trace: PCA, cosine similarity, and a model's position facts.

Pure numpy on the arrays of a :class:`~attnscope.inspection.trace.Trace` (no HTTP). The
only torch contact is reading an adapter's weight tables
(:func:`position_table`), which are parameters, not a forward pass.
"""

from __future__ import annotations

import numpy as np

from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.trace import Trace

#: Smallest vector norm treated as non-zero by :func:`cosine` and :func:`cosine_matrix`.
EPS = 1e-12


# --------------------------------------------------------------------------- model facts


def position_table(adapter: Adapter) -> np.ndarray | None:
    """The model's learned absolute position-embedding table, (max_positions, d_model) float32.

    BERT-family encoders: ``model.embeddings.position_embeddings.weight``;
    GPT-2: ``model.transformer.wpe.weight``. None for models without a learned
    table: the textbook model (fixed sinusoidal positions) and rotary models
    (:meth:`~attnscope.inspection.adapters.base.Adapter.position_table`).
    """
    return adapter.position_table()


def rope_base(adapter: Adapter) -> float | None:
    """The base ``n`` (``rope_theta``) of a rotary model, or None if it does not rotate
    (:meth:`~attnscope.inspection.adapters.base.Adapter.rope_base`)."""
    return adapter.rope_base()


def vocab_size(adapter: Adapter) -> int | None:
    """How many ids the model's (input) vocabulary has, or None if unknown
    (:meth:`~attnscope.inspection.adapters.base.Adapter.vocab_size`)."""
    return adapter.vocab_size()


def hidden(trace: Trace) -> np.ndarray:
    """(L + 1, T, d_model) hidden states of ``trace.tokens``: the encoder's where there is one."""
    for group in ("encoder", "decoder"):
        if group in trace.hidden_states:
            return trace.hidden_states[group]
    raise ValueError(f"model {trace.model!r} recorded no hidden states")


# --------------------------------------------------------------------------- PCA


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of x on their first two principal components.

    Args:
        x: (T, d) one vector per token.

    Returns:
        points: (T, 2) float64 ``(x - mean) @ V[:, :2]`` where ``V`` are the right
            singular vectors of the centred data (columns missing when T or d < 2
            are 0).
        ratio: (2,) share of the total variance along each component (0 when the
            rows are all equal).
    """
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean(axis=0, keepdims=True)  # (T, d)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)  # s: (min(T, d),), vt: (min(T, d), d)
    k = min(2, len(s))
    points = np.zeros((xc.shape[0], 2))
    points[:, :k] = xc @ vt[:k].T  # (T, k)
    var = s**2
    total = var.sum()
    ratio = np.zeros(2)
    if total > 0:
        ratio[:k] = var[:k] / total
    return points, ratio


def pca_layers(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA of every layer's token vectors, signs aligned from layer to layer.

    A principal axis has no preferred sign; each layer's component c is flipped
    when that makes it agree better with the previous layer's (positive dot
    product), so the points do not mirror when a slider steps through layers.

    Args:
        h: (L + 1, T, d) hidden states.

    Returns:
        points: (L + 1, T, 2); ratio: (L + 1, 2) explained variance ratio.
    """
    pts, ratios = [], []
    for layer in range(h.shape[0]):
        p, r = pca_2d(h[layer])
        if pts:
            for c in range(2):
                if p[:, c] @ pts[-1][:, c] < 0:
                    p[:, c] = -p[:, c]
        else:
            for c in range(2):  # first layer: the token farthest along the axis is on the + side
                j = int(np.argmax(np.abs(p[:, c])))
                if p[j, c] < 0:
                    p[:, c] = -p[:, c]
        pts.append(p)
        ratios.append(r)
    return np.stack(pts), np.stack(ratios)


# --------------------------------------------------------------------------- cosine


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b / (|a| |b|)`` in float64; 0 when either vector is (near) zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < EPS or nb < EPS:
        return 0.0
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    """(T, T) cosine of every pair of rows of x, (T, d); rows of (near) zero norm give 0."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)  # (T, 1)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms >= EPS)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def cosine_matrices(h: np.ndarray) -> np.ndarray:
    """(L + 1, T, T) :func:`cosine_matrix` of every layer of h, (L + 1, T, d)."""
    return np.stack([cosine_matrix(layer) for layer in h])


def norms(h: np.ndarray) -> np.ndarray:
    """(..., T) L2 norm of every vector of h, (..., T, d), in float64."""
    return np.linalg.norm(np.asarray(h, dtype=np.float64), axis=-1)


def find_token(tokens: list[str], word: str, what: str = "the sentence") -> int:
    """Index of the first token equal to ``word`` (case-insensitive; a byte-level BPE token's
    leading space, as in ``" apple"``, does not count); ValueError if none is."""
    w = word.strip().casefold()
    for i, t in enumerate(tokens):
        if t.strip().casefold() == w:
            return i
    shown = ", ".join(repr(t) for t in tokens[:40]) + (", ..." if len(tokens) > 40 else "")
    raise ValueError(f"{what} has no token {word!r}; its tokens are: {shown}")
