"""KV-cache sizes: why grouped-query and multi-query attention exist.

A decoder that generates token by token keeps, for every layer, the keys and values of every earlier
token (the KV cache), so each new token costs one query against the cached K and V instead of
recomputing them. Per token the cache holds::

    bytes/token = 2 (K and V) x layers x kv_heads x d_head x bytes per number

Multi-head attention (MHA) has one K/V head per query head (kv_heads = heads); grouped-query
attention (GQA) shares each K/V head among a group of query heads (SmolLM2: 9 query heads, 3 KV
heads); multi-query attention (MQA) has a single K/V head that every query head reads
(kv_heads = 1). The queries (and so the attention patterns) are per head in all three; only the
cache shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bytes per number of the dtypes a cache is commonly kept in
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
MAX_TOKENS = 10_000_000


@dataclass(frozen=True)
class CacheVariant:
    """One attention variant of the same model: how many K/V heads it keeps and what that costs."""

    name: str  # "multi-head" | "grouped-query" | "multi-query"
    kv_heads: int
    values_per_token: int  # 2 x layers x kv_heads x d_head
    bytes_per_token: int
    bytes_total: int  # for ``tokens`` tokens
    ratio_to_mha: float  # bytes_per_token / the multi-head one

    def to_dict(self) -> dict:
        return {"name": self.name, "kv_heads": self.kv_heads, "values_per_token": self.values_per_token,
                "bytes_per_token": self.bytes_per_token, "bytes_total": self.bytes_total,
                "ratio_to_mha": self.ratio_to_mha}


def bytes_per_token(layers: int, kv_heads: int, d_head: int, dtype: str = "float32") -> int:
    """2 x layers x kv_heads x d_head x bytes per number: the K and V one token adds to the cache."""
    return 2 * layers * kv_heads * d_head * _dtype_bytes(dtype)


def _dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


def layer_windows(config) -> list[int | None]:
    """Each layer's sliding window (None: the layer keeps every token), from a transformers config.

    Gemma 2 and 3 name their layers' kinds in ``layer_types`` ("sliding_attention" or "full_attention");
    Mistral-style configs with a ``sliding_window`` and no layer types slide on every layer.
    """
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if not window:
        return [None] * layers
    if types:
        return [int(window) if t == "sliding_attention" else None for t in types][:layers]
    return [int(window)] * layers


def cached_tokens(tokens: int, windows: list[int | None]) -> int:
    """Σ over layers of the tokens each layer's cache holds after ``tokens`` tokens: min(N, window)."""
    return sum(tokens if w is None else min(tokens, w) for w in windows)


def variants(layers: int, heads: int, kv_heads: int, d_head: int, tokens: int,
             dtype: str = "float32", windows: list[int | None] | None = None) -> list[CacheVariant]:
    """Multi-head, grouped-query (when the model has 1 < kv_heads < heads) and multi-query sizes.

    Args:
        layers, heads, kv_heads, d_head: the model's shape (kv_heads = heads for ordinary MHA).
        tokens: N, the tokens in the cache (prompt + generated).
        dtype: what each cached number is stored as.
        windows: each layer's sliding window (see :func:`layer_windows`): a sliding layer caches at
            most its window, so ``bytes_total`` counts min(N, window) tokens there.
    """
    for name, v in (("layers", layers), ("heads", heads), ("kv_heads", kv_heads), ("d_head", d_head)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if heads % kv_heads:
        raise ValueError(f"kv_heads ({kv_heads}) must divide heads ({heads})")
    if not isinstance(tokens, int) or not 0 <= tokens <= MAX_TOKENS:
        raise ValueError(f"tokens must be an integer from 0 to {MAX_TOKENS:,}, got {tokens!r}")
    _dtype_bytes(dtype)
    kinds = [("multi-head", heads)]
    if 1 < kv_heads < heads:
        kinds.append(("grouped-query", kv_heads))
    kinds.append(("multi-query", 1))
    if windows is not None and len(windows) != layers:
        raise ValueError(f"windows has {len(windows)} entries for {layers} layers")
    held = cached_tokens(tokens, windows) if windows is not None else layers * tokens  # (layer, token) pairs
    mha = bytes_per_token(layers, heads, d_head, dtype)
    out = []
    for name, kv in kinds:
        b = bytes_per_token(layers, kv, d_head, dtype)
        out.append(CacheVariant(name, kv, 2 * layers * kv * d_head, b, b * held // layers, b / mha))
    return out


def model_kind(heads: int, kv_heads: int) -> str:
    """Which of the three a model with these head counts is."""
    return "multi-head" if kv_heads == heads else "multi-query" if kv_heads == 1 else "grouped-query"
