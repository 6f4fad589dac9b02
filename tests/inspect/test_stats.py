"""Head statistics, labels and rollout: the label rules on constructed matrices, invariants on real traces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnscope.inspection import stats
from attnscope.inspection.stats import block_stats, head_stats, label, residual_mean, rollout
from attnscope.inspection.trace import AttentionBlock, Tokens, Trace


def one_head_stats(w: np.ndarray, special=None, mask=None, square=True) -> dict:
    """Statistics and label of a single (T, T) matrix."""
    t = w.shape[-1]
    special = [False] * t if special is None else special
    mask = np.zeros(w.shape, dtype=bool) if mask is None else mask
    vals, sep = block_stats(w[None], mask, special, square)
    s = {k: float(v[0]) for k, v in vals.items()}
    return {**s, "label": label(s, float(sep[0]))}


def shift(t: int, k: int) -> np.ndarray:
    """Row i puts all its weight on key i + k (clipped into range)."""
    w = np.zeros((t, t))
    for i in range(t):
        w[i, min(max(i + k, 0), t - 1)] = 1.0
    return w


def test_exact_previous_token_matrix():
    s = one_head_stats(shift(8, -1))
    assert s["previous"] == 1.0 and s["label"] == "previous-token"
    # row 0 has no previous token and puts its weight on itself: distance 7/8
    assert s["distance"] == pytest.approx(7 / 8) and s["self"] == pytest.approx(1 / 8)


def test_identity_is_self_and_next_is_next():
    assert one_head_stats(np.eye(6))["label"] == "self"
    s = one_head_stats(shift(6, 1))
    assert s["next"] == 1.0 and s["label"] == "next-token"


def test_uniform_is_broad_with_entropy_log_t():
    t = 10
    s = one_head_stats(np.full((t, t), 1 / t))
    assert s["entropy"] == pytest.approx(math.log(t)) and s["entropy_norm"] == pytest.approx(1.0)
    assert s["label"] == "broad"


def test_sinks_first_separator_special():
    t = 7
    special = [True, False, False, False, False, False, True]  # [CLS] ... [SEP]
    first = np.zeros((t, t)); first[:, 0] = 1
    assert one_head_stats(first, special)["label"] == "first-token sink"
    sep = np.zeros((t, t)); sep[:, -1] = 1
    s = one_head_stats(sep, special)
    assert s["special"] == 1.0 and s["first"] == 0.0 and s["label"] == "separator sink"
    both = np.zeros((t, t)); both[:, 0] = 0.35; both[:, -1] = 0.35; both[:, 3] = 0.3
    assert one_head_stats(both, special)["label"] == "special-token sink"


def test_local_and_mixed():
    t = 9
    local = 0.4 * shift(t, -1) + 0.4 * shift(t, 1) + 0.2 * np.eye(t)  # spread over the neighbourhood
    s = one_head_stats(local)
    assert s["distance"] <= stats.LOCAL_MAX and s["label"] == "local"
    far = np.zeros((t, t)); far[:, 2] = 0.45; far[:, 6] = 0.45; far[:, 8] = 0.1
    assert one_head_stats(far)["label"] == "mixed"


def test_rules_are_tried_in_order():
    # previous and first at once on a 2-token input: the earlier rule (previous-token) wins
    w = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert one_head_stats(w)["label"] == "previous-token"
    assert [r["label"] for r in stats.rules()] == [lab for lab, _, _ in stats.RULES]
    assert stats.rules()[-1]["label"] == "mixed"


def test_causal_entropy_counts_unmasked_keys_only():
    t = 5
    mask = np.triu(np.ones((t, t), dtype=bool), 1)
    w = np.tril(np.ones((t, t)))
    w /= w.sum(-1, keepdims=True)  # uniform over the visible prefix
    s = one_head_stats(w, mask=mask)
    assert s["entropy"] == pytest.approx(np.mean([math.log(i + 1) for i in range(t)]))
    assert s["entropy_norm"] == pytest.approx(1.0)  # rows 1.. are uniform over their keys; row 0 skipped


def test_cross_blocks_have_no_self_previous_next():
    w = np.full((3, 4), 0.25)
    s = one_head_stats(w, mask=np.zeros((3, 4), dtype=bool), square=False)
    assert math.isnan(s["self"]) and math.isnan(s["previous"]) and math.isnan(s["next"])
    assert s["first"] == pytest.approx(0.25) and s["label"] == "broad"


def fake_trace(weights: list[np.ndarray], kind: str = "self") -> Trace:
    """A Trace holding only weights (H, T, T) per layer."""
    h, t, _ = weights[0].shape
    z = np.zeros((t, 1), dtype=np.float32)
    blocks = [AttentionBlock(kind, i, z, z, z, z, np.zeros((t, t), dtype=bool), w.astype(np.float32),
                             z, z, 1.0) for i, w in enumerate(weights)]
    toks = Tokens([f"t{i}" for i in range(t)], list(range(t)), [False] * t, [None] * t)
    return Trace("fake", "x", toks, {"encoder": blocks})


def test_rollout_is_the_product_of_residual_means():
    rng = np.random.default_rng(0)
    ws = [rng.dirichlet(np.ones(5), size=(3, 5)) for _ in range(4)]  # 4 layers of (3, 5, 5)
    tr = fake_trace(ws)
    r = rollout(tr, "encoder", 2)
    a = [0.5 * w.mean(0) + 0.5 * np.eye(5) for w in ws]
    a = [x / x.sum(-1, keepdims=True) for x in a]
    np.testing.assert_allclose(r.rollout, a[2] @ a[1] @ a[0], atol=1e-6)
    np.testing.assert_allclose(r.mean, ws[2].mean(0), atol=1e-6)
    np.testing.assert_allclose(r.rollout.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(rollout(tr, "encoder", 0).rollout, residual_mean(ws[0]), atol=1e-6)
    assert rollout(tr, "encoder").layer == 3
    with pytest.raises(ValueError, match="out of range"):
        rollout(tr, "encoder", 4)


def test_rollout_refuses_cross_attention():
    tr = fake_trace([np.full((2, 3, 3), 1 / 3)], kind="cross")
    with pytest.raises(ValueError, match="self-attention"):
        rollout(tr, "encoder", 0)


def test_tiny_bert_stats_are_probabilities_and_labelled(tiny_bert):
    tr = tiny_bert.trace("the quick brown fox jumps")
    hs = head_stats(tr, "encoder")
    assert (hs.layers, hs.heads) == (2, 4)
    allowed = {lab for lab, _, _ in stats.RULES}
    for layer in hs.to_list():
        for s in layer:
            assert s["label"] in allowed
            for name in ("self", "previous", "next", "first", "special", "entropy_norm"):
                assert 0.0 <= s[name] <= 1.0 + 1e-9
            assert 0.0 <= s["entropy"] <= math.log(len(tr.tokens)) + 1e-9
    with pytest.raises(ValueError, match="no 'cross' attention"):
        head_stats(tr, "cross")
