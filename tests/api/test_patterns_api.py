"""Efficient-attention patterns on the textbook encoder: the masks, exact zeros, and the translation."""

from __future__ import annotations

import numpy as np
import pytest

from attnscope.inspection.patterns import pattern_mask

TEXT = "le chat noir mange la pomme rouge"


def test_masks_by_hand():
    loc = pattern_mask("local", 5, window=1)
    assert [[int(not m) for m in row] for row in loc] == [
        [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]
    st = ~pattern_mask("strided", 5, stride=2)
    assert st[0].tolist() == [True, False, True, False, True] and st[1].tolist() == [False, True, False, True, False]
    gl = ~pattern_mask("global", 4, global_tokens=(0,))
    assert gl[0].all() and gl[:, 0].all() and gl[2].tolist() == [True, False, True, False]


def post(client, **body):
    r = client.post("/api/patterns", json={"model": "textbook", "text": TEXT, **body})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("body", [{"pattern": "local", "window": 1}, {"pattern": "strided", "stride": 3},
                                  {"pattern": "global", "tokens": [0, 3]}])
def test_pattern_zeroes_exactly_the_masked_keys(client, body):
    res = post(client, **body)
    mask = np.array(res["mask"])
    w = np.array(res["patterned"]["weights"])  # (L, H, S, S)
    assert w.shape[-1] == len(res["tokens"]) == 7
    assert np.all(w[..., mask] == 0.0)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    assert res["kept"] == int((~mask).sum())


def test_full_attention_equals_the_models_own_encoder_attention(client):
    res = post(client, pattern="local", window=1)
    own = client.post("/api/attention", json={"model": "textbook", "text": TEXT, "block": "encoder"}).json()
    np.testing.assert_allclose(np.array(res["full"]["weights"]), np.array(own["weights"]), atol=1e-5)
    tr = client.post("/api/translate", json={"model": "textbook", "text": TEXT}).json()
    assert res["full"]["translation"] == tr["text"] == "the black cat eats the red apple"


def test_window_zero_leaves_each_token_alone(client):
    res = post(client, pattern="local", window=0)
    w = np.array(res["patterned"]["weights"])
    np.testing.assert_array_equal(w[0], np.broadcast_to(np.eye(7), w[0].shape))  # first layer: only itself
    assert res["patterned"]["translation"] != ""  # the model still answers, whatever it says


@pytest.mark.parametrize("body, needle", [
    ({"pattern": "global", "tokens": [9]}, "global token 9 is out of range"),
    ({"pattern": "diagonal"}, "pattern"),
    ({"pattern": "strided", "stride": 0}, "stride"),
    ({"model": "minilm"}, "textbook"),
])
def test_bad_patterns(client, body, needle):
    r = client.post("/api/patterns", json={"model": "textbook", "text": TEXT, **body})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]
