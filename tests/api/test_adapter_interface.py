"""The adapter says what it can do: capabilities in /api/models and the Adapter interface, never probing.

Routes and the inspection core ask ``info.offers(...)`` and call methods the :class:`Adapter` base
declares (defaults: None, or a :class:`NotOffered` 422); they never ``hasattr``/``getattr`` an adapter
or switch on a family name. The refusals read as they did.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from attnscope.inspection.adapters.base import FEATURES, Adapter, ModelInfo, NotOffered

ROOT = Path(__file__).resolve().parents[2]
#: the files this interface covers (block steps have their own layout table)
CHECKED = [*sorted((ROOT / "app/api/routes").glob("*.py")), ROOT / "attnscope/inspection/ablate.py",
           ROOT / "attnscope/inspection/embeddings.py", ROOT / "attnscope/inspection/generate.py",
           ROOT / "static/js/views/attention.js", ROOT / "static/js/views/generate.js",
           ROOT / "static/js/views/patterns.js", *sorted((ROOT / "attnscope/inspection/longctx").glob("*.py"))]
ELSEWHERE = {"block_steps.py"}
PROBES = re.compile(r"hasattr\(adapter|getattr\(adapter|family ==|family !==|family !=|== \"textbook\"|"
                    r"=== \"textbook\"|model: \"textbook\"")


def test_no_route_probes_an_adapter_or_switches_on_a_family():
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in CHECKED if p.name not in ELSEWHERE
            for i, line in enumerate(p.read_text().splitlines(), 1) if PROBES.search(line)]
    assert not hits, "\n".join(hits)


def models(client) -> dict[str, dict]:
    return {m["id"]: m for m in client.get("/api/models").json()["models"]}


def test_every_model_lists_every_feature(client):
    ms = models(client)
    for mid in ("minilm", "smollm2", "textbook"):
        assert set(ms[mid]["capabilities"]) == set(FEATURES), mid
    tb = ms["textbook"]["capabilities"]
    assert tb["translate"] and tb["patterns"] and tb["slides"] and tb["generate"] and tb["seq2seq"]
    for mid in ("minilm", "smollm2"):
        caps, reasons = ms[mid]["capabilities"], ms[mid]["reasons"]
        assert not (caps["translate"] or caps["patterns"] or caps["slides"]), mid
        assert "textbook" in reasons["patterns"] and "seq2seq" in reasons["translate"]
    assert ms["smollm2"]["capabilities"]["generate"] and not ms["minilm"]["capabilities"]["generate"]


def test_offers_reads_the_capabilities_and_the_defaults():
    info = ModelInfo("m", "m", "s", "f", "encoder-decoder", 1, 1, 1, 4, 4, 8, "learned")
    assert info.offers("attention") and info.offers("seq2seq") and not info.offers("translate")
    listed = ModelInfo("m", "m", "s", "f", "decoder", 1, 1, 1, 4, 4, 8, "rotary", ("decoder",),
                       capabilities={"attention": True, "steps": False})
    assert listed.offers("attention") and not listed.offers("steps") and not listed.offers("heads")
    d = listed.to_dict()
    assert set(d["capabilities"]) == set(FEATURES) and d["capabilities"]["heads"] is False


class Bare(Adapter):
    """An adapter implementing only the abstract methods: every optional feature says it is missing."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("bare", "bare", "s", "toy", "encoder", 1, 1, 1, 4, 4, 8, "learned")

    def count_tokens(self, text):
        return len(text.split())

    def run(self, text, target=None):
        raise NotImplementedError

    def head_weights(self, block, layer, head):
        raise NotImplementedError


def test_the_base_defaults_say_a_feature_is_missing():
    a = Bare()
    assert a.tokenizer is None and a.model is None and a.device == "cpu"
    assert a.vocab_size() is None and a.position_table() is None and a.rope_base() is None
    for call in (lambda: a.inputs("x"), lambda: a.output_projection("encoder", 0), lambda: a.rotate(np.zeros((2, 4))),
                 lambda: a.seq2seq("x"), lambda: a.translate("x")):
        with pytest.raises(NotOffered, match="bare"):
            call()
    assert issubclass(NotOffered, ValueError)  # the API answers it with a 422


def test_the_adapters_implement_what_they_offer(minilm, smollm2, registry):
    textbook = registry.get("textbook")
    assert minilm.position_table().shape[1] == minilm.info.d_model and smollm2.position_table() is None
    assert textbook.position_table() is None
    assert isinstance(smollm2.rope_base(), float) and smollm2.rope_base() > 1
    assert minilm.rope_base() is None and textbook.rope_base() is None
    assert minilm.vocab_size() == len(minilm.tokenizer) and textbook.vocab_size() == len(textbook.src_vocab)
    assert textbook.tokenizer is None and minilm.tokenizer is not None
    assert textbook.output_projection("cross", 1) is textbook.model.decoder.layers[1].cross_attn.w_o
    inputs, tokens = smollm2.inputs("Hello there")
    assert inputs["input_ids"].device == smollm2.device and tokens.text
    assert str(smollm2.device) == smollm2.info.device


@pytest.mark.parametrize("path, body, needle", [
    ("/api/patterns", {"model": "minilm", "text": "x"}, "efficient-attention patterns run on the textbook"),
    ("/api/translate", {"model": "smollm2", "text": "x"}, "cannot translate"),
    ("/api/seq2seq", {"model": "minilm", "text": "x"}, "needs an encoder-decoder"),
    ("/api/rope-demo", {"model": "minilm", "text": "x", "query": 0, "key": 0}, "does not rotate q and k"),
    ("/api/generate", {"model": "minilm", "text": "x"}, "cannot generate text"),
])
def test_refusals_read_as_before(client, path, body, needle):
    r = client.post(path, json=body)
    assert r.status_code == 422 and needle in r.json()["detail"], r.text


def test_slides_compute_the_lectures_row_on_the_model_offering_slides(client):
    ids = [c["id"] for c in client.get("/api/slides", params={"preset": "je_suis_etudiant"}).json()["comparisons"]]
    assert "je_suis_cross" in ids


def test_a_model_still_loading_is_listed_with_the_kind_of_its_family(tiny_bert):
    """The generate view hides encoders, also while they load: /api/models gives them their family's kind."""
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app

    release = threading.Event()

    def builder(spec):
        release.wait(30)
        return tiny_bert

    specs = [ModelSpec(id="slow-bert", source="test", family="bert"), ModelSpec(id="slow-auto", source="test2")]
    settings = Settings(models=specs, load_at_start=False, models_wait=0.0)
    registry = Registry(settings, builder=builder)
    with TestClient(create_app(settings, registry)) as c:
        loading = threading.Thread(target=registry.get, args=("slow-bert",), daemon=True)
        loading.start()
        try:
            for _ in range(100):
                ms = models(c)
                if ms["slow-bert"]["status"] == "loading":
                    break
                threading.Event().wait(0.05)
            assert ms["slow-bert"]["status"] == "loading" and ms["slow-bert"]["kind"] == "encoder"
            assert "kind" not in ms["slow-auto"]  # family "auto": unknown until it loads
        finally:
            release.set()
            loading.join(30)
