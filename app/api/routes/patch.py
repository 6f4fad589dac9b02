"""Activation patching: copy heads' outputs (or the residual stream) from a clean run into a corrupted one."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.schemas import Answer, ModelRequest
from attnscope.inspection.patch import PATCH_PRESETS, decoder_parts, patch

router = APIRouter(prefix="/api", tags=["analysis"])


class PatchRequest(ModelRequest):
    clean: str = Field(description="the clean prompt (its top next token is the default answer)")
    corrupt: str = Field(description="the corrupted prompt: the same number of tokens as clean")
    target: str | None = Field(default=None, max_length=64,
                               description="the answer token's text (one token); omitted = clean's top next token")
    foil: str | None = Field(default=None, max_length=64,
                             description="logit_diff: the foil token's text (one token); omitted = corrupt's top")
    heads: list[list[int]] | None = Field(
        default=None, max_length=4096,
        description="mode heads: the [layer, head] pairs to try; omitted = every head (the others are null)")
    positions: list[int] | None = Field(
        default=None, max_length=512,
        description="mode heads: where each head's output is patched (omitted = every position); "
                    "mode residual: the positions tried, the grid's columns (omitted = every position)")
    metric: Literal["logit_diff", "prob", "kl"] = Field(
        default="logit_diff", description="logit_diff: logit[answer] - logit[foil]; prob: p(answer); "
                                          "kl: KL(clean || patched) of the next-token distributions, nats")
    mode: Literal["heads", "residual"] = Field(
        default="heads", description="heads: each head's slice of W_O's input (grid layers x heads); "
                                     "residual: the stream after each layer at each position (layers x positions)")


class TokenRef(Answer):
    token: str
    id: int


class PatchResponse(Answer):
    """``POST /api/patch``: the grid of patching effects, 1 = fully restored, 0 = no change."""

    model: str
    clean_tokens: list[str]
    corrupt_tokens: list[str]
    differing: list[int] = Field(description="the positions where the two prompts' tokens differ")
    answer: TokenRef
    foil: TokenRef | None = Field(description="logit_diff's foil; null for prob and kl")
    metric: Literal["logit_diff", "prob", "kl"]
    mode: Literal["heads", "residual"]
    clean_value: float = Field(description="m(clean) (0 for kl)")
    corrupt_value: float = Field(description="m(corrupt)")
    values: list[list[float | None]] = Field(
        description="[layer][column]: m(patched), the metric with that one site patched; null: not tried")
    effects: list[list[float | None]] | None = Field(
        description="[layer][column]: (m(patched) - m(corrupt)) / (m(clean) - m(corrupt)); null when "
                    "m(clean) = m(corrupt) (see reason)")
    reason: str | None = Field(description="why effects is null, else null")
    positions: list[int] = Field(description="heads: where heads were patched; residual: the columns")
    columns: list[int] = Field(description="the grid's columns: head indices (heads) or positions (residual)")
    forwards: int = Field(description="forward passes run: 1 (clean and corrupt together) + the patched batches")
    batch: int = Field(description="patched runs per forward pass")
    seconds: float


class PatchPreset(Answer):
    title: str
    clean: str
    corrupt: str
    target: str | None = None
    foil: str | None = None
    metric: Literal["logit_diff", "prob", "kl"]
    mode: Literal["heads", "residual"]
    note: str


class PatchPresetsResponse(Answer):
    presets: dict[str, PatchPreset]


@router.post("/patch", summary="Activation patching: each head (or residual site) from the clean run into the corrupt one.",
             response_model=PatchResponse)
def patch_route(req: PatchRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Activation patching: each head (or residual site) from the clean run into the corrupt one.

    Each cell runs the corrupt prompt with one site copied from the clean run (a head's slice of W_O's
    input at every position, or the residual stream after a layer at one position) and reads the
    metric after the last token. Effects are (m(patched) - m(corrupt)) / (m(clean) - m(corrupt)):
    1 = fully restored. Both prompts must have the same number of tokens (422 otherwise). Decoders only.
    """
    adapter = registry.get(req.model)
    decoder_parts(adapter)
    clean = checked_text(req.clean, adapter, settings, what="clean")
    corrupt = checked_text(req.corrupt, adapter, settings, what="corrupt")
    result = patch(adapter, clean, corrupt, req.metric, req.mode, req.target, req.foil, req.heads, req.positions)
    return {"model": req.model, **result.to_dict()}


@router.get("/patch/presets", summary="Prompt pairs for activation patching (IOI, the lectures' animal/street).",
            response_model=PatchPresetsResponse, response_model_exclude_unset=True)
def patch_presets() -> dict:
    """Prompt pairs for activation patching (IOI, the lectures' animal/street)."""
    return {"presets": PATCH_PRESETS}
