"""Activation patching: all heads restore the clean run, none leave the corrupt one, batched = one at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnscope.inspection.hooks import hooks
from attnscope.inspection.patch import PATCH_PRESETS, Site, forwards_goal, patch, patched_logits
from tests.inspect import family_fixtures as ff

CLEAN = "The animal didn't cross the street because it was too"
CORRUPT = "The street didn't cross the animal because it was too"


@pytest.fixture(params=["llama", "gpt2"])
def adapter(request):
    return ff.tiny(request.param)


def all_heads(adapter) -> list[Site]:
    return [Site("head", layer, h) for layer in range(adapter.info.layers) for h in range(adapter.info.heads)]


def test_patching_every_head_restores_clean_and_none_changes_nothing(adapter):
    clean, corrupt, patched, forwards = patched_logits(adapter, CLEAN, CORRUPT, [all_heads(adapter), []])
    assert forwards == 2 and (clean - corrupt).abs().max() > 1e-3
    torch.testing.assert_close(patched[0], clean, atol=1e-5, rtol=0)
    torch.testing.assert_close(patched[1], corrupt, atol=1e-5, rtol=0)


def test_the_residual_stream_after_the_last_layer_restores_clean(adapter):
    last = adapter.info.layers - 1
    clean, _, patched, _ = patched_logits(adapter, CLEAN, CORRUPT, [[Site("residual", last)]])
    torch.testing.assert_close(patched[0], clean, atol=1e-5, rtol=0)
    grid = patch(adapter, CLEAN, CORRUPT, metric="kl", mode="residual")
    assert grid.columns == list(range(len(grid.clean_tokens)))
    assert grid.effects[last][-1] == pytest.approx(1.0, abs=1e-5)  # the last position, after the last layer
    assert all(abs(e) < 1e-6 for e in grid.effects[last][:-1])  # other positions cannot reach the last one


def one_head_unbatched(adapter, layer: int, head: int) -> torch.Tensor:
    """The corrupt run's next-token logits with one head's W_O input taken from a separate clean run."""
    dh = adapter.info.d_head
    cols = slice(head * dh, (head + 1) * dh)
    wo = adapter.output_projection("decoder", layer)
    kept = {}
    ci, _ = adapter.inputs(CLEAN)
    ki, _ = adapter.inputs(CORRUPT)

    def keep(_m, args, _kwargs):
        kept["z"] = args[0].clone()  # (1, T, H * d_head)

    with torch.inference_mode():
        with hooks() as hs:
            hs.pre(wo, keep)
            adapter.model(**ci, use_cache=False)

        def put(_m, args, kwargs):
            x = args[0].clone()
            x[..., cols] = kept["z"][..., cols]
            return (x, *args[1:]), kwargs

        with hooks() as hs:
            hs.pre(wo, put)
            return adapter.model(**ki, use_cache=False).logits[0, -1].float()


def test_the_batched_grid_equals_patching_heads_one_at_a_time(adapter):
    grid = patch(adapter, CLEAN, CORRUPT, metric="kl")
    info = adapter.info
    assert grid.forwards == 1 + -(-info.layers * info.heads // 32) <= forwards_goal(info.layers, info.heads) + 1
    clean, _, _, _ = patched_logits(adapter, CLEAN, CORRUPT, [])
    lc = clean.double().log_softmax(-1)
    for layer in range(info.layers):
        for h in range(info.heads):
            lp = one_head_unbatched(adapter, layer, h).double().log_softmax(-1)
            kl = float((lc.exp() * (lc - lp)).sum())
            assert grid.values[layer][h] == pytest.approx(kl, abs=1e-5)
            assert grid.effects[layer][h] == pytest.approx(1 - kl / grid.corrupt_value, abs=1e-4)
    small = patch(adapter, CLEAN, CORRUPT, metric="kl", batch=3)  # several batches: the same numbers
    np.testing.assert_allclose(np.array(small.values), np.array(grid.values), atol=1e-5)


def test_each_metric_is_normalised_so_one_is_fully_restored(adapter):
    answer, foil = adapter.tokenizer.decode([5]), adapter.tokenizer.decode([7])
    for metric in ("logit_diff", "prob", "kl"):
        g = patch(adapter, CLEAN, CORRUPT, metric=metric, target=answer, foil=foil)
        assert g.answer["id"] == 5 and (g.foil is None) == (metric != "logit_diff") and g.effects is not None
        for row_v, row_e in zip(g.values, g.effects):
            for v, e in zip(row_v, row_e):
                assert e == pytest.approx((v - g.corrupt_value) / (g.clean_value - g.corrupt_value))
    assert patch(adapter, CLEAN, CORRUPT, metric="kl").clean_value == 0.0


def test_heads_restrict_the_grid_and_undefined_normalisation_says_why():
    adapter = ff.tiny("llama")
    g = patch(adapter, CLEAN, CORRUPT, heads=[[1, 2], [0, 0]], metric="prob")
    tried = {(i, j) for i, row in enumerate(g.values) for j, v in enumerate(row) if v is not None}
    assert tried == {(0, 0), (1, 2)} and g.forwards == 2
    same = patch(adapter, CLEAN, CLEAN, metric="kl")
    assert same.effects is None and "undefined" in same.reason and same.values[0][0] == pytest.approx(0, abs=1e-9)
    one = adapter.tokenizer.decode([5])
    tie = patch(adapter, CLEAN, CORRUPT, target=one, foil=one)
    assert tie.effects is None and "same token" in tie.reason


def test_bad_requests_are_value_errors():
    adapter = ff.tiny("llama")
    with pytest.raises(ValueError, match=r"clean is \d+ tokens .*corrupt is \d+"):
        patch(adapter, CLEAN, CLEAN + " tired")
    with pytest.raises(ValueError, match="out of range"):
        patch(adapter, CLEAN, CORRUPT, heads=[[9, 0]])
    with pytest.raises(ValueError, match="mode 'heads'"):
        patch(adapter, CLEAN, CORRUPT, mode="residual", heads=[[0, 0]])
    with pytest.raises(ValueError, match="not one"):
        patch(adapter, CLEAN, CORRUPT, target="the street")
    with pytest.raises(ValueError, match="decoders"):
        patch(ff.tiny("bert"), CLEAN, CORRUPT)


@pytest.mark.slow
def test_smollm2_ioi_preset_finds_heads_that_restore_the_answer(smollm2):
    p = PATCH_PRESETS["ioi"]
    g = patch(smollm2, p["clean"], p["corrupt"], p["metric"], p["mode"], p["target"], p["foil"])
    info = smollm2.info
    assert len(g.clean_tokens) == len(g.corrupt_tokens) == 14 and g.answer["token"] == " Mary"
    assert g.forwards == 1 + -(-info.layers * info.heads // 32) and g.clean_value > 0 > g.corrupt_value
    effects = np.array(g.effects)
    assert effects.shape == (info.layers, info.heads) and np.isfinite(effects).all()
    assert effects.max() > 0.1  # some head carries the name
    animal = PATCH_PRESETS["animal"]
    assert smollm2.count_tokens(animal["clean"]) == smollm2.count_tokens(animal["corrupt"])
