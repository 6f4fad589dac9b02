"""Scale: weight counts and attention-matrix sizes from d_model, heads, layers, vocabulary and N."""

from fastapi import APIRouter, Query

from attnscope.inspection import scale

router = APIRouter(prefix="/api", tags=["scale"])


@router.get("/scale", summary="Weight counts and attention sizes of a transformer shape (GPT-3 by default).")
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
