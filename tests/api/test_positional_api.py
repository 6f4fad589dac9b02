"""GET /api/positional: the lecture's table, every kind, a model's learned table, the rotation M_k, and its bounds."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attnscope.inspection import positional

SEEDS = Path("/work/shared/seeds/examples.json")
ROBOT = [[0.00, 1.00, 0.00, 1.00], [0.84, 0.54, 0.10, 1.00], [0.91, -0.42, 0.20, 0.98], [0.14, -0.99, 0.30, 0.96]]


def get(client, **params):
    return client.get("/api/positional", params=params)


def sinusoid(positions: np.ndarray, d: int, n: float) -> np.ndarray:
    """The lecture's formula, written out again: P(k, 2i) = sin(k / n^(2i/d)), P(k, 2i+1) = cos(k / n^(2i/d))."""
    out = np.zeros((len(positions), d))
    for row, k in enumerate(positions):
        for j in range(d):
            i = j // 2
            angle = k / n ** (2 * i / d)
            out[row, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return out


def test_i_am_a_robot_table_to_two_decimals(client):
    r = get(client, kind="sinusoidal", d=4, n=100, positions=4)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("kind", "positions", "d", "n")} == {"kind": "sinusoidal", "positions": 4, "d": 4, "n": 100.0}
    values = np.array(body["values"])
    assert (np.round(values, 2) + 0.0).tolist() == ROBOT
    if SEEDS.exists():  # the same numbers as the shared seeds file, when it is there
        assert json.loads(SEEDS.read_text())["i_am_a_robot_pe"]["values_rounded_2dp"] == ROBOT
    np.testing.assert_allclose(values, sinusoid(np.arange(4), 4, 100.0), atol=1e-7)
    np.testing.assert_allclose(np.array(body["similarity"]), values @ values.T, atol=1e-6)


@pytest.mark.parametrize("kind", ["sinusoidal", "integer", "binary", "rotary"])
def test_every_kind_has_its_shape_and_dot_products(client, kind):
    body = get(client, kind=kind, d=8, positions=10, n=50).json()
    v, s = np.array(body["values"]), np.array(body["similarity"])
    assert v.shape == (10, 8) and s.shape == (10, 10)
    np.testing.assert_allclose(s, v @ v.T, atol=1e-5)
    assert body["n"] == (50.0 if kind in ("sinusoidal", "rotary") else None)
    if kind == "integer":
        assert (v == np.arange(10)[:, None]).all()
    if kind == "binary":
        assert v[5].tolist() == [0, 0, 0, 0, 0, 1, 0, 1]  # 5 = 0b101, least significant bit last
    if kind in ("sinusoidal", "rotary"):  # only the distance counts: each diagonal of the matrix is constant
        for off in range(1, 10):
            diag = np.diagonal(s, off)
            np.testing.assert_allclose(diag, diag[0], atol=1e-6)


def test_defaults_are_sinusoidal_64_dims_base_10000(client):
    body = get(client).json()
    assert (body["kind"], body["d"], body["n"], body["positions"]) == ("sinusoidal", 64, 10000.0, 32)
    np.testing.assert_allclose(np.array(body["values"]), sinusoid(np.arange(32), 64, 10000.0), atol=1e-6)


def test_rotation_maps_pe_pos_to_pe_pos_plus_k(client):
    d, n, k, p = 8, 100.0, 3, 12
    body = get(client, kind="sinusoidal", d=d, n=n, positions=p, k=k).json()
    rot = body["rotation"]
    m = np.array(rot["matrix"])
    assert rot["k"] == k and m.shape == (d, d)
    pe = np.array(body["values"])
    expected = sinusoid(np.arange(k, p + k), d, n)  # PE(pos + k), straight from the formula
    np.testing.assert_allclose(np.array(rot["shifted"]), expected, atol=1e-6)
    np.testing.assert_allclose(pe @ m, expected, atol=1e-6)
    np.testing.assert_allclose(np.array(rot["rotated"]), expected, atol=1e-6)
    assert 0 <= rot["check"] < 1e-9
    for i in range(d // 2):  # 2x2 rotation blocks on the diagonal, zeros elsewhere
        b = k / n ** (2 * i / d)
        block = m[2 * i:2 * i + 2, 2 * i:2 * i + 2]
        np.testing.assert_allclose(block, [[np.cos(b), -np.sin(b)], [np.sin(b), np.cos(b)]], atol=1e-7)
    off = m.copy()
    for i in range(d // 2):
        off[2 * i:2 * i + 2, 2 * i:2 * i + 2] = 0
    assert np.abs(off).max() == 0
    assert "rotation" not in get(client, kind="sinusoidal", d=8).json()


@pytest.mark.slow
def test_learned_is_minilms_own_position_table(client, minilm):
    p = 20
    r = get(client, kind="learned", model="minilm", positions=p)
    assert r.status_code == 200, r.text
    body = r.json()
    with torch.inference_mode():
        table = minilm.model.embeddings.position_embeddings.weight[:p].double()
        sim = (table @ table.T).numpy()
    assert (body["kind"], body["positions"], body["d"], body["n"], body["model"]) == ("learned", p, 384, None, "minilm")
    np.testing.assert_allclose(np.array(body["values"]), table.numpy(), atol=1e-7)
    np.testing.assert_allclose(np.array(body["similarity"]), sim, atol=1e-6)


@pytest.mark.slow
def test_rotary_with_a_model_uses_its_base_and_head_size(client, smollm2):
    cfg = smollm2.model.config
    theta = float(cfg.rope_parameters["rope_theta"])
    r = get(client, kind="rotary", model="smollm2", positions=6)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["d"], body["n"], body["model"]) == (smollm2.info.d_head, theta, "smollm2")
    np.testing.assert_allclose(np.array(body["values"]), positional.encode("rotary", 6, body["d"], theta).values, atol=1e-7)
    r = get(client, kind="learned", model="smollm2")
    assert r.status_code == 422
    assert r.json()["detail"] == "smollm2 has no learned position table: it uses rotary positions (try kind=rotary)"


def test_f16_decodes_to_the_json_numbers(client):
    j = get(client, kind="sinusoidal", d=16, positions=20, k=2).json()
    f = get(client, kind="sinusoidal", d=16, positions=20, k=2, format="f16").json()
    assert f["format"] == "f16"

    def dec(s, shape):
        return np.frombuffer(base64.b64decode(s), dtype="<f2").reshape(shape).astype(np.float64)

    np.testing.assert_allclose(dec(f["values"], (20, 16)), j["values"], atol=1e-3)
    np.testing.assert_allclose(dec(f["similarity"], (20, 20)), j["similarity"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(dec(f["rotation"]["matrix"], (16, 16)), j["rotation"]["matrix"], atol=1e-3)


@pytest.mark.parametrize("params, status, needle", [
    ({"positions": 0}, 422, "positions must be between 1 and 512, got 0"),
    ({"positions": 513}, 422, "positions must be between 1 and 512"),
    ({"d": 1}, 422, "d must be between 2 and 512"),
    ({"d": 100_000}, 422, "d must be between 2 and 512"),
    ({"d": "two"}, 422, "d: "),
    ({"d": 2.5}, 422, "d: "),
    ({"n": 1}, 422, "n must be a finite number greater than 1"),
    ({"n": "nan"}, 422, "n must be a finite number"),
    ({"n": "inf"}, 422, "n must be a finite number"),
    ({"kind": "fourier"}, 422, "kind: "),
    ({"kind": "rotary", "d": 7}, 422, "d must be even for rotary"),
    ({"kind": "sinusoidal", "d": 7, "k": 1}, 422, "d must be even for a rotation matrix"),
    ({"kind": "sinusoidal", "k": -1}, 422, "k must be between 0 and 512"),
    ({"kind": "sinusoidal", "k": 10_000}, 422, "k must be between 0 and 512"),
    ({"kind": "binary", "k": 1}, 422, "applies to kind=sinusoidal"),
    ({"kind": "learned"}, 422, "kind=learned needs a model"),
    ({"kind": "learned", "model": "gpt-17"}, 404, "unknown model 'gpt-17'"),
    ({"kind": "learned", "model": "/etc/passwd"}, 404, "unknown model"),
    ({"kind": "learned", "model": "minilm", "positions": 513}, 422, "positions must be between 1 and 512"),
    ({"kind": "rotary", "model": "minilm"}, 422, "minilm does not rotate its queries and keys: it uses learned positions"),
    ({"format": "xml"}, 422, "format"),
])
def test_bounds_and_bad_values_get_a_clear_4xx(client, params, status, needle):
    r = get(client, **params)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_openapi_documents_the_route(client):
    op = client.get("/openapi.json").json()["paths"]["/api/positional"]["get"]
    assert op["summary"]
    assert {p["name"] for p in op["parameters"]} >= {"kind", "positions", "d", "n", "model", "k", "format"}
