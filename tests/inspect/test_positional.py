"""Unit tests for attnscope.inspection.positional: the lecture's table, the rotation property, by-hand kinds, bounds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from attnscope.inspection.positional import (
    I_AM_A_ROBOT,
    KINDS,
    PositionalError,
    apply_rotary,
    encode,
    learned,
    rotation_matrix,
)


def encode_args(preset: dict) -> dict:
    return {k: preset[k] for k in ("kind", "positions", "d", "n")}


def test_i_am_a_robot_table() -> None:
    assert I_AM_A_ROBOT["tokens"] == ["I", "am", "a", "Robot"]
    r = encode(**encode_args(I_AM_A_ROBOT))
    assert (r.d, r.n, r.positions) == (4, 100.0, 4)
    assert np.round(r.values, 2).tolist() == [
        [0.00, 1.00, 0.00, 1.00],
        [0.84, 0.54, 0.10, 1.00],
        [0.91, -0.42, 0.20, 0.98],
        [0.14, -0.99, 0.30, 0.96],
    ]


def test_sinusoidal_formula_by_hand() -> None:
    d, n = 6, 10000.0
    r = encode("sinusoidal", 5, d, n)
    for pos in range(5):
        for i in range(d // 2):
            angle = pos / n ** (2 * i / d)
            assert r.values[pos, 2 * i] == pytest.approx(math.sin(angle))
            assert r.values[pos, 2 * i + 1] == pytest.approx(math.cos(angle))


def test_sinusoidal_odd_d_last_column_is_sin_of_next_pair() -> None:
    r = encode("sinusoidal", 4, 5, 100)
    assert r.values.shape == (4, 5)
    for pos in range(4):
        assert r.values[pos, 4] == pytest.approx(math.sin(pos / 100 ** (4 / 5)))


def test_to_dict_fields_and_similarity() -> None:
    r = encode("sinusoidal", 3, 4, 100)
    d = r.to_dict()
    assert list(d) == ["kind", "positions", "d", "n", "values", "similarity"]
    json.dumps(d, allow_nan=False)
    v = d["values"]
    for i in range(3):
        for j in range(3):
            assert d["similarity"][i][j] == pytest.approx(sum(a * b for a, b in zip(v[i], v[j])))
    assert encode("integer", 2, 2).to_dict()["n"] is None


@pytest.mark.parametrize(
    ("pos", "k", "d", "n"),
    [(0, 1, 4, 100), (3, 5, 4, 100), (7, 2, 8, 10000), (10, -4, 16, 1000), (1, 100, 2, 1.5), (50, 13, 64, 10000)],
)
def test_shift_is_a_rotation(pos: int, k: int, d: int, n: float) -> None:
    pe = encode("sinusoidal", max(pos, pos + k) + 1, d, n).values
    m = rotation_matrix(k, d, n)
    assert np.allclose(pe[pos + k], pe[pos] @ m)
    assert np.allclose(m @ m.T, np.eye(d))  # orthogonal


def test_rotation_matrix_same_for_every_position() -> None:
    pe = encode("sinusoidal", 40, 8, 100).values
    m = rotation_matrix(3, 8, 100)
    assert np.allclose(pe[:-3] @ m, pe[3:])
    assert np.allclose(rotation_matrix(0, 8, 100), np.eye(8))
    assert np.allclose(rotation_matrix(2, 8, 100) @ rotation_matrix(3, 8, 100), rotation_matrix(5, 8, 100))


def test_rotation_matrix_block_by_hand() -> None:
    m = rotation_matrix(2, 2, 100)  # theta_0 = 1, b = 2
    assert np.allclose(m, [[math.cos(2), -math.sin(2)], [math.sin(2), math.cos(2)]])


@pytest.mark.parametrize(("d", "n"), [(4, 100), (8, 10000), (32, 500)])
def test_sinusoidal_similarity_depends_only_on_distance(d: int, n: float) -> None:
    s = encode("sinusoidal", 20, d, n).similarity
    for i in range(20):
        for j in range(20):
            assert s[i, j] == pytest.approx(s[0, abs(i - j)])
    assert np.allclose(np.diag(s), d / 2)


def test_integer_by_hand() -> None:
    r = encode("integer", 3, 2)
    assert r.values.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert r.similarity.tolist() == [[0, 0, 0], [0, 2, 4], [0, 4, 8]]
    assert r.n is None


def test_binary_by_hand() -> None:
    r = encode("binary", 6, 3)
    assert r.values.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1]]
    assert r.similarity[5].tolist() == [0, 1, 0, 1, 1, 2]
    wrapped = encode("binary", 6, 2).values  # 4 and 5 need 3 bits: they wrap to 0 and 1
    assert wrapped[4].tolist() == [0, 0] and wrapped[5].tolist() == [0, 1]
    wide = encode("binary", 1024, 1024).values
    assert wide[1023, -10:].tolist() == [1] * 10 and wide[1023, :-10].sum() == 0


def test_rotary_values_and_relative_similarity() -> None:
    d, n = 4, 100
    r = encode("rotary", 6, d, n)
    for pos in range(6):
        for i in range(d // 2):
            a = pos * n ** (-2 * i / d)
            assert r.values[pos, 2 * i] == pytest.approx(math.cos(a))
            assert r.values[pos, 2 * i + 1] == pytest.approx(math.sin(a))
    for i in range(6):
        for j in range(6):
            assert r.similarity[i, j] == pytest.approx(sum(math.cos((i - j) * n ** (-2 * p / d)) for p in range(2)))


def test_apply_rotary_scores_depend_only_on_offset() -> None:
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 8)), rng.normal(size=(1, 8))
    def score(a: int, b: int) -> float:
        return float(apply_rotary(q, 100, start=a)[0] @ apply_rotary(k, 100, start=b)[0])
    assert score(3, 1) == pytest.approx(score(12, 10))
    assert score(0, 0) == pytest.approx(float(q[0] @ k[0]))
    # rotating row t of a unit pair (1, 0) gives the rotary table's values
    ones = np.tile([1.0, 0.0], 2)[None, :].repeat(5, axis=0)
    assert np.allclose(apply_rotary(ones, 100), encode("rotary", 5, 4, 100).values)
    with pytest.raises(PositionalError, match="even"):
        apply_rotary(np.ones((2, 3)))


def test_learned_slices_and_similarity() -> None:
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    r = learned(table, 3)
    assert (r.kind, r.positions, r.d, r.n) == ("learned", 3, 2, None)
    assert r.values.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert r.similarity.tolist() == [[1, 3, 5], [3, 13, 23], [5, 23, 41]]
    assert learned(table, 6).values.shape == (6, 2)


@pytest.mark.parametrize(
    ("matrix", "positions", "words"),
    [
        (np.zeros((6, 2)), 7, "positions must be a whole number between 1 and 6 (the table has 6 rows), got 7"),
        (np.zeros((6, 2)), 0, "between 1 and 6"),
        (np.zeros((2000, 2)), 1025, "between 1 and 1024"),
        (np.zeros(6), 1, "2-D"),
        (np.array([[1.0, np.nan]]), 1, "NaN"),
        (np.array([["a"]]), 1, "2-D matrix of numbers"),
    ],
)
def test_learned_errors(matrix: np.ndarray, positions: int, words: str) -> None:
    with pytest.raises(PositionalError) as e:
        learned(matrix, positions)
    assert words in str(e.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sine", 4, 4), "kind must be one of sinusoidal, integer, binary, rotary, got 'sine'"),
        (("sinusoidal", 0, 4), "positions must be a whole number between 1 and 1024, got 0"),
        (("sinusoidal", 1025, 4), "positions must be a whole number between 1 and 1024, got 1025"),
        (("sinusoidal", 4.0, 4), "positions must be a whole number between 1 and 1024, got 4.0"),
        (("sinusoidal", True, 4), "positions must be a whole number"),
        (("sinusoidal", 4, 5000), "d must be a whole number between 2 and 1024, got 5000"),
        (("integer", 4, 1), "d must be a whole number between 2 and 1024, got 1"),
        (("binary", 4, "8"), "got '8'"),
        (("rotary", 4, 5), "d must be even for rotary (dimensions go in pairs), got 5"),
        (("sinusoidal", 4, 4, 1), "n must be a finite number greater than 1, got 1"),
        (("sinusoidal", 4, 4, 0.5), "greater than 1"),
        (("sinusoidal", 4, 4, float("inf")), "got inf"),
        (("sinusoidal", 4, 4, float("nan")), "got nan"),
        (("sinusoidal", 4, 4, "100"), "got '100'"),
    ],
)
def test_encode_bounds(args: tuple, message: str) -> None:
    with pytest.raises(PositionalError) as e:
        encode(*args)
    assert isinstance(e.value, ValueError)
    assert message in str(e.value)


def test_encode_extremes_are_fine() -> None:
    for kind in KINDS:
        r = encode(kind, 1024, 2)
        assert r.values.shape == (1024, 2) and r.similarity.shape == (1024, 1024)
        assert np.all(np.isfinite(r.values))
    assert encode("sinusoidal", 1, 1024).values.shape == (1, 1024)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 5, 100), "d must be even"),
        ((1.5, 4, 100), "k must be a whole number"),
        ((1, 4, 1), "n must be"),
        ((1, 2000, 100), "between 2 and 1024"),
    ],
)
def test_rotation_matrix_errors(args: tuple, message: str) -> None:
    with pytest.raises(PositionalError, match=message):
        rotation_matrix(*args)
