"""Naming a model (``serve --model``, ``ATTNSCOPE_EXTRA_MODELS``), loading it from a local folder, device and dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.inspect import family_fixtures as ff


def test_model_ids_come_from_the_name_or_are_given():
    from attnscope.settings import spec_from_cli

    assert spec_from_cli("Qwen/Qwen2.5-0.5B-Instruct").id == "qwen2.5-0.5b-instruct"
    assert spec_from_cli("/data/My Models/bert_ft/").id == "bert_ft"
    spec = spec_from_cli("mt=Helsinki-NLP/opus-mt-fr-en")
    assert (spec.id, spec.source, spec.family) == ("mt", "Helsinki-NLP/opus-mt-fr-en", "auto")
    with pytest.raises(ValueError):
        spec_from_cli("BAD ID=x")  # ids are lower-case: pydantic refuses, readable


def test_serve_model_flags_extend_extra_models(monkeypatch):
    from attnscope.cli import extra_models_env
    from attnscope.settings import Settings

    monkeypatch.setenv("ATTNSCOPE_EXTRA_MODELS", json.dumps([{"id": "bert-base", "source": "google-bert/bert-base-uncased"}]))
    env = extra_models_env(["gpt2", "t5=/models/t5-small"])
    monkeypatch.setenv("ATTNSCOPE_EXTRA_MODELS", env)
    ids = [s.id for s in Settings().all_models()]
    assert ids[-3:] == ["bert-base", "gpt2", "t5"]
    assert {s.id: s.family for s in Settings().all_models()}["t5"] == "auto"


def test_device_and_dtype_settings(monkeypatch):
    from pydantic import ValidationError

    from attnscope.settings import Settings
    from attnscope.inspection.adapters.loading import resolve_device

    monkeypatch.setenv("ATTNSCOPE_DEVICE", "auto")
    monkeypatch.setenv("ATTNSCOPE_DTYPE", "bfloat16")
    s = Settings()
    assert (s.device, s.dtype) == ("auto", "bfloat16")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    monkeypatch.setenv("ATTNSCOPE_DTYPE", "int8")
    with pytest.raises(ValidationError):
        Settings()


def test_a_local_folder_loads_with_the_family_from_its_config(tmp_path):
    """``build_adapter`` with family "auto": the right model class (LM head), dtype, and parity."""
    from attnscope.settings import ModelSpec
    from attnscope.inspection.registry import build_adapter

    model, tok = ff.build("bart")
    model.save_pretrained(tmp_path / "bart")
    tok.save_pretrained(tmp_path / "bart")
    adapter = build_adapter(ModelSpec(id="bart", source=str(tmp_path / "bart")), dtype="bfloat16")
    assert type(adapter.model).__name__ == "BartForConditionalGeneration"
    assert adapter.info.family == "bart" and adapter.info.dtype == "bfloat16"
    assert adapter.info.capabilities["seq2seq"]
    trace = adapter.trace("The animal crossed the street.", "It was tired.")
    assert all(b.weights.dtype == np.float32 for g in trace.blocks.values() for b in g)


def test_a_saved_t5_encoder_loads_as_an_encoder(tmp_path):
    """A checkpoint of the encoder half alone (``T5EncoderModel``) loads as such: an encoder, not a seq2seq."""
    import transformers

    from attnscope.settings import ModelSpec
    from attnscope.inspection.registry import build_adapter

    tok = ff.tiny_tokenizer()
    cfg = transformers.T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                relative_attention_num_buckets=8)
    transformers.T5EncoderModel(cfg).save_pretrained(tmp_path / "t5enc")
    tok.save_pretrained(tmp_path / "t5enc")
    adapter = build_adapter(ModelSpec(id="t5enc", source=str(tmp_path / "t5enc")))
    assert type(adapter.model).__name__ == "T5EncoderModel"
    assert (adapter.info.family, adapter.info.kind, adapter.info.blocks) == ("t5", "encoder", ("encoder",))
    assert adapter.info.capabilities["steps"] and not adapter.info.capabilities["seq2seq"]


def test_trust_remote_code_is_never_set(tmp_path):
    """A config that asks for remote code (auto_map) is refused, not executed."""
    from attnscope.inspection.adapters.loading import load_model

    model, tok = ff.build("llama")
    model.save_pretrained(tmp_path / "remote")
    tok.save_pretrained(tmp_path / "remote")
    cfg = json.loads((tmp_path / "remote" / "config.json").read_text())
    cfg["model_type"] = "evil-remote"
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    (tmp_path / "remote" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "remote" / "configuration_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ValueError):
        load_model(str(tmp_path / "remote"))
