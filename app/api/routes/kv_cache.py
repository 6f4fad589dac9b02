"""KV-cache sizes of a model under multi-head, grouped-query and multi-query attention."""

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field

from attnscope_server.api.deps import RegistryDep
from attnscope_server.api.schemas import Answer
from attnscope.inspection import kv_cache

router = APIRouter(prefix="/api", tags=["generation"])
Dtype = Literal["float32", "float16", "bfloat16", "int8"]


class CacheVariant(Answer):
    name: str = Field(description="multi-head | grouped-query | multi-query")
    kv_heads: int
    values_per_token: int = Field(description="2 x layers x kv_heads x d_head")
    bytes_per_token: int
    bytes_total: int = Field(description="for `tokens` tokens")
    ratio_to_mha: float = Field(description="bytes_per_token / the multi-head variant's")


class KvCacheResponse(Answer):
    model: str
    kind: str = Field(description="which variant the model is: multi-head | grouped-query | multi-query")
    model_kind: str = Field(description="encoder | decoder | encoder-decoder")
    layers: int
    heads: int
    kv_heads: int
    d_head: int
    dtype: Dtype
    bytes_per_value: int
    tokens: int
    variants: list[CacheVariant]
    note: str | None = Field(description="encoders and encoder-decoders: what the sizes mean for them")
    sliding_layers: int = Field(description="layers with a sliding window: each caches at most its window")
    windows: list[int | None] | None = Field(description="each layer's sliding window (null: every token), when "
                                                         "the model has sliding layers; bytes_total counts "
                                                         "min(tokens, window) tokens there")


@router.get("/kv-cache", summary="KV-cache bytes per token and for N tokens: multi-head vs grouped-query vs multi-query.",
            response_model=KvCacheResponse, response_model_exclude_unset=True)
def kv_cache_sizes(
    registry: RegistryDep,
    model: str = Query(max_length=64, description="a model id"),
    tokens: int = Query(1024, description=f"N, the tokens in the cache (0 to {kv_cache.MAX_TOKENS:,})"),
    dtype: Dtype = Query(
        "float32", description="what each cached number is stored as (the app runs models in float32)"),
) -> dict:
    """KV-cache bytes per token and for N tokens: multi-head vs grouped-query vs multi-query.

    bytes/token = 2 (K and V) x layers x kv_heads x d_head x bytes per number, with the model's own
    layers and d_head; ``variants`` lists the same model with kv_heads = heads (multi-head), its own
    kv_heads (grouped-query, when it has them) and kv_heads = 1 (multi-query). ``kind`` says which the
    model is. For the textbook encoder-decoder ``layers`` is its decoder's (the cached self-attention).
    Sliding-window layers (Mistral, Gemma 2 and 3's local layers) cache at most their window:
    ``bytes_total`` counts min(tokens, window) tokens there.
    """
    adapter = registry.get(model)
    info = adapter.info
    layers = info.layers
    windows = adapter.layer_windows()
    if windows is not None and len(windows) != layers:  # the textbook model: its decoder's layers
        windows = None
    v = kv_cache.variants(layers, info.heads, info.kv_heads, info.d_head, tokens, dtype, windows=windows)
    note = None
    if info.kind == "encoder":
        note = (f"{model} is an encoder: it reads the whole text at once and generates nothing, so it keeps no "
                "KV cache. The sizes are what a decoder of the same shape would cache.")
    elif info.kind == "encoder-decoder":
        note = (f"{model}'s decoder caches its self-attention K and V per generated word; the cross-attention K and V "
                "of the source are computed once and kept too (not counted here).")
    return {"model": model, "kind": kv_cache.model_kind(info.heads, info.kv_heads), "model_kind": info.kind,
            "layers": layers, "heads": info.heads, "kv_heads": info.kv_heads, "d_head": info.d_head,
            "dtype": dtype, "bytes_per_value": kv_cache.DTYPE_BYTES[dtype], "tokens": tokens,
            "variants": [x.to_dict() for x in v], "note": note,
            "sliding_layers": sum(w is not None for w in windows) if windows else 0,
            "windows": windows}
