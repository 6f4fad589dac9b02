"""The atlas's retrieval task (against a direct greedy run and plain loops) and its Ray runs (equal to local)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from attnscope.inspection.atlas import head_atlas
from tests.inspect.family_fixtures import build, tiny

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def direct_retrieval(model, prompt: list[int], start: int, end: int, new: int) -> tuple[np.ndarray | None, list[int]]:
    """The paper's rule by plain loops: greedy generate (HF's own generate), then eager weights of one pass."""
    with torch.no_grad():
        gen = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             max_new_tokens=new, min_new_tokens=new, do_sample=False, num_beams=1,
                             repetition_penalty=1.0, pad_token_id=0)[0].tolist()
        out = model(input_ids=torch.tensor([gen]), output_attentions=True)
    w = np.stack([a[0].double().numpy() for a in out.attentions])
    n_layers, n_heads = w.shape[:2]
    hits, steps = np.zeros((n_layers, n_heads)), 0
    needle = gen[start:end]
    for s in range(new):
        tok = gen[len(prompt) + s]
        if tok not in needle:
            continue
        steps += 1
        for l in range(n_layers):
            for h in range(n_heads):
                j = int(np.argmax(w[l, h, len(prompt) - 1 + s]))
                hits[l, h] += start <= j < end and gen[j] == tok
    return (hits / steps if steps else None), gen


def test_retrieval_matches_a_direct_computation_on_smollm2(smollm2):
    atlas = head_atlas(smollm2, "retrieval", prompts=2, length=8, seed=4)
    assert atlas.tasks == ("retrieval",) and len(atlas.needles) == 2
    model = smollm2.model
    per = []
    for p, nd in enumerate(atlas.needles):
        full = atlas.inputs["retrieval"][p]
        prompt = full[:nd["prompt_tokens"]]
        value = smollm2.tokenizer.decode(prompt[nd["start"]:nd["end"]]).strip()
        assert value.isdigit() and len(value) == 7 and f"The secret number is {value}." in atlas.texts["retrieval"][p]
        want, gen = direct_retrieval(model, prompt, nd["start"], nd["end"], len(full) - len(prompt))
        assert gen == full  # the same greedy tokens
        assert nd["copy_steps"] > 0  # SmolLM2 copies the number (the prompt is answerable)
        np.testing.assert_allclose(atlas.per_prompt["retrieval"][p], want, atol=1e-9)
        per.append(want)
    np.testing.assert_allclose(atlas.scores["retrieval"], np.mean(per, axis=0), atol=1e-9)
    frac = float((atlas.scores["retrieval"] > 0.5).mean())
    print(f"SmolLM2: {frac:.1%} of heads retrieve at more than half of the copy steps")
    assert 0 < frac < 0.5


def test_retrieval_without_copy_steps_scores_zero_and_encoders_are_refused():
    atlas = head_atlas(tiny("llama"), "retrieval", prompts=2, length=4, seed=0)  # random weights: no copying
    steps = [nd["copy_steps"] for nd in atlas.needles]
    if not any(steps):
        assert np.all(atlas.scores["retrieval"] == 0) and np.isnan(atlas.per_prompt["retrieval"]).all()
    json.dumps(atlas.to_json(), allow_nan=False)  # the JSON carries no NaN
    with pytest.raises(ValueError, match="encoder"):
        head_atlas(tiny("bert"), "retrieval", prompts=1, length=4)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="make install installs ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_a_ray_run_equals_the_local_run(local_ray, family, tmp_path):
    adapter = tiny(family)
    tasks = "previous,induction,duplicate,sink,entropy,distance" + (",retrieval" if family == "llama" else "")
    here = head_atlas(adapter, tasks, prompts=5, length=4, seed=9)
    seen = []
    shipped = head_atlas(adapter, tasks, prompts=5, length=4, seed=9, ray="local", workers=2,
                         progress=lambda d, t: seen.append((d, t)))
    model, tok = build(family)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = head_atlas(adapter, tasks, prompts=5, length=4, seed=9, ray="local", workers=2,
                        model_ref=str(tmp_path / "m"))
    for other in (shipped, loaded):
        assert other.inputs == here.inputs and other.tasks == here.tasks
        for t in here.tasks:
            np.testing.assert_allclose(other.per_prompt[t], here.per_prompt[t], atol=1e-6, equal_nan=True)
    assert seen[-1][0] == seen[-1][1] == sum(len(v) for k, v in here.inputs.items() if k in ("previous", "entropy")) \
        + (5 if family == "llama" else 0)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_cli_on_ray_writes_what_the_local_cli_writes(tmp_path):
    model, tok = build("llama")
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": f"passage {i}: the river ran down to the sea past the mill."})
                                for i in range(6)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    outs = []
    for extra in ([], ["--ray", "local", "--workers", "2"]):
        out = tmp_path / f"atlas{len(extra)}.json"
        r = subprocess.run([sys.executable, "-m", "attnscope.cli", "atlas", str(tmp_path / "m"), "--tasks",
                            "previous,induction,entropy", "--prompts", "4", "--length", "3", "--seed", "2",
                            "--corpus", str(corpus), "--out", str(out), *extra],
                           capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "prompt 8/8" in r.stderr
        outs.append(json.loads(out.read_text()))
    a, b = outs
    assert a["inputs"] == b["inputs"] and a["tasks"] == b["tasks"] == ["previous", "previous_text", "induction", "entropy"]
    joined = "\n\n".join(f"passage {i}: the river ran down to the sea past the mill." for i in range(6))
    assert all(tok.decode(ids[1:]).strip() in joined for ids in a["inputs"]["entropy"])  # windows of the corpus
    for ha, hb in zip(a["heads"], b["heads"]):
        for t in a["tasks"]:
            assert ha["scores"][t] == pytest.approx(hb["scores"][t], abs=1e-6)
    r = subprocess.run([sys.executable, "-m", "attnscope.cli", "atlas", str(tmp_path / "m"), "--corpus",
                        str(tmp_path / "missing.txt")], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "cannot read the corpus" in r.stderr
