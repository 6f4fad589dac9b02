"""Unit tests for attnscope.inspection.playground: lecture presets, hand checks, every error path."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from attnscope.inspection.playground import (
    MAX_COLS,
    MAX_ROWS,
    PRESET_META_KEYS,
    PRESETS,
    SLIDE_NUMBERS,
    PlaygroundError,
    compute,
    preset_arguments,
    run_preset,
)

# ----------------------------------------------------------------------------- helpers (independent of the module)


def softmax_by_hand(row: list[float]) -> list[float]:
    """Plain-Python softmax, for checking."""
    e = [math.exp(s) for s in row]
    return [x / sum(e) for x in e]


def matmul_by_hand(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """Plain-Python matrix product, for checking."""
    return [[sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def transpose(a: list[list[float]]) -> list[list[float]]:
    return [list(col) for col in zip(*a)]


def shape_table(result) -> dict[str, tuple[list[int], int, int]]:
    return {row["name"]: (row["shape"], row["floats"], row["bytes"]) for row in result.to_dict()["shapes"]}


# ----------------------------------------------------------------------------- presets: the lectures' numbers


def test_every_preset_runs_and_is_json_safe() -> None:
    assert set(PRESETS) == {"thinking_machines", "the_cat_sat_here", "the_cat_sat_here_x", "i_am_a_student",
                            "apple_fruit", "apple_brand"}
    for name, preset in PRESETS.items():
        assert preset["title"] and preset["note"]
        assert PRESET_META_KEYS.isdisjoint(preset_arguments(name))
        d = run_preset(name).to_dict()
        json.dumps(d, allow_nan=False)  # no NaN / inf anywhere
        assert np.allclose(np.sum(d["weights"], axis=1), 1.0)
    assert set(SLIDE_NUMBERS) <= set(PRESETS)


def test_thinking_machines_112_96_to_14_12_to_088_012() -> None:
    r = run_preset("thinking_machines")
    assert r.tokens == ["Thinking", "Machines"]
    assert r.d_k == 64 and r.scale == 8
    assert r.scores[0].tolist() == [112, 96]
    assert r.scaled[0].tolist() == [14, 12]
    assert np.round(r.weights[0], 2).tolist() == [0.88, 0.12]
    assert r.weights[0].tolist() == pytest.approx(softmax_by_hand([14, 12]))


def test_the_cat_sat_here_qkv_steps() -> None:
    p = PRESETS["the_cat_sat_here"]
    r = run_preset("the_cat_sat_here")
    assert r.tokens == ["The", "cat", "sat", "here"] and r.d_k == 4 and r.scale == 2
    expected = matmul_by_hand(p["q"], transpose(p["k"]))
    assert np.allclose(r.scores, expected)
    assert round(r.scores[0, 0], 2) == 4.08  # the seed's note: not the slide's 4.21
    assert np.allclose(r.scaled, r.scores / 2)
    for i in range(4):
        assert r.weights[i].tolist() == pytest.approx(softmax_by_hand(list(r.scaled[i])))
        assert r.weights[i].sum() == pytest.approx(1.0)
    assert np.allclose(r.output, matmul_by_hand(r.weights.tolist(), p["v"]))


def test_the_cat_sat_here_slide_numbers_as_the_note_says() -> None:
    slide = SLIDE_NUMBERS["the_cat_sat_here"]
    r = compute(scores=slide["scores"], d_k=4)
    assert np.allclose(r.scaled, slide["scaled"], atol=0.0051)  # scaled = raw / 2 holds
    # The slide's weights are only near softmax(scaled): off by up to 0.026 (row 'cat').
    from_slide_scaled = compute(scores=slide["scaled"], d_k=1).weights
    gap = np.abs(from_slide_scaled - np.array(slide["weights"]))
    assert 0.02 < gap.max() < 0.03 and gap.argmax() // 4 == 1
    assert np.round(from_slide_scaled[1], 2).tolist() == [0.18, 0.35, 0.27, 0.21]
    assert "0.27, 0.21" in PRESETS["the_cat_sat_here"]["note"]


def test_the_cat_sat_here_x_dimension_and_memory_table() -> None:
    r = run_preset("the_cat_sat_here_x")
    t = shape_table(r)
    assert list(t) == ["X", "W_Q", "W_K", "W_V", "Q", "K", "V", "scores", "weights", "output"]
    assert t["X"][0] == [4, 6]
    for w in ("W_Q", "W_K", "W_V"):
        assert t[w][0] == [6, 4]
    for name in ("Q", "K", "V", "scores", "weights", "output"):
        assert t[name][0] == [4, 4]
    assert t["X"][1] == 24
    assert t["W_Q"][1] + t["W_K"][1] + t["W_V"][1] == 72
    assert t["Q"][1] + t["K"][1] + t["V"][1] == 48
    assert (t["scores"][1], t["weights"][1], t["output"][1]) == (16, 16, 16)
    for shape, floats, nbytes in t.values():
        assert floats == shape[0] * shape[1] and nbytes == 4 * floats
    assert r.to_dict()["totals"] == {"floats": 24 + 72 + 48 + 48, "bytes": 4 * (24 + 72 + 48 + 48)}
    x, w = PRESETS["the_cat_sat_here_x"]["x"], PRESETS["the_cat_sat_here_x"]["w_k"]
    assert np.allclose(r.q, matmul_by_hand(x, w)) and np.allclose(r.k, r.q) and np.allclose(r.v, r.q)


def test_i_am_a_student_causal_rows() -> None:
    r = run_preset("i_am_a_student")
    assert r.mask == "causal" and r.d_k == 1 and r.scale == 1
    assert r.output is None and r.q is None
    w = np.round(r.weights, 2).tolist()
    assert w[0] == [1, 0, 0, 0]
    assert w[1][:2] == [0.38, 0.62]
    assert w[2][:3] == [0.26, 0.32, 0.43]
    assert w[3] == [0.21, 0.26, 0.26, 0.26]
    d = r.to_dict()
    for i in range(4):
        for j in range(4):
            if j > i:
                assert r.weights[i, j] == 0.0  # exactly
                assert d["masked"][i][j] is None
                assert d["allowed"][i][j] is False
            else:
                assert d["masked"][i][j] == pytest.approx(d["scores"][i][j])
    assert r.weights[1, :2].tolist() == pytest.approx(softmax_by_hand([0.1, 0.6]))
    assert [s["name"] for s in d["shapes"]] == ["scores", "weights"]


# ----------------------------------------------------------------------------- hand-checked small examples


def test_two_by_two_by_hand() -> None:
    q = [[1.0, 0.0], [0.0, 2.0]]
    k = [[1.0, 1.0], [3.0, -1.0]]
    v = [[10.0, 0.0], [0.0, 10.0]]
    r = compute(q=q, k=k, v=v)
    # scores: row 0 = [1*1+0*1, 1*3+0*-1] = [1, 3]; row 1 = [2, -2]
    assert r.scores.tolist() == [[1.0, 3.0], [2.0, -2.0]]
    s = math.sqrt(2)
    assert np.allclose(r.scaled, [[1 / s, 3 / s], [2 / s, -2 / s]])
    a = math.exp(1 / s) / (math.exp(1 / s) + math.exp(3 / s))
    assert r.weights[0].tolist() == pytest.approx([a, 1 - a])
    assert r.output[0].tolist() == pytest.approx([10 * a, 10 * (1 - a)])
    assert r.tokens == ["t1", "t2"] and r.key_tokens == ["t1", "t2"]
    assert r.form == "qkv" and r.mask == "none"


def test_x_form_by_hand_and_d_k_override() -> None:
    x = [[1, 2], [3, 4], [0, 1]]
    w_q = [[1, 0, 1], [0, 1, 1]]
    w_k = [[2, 0, 0], [0, 0, 1]]
    w_v = [[1], [1]]
    r = compute(x=x, w_q=w_q, w_k=w_k, w_v=w_v, d_k=9)
    assert r.q.tolist() == [[1, 2, 3], [3, 4, 7], [0, 1, 1]]
    assert r.k.tolist() == [[2, 0, 2], [6, 0, 4], [0, 0, 1]]
    assert r.v.tolist() == [[3], [7], [1]]
    assert r.scores[0].tolist() == [1 * 2 + 3 * 2, 1 * 6 + 3 * 4, 3]
    assert r.scale == 3 and r.scaled[0].tolist() == pytest.approx([8 / 3, 18 / 3, 1])
    assert r.form == "x"


def test_default_d_k_is_width_of_q() -> None:
    r = compute(q=[[1, 2, 3]], k=[[1, 1, 1]], v=[[5]])
    assert r.d_k == 3 and r.scale == pytest.approx(math.sqrt(3))
    assert r.weights.tolist() == [[1.0]] and r.output.tolist() == [[5.0]]


def test_cross_attention_labels() -> None:
    r = compute(q=[[1, 0]] * 4, k=[[0, 1]] * 3, v=[[1]] * 3, tokens=["I", "am", "a", "student"],
                key_tokens=["je", "suis", "étudiant"])  # fmt: skip
    assert r.scores.shape == (4, 3)
    assert r.key_tokens == ["je", "suis", "étudiant"]
    assert compute(q=[[1]] * 2, k=[[1]] * 3, v=[[1]] * 3).key_tokens == ["k1", "k2", "k3"]
    assert compute(q=[[1]] * 2, k=[[1]] * 3, v=[[1]] * 3, tokens=["a", "b"]).tokens == ["a", "b"]


def test_causal_on_qkv_and_numpy_input() -> None:
    q = np.eye(3)
    r = compute(q=q, k=q, v=np.arange(9.0).reshape(3, 3), mask="causal", tokens=["a", "b", "c"])
    assert r.weights[0].tolist() == [1.0, 0.0, 0.0]
    assert np.triu(r.weights, 1).tolist() == np.zeros((3, 3)).tolist()
    assert r.output[0].tolist() == [0.0, 1.0, 2.0]


def test_huge_scores_do_not_overflow_softmax() -> None:
    r = compute(scores=[[1e6, -1e6, 0]], d_k=1e-6)
    assert r.weights.tolist() == [[1.0, 0.0, 0.0]]
    assert np.all(np.isfinite(r.scaled))


# ----------------------------------------------------------------------------- error paths


def err(**kwargs) -> str:
    with pytest.raises(PlaygroundError) as e:
        compute(**kwargs)
    assert isinstance(e.value, ValueError)
    return str(e.value)


QKV = {"q": [[1, 2]], "k": [[1, 2]], "v": [[1]]}
XW = {"x": [[1, 2]], "w_q": [[1], [2]], "w_k": [[1], [2]], "w_v": [[1], [2]]}


def test_no_input() -> None:
    assert "give x, w_q, w_k and w_v" in err()


def test_mixed_forms() -> None:
    m = err(**XW, q=[[1]])
    assert "not both" in m and "q" in m
    m = err(**QKV, scores=[[1]])
    assert "scores" in m and "q" in m and "k" in m


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [({"x": [[1]], "w_q": [[1]]}, "w_k, w_v"), ({"q": [[1]], "k": [[1]]}, "v"), ({"v": [[1]]}, "q, k")],
)
def test_incomplete_forms(kwargs: dict, missing: str) -> None:
    assert f"missing {missing}" in err(**kwargs)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ([[1, 2], [3]], ["q row 2 has 1 number but row 1 has 2", "same length"]),
        ([[1, float("nan")]], ["q row 1, column 2", "finite"]),
        ([[float("inf"), 1]], ["q row 1, column 1", "finite"]),
        ([[1, float("-inf")]], ["q row 1, column 2", "finite"]),
        ([[True, 1]], ["q row 1, column 1", "True", "numbers"]),
        ([[1, "2"]], ["q row 1, column 2", "'2'", "numbers"]),
        ([[1, None]], ["q row 1, column 2", "None"]),
        ([], ["q is empty"]),
        ([[]], ["q row 1 is empty"]),
        ("[[1]]", ["q must be a list of rows", "str"]),
        (5, ["q must be a list of rows", "int"]),
        ([1, 2], ["q row 1 must be a list", "int"]),
        ([["ab"]], ["q row 1, column 1", "'ab'"]),
        ([[1e7, 1]], ["q row 1, column 1", "between"]),
        ([[10**400, 1]], ["q row 1, column 1", "too large"]),
    ],
)
def test_bad_matrix(bad: object, words: list[str]) -> None:
    m = err(q=bad, k=[[1, 2]], v=[[1]])
    for w in words:
        assert w in m, (w, m)


def test_bad_matrix_named_in_each_position() -> None:
    assert err(q=[[1, 2]], k=[[1, 2]], v=[[float("nan")]]).startswith("v row 1")
    assert err(**{**XW, "w_v": [[1], ["x"]]}).startswith("w_v row 2")
    assert err(scores=[[1, 2], [3]]).startswith("scores row 2")


def test_too_big() -> None:
    m = err(q=[[1]] * (MAX_ROWS + 1), k=[[1]], v=[[1]])
    assert "q has 65 rows" in m and "at most 64" in m
    m = err(q=[[1]], k=[[1] * (MAX_COLS + 1)], v=[[1]])
    assert "k has 65 columns" in m and "at most 64" in m
    compute(q=[[1] * MAX_COLS] * MAX_ROWS, k=[[1] * MAX_COLS] * MAX_ROWS, v=[[1] * MAX_COLS] * MAX_ROWS)


def test_shape_mismatch_x_and_w() -> None:
    m = err(x=[[1] * 6] * 4, w_q=[[1] * 4] * 7, w_k=[[1] * 4] * 6, w_v=[[1] * 4] * 6)
    assert m == "x has 6 columns but w_q has 7 rows: x @ w_q needs them equal"
    m = err(x=[[1] * 6] * 4, w_q=[[1] * 4] * 6, w_k=[[1] * 4] * 6, w_v=[[1] * 3] * 5)
    assert "x has 6 columns but w_v has 5 rows" in m


def test_shape_mismatch_w_q_w_k_widths() -> None:
    m = err(x=[[1] * 6], w_q=[[1] * 4] * 6, w_k=[[1] * 3] * 6, w_v=[[1] * 3] * 6)
    assert "w_q has 4 columns but w_k has 3" in m and "d_k" in m


def test_shape_mismatch_q_k_and_k_v() -> None:
    assert err(q=[[1] * 4], k=[[1] * 3], v=[[1]]) == (
        "q has width 4 but k has width 3: q and k must have the same width (d_k)"
    )
    assert err(q=[[1]], k=[[1]] * 4, v=[[1]] * 3) == "k has 4 rows but v has 3: each key needs one value"
    m = err(scores=[[1, 2, 3]], v=[[1], [2]])
    assert "scores has 3 columns" in m and "v has 2 rows" in m


def test_non_square_causal() -> None:
    m = err(q=[[1]] * 2, k=[[1]] * 3, v=[[1]] * 3, mask="causal")
    assert "causal" in m and "2 queries and 3 keys" in m


@pytest.mark.parametrize("mask", ["Causal", "future", None, 1, ["causal"]])
def test_bad_mask(mask: object) -> None:
    assert "mask must be 'none' or 'causal'" in err(**QKV, mask=mask)


@pytest.mark.parametrize("d_k", [0, -4, float("nan"), float("inf"), True, "64", 1e9, [4]])
def test_bad_d_k(d_k: object) -> None:
    assert "d_k must be a positive number" in err(**QKV, d_k=d_k)


def test_bad_tokens() -> None:
    m = err(q=[[1]] * 2, k=[[1]] * 2, v=[[1]] * 2, tokens=["a"])
    assert "tokens has 1 label but there are 2 query rows" in m
    m = err(q=[[1]] * 2, k=[[1]] * 3, v=[[1]] * 3, tokens=["a", "b", "c"])
    assert "2 query rows" in m
    assert "labels must be strings" in err(**QKV, tokens=[1])
    assert "list of strings" in err(**QKV, tokens="a")
    assert "at most 100" in err(**QKV, tokens=["x" * 101])
    m = err(q=[[1]] * 2, k=[[1]] * 3, v=[[1]] * 3, key_tokens=["a"])
    assert "key_tokens has 1 label but there are 3 key rows" in m


def test_unknown_preset() -> None:
    with pytest.raises(PlaygroundError, match="unknown preset"):
        preset_arguments("nope")
