"""``attnscope.atlas``: the head atlas of the user's own model as a DataFrame, its grid inline and in Chromium."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch

import attnscope
from attnscope.inspection.adapters import wrap
from attnscope.inspection.atlas import TASKS, head_atlas
from tests.inspect.family_fixtures import build
from tests.screens import shot

TASKS3 = ["previous", "induction", "sink"]  # "previous" brings "previous_text"


def grid(frame, task: str, layers: int, heads: int) -> np.ndarray:
    """(layers, heads) scores of one task, from the frame's rows."""
    rows = frame[frame["task"] == task]
    out = np.full((layers, heads), np.nan)
    out[rows["layer"].to_numpy(), rows["head"].to_numpy()] = rows["score"].to_numpy()
    return out


def direct_previous(model, inputs: list[list[int]]) -> np.ndarray:
    """(L, H) mean over prompts and ``i >= 1`` of ``w[i, i - 1]``, from the model's own eager ``output_attentions``."""
    per = []
    for ids in inputs:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), output_attentions=True)
        w = np.stack([a[0].double().numpy() for a in out.attentions])  # (L, H, T, T)
        n_layers, n_heads, t, _ = w.shape
        per.append([[np.mean([w[l, h, i, i - 1] for i in range(1, t)]) for h in range(n_heads)]
                    for l in range(n_layers)])
    return np.mean(per, axis=0)


def embedded(fragment: str) -> dict:
    m = re.search(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', fragment, re.S)
    assert m and f'<div id="{m[1]}"' in fragment
    return json.loads(m[2])


def impl(model) -> str:
    return model.config._attn_implementation


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_the_frame_holds_head_atlas_scores_and_matches_output_attentions(family):
    model, tok = build(family, attn="sdpa")
    model.train()  # a user's model in training mode comes back in training mode
    df = attnscope.atlas(model, tok, tasks=TASKS3, prompts=3, length=5, seed=3)
    assert impl(model) == "sdpa" and model.training
    assert type(df).__name__ == "AtlasFrame" and list(df.columns) == ["layer", "head", "task", "score"]
    cfg = model.config
    L, H = cfg.num_hidden_layers, cfg.num_attention_heads
    assert df.atlas.tasks == ("previous", "previous_text", "induction", "sink")
    assert len(df) == L * H * len(df.atlas.tasks)
    assert df["task"].unique().tolist() == list(df.atlas.tasks)  # task, then layer, then head
    again = head_atlas(wrap(build(family)[0], tok), TASKS3, prompts=3, length=5, seed=3)  # a fresh eager copy
    for t in df.atlas.tasks:
        np.testing.assert_allclose(grid(df, t, L, H), df.atlas.scores[t], atol=1e-12, rtol=0)
        np.testing.assert_allclose(grid(df, t, L, H), again.scores[t], atol=1e-12, rtol=0)
    eager, _ = build(family)  # the same weights (same seed), eager, outside the capture path
    want = direct_previous(eager, df.atlas.inputs["previous"])
    np.testing.assert_allclose(grid(df, "previous", L, H), want, atol=1e-6, rtol=0)


def test_filtering_and_sorting_keep_the_frame_and_its_atlas():
    model, tok = build("llama")
    df = attnscope.atlas(model, tok, tasks="induction,duplicate", prompts=2, length=4)
    kinds = [df[df.task == "induction"], df.sort_values("score", ascending=False), df.query("layer == 1"),
             df.head(3), df.loc[df.score > df.score.median()], df.copy(), df.reset_index(drop=True)]
    for sub in kinds:
        assert type(sub) is type(df) and sub.atlas is df.atlas
    top = df[df.task == "induction"].nlargest(1, "score").iloc[0]
    assert top.score == pytest.approx(float(df.atlas.scores["induction"].max()), abs=1e-12)
    assert type(df["score"]).__name__ == "Series"  # a column is a plain Series


def test_show_outside_ipython_embeds_the_scores_and_the_bundled_grid():
    model, tok = build("llama")
    df = attnscope.atlas(model, tok, tasks=TASKS3, prompts=2, length=4)
    view = df.show("induction")  # outside IPython: the view comes back
    fragment = view._repr_html_()
    data = embedded(fragment)
    L, H = df.atlas.layers, df.atlas.heads
    assert (data["layers"], data["heads"], data["task"]) == (L, H, "induction")
    assert data["tasks"] == list(df.atlas.tasks) and data["settings"] == {"prompts": 2, "length": 4, "seed": 0}
    for t in df.atlas.tasks:
        np.testing.assert_allclose(np.array(data["scores"][t]).reshape(L, H), df.atlas.scores[t], atol=1e-12, rtol=0)
    script = fragment.split("<script>", 1)[1]
    assert "function drawGrid(" in script and "function mountAtlas(" in script and "mountAtlas(root, data)" in script
    assert not re.search(r"^\s*(import|export)\b", script, re.M)
    assert "<script src" not in fragment and not re.search(r"cdn|unpkg|jsdelivr|googleapis", fragment, re.I)
    assert set(re.findall(r"https?://[^\s\"'`]+", fragment)) <= {"http://www.w3.org/2000/svg"}  # gridSvg's xmlns
    assert "AtlasView" in repr(view) and f"{L} layers x {H} heads" in repr(view)


def test_show_draws_what_a_filtered_frame_holds_and_refuses_what_it_cannot():
    import pandas as pd

    model, tok = build("bert")
    df = attnscope.atlas(model, tok, tasks="sink,induction", prompts=2, length=4)
    L, H = df.atlas.layers, df.atlas.heads
    data = embedded(df[(df.task == "sink") & (df.layer == 1)].show()._repr_html_())
    assert data["tasks"] == ["sink"] and (data["layers"], data["heads"]) == (L, H)
    cells = np.array(data["scores"]["sink"], dtype=float).reshape(L, H)  # None -> nan
    assert np.isnan(cells[0]).all()
    np.testing.assert_allclose(cells[1], df.atlas.scores["sink"][1], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="task 'induction' is not in this frame; it holds sink"):
        df[df.task == "sink"].show("induction")
    with pytest.raises(ValueError, match="no rows"):
        df[df.score > 2].show()
    with pytest.raises(ValueError, match="one score per cell.*2 rows for task induction, layer 0, head 0"):
        pd.concat([df, df]).show()
    with pytest.raises(ValueError, match="needs the columns layer, head, task, score.*no score"):
        df[["layer", "head", "task"]].show()


def test_to_json_is_the_atlas_file_and_pandas_keywords_reach_pandas(tmp_path):
    model, tok = build("llama")
    df = attnscope.atlas(model, tok, tasks="previous_text", prompts=2, length=4, seed=5)
    assert json.loads(df.to_json()) == json.loads(json.dumps(df.atlas.to_json()))
    assert df.to_json(tmp_path / "atlas.json") is None
    assert json.loads((tmp_path / "atlas.json").read_text())["seed"] == 5
    records = json.loads(df.to_json(orient="records"))
    assert len(records) == len(df) and set(records[0]) == {"layer", "head", "task", "score"}


def test_a_corpus_as_passages_a_file_or_text(tmp_path):
    model, tok = build("llama")
    passages = ["the cat sat on the mat and the dog sat on the log " * 4]
    a = attnscope.atlas(model, tok, tasks="previous_text", prompts=2, length=4, corpus=passages)
    assert all(tok.decode(ids[1:]) in passages[0] for ids in a.atlas.inputs["previous_text"])  # BOS, then a window
    (tmp_path / "corpus.txt").write_text(passages[0] + "\n\n" + passages[0])
    b = attnscope.atlas(model, tok, tasks="previous_text", prompts=2, length=4, corpus=str(tmp_path / "corpus.txt"))
    c = attnscope.atlas(model, tok, tasks="previous_text", prompts=2, length=4, corpus=passages[0] + "\n\n" + passages[0])
    assert b.atlas.inputs == c.atlas.inputs and b.equals(c)
    with pytest.raises(ValueError, match="list of strings"):
        attnscope.atlas(model, tok, tasks="previous_text", prompts=2, length=4, corpus=[1, 2])


def test_a_bad_task_names_the_known_tasks_and_leaves_the_model_alone():
    model, tok = build("llama", attn="sdpa")
    model.train()
    with pytest.raises(ValueError, match=r"unknown task 'copying'; known tasks: " + ", ".join(TASKS)):
        attnscope.atlas(model, tok, tasks="previous,copying")
    assert impl(model) == "sdpa" and model.training
    with pytest.raises(ValueError, match="length must be"):
        attnscope.atlas(model, tok, length=1)
    assert impl(model) == "sdpa" and model.training


def test_without_pandas_the_error_names_the_extra(monkeypatch):
    model, tok = build("llama")
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'attnscope[notebook]'")):
        attnscope.atlas(model, tok, prompts=1, length=2)


def test_atlas_is_public():
    assert "atlas" in attnscope.__all__ and callable(attnscope.atlas)


# --- the real MiniLM ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    """MiniLM as a notebook user loads it (transformers' default attention: SDPA), and its atlas frame."""
    from transformers import AutoModel, AutoTokenizer

    path = attnscope.example_model()
    model, tok = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    before = impl(model)
    df = attnscope.atlas(model, tok, tasks="previous,induction,duplicate,sink", prompts=6, length=8, seed=0)
    return model, tok, before, df


@pytest.mark.slow
def test_minilm_frame_equals_head_atlas_and_output_attentions(minilm):
    from transformers import AutoModel

    model, tok, before, df = minilm
    assert impl(model) == before == "sdpa"
    assert df.atlas.tasks == ("previous", "previous_text", "induction", "duplicate", "sink")
    assert len(df) == 6 * 12 * 5
    again = head_atlas(wrap(model, tok), "previous,induction,duplicate,sink", prompts=6, length=8, seed=0)
    for t in df.atlas.tasks:
        np.testing.assert_allclose(grid(df, t, 6, 12), again.scores[t], atol=1e-12, rtol=0)
    eager = AutoModel.from_pretrained(attnscope.example_model(), attn_implementation="eager").eval()
    want = direct_previous(eager, df.atlas.inputs["previous"])
    np.testing.assert_allclose(grid(df, "previous", 6, 12), want, atol=1e-5, rtol=0)
    assert impl(model) == "sdpa"


@pytest.mark.slow
@pytest.mark.browser
def test_minilm_grid_in_chromium_draws_every_head_and_hovers_its_score(minilm, browser, tmp_path):
    _, _, _, df = minilm
    path = df.show("previous").save_html(tmp_path / "atlas.html")
    ctx = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    blocked, errors = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:"))
             else (blocked.append(r.request.url), r.abort()))
    try:
        pg.goto(path.as_uri())
        pg.wait_for_selector(".attnscope-atlas[data-ready]", timeout=10_000)
        canvas = pg.locator("canvas.attnscope-atlas-grid")
        assert canvas.get_attribute("data-layers") == "6" and canvas.get_attribute("data-heads") == "12"
        assert canvas.get_attribute("data-cells") == "72"

        def hover(layer: int, head: int) -> str:
            box = canvas.bounding_box()
            cell, left, top = (float(canvas.get_attribute(f"data-{k}")) for k in ("cell", "left", "top"))
            pg.mouse.move(box["x"] + left + (head + 0.5) * cell, box["y"] + top + (layer + 0.5) * cell)
            return pg.locator(".attnscope-atlas-hover").text_content()

        scores = df.atlas.scores
        l, h = np.unravel_index(int(np.argmax(scores["previous"])), scores["previous"].shape)
        assert hover(int(l), int(h)) == f"layer {l} · head {h} · previous {scores['previous'][l, h]:.4f}"
        assert canvas.get_attribute("data-hover") == f"{l},{h}"
        assert pg.locator(".attnscope-atlas-scale").text_content().startswith("colour: score 0–1, linear")
        pg.select_option(".attnscope-atlas select", "induction")
        assert pg.get_attribute(".attnscope-atlas", "data-task") == "induction"
        assert hover(5, 11) == f"layer 5 · head 11 · induction {scores['induction'][5, 11]:.4f}"
        pg.select_option(".attnscope-atlas select", "previous")
        hover(int(l), int(h))
        shot(pg, "notebook-atlas.png", full_page=True)
        with pg.expect_download() as got:
            pg.click(".attnscope-atlas button:text('SVG')")
        svg = open(got.value.path(), encoding="utf-8").read()
        assert got.value.suggested_filename == "atlas-previous.svg" and svg.startswith("<svg")
        assert svg.count("<title>") == 72 and f"layer {l} · head {h} · previous" in svg
        assert blocked == [] and errors == []
    finally:
        ctx.close()
