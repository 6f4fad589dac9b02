"""Request bodies of the API. Field names are the public contract: extend, never rename."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["json", "f16"]
#: attention weights lie in [0, 1], so they also have an 8-bit form
AttentionFormat = Literal["json", "f16", "u8"]
Block = Literal["encoder", "decoder", "cross"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class AttentionRequest(Strict):
    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for encoder-decoders)")
    layer: int | None = Field(default=None, description="one layer; omitted = all layers")
    format: AttentionFormat = Field(
        default="json",
        description="json: nested lists; f16: base64 little-endian float16; "
        "u8: base64 bytes, weight = byte / 255 (exact to 0.002, half of f16's bytes)",
    )
    block: Block | None = Field(default=None, description="encoder | decoder | cross; default: the model's first")
    target: str | None = Field(
        default=None, description="the decoder input text (encoder-decoders); omitted = the model's own translation"
    )
