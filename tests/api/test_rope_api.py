"""RoPE demo (issue 18, part 4): q and k rotated by position; q_m · k_n depends only on m − n."""

from __future__ import annotations

import numpy as np
import pytest

TEXT = "Yesterday Alice was wearing a jacket and she was freezing"


def numpy_rope(v: np.ndarray, pos: int, base: float) -> np.ndarray:
    """Independent RoPE as LLaMA applies it: pair (i, i + d/2) turned by pos · base^(−2i/d)."""
    d = v.shape[0]
    theta = base ** (-np.arange(0, d, 2) / d) * pos  # (d/2,)
    cos, sin = np.cos(np.concatenate([theta, theta])), np.sin(np.concatenate([theta, theta]))
    half = np.concatenate([-v[d // 2:], v[: d // 2]])
    return v * cos + half * sin


@pytest.fixture(scope="module")
def demo(client):
    r = client.post("/api/rope-demo", json={"model": "smollm2", "text": TEXT, "layer": 2, "head": 4,
                                            "query": 8, "key": 2, "positions": 12})
    assert r.status_code == 200, r.text
    return r.json()


def test_rotation_matches_numpy_and_dots_depend_on_offset_only(demo):
    q, k, base = np.array(demo["q_raw"]), np.array(demo["k_raw"]), demo["base"]
    assert base == 100000.0 or base > 0
    for m in (0, 3, 11):
        np.testing.assert_allclose(demo["q_rotated"][m], numpy_rope(q, m, base), atol=1e-4 * np.abs(q).max())
    dots = np.array(demo["dots"])
    ref = np.array([[numpy_rope(q, m, base) @ numpy_rope(k, n, base) for n in range(12)] for m in range(12)])
    np.testing.assert_allclose(dots, ref, rtol=1e-4, atol=1e-3)
    # Toeplitz: constant along each diagonal (m − n fixed)
    np.testing.assert_allclose(dots[1:, 1:], dots[:-1, :-1], atol=1e-3 * np.abs(dots).max())
    assert demo["spread"] < 1e-3 * np.abs(dots).max()
    assert demo["by_offset"][11 + 5] == pytest.approx(dots[7, 2], rel=1e-4)
    # the norm of q is unchanged by rotation
    assert np.linalg.norm(demo["q_rotated"][7]) == pytest.approx(np.linalg.norm(q), rel=1e-5)


def test_the_models_own_score_sits_on_the_grid(demo):
    assert demo["actual"] == pytest.approx(demo["dots"][8][2], rel=1e-3)


@pytest.mark.parametrize("body, needle", [
    ({"model": "minilm", "query": 0, "key": 0}, "rotary"),
    ({"model": "smollm2", "query": 99, "key": 0}, "query"),
    ({"model": "smollm2", "query": 0, "key": 0, "head": 9}, "head"),
    ({"model": "smollm2", "query": 0, "key": 0, "positions": 65}, "positions"),
])
def test_bad_input_is_4xx(client, body, needle):
    r = client.post("/api/rope-demo", json={"text": TEXT, **body})
    assert 400 <= r.status_code < 500, r.text
    assert needle in str(r.json()["detail"])
