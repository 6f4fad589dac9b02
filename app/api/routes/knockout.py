"""Attention knockout: block chosen query -> key edges (-inf before the softmax) and compare the output."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field, RootModel

from attnscope.inspection.knockout import MAX_EDGES, Passages, knockout
from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text, resolve
from attnscope_server.api.routes.ablate import TopToken
from attnscope_server.api.schemas import Answer, Block, BlockRequest, Strict

router = APIRouter(prefix="/api", tags=["analysis"])

Range = Annotated[list[int], Field(min_length=2, max_length=2, description="[start, end]: token indices, end one "
                                                                           "past the last token")]
DEFINITIONS = (
    "Blocking the edge (layer, query i, key j) adds -inf to the score of key j in row i of every head of that "
    "layer, before the softmax: its weight becomes exactly 0 and the row's other weights renormalise, as the "
    "model's own mask makes them. `edges` is a list of [layer, query, key] (at most "
    f"{MAX_EDGES}) or {{from_passage: [start, end], to_passage: [start, end]}} (every query of from_passage "
    "loses every key of to_passage, in every layer). Refused (422): an index out of range, a row whose every "
    "visible key is blocked (it cannot be renormalised), too many edges. Decoders and encoder-decoders compare "
    "the next-token distribution after the last (decoder) input token; encoders the final hidden state at each "
    "blocked query token."
)


class KnockoutPassages(Strict):
    from_passage: Range = Field(description="the queries: [start, end] of the text (of the target, for decoder "
                                            "and cross blocks of encoder-decoders)")
    to_passage: Range = Field(description="the keys: [start, end]")


class KnockoutRequest(BlockRequest):
    block: Block | None = Field(default=None, description="which attention the edges belong to; default: the "
                                                          "model's first")
    target: str | None = Field(default=None, description="encoder-decoders: the decoder input text (omitted: the "
                                                         "start token alone); the next token after it is compared")
    edges: list[list[int]] | KnockoutPassages = Field(
        description=f"[[layer, query, key], ...] (all heads of that layer, at most {MAX_EDGES}; [] = none), or "
                    "{from_passage, to_passage} token ranges (all layers)")


class _Knocked(Answer):
    model: str
    text: str
    target: str | None = Field(default=None, description="encoder-decoders: the decoder input text")
    block: Block
    query_tokens: list[str]
    key_tokens: list[str]
    layers: list[int] = Field(description="the layers with at least one blocked edge")
    edges: int = Field(description="(layer, query, key) entries asked for, without duplicates")
    blocked: int = Field(description="of them, the entries the model's own mask kept (the rest were masked already)")


class TopChange(Answer):
    """The original most likely next token, before and after."""

    token: str
    id: int
    prob_before: float
    prob_after: float
    change: float = Field(description="prob_after - prob_before")


class _NextToken(_Knocked):
    before: list[TopToken] = Field(description="the most likely next tokens before, most likely first")
    after: list[TopToken] = Field(description="the most likely next tokens after")
    kl: float = Field(description="KL(before || after) of the next-token distributions, in nats")
    top_token: TopChange


class DecoderKnockout(_NextToken):
    """A decoder: the next-token distribution after the text."""

    kind: Literal["decoder"]


class EncoderDecoderKnockout(_NextToken):
    """An encoder-decoder: the next-token distribution after the decoder input (start token + target)."""

    kind: Literal["encoder-decoder"]


class QueryChange(Answer):
    """The final hidden state at one blocked query token, before and after."""

    query: int
    token: str
    cosine: float = Field(description="1.0 = unchanged direction")
    norm_before: float
    norm_after: float
    change_norm: float = Field(description="‖after - before‖")


class EncoderKnockout(_Knocked):
    """An encoder: the final hidden state at each blocked query token."""

    kind: Literal["encoder"]
    queries: list[QueryChange] = Field(description="each query token with a blocked edge, in order")
    token_cosine: list[float] = Field(description="every token's cosine before/after")


class KnockoutResponse(RootModel[Annotated[DecoderKnockout | EncoderDecoderKnockout | EncoderKnockout,
                                           Field(discriminator="kind")]]):
    """The before/after of a knockout; its fields follow the model's ``kind``."""


@router.post("/knockout", summary="Block query -> key edges (-inf before the softmax) and compare the output.",
             description=DEFINITIONS, response_model=KnockoutResponse, response_model_exclude_unset=True)
def knockout_route(req: KnockoutRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Block query -> key edges (-inf before the softmax) and compare the output."""
    r = resolve(req, registry, settings)
    target = req.target
    if target is not None:  # every block of an encoder-decoder reads it (the next token follows it)
        target = checked_text(target, r.adapter, settings, what="target")
    edges = req.edges if isinstance(req.edges, list) else \
        Passages(tuple(req.edges.from_passage), tuple(req.edges.to_passage))
    result = knockout(r.adapter, r.text, edges, r.block, target)
    body = {"model": req.model, "text": r.text, **result.to_dict()}
    if result.kind == "encoder-decoder":
        body["target"] = target
    return body
