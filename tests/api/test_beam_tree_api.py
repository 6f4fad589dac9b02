"""The beam tree (issue 18, part 2): kept and pruned hypotheses with cumulative log-probabilities, greedy beside it."""

from __future__ import annotations

import pytest
import torch

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def beam(client):
    r = client.post("/api/generate", json={"model": "smollm2", "text": PROMPT, "strategy": "beam",
                                           "beam_width": 3, "max_new_tokens": 6})
    assert r.status_code == 200, r.text
    return r.json()


def seq_logprobs(adapter, prompt_ids: list[int], new: list[int]) -> list[float]:
    """Independent: one forward pass over prompt + new, log-softmax of each new token."""
    with torch.inference_mode():
        logits = adapter.model(input_ids=torch.tensor([prompt_ids + new])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    p = len(prompt_ids)
    return [float(lp[p + i - 1, t]) for i, t in enumerate(new)]


def test_tree_shape_kept_and_pruned(beam):
    tree = beam["beam_tree"]
    k = tree["beam_width"]
    assert k == 3 and len(tree["steps"]) == 6
    assert len(tree["steps"][0]) == k and all(n["parent"] == -1 for n in tree["steps"][0])
    for t, nodes in enumerate(tree["steps"]):
        scores = [n["score"] for n in nodes]
        assert scores == sorted(scores, reverse=True)
        assert [n["kept"] for n in nodes] == [i < k for i in range(len(nodes))]
        if t:
            assert len(nodes) == k * k  # every kept beam proposes its k best tokens (none finished here)
            assert sum(not n["kept"] for n in nodes) == k * k - k


def test_every_score_is_the_sum_of_its_paths_logprobs(beam, smollm2):
    tree = beam["beam_tree"]
    prompt = smollm2.tokenizer(PROMPT)["input_ids"]

    def path(t: int, i: int) -> list[int]:
        out = []
        while t >= 0:
            node = tree["steps"][t][i]
            out.append(node["id"])
            i = tree["kept"][t - 1][node["parent"]] if t else 0
            t -= 1
        return out[::-1]

    for t in (0, 2, 5):
        for i, node in enumerate(tree["steps"][t]):
            ids = path(t, i)
            lps = seq_logprobs(smollm2, prompt, ids)
            assert node["logprob"] == pytest.approx(lps[-1], abs=2e-4)
            assert node["score"] == pytest.approx(sum(lps), abs=5e-4)


def test_best_beam_is_transformers_winner_and_greedy_is_greedy(beam, client, smollm2):
    tree = beam["beam_tree"]
    best = [tree["steps"][t][i]["id"] for t, i in enumerate(tree["best"])]
    assert best == beam["ids"]  # the steps come from transformers' own beam search
    greedy = client.post("/api/generate", json={"model": "smollm2", "text": PROMPT, "max_new_tokens": 6}).json()
    assert [g["id"] for g in tree["greedy"]] == greedy["ids"]
    prompt = smollm2.tokenizer(PROMPT)["input_ids"]
    assert tree["greedy_score"] == pytest.approx(sum(seq_logprobs(smollm2, prompt, greedy["ids"])), abs=5e-4)
    assert tree["best_score"] >= tree["greedy_score"]
    d = tree["diverge_step"]
    assert best[:d] == greedy["ids"][:d] and best[d] != greedy["ids"][d]


def test_greedy_and_sampling_carry_no_tree(client):
    r = client.post("/api/generate", json={"model": "smollm2", "text": PROMPT, "max_new_tokens": 2}).json()
    assert "beam_tree" not in r


def test_the_stream_sends_the_tree_with_done(client):
    import json
    with client.stream("POST", "/api/generate/stream", json={"model": "smollm2", "text": PROMPT, "strategy": "beam",
                                                             "beam_width": 2, "max_new_tokens": 3}) as r:
        lines = [json.loads(x) for x in r.iter_lines() if x]
    done = lines[-1]
    assert done["event"] == "done" and done["beam_tree"]["beam_width"] == 2


def test_textbook_beam_tree_matches_its_translation(client, registry):
    r = client.post("/api/generate", json={"model": "textbook", "text": "je suis étudiant", "strategy": "beam",
                                           "beam_width": 3, "max_new_tokens": 8})
    assert r.status_code == 200, r.text
    body = r.json()
    tree = body["beam_tree"]
    best = [tree["steps"][t][i]["token"] for t, i in enumerate(tree["best"])]
    assert best == body["tokens"] == ["i", "am", "a", "student", "</s>"]
    # independent: teacher-forced log-probabilities of the winner through the model
    a = registry.get("textbook")
    cfg = a.model.cfg
    ids = [tree["steps"][t][i]["id"] for t, i in enumerate(tree["best"])]
    with torch.inference_mode():
        logits = a.model(torch.tensor([a.source_tokens("je suis étudiant").ids]), torch.tensor([[cfg.bos_id, *ids[:-1]]]))[0]
    lp = torch.log_softmax(logits.float(), -1)
    assert tree["best_score"] == pytest.approx(sum(float(lp[t, i]) for t, i in enumerate(ids)), abs=1e-4)
