"""Scale: weight counts and attention-matrix sizes from a transformer's shape (the lecture's GPT-3 count).

The lecture counts GPT-3's weights matrix by matrix (after 3Blue1Brown)::

    embedding      d_model x n_vocab
    key, query, value   d_head x d_model x n_heads x n_layers   (each)
    output         d_model x d_head x n_heads x n_layers
    up-projection  d_ff x d_model x n_layers
    down-projection d_model x d_ff x n_layers
    unembedding    n_vocab x d_model

and gets 175,181,291,520 (biases and layer norms left out, as on the slide). One head's attention
pattern for N tokens is N x N numbers; a layer has n_heads of them.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT = 10**7  # any one dimension


@dataclass(frozen=True)
class WeightRow:
    name: str
    formula: str
    factors: tuple[int, ...]
    matrices: int  # how many separate matrices the lecture counts

    @property
    def count(self) -> int:
        n = 1
        for f in self.factors:
            n *= f
        return n

    def to_dict(self) -> dict:
        return {"name": self.name, "formula": self.formula, "factors": list(self.factors), "count": self.count,
                "matrices": self.matrices}


def _check(name: str, v: int, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= LIMIT:
        raise ValueError(f"{name} must be an integer from {lo} to {LIMIT:,}, got {v!r}")
    return v


def weights(d_model: int, heads: int, layers: int, vocab: int, d_head: int | None = None,
            d_ff: int | None = None) -> list[WeightRow]:
    """The lecture's weight matrices (no biases, no norms). d_head defaults to d_model / heads, d_ff to 4 d_model."""
    _check("d_model", d_model), _check("heads", heads), _check("layers", layers), _check("vocab", vocab)
    if d_head is None:
        if d_model % heads:
            raise ValueError(f"heads ({heads}) must divide d_model ({d_model}), or give d_head")
        d_head = d_model // heads
    _check("d_head", d_head)
    d_ff = _check("d_ff", d_ff) if d_ff is not None else 4 * d_model
    return [
        WeightRow("embedding", "d_model × n_vocab", (d_model, vocab), 1),
        WeightRow("key", "d_head × d_model × n_heads × n_layers", (d_head, d_model, heads, layers), heads * layers),
        WeightRow("query", "d_head × d_model × n_heads × n_layers", (d_head, d_model, heads, layers), heads * layers),
        WeightRow("value", "d_head × d_model × n_heads × n_layers", (d_head, d_model, heads, layers), heads * layers),
        WeightRow("output", "d_model × d_head × n_heads × n_layers", (d_model, d_head, heads, layers), layers),
        WeightRow("up-projection", "d_ff × d_model × n_layers", (d_ff, d_model, layers), layers),
        WeightRow("down-projection", "d_model × d_ff × n_layers", (d_model, d_ff, layers), layers),
        WeightRow("unembedding", "n_vocab × d_model", (vocab, d_model), 1),
    ]


def attention_sizes(tokens: int, heads: int, layers: int) -> dict:
    """Numbers in the attention patterns for ``tokens`` tokens: per head N², per layer N² x heads, all layers."""
    _check("tokens", tokens), _check("heads", heads), _check("layers", layers)
    head = tokens * tokens
    return {"per_head": head, "per_layer": head * heads, "all_layers": head * heads * layers}


def growth(tokens: int, heads: int, points: int = 41) -> list[list[int]]:
    """[N, N² x heads] for N from 0 to ``tokens``: the O(N²) curve of one layer's attention entries."""
    return [[n, n * n * heads] for n in sorted({round(tokens * k / (points - 1)) for k in range(points)})]
