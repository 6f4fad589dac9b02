"""/api/lens and /api/patch over tiny models: the shapes, the numbers of the core, and the 422s."""

from __future__ import annotations

import numpy as np
import pytest

from attnscope.inspection.lens import lens
from tests.inspect import family_fixtures as ff

TEXT = "The animal didn't cross the street"
CLEAN = "The animal didn't cross the street because it was too"
CORRUPT = "The street didn't cross the animal because it was too"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A TestClient over tiny LLaMA, GPT-2, T5 and BERT models."""
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app

    specs = [ModelSpec(id=f"tiny-{f}", source="test") for f in ("llama", "gpt2", "t5", "bert")]
    settings = Settings(models=specs, load_at_start=False, models_wait=30.0)
    with TestClient(create_app(settings, Registry(settings, builder=lambda s: ff.tiny(s.id[5:])))) as c:
        yield c


def test_lens_answers_every_layer_and_position(tiny):
    r = tiny.post("/api/lens", json={"model": "tiny-llama", "text": TEXT, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    n = len(body["tokens"])
    assert body["layers"] == ["emb", "0", "1"] and body["positions"] == list(range(n))
    assert np.array(body["final_rank"]).shape == (3, n) and all(x == 0 for x in body["final_rank"][-1])
    assert len(body["top"]) == 3 and all(len(row) == n and all(len(c) == 3 for c in row) for row in body["top"])
    core = lens(ff.tiny("llama"), TEXT, k=3)
    np.testing.assert_allclose([[[t["prob"] for t in c] for c in row] for row in body["top"]], core.top_probs,
                               atol=1e-6)
    assert [c[0]["id"] for c in body["top"][-1]] == body["final_ids"]


def test_lens_reads_an_encoder_decoders_decoder_and_refuses_an_encoder(tiny):
    r = tiny.post("/api/lens", json={"model": "tiny-t5", "text": TEXT, "target": "It sat.", "positions": [0, 2]})
    assert r.status_code == 200, r.text
    assert r.json()["positions"] == [0, 2] and r.json()["target"] == "It sat." and r.json()["source_tokens"]
    r = tiny.post("/api/lens", json={"model": "tiny-bert", "text": TEXT})
    assert r.status_code == 422 and "encoder" in r.json()["detail"]
    r = tiny.post("/api/lens", json={"model": "tiny-llama", "text": TEXT, "positions": [50]})
    assert r.status_code == 422 and "out of range" in r.json()["detail"]


def test_patch_answers_the_heads_grid(tiny):
    r = tiny.post("/api/patch", json={"model": "tiny-gpt2", "clean": CLEAN, "corrupt": CORRUPT, "metric": "kl"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert np.array(body["effects"]).shape == (2, 4) and body["columns"] == [0, 1, 2, 3]
    assert body["forwards"] == 2 and body["clean_value"] == 0 and body["foil"] is None and body["reason"] is None
    assert body["differing"] == [i for i, (a, b) in enumerate(zip(body["clean_tokens"], body["corrupt_tokens"]))
                                 if a != b]


def test_patch_residual_mode_restores_clean_after_the_last_layer(tiny):
    r = tiny.post("/api/patch", json={"model": "tiny-llama", "clean": CLEAN, "corrupt": CORRUPT, "mode": "residual",
                                      "metric": "prob", "positions": [1, 10]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == [1, 10] and body["effects"][-1][-1] == pytest.approx(1.0, abs=1e-5)


def test_patch_refuses_prompts_of_different_lengths_naming_both_counts(tiny):
    r = tiny.post("/api/patch", json={"model": "tiny-llama", "clean": CLEAN, "corrupt": CLEAN + " tired"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    n = len(ff.tiny("llama").inputs(CLEAN)[1])
    m = len(ff.tiny("llama").inputs(CLEAN + " tired")[1])
    assert f"clean is {n} tokens" in detail and f"corrupt is {m}" in detail


def test_patch_refuses_what_it_cannot_do(tiny):
    for body, words in [({"model": "tiny-bert", "clean": CLEAN, "corrupt": CORRUPT}, "decoders"),
                        ({"model": "tiny-t5", "clean": CLEAN, "corrupt": CORRUPT}, "decoders"),
                        ({"model": "tiny-llama", "clean": CLEAN, "corrupt": CORRUPT, "heads": [[0, 9]]}, "out of range"),
                        ({"model": "tiny-llama", "clean": CLEAN, "corrupt": CORRUPT, "target": "the street"}, "not one"),
                        ({"model": "tiny-llama", "clean": CLEAN, "corrupt": CORRUPT, "metric": "mse"}, "metric")]:
        r = tiny.post("/api/patch", json=body)
        assert r.status_code == 422 and words in r.json()["detail"], (body, r.text)


def test_patch_presets_are_listed(tiny):
    presets = tiny.get("/api/patch/presets").json()["presets"]
    assert presets["ioi"]["clean"] == "When Mary and John went to the store, John gave a drink to"
    assert {"clean", "corrupt", "target", "foil", "metric", "mode"} <= set(presets["animal"])
