"""The head atlas: scores against a direct computation, seeds, a planted previous-token head, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from attnscope.inspection.atlas import TASKS, head_atlas, make_inputs, parse_tasks
from tests.inspect.family_fixtures import build, tiny


def direct_scores(model, ids: list[int], n: int, off: int) -> dict[str, np.ndarray]:
    """(L, H) scores from the model's own eager ``output_attentions``, by plain loops."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    w = np.stack([a[0].double().numpy() for a in out.attentions])  # (L, H, T, T)
    n_layers, n_heads, t, _ = w.shape
    res = {k: np.zeros((n_layers, n_heads)) for k in TASKS}
    for l in range(n_layers):
        for h in range(n_heads):
            a = w[l, h]
            second = range(off + n, t)
            res["induction"][l, h] = np.mean([a[i, i - n + 1] for i in second])
            res["duplicate"][l, h] = np.mean([a[i, i - n] for i in second])
            res["previous"][l, h] = np.mean([a[i, i - 1] for i in range(1, t)])
            res["sink"][l, h] = np.mean([a[i, 0] for i in range(t)])
            res["entropy"][l, h] = np.mean([-sum(p * np.log(p) for p in row if p > 0) for row in a])
            res["distance"][l, h] = np.mean([sum(a[i, j] * abs(i - j) for j in range(t)) for i in range(t)])
    return res


SCORED = tuple(t for t in TASKS if t != "retrieval")


@pytest.mark.parametrize("family", ["llama", "bert", "gpt2"])
def test_scores_match_direct_computation(family):
    adapter = tiny(family)
    atlas = head_atlas(adapter, SCORED, prompts=3, length=5, seed=7)
    off = 1 if atlas.bos is not None else 0
    assert atlas.tasks == SCORED
    repeat, text = atlas.inputs["induction"], atlas.inputs["entropy"]
    assert all(len(ids) == off + 10 for ids in repeat) and all(len(ids) == off + 10 for ids in text)
    assert all(atlas.inputs[t] == repeat for t in ("previous", "duplicate", "sink"))
    assert atlas.inputs["previous_text"] == text and text != repeat
    model, _ = build(family)  # the same weights (same seed), eager, outside the capture path
    direct = {"repeat": [direct_scores(model, ids, 5, off) for ids in repeat],
              "text": [direct_scores(model, ids, 5, off) for ids in text]}
    for task in SCORED:
        group, key = ("text", task.replace("_text", "")) if task in ("previous_text", "entropy", "distance") \
            else ("repeat", task)
        d_all = direct[group]
        want = np.mean([d[key] for d in d_all], axis=0)
        np.testing.assert_allclose(atlas.scores[task], want, atol=1e-6, rtol=0)
        for p, d in enumerate(d_all):
            np.testing.assert_allclose(atlas.per_prompt[task][p], d[key], atol=1e-6, rtol=0)
    data = json.loads(json.dumps(atlas.to_json()))
    assert data["model"] == adapter.info.id and data["prompts"] == 3 and data["length"] == 5
    assert len(data["heads"]) == adapter.info.layers * adapter.info.heads
    assert data["layers"] == adapter.info.layers and data["heads_per_layer"] == adapter.info.heads
    assert data["inputs"]["induction"] == repeat and data["inputs"]["distance"] == text
    assert data["texts"]["entropy"] == [adapter.tokenizer.decode(ids) for ids in text]
    top = data["examples"]["previous"]
    assert len(top) == 5 and top == sorted(top, key=lambda e: -e["score"])
    e = top[0]
    assert e["score"] == pytest.approx(direct["repeat"][e["prompt_index"]]["previous"][e["layer"], e["head"]],
                                       abs=1e-6)
    assert e["score"] == pytest.approx(float(atlas.per_prompt["previous"].max()))


def test_natural_text_comes_from_the_corpus(tmp_path):
    from attnscope.inspection.atlas import read_corpus

    adapter = tiny("llama")
    corpus = ["the quick brown fox jumps over the lazy dog " * 4, "a second passage of plain words " * 4]
    atlas = head_atlas(adapter, "entropy", prompts=2, length=4, seed=3, corpus=corpus)
    joined = adapter.tokenizer("\n\n".join(corpus), add_special_tokens=False)["input_ids"]
    for ids in atlas.inputs["entropy"]:
        body = ids[1:]  # after the BOS
        assert any(joined[i:i + len(body)] == body for i in range(len(joined)))
    assert set(atlas.inputs) == {"entropy"}  # no random prompts were run for a text-only task
    txt, jsonl = tmp_path / "c.txt", tmp_path / "c.jsonl"
    txt.write_text(corpus[0] + "\n\n" + corpus[1])
    jsonl.write_text(json.dumps({"text": corpus[0]}) + "\n" + json.dumps(corpus[1]) + "\n")
    assert read_corpus(txt) == [c.strip() for c in corpus] == read_corpus(jsonl)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": 3}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_corpus(bad)
    with pytest.raises(ValueError, match="no text"):
        (tmp_path / "empty.txt").write_text("\n\n")
        read_corpus(tmp_path / "empty.txt")


def test_inputs_exclude_special_ids_and_repeat():
    adapter = tiny("llama")
    inputs, bos = make_inputs(adapter.tokenizer, 4, 6, seed=1)
    special = set(adapter.tokenizer.all_special_ids)
    assert bos == adapter.tokenizer.bos_token_id
    for ids in inputs:
        assert ids[0] == bos and ids[1:7] == ids[7:13] and not special & set(ids[1:])


def test_same_seed_same_inputs_and_scores():
    adapter = tiny("llama")
    a = head_atlas(adapter, "previous,induction,sink", prompts=3, length=4, seed=11)
    b = head_atlas(adapter, ["sink", "induction", "previous"], prompts=3, length=4, seed=11)
    c = head_atlas(adapter, "previous,induction,sink", prompts=3, length=4, seed=12)
    assert a.inputs == b.inputs and a.tasks == b.tasks == ("previous", "previous_text", "induction", "sink")
    assert a.to_json() == b.to_json()
    assert a.inputs != c.inputs


def test_bad_arguments():
    adapter = tiny("llama")
    with pytest.raises(ValueError, match="unknown task 'copying'"):
        parse_tasks("previous,copying")
    with pytest.raises(ValueError, match="prompts"):
        head_atlas(adapter, prompts=0)
    with pytest.raises(ValueError, match="length"):
        head_atlas(adapter, length=513)
    with pytest.raises(ValueError, match="at most"):
        head_atlas(adapter, prompts=1, length=100)  # 201 tokens > 128 positions


def test_encoder_decoder_refused():
    with pytest.raises(ValueError, match="encoder-decoder"):
        head_atlas(tiny("t5"), prompts=1, length=3)


def planted_gpt2(layer: int = 0, head: int = 1, theta: float = 0.25, scale: float = 150.0):
    """A tiny GPT-2 where ``head`` of ``layer`` attends to the previous token from positions alone.

    Token embeddings are zero and position ``p`` is ``(cos θp, sin θp, -cos θp, -sin θp, 0, ...)``: its
    mean is zero, so ln_1 only rescales it. The head's key reads ``(cos θj, sin θj)`` and its query the
    same rotated back by θ, so ``q_i · k_j ∝ cos θ(i - 1 - j)``: largest at ``j = i - 1``.
    """
    model, tok = build("gpt2")
    d, dh = model.config.n_embd, model.config.n_embd // model.config.n_head
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
        pos = torch.arange(model.config.n_positions, dtype=torch.float32) * theta
        wpe = torch.zeros(model.config.n_positions, d)
        wpe[:, 0], wpe[:, 1], wpe[:, 2], wpe[:, 3] = pos.cos(), pos.sin(), -pos.cos(), -pos.sin()
        model.transformer.wpe.weight.copy_(wpe)
        attn = model.transformer.h[layer].attn.c_attn  # Conv1D: x @ W + b, W (d, 3d): q | k | v
        qs, ks = slice(head * dh, head * dh + dh), slice(d + head * dh, d + head * dh + dh)
        attn.weight[:, qs] = 0
        attn.weight[:, ks] = 0
        attn.bias[qs] = 0
        attn.bias[ks] = 0
        c, s = np.cos(theta), np.sin(theta)
        # q = R(-θ) (cos θi, sin θi) = (cos θ(i-1), sin θ(i-1)); x @ W with W[:, q] the transpose of R(-θ)
        attn.weight[0, qs.start], attn.weight[1, qs.start] = scale * c, scale * s
        attn.weight[0, qs.start + 1], attn.weight[1, qs.start + 1] = -scale * s, scale * c
        attn.weight[0, ks.start], attn.weight[1, ks.start + 1] = 1.0, 1.0
    return model, tok


def test_planted_previous_token_head_is_top():
    from attnscope.inspection.adapters import wrap

    model, tok = planted_gpt2(layer=0, head=1)
    atlas = head_atlas(wrap(model, tok, model_id="planted"), ["previous", "induction"], prompts=4, length=5, seed=0)
    prev = atlas.scores["previous"]
    assert np.unravel_index(int(prev.argmax()), prev.shape) == (0, 1)
    assert prev[0, 1] > 0.9
    ex = atlas.to_json()["examples"]["previous"][0]
    assert (ex["layer"], ex["head"]) == (0, 1)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "attnscope.cli", "atlas", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_cli_on_saved_model(tmp_path):
    model, tok = build("llama")
    folder = tmp_path / "tiny-llama"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    outs = []
    for name in ("a.json", "b.json"):
        r = run_cli(str(folder), "--tasks", "previous,induction,duplicate,sink", "--prompts", "3", "--length", "4",
                    "--seed", "5", "--out", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        assert "prompt 6/6" in r.stderr and "[" + "#" * 30 + "]" in r.stderr  # 3 random + 3 natural-text prompts
        outs.append(json.loads((tmp_path / name).read_text()))
    a, b = outs
    assert a["inputs"] == b["inputs"] and a["heads"] == b["heads"]
    assert a["tasks"] == ["previous", "previous_text", "induction", "duplicate", "sink"] and len(a["heads"]) == 2 * 4
    assert len(a["inputs"]["previous"]) == 3 and all(len(ids) == 9 for ids in a["inputs"]["previous"])
    direct = [direct_scores(model, ids, 4, 1) for ids in a["inputs"]["previous"]]
    for h in a["heads"]:
        want = np.mean([d["induction"][h["layer"], h["head"]] for d in direct])
        assert h["scores"]["induction"] == pytest.approx(want, abs=1e-6)


def test_cli_bad_task_and_bounds(tmp_path):
    r = run_cli("minilm", "--tasks", "previous,copying")
    assert r.returncode == 2 and "unknown task 'copying'" in r.stderr
    r = run_cli("minilm", "--prompts", "0")
    assert r.returncode == 2 and "--prompts" in r.stderr
    r = run_cli("minilm", "--length", "600")
    assert r.returncode == 2 and "--length" in r.stderr
