"""Dependencies handed to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from attnscope.settings import Settings
from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.registry import Registry


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
