"""The long trace against the model's own eager attention, at lengths where eager fits (≤ 1,024 tokens).

Kept in float32, every weight recomputed from q, k and the log-sum-exp equals ``output_attentions``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.longctx import TILE, long_trace, zoom_levels
from attnscope.inspection.longctx.store import pool
from tests.long.long_fixtures import LONG, passages_text, tiny_long

ATOL = 1e-5


@pytest.fixture(scope="module", params=list(LONG))
def traced(request):
    """(family, adapter, long trace, eager weights (L, H, T, T)) of a ~900-token text of 8 passages."""
    adapter, model = tiny_long(request.param)
    text = passages_text()
    lt = long_trace(adapter, text, dtype="float32")
    ids = adapter.tokenized(text)[0]["input_ids"]
    with torch.inference_mode():
        own = model(input_ids=ids, output_attentions=True).attentions
    return request.param, adapter, lt, torch.stack([a[0] for a in own]).numpy()


def test_zoom_levels_follow_the_formula():
    assert [zoom_levels(t) for t in (1, 256, 257, 512, 513, 8192, 100_000)] == [1, 1, 2, 2, 3, 6, 10]


def test_the_finest_tiles_are_the_eager_weights(traced):
    _, _, lt, eager = traced
    t, levels = lt.t, lt.zoom_levels
    assert t > 800 and levels == zoom_levels(t) == 3
    n = -(-t // TILE)
    for layer in range(len(lt.layers)):
        for h in range(lt.heads):
            full = np.zeros((t, t), np.float32)
            for y in range(n):
                for x in range(n):
                    tile = lt.tile(layer, h, levels - 1, x, y)
                    (r0, r1), (c0, c1) = tile["rows"], tile["cols"]
                    assert (r0, c0) == (y * TILE, x * TILE) and r1 == min(t, r0 + TILE) and c1 == min(t, c0 + TILE)
                    full[r0:r1, c0:c1] = tile["weights"]
            np.testing.assert_allclose(full, eager[layer, h], atol=ATOL)


def test_rows_and_received_sums_equal_eager_and_rows_sum_to_one(traced):
    _, _, lt, eager = traced
    for layer in range(len(lt.layers)):
        for h in range(lt.heads):
            for q in (0, 1, lt.t // 2, lt.t - 1):
                row = lt.row(layer, h, q)
                np.testing.assert_allclose(row, eager[layer, h, q], atol=ATOL)
                assert abs(row.sum() - 1) < 1e-5
            np.testing.assert_allclose(lt.received(layer, h), eager[layer, h].sum(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(lt.row(layer, "mean", 5), eager[layer, :, 5].mean(0), atol=ATOL)
        np.testing.assert_allclose(lt.received(layer, "mean"), eager[layer].mean(0).sum(0), rtol=1e-5, atol=1e-4)


def test_pooled_tiles_equal_max_and_sum_pooling_of_the_eager_matrix(traced):
    _, _, lt, eager = traced
    levels = lt.zoom_levels
    for layer in range(len(lt.layers)):
        for head in [0, lt.heads - 1, "mean"]:
            w = torch.from_numpy(eager[layer].mean(0) if head == "mean" else eager[layer, head])
            for reduce in ("max", "sum"):
                z0 = lt.tile(layer, head, 0, 0, 0, reduce)
                assert z0["rows"] == [0, lt.t] and z0["cols"] == [0, lt.t]
                want = pool(w, 2 ** (levels - 1), reduce).numpy()
                np.testing.assert_allclose(z0["weights"], want, rtol=1e-5, atol=1e-5)
                z1 = lt.tile(layer, head, 1, 1, 0, reduce)  # level 1: cells of 2 x 2 pairs, second tile column
                (r0, r1), (c0, c1) = z1["rows"], z1["cols"]
                assert (r0, c0) == (0, TILE * 2) and z1["shape"] == list(z1["weights"].shape)
                want = pool(w[r0:r1, c0:c1], 2, reduce).numpy()
                np.testing.assert_allclose(z1["weights"], want, rtol=1e-5, atol=1e-5)


def test_causal_zeros_and_the_sliding_window(traced):
    family, _, lt, eager = traced
    tile = lt.tile(0, 0, lt.zoom_levels - 1, 1, 1)["weights"]  # a diagonal tile
    if family == "bert":
        assert (tile > 0).all()
        return
    assert np.all(np.triu(tile, 1) == 0) and np.all(np.diag(tile) > 0)
    row = lt.row(0, 0, lt.t - 1)
    if family == "mistral":  # keys 96 or more back are masked
        assert np.all(row[: lt.t - 96] == 0) and np.all(row[lt.t - 96:] > 0)
        assert lt.layers[0].window == 96
    else:
        assert np.all(row > 0)


def test_passage_masses_sum_to_one_and_match_eager(traced):
    _, _, lt, eager = traced
    assert [p["index"] for p in lt.passages] == list(range(8))
    assert lt.passages[0]["title"] == "Passage 0" and lt.passages[-1]["end"] == lt.t
    pid = lt.passage_of.numpy()
    for layer in range(len(lt.layers)):
        m = lt.passage_mass(layer, 0)
        np.testing.assert_allclose(m.sum(1), 1, atol=1e-5)
        want = np.stack([np.stack([eager[layer, 0][pid == a][:, pid == b].sum(1).mean() for b in range(8)])
                         for a in range(8)])
        np.testing.assert_allclose(m, want, atol=1e-5)


def test_distance_profile_is_the_mean_weight_per_bin(traced):
    family, _, lt, eager = traced
    bins, mean = lt.distance(1, 2)
    assert bins[0] == [0, 1] and bins[1] == [1, 2] and bins[2] == [2, 4] and bins[-1][1] >= lt.t
    i, j = np.indices((lt.t, lt.t))
    d = np.abs(i - j)
    keep = np.ones_like(d, bool) if family == "bert" else (j <= i)
    if family == "mistral":
        keep &= (i - j) < 96
    for b, (lo, hi) in enumerate(bins):
        sel = keep & (d >= lo) & (d < hi)
        want = eager[1, 2][sel].mean() if sel.any() else 0.0
        assert abs(mean[b] - want) < 1e-5, (b, lo, hi)


def test_nothing_t_by_t_is_kept(traced):
    """The store holds q, k, lse and bounded overviews: far less than one layer of T × T weights per head."""
    _, adapter, lt, _ = traced
    t = lt.t
    for st in lt.layers:
        for tensor in (st.q, st.k, st.lse, st.pool_max, st.pool_sum, st.received, st.mass, st.dist_sum):
            assert tensor.numel() < t * t, tensor.shape
    assert lt.nbytes() < len(lt.layers) * adapter.info.heads * t * t * 4


def test_bad_tile_parameters_are_readable_errors(traced):
    _, _, lt, _ = traced
    levels = lt.zoom_levels
    for kwargs, match in [(dict(z=levels), "zoom levels 0 to"), (dict(z=0, x=1), "tiles 0 to 0"),
                          (dict(z=levels - 1, y=9), "out of range"), (dict(head=99), "head 99"),
                          (dict(layer=7), "layer 7")]:
        args = dict(layer=0, head=0, z=0, x=0, y=0) | kwargs
        with pytest.raises(ValueError, match=match):
            lt.tile(args["layer"], args["head"], args["z"], args["x"], args["y"])
    with pytest.raises(ValueError, match="query"):
        lt.row(0, 0, lt.t)


def test_float16_keeps_half_and_stays_close():
    adapter, model = tiny_long("llama")
    text = passages_text(3)
    lt16, lt32 = long_trace(adapter, text, dtype="float16"), long_trace(adapter, text, dtype="float32")
    assert lt16.layers[0].q.dtype == torch.float16
    assert lt16.layers[0].q.nbytes * 2 == lt32.layers[0].q.nbytes
    np.testing.assert_allclose(lt16.row(1, 0, lt16.t - 1).sum(), 1, atol=1e-5)  # self-consistent: rows sum to 1
    np.testing.assert_allclose(lt16.row(1, 0, lt16.t - 1), lt32.row(1, 0, lt32.t - 1), atol=5e-3)


def test_the_limit_is_the_context_and_the_budget():
    from attnscope.inspection.longctx import long_limit

    adapter, _ = tiny_long("llama")
    assert long_limit(adapter, 2**40) == 4096  # the model's own context
    small = long_limit(adapter, 4 * 2**20)
    assert 0 < small < 4096
    with pytest.raises(ValueError, match="at most"):
        long_trace(adapter, passages_text(30, 60), max_bytes=4 * 2**20)


@pytest.mark.slow
def test_smollm2s_long_trace_equals_its_own_eager_attention(smollm2):
    """The real SmolLM2 (GQA, RoPE) at ~600 tokens: rows and received sums equal output_attentions (float32)."""
    text = "\n\n".join(f"Paragraph {i}: the keeper of the lighthouse counted {i + 3} ships before dawn, and wrote "
                       "each name in the log by the lamp." for i in range(24))
    lt = long_trace(smollm2, text, dtype="float32")
    assert 400 < lt.t <= 1024 and lt.zoom_levels == zoom_levels(lt.t)
    ids = smollm2.tokenized(text)[0]["input_ids"]
    with torch.inference_mode():
        own = smollm2.model(input_ids=ids, output_attentions=True, use_cache=False).attentions
    for layer in (0, 14, 29):
        w = own[layer][0].numpy()  # (H, T, T)
        for h in (0, 4, 8):
            np.testing.assert_allclose(lt.row(layer, h, lt.t - 1), w[h, -1], atol=1e-5)
            np.testing.assert_allclose(lt.received(layer, h), w[h].sum(0), rtol=1e-4, atol=1e-4)
        exact = lt.tile(layer, 3, lt.zoom_levels - 1, 0, 1)
        (r0, r1), (c0, c1) = exact["rows"], exact["cols"]
        np.testing.assert_allclose(exact["weights"], w[3, r0:r1, c0:c1], atol=1e-5)
