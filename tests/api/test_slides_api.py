"""Slide vs computed (issue 18, part 6): each computed number from the slide's own inputs, recomputed here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

SEEDS = Path("/work/shared/seeds/examples.json")


@pytest.fixture(scope="module")
def comps(client) -> dict:
    r = client.get("/api/slides")
    assert r.status_code == 200
    return {c["id"]: c for c in r.json()["comparisons"]}


def test_cat_scores_row_one(comps):
    c = comps["cat_scores"]
    assert c["slide"][0][:2] == [4.21, 4.85]
    assert [round(x, 2) for x in c["computed"][0][:2]] == [4.08, 4.30]
    if SEEDS.exists():
        ex = json.loads(SEEDS.read_text())["the_cat_sat_here"]
        np.testing.assert_allclose(c["computed"], np.array(ex["q"]) @ np.array(ex["k"]).T, atol=1e-12)
        assert c["slide"] == ex["slide_raw_scores"]
    assert c["mismatches"] == 16


def test_cat_weights_are_not_softmax_of_the_slides_own_scaled(comps):
    c = comps["cat_weights"]
    row = [2.28, 2.96, 2.72, 2.44]  # the slide's scaled 'cat' row
    e = [math.exp(x) for x in row]
    assert c["computed"][1] == pytest.approx([x / sum(e) for x in e], abs=1e-12)
    assert [round(x, 2) for x in c["computed"][1]] == [0.18, 0.35, 0.27, 0.21]
    assert c["mismatch"][1] == [False, False, True, True]


def test_student_037_against_03775(comps):
    c = comps["student_weights"]
    assert c["slide"][1][0] == 0.37
    assert c["computed"][1][0] == pytest.approx(math.exp(0.1) / (math.exp(0.1) + math.exp(0.6)), abs=1e-12)
    assert round(c["computed"][1][0], 4) == 0.3775
    assert c["mismatch"][1][0] and not c["mismatch"][1][1]


def test_pe_d50_cos_at_position_0_is_one(comps):
    c = comps["pe_d50"]
    assert c["cols"][-1] == "0"
    assert [row[-1] for row in c["computed"]] == [0.0, 1.0, 0.0, 1.0]
    assert [row[-1] for row in c["mismatch"]] == [False, True, False, True]
    assert c["mismatches"] == 2  # every other printed value is right to 3 decimals
    assert c["computed"][2][2] == pytest.approx(math.sin(1 / 10000 ** (2 / 50)), abs=1e-12)


def test_apple_is_proportional_scaling_not_softmax(comps):
    soft = comps["apple"]
    e = [1, 1, math.exp(0.25), 1, math.e]
    assert soft["computed"][0] == pytest.approx([x / sum(e) for x in e], abs=1e-12)
    assert soft["mismatch"][0][4]  # 0.8 against 0.388
    assert comps["apple_proportional"]["mismatches"] == 0


def test_apple_presets_run(client):
    presets = client.get("/api/playground/presets").json()["presets"]
    for name in ("apple_fruit", "apple_brand"):
        body = {k: v for k, v in presets[name].items() if k not in ("title", "note")}
        r = client.post("/api/playground", json=body)
        assert r.status_code == 200, r.text
    out = client.post("/api/playground", json={k: v for k, v in presets["apple_fruit"].items() if k not in ("title", "note")}).json()
    assert out["weights"][4] == pytest.approx(comps_apple_row(), abs=1e-6)


def comps_apple_row():
    e = [1, 1, math.exp(0.25), 1, math.e]
    return [x / sum(e) for x in e]


def test_preset_filter(client):
    r = client.get("/api/slides", params={"preset": "i_am_a_student"}).json()
    assert [c["id"] for c in r["comparisons"]] == ["student_weights"]
    assert client.get("/api/slides", params={"preset": "x" * 100}).status_code == 422


def test_je_suis_etudiant_illustrative_row_beside_the_trained_model(client, registry):
    r = client.get("/api/slides", params={"preset": "je_suis_etudiant"}).json()["comparisons"]
    assert [c["id"] for c in r] == ["je_suis_cross"]
    c = r[0]
    assert c["slide"] == [[0.15, 0.05, 0.8]]
    t = registry.trace("textbook", "je suis étudiant", "i am a student")
    own = t.weights("cross", 1).mean(axis=0)[3]  # row "a" -> "student", last of the 2 decoder layers
    np.testing.assert_allclose(c["computed"][0], own, atol=1e-6)
    assert int(np.argmax(c["computed"][0])) == 2  # both put "étudiant" first
