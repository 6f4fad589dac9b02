"""Load any Hugging Face model by hub id, local directory or GGUF file, on the configured device and dtype."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from attnscope.inspection.adapters.families import FAMILIES, family_for

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` (ValueError without a GPU) or ``auto`` (a GPU where there is one)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("ATTNSCOPE_DEVICE=cuda but torch sees no CUDA GPU (use cpu or auto)")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or auto")
    return torch.device(device)


def load_model(source: str, family: str | None = None, cache_dir: Path | None = None,
               device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) of ``source`` with eager attention, ``eval()``, on ``device`` in ``dtype``.

    The model class follows the family: ``AutoModelForSeq2SeqLM`` for encoder-decoders (the encoder
    half alone when the checkpoint is one, e.g. ``T5EncoderModel``), ``AutoModelForCausalLM`` for
    decoders, ``AutoModel`` for encoders. ``trust_remote_code``
    is never set; the local Hugging Face cache is used offline (``HF_HUB_OFFLINE=1``).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from attnscope.inspection.adapters.hf import load_pretrained
    from attnscope.inspection.gguf_cache import is_gguf, load_causal_lm

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    dev = resolve_device(device)
    if is_gguf(source):
        model, tokenizer = load_causal_lm(source, cache_dir)
    else:
        offline = Path(source).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1"
        config = AutoConfig.from_pretrained(source, local_files_only=offline, trust_remote_code=False)
        fam = FAMILIES[family] if family in FAMILIES else family_for(config)[0]
        auto = {"encoder-decoder": AutoModelForSeq2SeqLM, "decoder": AutoModelForCausalLM}.get(fam.kind, AutoModel)
        if fam.kind == "encoder-decoder" and any(a.endswith("EncoderModel")
                                                 for a in getattr(config, "architectures", None) or []):
            from transformers import AutoModelForTextEncoding  # the encoder half alone (T5EncoderModel)

            auto = AutoModelForTextEncoding
        model, tokenizer = load_pretrained(source, auto, dtype=DTYPES[dtype])
    model = model.to(device=dev, dtype=DTYPES[dtype])
    return model.eval(), tokenizer
