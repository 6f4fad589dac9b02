"""Logit lens: what the residual stream after each layer predicts, read with the model's final norm and LM head."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text, resolve
from attnscope_server.api.schemas import Answer, TextRequest
from attnscope.inspection.lens import MAX_K, MAX_POSITIONS, TOP_K, lens, unembedding

router = APIRouter(prefix="/api", tags=["analysis"])


class LensRequest(TextRequest):
    positions: list[int] | None = Field(
        default=None, max_length=MAX_POSITIONS,
        description="positions of the sequence to read, from 0 (the decoder input's, for encoder-decoders); "
                    "omitted = every position (at most 512)")
    k: int = Field(default=TOP_K, ge=1, le=MAX_K, description="how many top tokens per layer and position")
    target: str | None = Field(
        default=None, description="encoder-decoders: the decoder input text read after the start token; "
                                  "omitted = the model's greedy output")


class LensToken(Answer):
    token: str = Field(description="display text")
    id: int
    prob: float = Field(description="softmax of the lens logits at this layer and position")


class LensResponse(Answer):
    """``POST /api/lens``: per layer and position, the top-k tokens and the rank of the final prediction."""

    model: str
    text: str
    tokens: list[str] = Field(description="the sequence read (the decoder input for encoder-decoders)")
    layers: list[str] = Field(
        description='row labels: "emb" (the first block\'s input, the embeddings), then "0".."L-1" '
                    "(the residual stream after that block, before the final norm)")
    positions: list[int] = Field(description="the positions read (the columns), ascending")
    top: list[list[list[LensToken]]] = Field(
        description="[row][column]: the k most likely tokens of softmax(unembed(final_norm(h))), most likely first")
    final_rank: list[list[int]] = Field(
        description="[row][column]: the rank (0 = most likely) of the final prediction under that row")
    final_prob: list[list[float]] = Field(description="[row][column]: the final prediction's probability")
    final_tokens: list[str] = Field(description="per column: the final prediction (the last row's argmax)")
    final_ids: list[int]
    check: float = Field(description="max |last row's logits - the model's own logits| / (1 + max |logit|)")
    source_tokens: list[str] | None = Field(default=None, description="encoder-decoders: the source's tokens")
    target: str | None = Field(default=None, description="encoder-decoders: the decoder input text read")


@router.post("/lens", summary="Logit lens: each layer's top next tokens through the model's final norm and unembedding.",
             response_model=LensResponse, response_model_exclude_unset=True)
def lens_route(req: LensRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Logit lens: each layer's top next tokens through the model's final norm and unembedding.

    Row "emb" reads the embeddings, row "l" the residual stream after block l (before the final norm);
    each goes through the model's own final norm and LM head, then a softmax. The last row equals the
    model's logits (``check``). Decoders, and the decoder of encoder-decoders with an LM head; an
    encoder answers 422.
    """
    r = resolve(req, registry, settings, check=unembedding)
    target = checked_text(req.target, r.adapter, settings, what="target") if req.target is not None else None
    result = lens(r.adapter, r.text, req.positions, req.k, target,
                  run=lambda text, tgt: registry.trace(req.model, text, tgt))
    return {"model": req.model, "text": r.text, **result.to_dict(r.adapter)}
