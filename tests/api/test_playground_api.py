"""POST /api/playground and GET /api/playground/presets: the lectures' numbers over HTTP, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

RAW = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def presets(client) -> dict:
    r = client.get("/api/playground/presets")
    assert r.status_code == 200
    return r.json()["presets"]


def run(client, presets, name: str) -> dict:
    args = {k: v for k, v in presets[name].items() if k not in ("title", "note")}
    r = client.post("/api/playground", json=args)
    assert r.status_code == 200, r.text
    return r.json()


def test_presets_have_a_title_an_honest_note_and_arguments(presets):
    assert {"thinking_machines", "the_cat_sat_here", "the_cat_sat_here_x", "i_am_a_student"} <= set(presets)
    for p in presets.values():
        assert p["title"] and p["note"] and p["tokens"]


def test_thinking_machines_112_96_then_14_12_then_088_012(client, presets):
    d = run(client, presets, "thinking_machines")
    assert d["tokens"] == ["Thinking", "Machines"] and d["d_k"] == 64 and d["scale"] == 8
    assert d["scores"][0] == [112, 96]
    assert d["scaled"][0] == [14, 12]
    assert np.round(d["weights"][0], 2).tolist() == [0.88, 0.12]
    np.testing.assert_allclose(d["output"], np.array(d["weights"]) @ np.array(d["v"]))


def test_the_cat_sat_here_from_x_has_the_lectures_shapes_and_memory(client, presets):
    d = run(client, presets, "the_cat_sat_here_x")
    assert d["form"] == "x" and d["tokens"] == ["The", "cat", "sat", "here"]
    table = {row["name"]: (row["shape"], row["floats"], row["bytes"]) for row in d["shapes"]}
    assert table["X"] == ([4, 6], 24, 96)
    assert table["W_Q"] == table["W_K"] == table["W_V"] == ([6, 4], 24, 96)
    assert table["Q"] == table["K"] == table["V"] == ([4, 4], 16, 64)
    assert table["scores"][0] == table["weights"][0] == table["output"][0] == [4, 4]
    x, w = np.array(d["x"]), np.array(d["w_k"])
    np.testing.assert_allclose(d["q"], x @ w)
    np.testing.assert_allclose(d["scaled"], np.array(d["scores"]) / 2)  # d_k = 4
    assert d["totals"]["floats"] == sum(r["floats"] for r in d["shapes"])


def test_the_cat_sat_here_qkv_gives_the_true_products(client, presets):
    d = run(client, presets, "the_cat_sat_here")
    assert round(d["scores"][0][0], 2) == 4.08  # not the slide's 4.21, as the note says
    assert "4.08" in presets["the_cat_sat_here"]["note"]


def test_i_am_a_student_causal_mask(client, presets):
    d = run(client, presets, "i_am_a_student")
    assert d["mask"] == "causal" and d["output"] is None
    for i, (row, w) in enumerate(zip(d["masked"], d["weights"])):
        assert [s is None for s in row] == [j > i for j in range(4)]
        assert all(w[j] == 0 for j in range(i + 1, 4))
        assert sum(w) == pytest.approx(1.0)
    assert d["weights"][0][0] == 1
    assert np.round(d["weights"][1][:2], 2).tolist() == [0.38, 0.62]
    assert np.round(d["weights"][2][:3], 2).tolist() == [0.26, 0.32, 0.43]
    json.dumps(d, allow_nan=False)


def post(client, body: dict):
    return client.post("/api/playground", json=body)


def test_shape_mismatch_names_both_matrices(client):
    r = post(client, {"x": [[1, 2, 3]], "w_q": [[1], [2]], "w_k": [[1], [2], [3]], "w_v": [[1], [2], [3]]})
    assert r.status_code == 422
    assert r.json()["detail"] == "x has 3 columns but w_q has 2 rows: x @ w_q needs them equal"
    r = post(client, {"q": [[1, 2]], "k": [[1, 2, 3]], "v": [[1]]})
    assert r.status_code == 422 and "q has width 2 but k has width 3" in r.json()["detail"]
    r = post(client, {"q": [[1]], "k": [[1], [2]], "v": [[1]]})
    assert r.status_code == 422 and "k has 2 rows but v has 1" in r.json()["detail"]


@pytest.mark.parametrize("raw", [
    b'{"q": [[NaN]], "k": [[1]], "v": [[1]]}',
    b'{"q": [[1]], "k": [[Infinity]], "v": [[1]]}',
    b'{"q": [[1]], "k": [[1]], "v": [[-Infinity]]}',
    b'{"scores": [[NaN, 1]]}',
])
def test_nan_and_infinity_are_a_422_not_a_500(client, raw):
    r = client.post("/api/playground", content=raw, headers=RAW)
    assert r.status_code == 422, r.text
    assert "finite" in r.json()["detail"]


def test_non_finite_d_k_is_a_422(client):
    r = client.post("/api/playground", content=b'{"scores": [[1]], "d_k": NaN}', headers=RAW)
    assert r.status_code == 422 and "d_k" in r.json()["detail"]


@pytest.mark.parametrize("body, needle", [
    ({"q": [[1, 2], [3]], "k": [[1, 2]], "v": [[1]]}, "q row 2 has 1 number but row 1 has 2"),
    ({"q": [], "k": [[1]], "v": [[1]]}, "q is empty"),
    ({"q": [[]], "k": [[1]], "v": [[1]]}, "q row 1 is empty"),
    ({"q": "1 2 3", "k": [[1]], "v": [[1]]}, "q must be a list of rows"),
    ({"q": [[1, "two"]], "k": [[1, 2]], "v": [[1]]}, "q row 1, column 2 is 'two'"),
    ({"q": [[True]], "k": [[1]], "v": [[1]]}, "entries must be numbers"),
    ({"q": [[1e300]], "k": [[1]], "v": [[1]]}, "between"),
    ({"q": [[1]], "k": [[1]]}, "missing v"),
    ({"q": [[1]], "k": [[1]], "v": [[1]], "x": [[1]]}, "not both"),
    ({}, "give x, w_q, w_k and w_v"),
    ({"scores": [[1, 2]], "mask": "causal"}, "causal"),
    ({"scores": [[1]], "mask": "upper"}, "mask"),
    ({"scores": [[1]], "d_k": 0}, "d_k must be a positive number"),
    ({"scores": [[1, 2]], "tokens": ["a", "b"]}, "tokens has 2 labels but there are 1 query rows"),
    ({"scores": [[1]], "tokens": [3]}, "labels must be strings"),
    ({"scores": [[1]], "bogus": 1}, "bogus"),
])
def test_bad_matrices_get_the_playgrounds_message(client, body, needle):
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_huge_matrices_are_refused(client):
    r = post(client, {"q": [[1.0]] * 65, "k": [[1.0]], "v": [[1.0]]})
    assert r.status_code == 422 and "65 rows; at most 64" in r.json()["detail"]
    r = post(client, {"q": [[1.0] * 65], "k": [[1.0] * 65], "v": [[1.0]]})
    assert r.status_code == 422 and "65 columns; at most 64" in r.json()["detail"]
    big = json.dumps({"q": [[0.123456789] * 64] * 64 * 20, "k": [[1.0]], "v": [[1.0]]}).encode()
    assert len(big) > 1_000_000
    r = client.post("/api/playground", content=big, headers=RAW)
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_deeply_nested_json_is_a_4xx(client):
    r = client.post("/api/playground", content=b"[" * 100_000, headers=RAW)
    assert 400 <= r.status_code < 500
