"""Head ablation: knock out heads and compare the model's output before and after."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field, RootModel

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope_server.api.schemas import Answer, Block, TextRequest
from attnscope.inspection.ablate import ablate

router = APIRouter(prefix="/api", tags=["analysis"])


class AblateRequest(TextRequest):
    heads: list[list[int]] = Field(
        default_factory=list, max_length=4096,
        description="[layer, head] pairs to knock out, from 0; duplicates are fine; [] = none")
    block: Block | None = Field(default=None, description="which attention the heads belong to; default: the model's first")


class _Ablated(Answer):
    model: str
    text: str
    block: Block
    heads: list[list[int]] = Field(description="the [layer, head] pairs knocked out, sorted, without duplicates")


class TopToken(Answer):
    token: str
    id: int
    prob: float


class DecoderAblation(_Ablated):
    """A decoder: the next-token distribution after the text, before and after."""

    kind: Literal["decoder"]
    before: list[TopToken] = Field(description="the most likely next tokens before, most likely first")
    after: list[TopToken]
    kl: float = Field(description="KL(before || after) of the next-token distributions, in nats")


class EncoderDecoderAblation(_Ablated):
    """An encoder-decoder: the greedy translation before and after."""

    kind: Literal["encoder-decoder"]
    before: str
    after: str
    translation_before: str
    translation_after: str
    kl: float = Field(description="mean per-step KL(before || after) along the unablated translation, in nats")


class EncoderAblation(_Ablated):
    """An encoder: the mean-pooled last hidden state before and after."""

    kind: Literal["encoder"]
    before: list[float]
    after: list[float]
    cosine: float = Field(description="cosine of the pooled states (1.0 = unchanged)")
    tokens: list[str]
    token_cosine: list[float] = Field(description="each token's cosine before/after")


class AblateResponse(RootModel[Annotated[DecoderAblation | EncoderDecoderAblation | EncoderAblation,
                                         Field(discriminator="kind")]]):
    """The before/after of an ablation; its fields follow the model's ``kind``."""


@router.post("/ablate", summary="Knock out heads (zero their outputs before W_O) and compare the output before and after.",
             response_model=AblateResponse, response_model_exclude_unset=True)
def ablate_route(req: AblateRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Knock out heads (zero their outputs before W_O) and compare the output before and after.

    What is compared follows the model's ``kind``: decoders the next token, encoder-decoders the
    translation, encoders the pooled hidden state.
    """
    r = resolve(req, registry, settings)
    result = ablate(r.adapter, r.text, req.heads, req.block)
    return {"model": req.model, "text": r.text, **result.to_dict()}
