"""Scale: weight counts and attention-matrix sizes from d_model, heads, layers, vocabulary and N."""

from fastapi import APIRouter, Query
from pydantic import Field

from attnscope_server.api.schemas import Answer
from attnscope.inspection import scale

router = APIRouter(prefix="/api", tags=["scale"])


class WeightRow(Answer):
    name: str
    formula: str
    factors: list[int]
    count: int = Field(description="the product of the factors")
    matrices: int = Field(description="how many separate matrices the lecture counts")


class AttentionSizes(Answer):
    per_head: int = Field(description="N²")
    per_layer: int = Field(description="N² x heads")
    all_layers: int


class ScaleResponse(Answer):
    d_model: int
    heads: int
    layers: int
    vocab: int
    tokens: int
    d_head: int
    d_ff: int
    weights: list[WeightRow]
    total: int
    matrices: int
    attention: AttentionSizes
    growth: list[list[int]] = Field(description="[N, N² x heads] from 0 to tokens")


@router.get("/scale", summary="Weight counts and attention sizes of a transformer shape (GPT-3 by default).",
            response_model=ScaleResponse, response_model_exclude_unset=True)
def scale_calc(
    d_model: int = Query(12288, description="embedding width"),
    heads: int = Query(96, description="attention heads per layer"),
    layers: int = Query(96, description="layers"),
    vocab: int = Query(50257, description="vocabulary size"),
    tokens: int = Query(2048, description="N, the context length"),
    d_head: int | None = Query(None, description="per-head width; default d_model / heads"),
    d_ff: int | None = Query(None, description="feed-forward width; default 4 x d_model"),
) -> dict:
    """Weight counts and attention sizes of a transformer shape (GPT-3 by default).

    ``weights``: the lecture's matrices (embedding, key, query, value, output, up- and down-projection,
    unembedding; no biases or norms) with ``count`` each, ``total`` and ``matrices``; ``attention``:
    numbers in one head's N x N pattern, a layer's (x heads) and all layers'; ``growth``: [N, N² x heads].
    """
    rows = scale.weights(d_model, heads, layers, vocab, d_head, d_ff)
    return {
        "d_model": d_model, "heads": heads, "layers": layers, "vocab": vocab, "tokens": tokens,
        "d_head": rows[1].factors[0], "d_ff": rows[5].factors[0],
        "weights": [r.to_dict() for r in rows], "total": sum(r.count for r in rows),
        "matrices": sum(r.matrices for r in rows),
        "attention": scale.attention_sizes(tokens, heads, layers), "growth": scale.growth(tokens, heads),
    }
