"""Next-token candidates and generation: greedy equals transformers, sampling is seeded, attention rows are right."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import decoder_fixtures as df
from attnscope.inspection.generate import generate, next_token

PROMPT = "The animal didn't cross the street because"


def hf_generate(adapter, text, n, **kw):
    enc = adapter.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = adapter.model.generate(**enc, max_new_tokens=n, pad_token_id=adapter.tokenizer.pad_token_id, **kw)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def last_row_logits_and_attention(adapter, ids):
    with torch.inference_mode():
        out = adapter.model(input_ids=torch.tensor([ids]), output_attentions=True, use_cache=False)
    return out.logits[0, -1], np.stack([a[0, :, -1, :].numpy() for a in out.attentions])


def lock_is_free(adapter) -> bool:
    """True when another thread can take the adapter's (re-entrant) lock."""
    got = []

    def take():
        if adapter.lock.acquire(timeout=0.5):
            got.append(True)
            adapter.lock.release()

    t = threading.Thread(target=take)
    t.start()
    t.join()
    return bool(got)


@pytest.fixture(params=["llama", "gpt2"])
def adapter(request):
    return df.tiny_llama() if request.param == "llama" else df.tiny_gpt2()


def test_next_token_probabilities(adapter):
    ids = adapter.tokenizer(PROMPT)["input_ids"]
    logits, _ = last_row_logits_and_attention(adapter, ids)
    probs = torch.softmax(logits, -1)
    cands = next_token(adapter, PROMPT, n=5)
    assert [c.id for c in cands] == torch.topk(logits, 5).indices.tolist()
    for c in cands:
        assert c.prob == pytest.approx(float(probs[c.id]), abs=1e-6)
        assert c.prob_sampled == pytest.approx(c.prob, abs=1e-6)  # T = 1, nothing filtered
        assert c.logit == pytest.approx(float(logits[c.id]), abs=1e-5)
        assert "Ġ" not in c.token
    # top-k: only k tokens keep probability, renormalised
    top3 = next_token(adapter, PROMPT, top_k=3, n=5)
    kept = probs[[c.id for c in top3[:3]]]
    np.testing.assert_allclose([c.prob_sampled for c in top3[:3]], (kept / kept.sum()).numpy(), atol=1e-5)
    assert all(c.prob_sampled == 0 for c in top3[3:])
    # temperature: softmax(logits / T)
    hot = next_token(adapter, PROMPT, temperature=2.0, n=3)
    ref = torch.softmax(logits / 2.0, -1)
    np.testing.assert_allclose([c.prob_sampled for c in hot], ref[[c.id for c in hot]].numpy(), atol=1e-5)
    # top-p: the smallest set of most likely tokens whose mass reaches p
    p = float(probs[cands[0].id] + probs[cands[1].id]) - 1e-4
    nucleus = next_token(adapter, PROMPT, top_p=p, n=4)
    assert [c.prob_sampled > 0 for c in nucleus] == [True, True, False, False]


def test_greedy_equals_transformers_generate(adapter):
    steps = list(generate(adapter, PROMPT, "greedy", max_new_tokens=12))
    ours = [s.id for s in steps]
    assert ours == hf_generate(adapter, PROMPT, 12, do_sample=False)
    assert [s.index for s in steps] == list(range(len(steps)))
    assert steps[-1].text == adapter.tokenizer.decode(ours)
    # each step: the probability and attention row of the query that produced the token
    prompt = adapter.tokenizer(PROMPT)["input_ids"]
    info = adapter.info
    for s, step in enumerate(steps):
        logits, attention = last_row_logits_and_attention(adapter, prompt + ours[:s])
        assert step.attention.shape == (info.layers, info.heads, len(prompt) + s)
        np.testing.assert_allclose(step.attention, attention, atol=1e-5)
        np.testing.assert_allclose(step.attention.sum(-1), 1.0, atol=1e-5)
        assert step.prob == pytest.approx(float(torch.softmax(logits, -1)[step.id]), abs=1e-5)
        assert step.candidates[0].id == step.id and step.prob_sampled == pytest.approx(step.prob)


def test_seeded_sampling_is_reproducible(adapter):
    def run(seed, **kw):
        return [s.id for s in generate(adapter, PROMPT, "sample", max_new_tokens=10, seed=seed, temperature=1.5, **kw)]

    a = run(7)
    assert a == run(7)
    assert any(run(seed) != a for seed in (8, 9, 10))
    # top_k = 1 leaves one token: sampling becomes greedy
    greedy = [s.id for s in generate(adapter, PROMPT, "greedy", max_new_tokens=10)]
    assert run(3, top_k=1) == greedy
    # the global RNG is untouched
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    run(7)
    assert torch.rand(1) == expected


def test_sampled_step_probabilities():
    adapter = df.tiny_llama()
    for step in generate(adapter, PROMPT, "sample", max_new_tokens=5, seed=1, top_k=4, temperature=0.7):
        assert step.prob_sampled > 0
        assert sum(c.prob_sampled > 0 for c in step.candidates) <= 4
        assert step.id in [c.id for c in step.candidates]


def test_beam_search(adapter):
    beam = list(generate(adapter, PROMPT, "beam", max_new_tokens=8, beam_width=3))
    assert [s.id for s in beam] == hf_generate(adapter, PROMPT, 8, do_sample=False, num_beams=3)
    one = [s.id for s in generate(adapter, PROMPT, "beam", max_new_tokens=8, beam_width=1)]
    assert one == [s.id for s in generate(adapter, PROMPT, "greedy", max_new_tokens=8)]
    prompt = adapter.tokenizer(PROMPT)["input_ids"]
    ids = [s.id for s in beam]
    for s, step in enumerate(beam):
        _, attention = last_row_logits_and_attention(adapter, prompt + ids[:s])
        np.testing.assert_allclose(step.attention, attention, atol=1e-5)


def test_stopping_and_the_lock():
    adapter = df.tiny_llama()
    done = []
    steps = generate(adapter, PROMPT, "greedy", max_new_tokens=10, should_stop=lambda: len(done) >= 3)
    for step in steps:
        done.append(step)
    assert len(done) == 3
    it = generate(adapter, PROMPT, "sample", max_new_tokens=10, seed=0)
    next(it)
    assert lock_is_free(adapter)  # held per forward pass, never across steps
    it.close()
    assert list(generate(adapter, PROMPT, "beam", max_new_tokens=4, should_stop=lambda: True)) == []


def test_stops_at_end_of_sequence(monkeypatch):
    adapter = df.tiny_gpt2()
    greedy = [s.id for s in generate(adapter, PROMPT, "greedy", max_new_tokens=6)]
    monkeypatch.setattr(adapter.model.generation_config, "eos_token_id", greedy[2])
    steps = list(generate(adapter, PROMPT, "greedy", max_new_tokens=6))
    assert [s.id for s in steps] == greedy[: greedy.index(greedy[2]) + 1] and steps[-1].finished


def test_bad_arguments(adapter, tiny_bert):
    for kwargs, match in [
        ({"strategy": "nucleus"}, "unknown strategy"),
        ({"max_new_tokens": 0}, "from 1 to 64"),
        ({"max_new_tokens": 65}, "from 1 to 64"),
        ({"temperature": 0}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"strategy": "beam", "beam_width": 0}, "beam_width"),
    ]:
        with pytest.raises(ValueError, match=match):
            generate(adapter, PROMPT, **kwargs)
    with pytest.raises(ValueError, match="empty"):
        generate(adapter, "  ")
    with pytest.raises(ValueError, match="over the"):
        generate(adapter, "the " * (adapter.info.max_tokens - 2), max_new_tokens=8)
    with pytest.raises(ValueError, match="does not generate"):
        next_token(tiny_bert, PROMPT)


@pytest.mark.slow
def test_real_smollm2_generation():
    adapter = df.smollm2()
    prompt = "The capital of France is"
    steps = list(generate(adapter, prompt, "greedy", max_new_tokens=8))
    assert [s.id for s in steps] == hf_generate(adapter, prompt, 8, do_sample=False)
    assert steps[0].attention.shape == (30, 9, len(adapter.tokenizer(prompt)["input_ids"]))
    assert "Paris" in steps[-1].text
    a = [s.id for s in generate(adapter, prompt, "sample", max_new_tokens=8, seed=42, top_p=0.9)]
    assert a == [s.id for s in generate(adapter, prompt, "sample", max_new_tokens=8, seed=42, top_p=0.9)]
    cands = next_token(adapter, prompt, n=5)
    assert cands[0].token == " Paris" and cands[0].prob > 0.3
