"""Dependencies handed to routes, and the resolution of a model request they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from attnscope.settings import Settings
from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.registry import Registry
from attnscope_server.api.schemas import BlockRequest, TextRequest


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def checked_text(text: str, adapter: Adapter, settings: Settings, what: str = "text") -> str:
    """Validate user text before it reaches a tokenizer; ValueError with a readable message."""
    if len(text) > settings.max_chars:
        raise ValueError(f"{what} is {len(text):,} characters long; the limit is {settings.max_chars:,}")
    if not text.strip():
        raise ValueError(f"{what} is empty: type a sentence")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contains invalid Unicode (a lone surrogate character)") from None
    n = adapter.count_tokens(text)
    limit = adapter.info.max_tokens
    if n > limit:
        raise ValueError(f"{what} is {n} tokens long; {adapter.info.id} takes at most {limit} tokens")
    return text


@dataclass(frozen=True)
class Resolved:
    """What a model request names, checked: the adapter, the text, and for a block request the block and target."""

    adapter: Adapter
    text: str
    block: str | None = None
    target: str | None = None


def resolve(req: TextRequest, registry: Registry, settings: Settings,
            check: Callable[[Adapter], None] | None = None) -> Resolved:
    """The one resolution every model route shares; ValueError (a 422) with a readable message.

    The model is looked up (404 unknown, 503 unavailable), ``check`` (a route's own refusal, e.g. a
    capability the model lacks) runs before the text is read, then the text is checked. For a
    :class:`BlockRequest`: the block (default the model's first) must be one of the model's, and the
    target is checked when one is given for a decoder or cross block (the encoder reads no target).
    """
    adapter = registry.get(req.model)
    if check is not None:
        check(adapter)
    text = checked_text(req.text, adapter, settings)
    if not isinstance(req, BlockRequest):
        return Resolved(adapter, text)
    block = req.block or adapter.default_block
    if block not in adapter.info.blocks:
        raise ValueError(f"{req.model} has no {block!r} attention; it has: {', '.join(adapter.info.blocks)}")
    target = None
    if req.target is not None and block != "encoder":
        target = checked_text(req.target, adapter, settings, what="target")
    return Resolved(adapter, text, block, target)
