"""Scale (issue 18, part 7): the lecture's GPT-3 figures exactly."""

from __future__ import annotations

import pytest


def test_gpt3_defaults_reproduce_the_lecture(client):
    r = client.get("/api/scale")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["total"] == 175_181_291_520
    assert b["matrices"] == 27_938
    counts = {w["name"]: w["count"] for w in b["weights"]}
    assert counts["embedding"] == 12_288 * 50_257 == 617_558_016
    assert counts["key"] == 128 * 12_288 * 96 * 96 == 14_495_514_624
    assert counts["up-projection"] == 49_152 * 12_288 * 96
    assert b["d_head"] == 128 and b["d_ff"] == 49_152
    assert b["attention"]["per_head"] == 2048**2
    assert b["attention"]["per_layer"] == 2048**2 * 96 == 402_653_184
    assert b["growth"][-1] == [2048, 2048**2 * 96] and b["growth"][0] == [0, 0]
    n, v = b["growth"][20]
    assert v == n * n * 96


def test_small_shape(client):
    b = client.get("/api/scale", params={"d_model": 512, "heads": 8, "layers": 6, "vocab": 37000, "tokens": 10}).json()
    assert b["d_head"] == 64 and b["attention"]["per_layer"] == 800
    assert b["total"] == 2 * 512 * 37000 + 4 * 64 * 512 * 8 * 6 + 2 * 2048 * 512 * 6


@pytest.mark.parametrize("params, needle", [
    ({"heads": 7}, "divide"), ({"d_model": 0}, "d_model"), ({"tokens": 10**8}, "tokens"), ({"vocab": "x"}, "vocab"),
])
def test_bad_input_is_4xx(client, params, needle):
    r = client.get("/api/scale", params=params)
    assert 400 <= r.status_code < 500 and needle in str(r.json()["detail"]), r.text
