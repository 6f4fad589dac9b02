"""``attnscope.norms``, ``.lens`` and ``.patch`` on the user's own model: the core's numbers, checked independently.

Each function is called on a model built as a user has it (SDPA, training mode) and compared with the core
function on a fresh eager copy (same seed, 1e-9) and with a computation that never goes through AttnScope: the
model's own eager ``output_attentions`` and a hook on the value projection (norms), its own logits (lens), and
hooks that copy the clean run's W_O inputs into the corrupt run (patching).
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch

import attnscope
from attnscope._html import unpack
from attnscope.inspection.adapters import wrap
from attnscope.inspection.lens import lens as core_lens
from attnscope.inspection.norms import norms as core_norms, normalise_rows
from attnscope.inspection.patch import patch as core_patch
from tests.inspect.family_fixtures import build
from tests.screens import shot

TEXT = "The cat sat on the mat. The cat"
SENTENCE = "The animal didn't cross the street because it was too tired"
CLEAN = "The animal didn't cross the street because it was too"
CORRUPT = "The street didn't cross the animal because it was too"


def impl(model) -> str:
    return model.config._attn_implementation


def as_user(family: str):
    """A tiny model as a notebook user may hold it: SDPA, in training mode."""
    model, tok = build(family, attn="sdpa")
    return model.train(), tok


def unchanged(model) -> bool:
    return impl(model) == "sdpa" and model.training


def embedded(fragment: str) -> dict:
    m = re.search(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', fragment, re.S)
    assert m and f'<div id="{m[1]}"' in fragment
    return json.loads(m[2])


def check_offline_bundle(fragment: str) -> None:
    script = fragment.split("<script>", 1)[1]
    assert "async function mountEffects(" in script and "function colorFor(" in script
    assert "await mountEffects(root, data)" in script
    assert not re.search(r"^\s*(import|export)\b", script, re.M)
    assert "<script src" not in fragment and not re.search(r"cdn|unpkg|jsdelivr|googleapis", fragment, re.I)
    assert set(re.findall(r"https?://[^\s\"'`]+", fragment)) <= {"http://www.w3.org/2000/svg"}  # gridSvg's xmlns


# --- norms ---------------------------------------------------------------------------------------------------------

#: family -> (layers, value projection of a layer, W_O of a layer)
PARTS = {
    "bert": (lambda m: m.encoder.layer, lambda lay: lay.attention.self.value, lambda lay: lay.attention.output.dense),
    "llama": (lambda m: m.model.layers, lambda lay: lay.self_attn.v_proj, lambda lay: lay.self_attn.o_proj),
    "gpt2": (lambda m: m.transformer.h, lambda lay: lay.attn.c_attn, lambda lay: lay.attn.c_proj),
}


def direct_norms(model, tok, text: str, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(α, ‖α_ij v_j‖, ‖α_ij v_j W_O^h‖) (H, T, T) float64 and T, from an eager model's own outputs and weights."""
    cfg = model.config
    family = "bert" if cfg.model_type == "bert" else cfg.model_type
    H = cfg.num_attention_heads
    KV = getattr(cfg, "num_key_value_heads", None) or H
    dh = cfg.hidden_size // H
    layers, v_of, o_of = PARTS[family]
    lay = layers(model)[layer]
    seen = {}
    handle = v_of(lay).register_forward_hook(lambda _m, _i, out: seen.update(v=out[0]))
    enc = tok(text, return_tensors="pt")
    if family != "bert":
        enc.pop("token_type_ids", None)
    try:
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
    finally:
        handle.remove()
    y = seen["v"]  # (T, KV * dh), GPT-2's fused (T, 3 * d)
    if family == "gpt2":
        y = y.split(H * dh, dim=-1)[2]
    v = y.reshape(-1, KV, dh).transpose(0, 1)[torch.arange(H) // (H // KV)].double()  # (H, T, dh)
    wo = o_of(lay)
    w_o = (wo.weight if type(wo).__name__ == "Conv1D" else wo.weight.T).detach().double().reshape(H, dh, -1)
    alpha = out.attentions[layer][0].double()  # (H, T, T)
    moved = alpha[..., None] * v[:, None]  # (H, Tq, Tk, dh): the vector α_ij v_j
    through = torch.einsum("hqkd,hde->hqke", moved, w_o)
    return alpha.numpy(), moved.norm(dim=-1).numpy(), through.norm(dim=-1).numpy(), enc["input_ids"].shape[1]


def check_norms(n, core, direct) -> None:
    for name in ("weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised"):
        np.testing.assert_allclose(getattr(n, name), getattr(core, name), atol=1e-9, rtol=0)
    alpha, ref, ref_wo, T = direct
    assert n.weights.shape == alpha.shape and len(n.tokens) == T and n.tokens == n.key_tokens == core.query_tokens
    np.testing.assert_allclose(n.weights, alpha, atol=1e-5, rtol=0)
    np.testing.assert_allclose(n.norms, ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(n.norms_with_wo, ref_wo, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(n.norms_normalised, normalise_rows(ref), atol=1e-5, rtol=0)
    np.testing.assert_allclose(n.norms_with_wo_normalised, normalise_rows(ref_wo), atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["bert", "llama", "gpt2"])
def test_norms_are_the_cores_and_a_direct_computation_from_the_model(family):
    model, tok = as_user(family)
    for layer in range(2):
        n = attnscope.norms(model, tok, TEXT, layer)
        assert unchanged(model)
        assert (n.block, n.layer) == ("encoder" if family == "bert" else "decoder", layer)
        eager, _ = build(family)  # the same weights (same seed), eager
        check_norms(n, core_norms(wrap(eager, tok), TEXT, layer), direct_norms(eager, tok, TEXT, layer))
    assert "NormsResult" in repr(n) and "4 heads" in repr(n)


def test_norms_dataframe_is_long_format_with_token_texts():
    model, tok = as_user("llama")
    n = attnscope.norms(model, tok, TEXT, 1)
    df = n.to_dataframe()
    H, T, _ = n.weights.shape
    assert list(df.columns) == ["head", "query", "key", "query_token", "key_token", "weight", "norm", "norm_with_wo"]
    assert len(df) == H * T * T
    row = df[(df["head"] == 2) & (df["query"] == 5) & (df["key"] == 3)].iloc[0]
    assert (row.query_token, row.key_token) == (n.tokens[5], n.tokens[3])
    assert (row.weight, row.norm, row.norm_with_wo) == (n.weights[2, 5, 3], n.norms[2, 5, 3], n.norms_with_wo[2, 5, 3])
    np.testing.assert_array_equal(df["norm"].to_numpy().reshape(H, T, T), n.norms)


def test_norms_show_embeds_the_exact_arrays_and_the_bundled_renderer():
    model, tok = as_user("gpt2")
    n = attnscope.norms(model, tok, TEXT, 0)
    view = n.show(head=2)  # outside IPython: the view comes back
    fragment = view._repr_html_()
    data = embedded(fragment)
    assert (data["view"], data["head"], data["heads"], data["layer"], data["block"]) == ("norms", 2, 4, 0, "decoder")
    assert data["query_tokens"] == data["key_tokens"] == n.tokens
    for name in ("weights", "norms", "norms_with_wo", "norms_normalised", "norms_with_wo_normalised"):
        np.testing.assert_array_equal(unpack(data[name]), getattr(n, name))  # float32, exact
    check_offline_bundle(fragment)
    assert 'data-view="norms"' in fragment and "EffectsView norms" in repr(view)
    with pytest.raises(ValueError, match="head 4 is out of range: the layer has heads 0 to 3"):
        n.show(head=4)


def test_norms_bad_input_is_a_readable_value_error_and_leaves_the_model_alone():
    model, tok = as_user("bert")
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        attnscope.norms(model, tok, TEXT, 2)
    assert unchanged(model)
    with pytest.raises(ValueError, match="has no 'cross' attention"):
        attnscope.norms(model, tok, TEXT, 0, block="cross")
    with pytest.raises(ValueError, match="text is empty"):
        attnscope.norms(model, tok, "  ", 0)
    assert unchanged(model)


# --- lens ----------------------------------------------------------------------------------------------------------


def own_probs(model, tok, text: str) -> torch.Tensor:
    """(T, V) softmax of the model's own logits."""
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt"), use_cache=False).logits[0].double().softmax(-1)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_lens_is_the_cores_and_its_last_layer_is_the_models_own_distribution(family):
    model, tok = as_user(family)
    df = attnscope.lens(model, tok, SENTENCE, k=3)
    assert unchanged(model) and type(df).__name__ == "LensFrame"
    assert list(df.columns) == ["layer", "position", "token", "rank", "top_token", "top_id", "prob", "final_token",
                                "final_rank", "final_prob"]
    eager, _ = build(family)
    core = core_lens(wrap(eager, tok), SENTENCE, k=3)
    rows, P, K = core.top_ids.shape
    assert rows == 3 and K == 3 and len(df) == rows * P * K and df["layer"].unique().tolist() == ["emb", "0", "1"]
    np.testing.assert_allclose(df["prob"].to_numpy().reshape(rows, P, K), core.top_probs, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(df["top_id"].to_numpy().reshape(rows, P, K), core.top_ids)
    np.testing.assert_array_equal(df["final_rank"].to_numpy().reshape(rows, P, K)[..., 0], core.final_rank)
    own = own_probs(eager, tok, SENTENCE)  # (T, V): never through AttnScope
    last = df[df["layer"] == "1"]
    top_p, top_i = own.topk(K, dim=-1)
    np.testing.assert_allclose(last["prob"].to_numpy().reshape(P, K), top_p.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(last["top_id"].to_numpy().reshape(P, K), top_i.numpy())
    assert (last["final_rank"] == 0).all() and (last[last["rank"] == 0]["top_token"] == last[last["rank"] == 0][
        "final_token"]).all()
    assert df[df["rank"] == 0]["token"].tolist()[:P] == core.tokens[:P]
    shown = tok.convert_ids_to_tokens([int(top_i[3, 0])])[0]
    assert last.iloc[3 * K].top_token == shown.replace("Ġ", " ") or last.iloc[3 * K].top_id == int(top_i[3, 0])


def test_lens_positions_k_and_a_filtered_show():
    model, tok = as_user("llama")
    df = attnscope.lens(model, tok, SENTENCE, positions=[5, 2], k=2)
    assert sorted(df["position"].unique()) == [2, 5] and len(df) == 3 * 2 * 2
    data = embedded(df.show()._repr_html_())
    assert (data["view"], data["layers"], data["positions"]) == ("lens", ["emb", "0", "1"], [2, 5])
    cell = data["cells"][2][1]  # layer "1", position 5
    rows = df[(df["layer"] == "1") & (df["position"] == 5)].sort_values("rank")
    assert cell["top"] == [[t, p] for t, p in zip(rows["top_token"], rows["prob"].astype(float))]
    assert cell["final"] == [rows.iloc[0].final_token, 0, float(rows.iloc[0].final_prob)]
    one = embedded(df[df["position"] == 5].show()._repr_html_())  # filtering keeps the frame and its methods
    assert one["positions"] == [5] and one["layers"] == ["emb", "0", "1"]
    part = embedded(df[(df["position"] == 2) | (df["layer"] != "0")].show()._repr_html_())
    assert part["cells"][1][1] is None and part["cells"][1][0] is not None  # layer "0" at 5 is not in the frame
    check_offline_bundle(df.show()._repr_html_())
    with pytest.raises(ValueError, match="1 to 20"):
        attnscope.lens(model, tok, SENTENCE, k=21)
    with pytest.raises(ValueError, match="position 99 is out of range"):
        attnscope.lens(model, tok, SENTENCE, positions=[99])
    with pytest.raises(ValueError, match="one row per cell"):
        __import__("pandas").concat([df, df]).show()
    assert unchanged(model)


def test_lens_refuses_an_encoder_readably():
    model, tok = as_user("bert")
    with pytest.raises(ValueError, match="encoder without a language-model head"):
        attnscope.lens(model, tok, SENTENCE)
    assert unchanged(model)


# --- patch ---------------------------------------------------------------------------------------------------------

WO = {"llama": lambda m, l: m.model.layers[l].self_attn.o_proj, "gpt2": lambda m, l: m.transformer.h[l].attn.c_proj}


def last_logits(model, tok, text: str, replace: dict | None = None, keep: dict | None = None) -> torch.Tensor:
    """(V,) next-token logits; ``keep``: layer -> W_O input seen; ``replace``: layer -> (columns, W_O input) put in."""
    family = model.config.model_type
    handles = []

    def pre(layer):
        def hook(_m, args):
            if keep is not None:
                keep[layer] = args[0].clone()
            if replace and layer in replace:
                cols, z = replace[layer]
                x = args[0].clone()
                x[..., cols] = z[..., cols]
                return (x, *args[1:])
        return hook

    for layer in range(model.config.num_hidden_layers):
        handles.append(WO[family](model, layer).register_forward_pre_hook(pre(layer)))
    try:
        with torch.no_grad():
            return model(**tok(text, return_tensors="pt"), use_cache=False).logits[0, -1].double()
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize("family, pair", [("llama", None), ("gpt2", (5, 7))])
def test_patch_is_the_cores_and_matches_hooks_outside_attnscope(family, pair):
    model, tok = as_user(family)
    names = {} if pair is None else {"target": tok.decode([pair[0]]), "foil": tok.decode([pair[1]])}
    df = attnscope.patch(model, tok, CLEAN, CORRUPT, **names)
    assert unchanged(model) and type(df).__name__ == "PatchFrame"
    assert list(df.columns) == ["layer", "head", "effect", "value"] and len(df) == 2 * 4
    same, _ = build(family, attn="sdpa")  # patched runs go through the model's own attention: the user's SDPA
    core = core_patch(wrap(same, tok), CLEAN, CORRUPT, **names)
    np.testing.assert_allclose(df["value"].to_numpy().reshape(2, 4), np.array(core.values), atol=1e-9, rtol=0)
    np.testing.assert_allclose(df["effect"].to_numpy().reshape(2, 4), np.array(core.effects), atol=1e-9, rtol=0)
    assert (df.clean_value, df.corrupt_value, df.answer, df.foil, df.reason) == (
        core.clean_value, core.corrupt_value, core.answer, core.foil, None)
    # independently: the metric from the model's own logits (eager), and heads patched by plain hooks
    eager, _ = build(family)
    z: dict = {}
    clean = last_logits(eager, tok, CLEAN, keep=z)
    corrupt = last_logits(eager, tok, CORRUPT)
    a, f = df.answer["id"], df.foil["id"]
    assert (a, f) == (pair or (int(clean.argmax()), int(corrupt.argmax())))
    assert df.clean_value == pytest.approx(float(clean[a] - clean[f]), abs=1e-5)
    assert df.corrupt_value == pytest.approx(float(corrupt[a] - corrupt[f]), abs=1e-5)
    everything = {layer: (slice(None), z[layer]) for layer in z}  # every head at once: the clean logits
    torch.testing.assert_close(last_logits(eager, tok, CORRUPT, replace=everything), clean, atol=1e-5, rtol=0)
    dh = eager.config.hidden_size // 4
    for layer, head in [(0, 1), (1, 3)]:
        one = last_logits(eager, tok, CORRUPT, replace={layer: (slice(head * dh, (head + 1) * dh), z[layer])})
        row = df[(df["layer"] == layer) & (df["head"] == head)].iloc[0]
        assert row.value == pytest.approx(float(one[a] - one[f]), abs=1e-5)
        assert row.effect == pytest.approx((row.value - df.corrupt_value) / (df.clean_value - df.corrupt_value))


def test_patch_residual_mode_restores_clean_at_the_last_layer_and_position():
    model, tok = as_user("llama")
    df = attnscope.patch(model, tok, CLEAN, CORRUPT, metric="kl", mode="residual")
    T = len(df.patching.clean_tokens)
    assert list(df.columns) == ["layer", "position", "effect", "value"] and len(df) == 2 * T
    last = df[df["layer"] == 1].set_index("position")["effect"]
    assert last[T - 1] == pytest.approx(1.0, abs=1e-5) and (last.drop(T - 1).abs() < 1e-6).all()
    data = embedded(df.show()._repr_html_())
    assert (data["mode"], data["layers"], data["columns"]) == ("residual", 2, list(range(T)))
    assert data["clean_tokens"] == df.patching.clean_tokens and data["differing"] == df.patching.differing
    np.testing.assert_allclose(np.array(data["effects"], dtype=float).reshape(2, T),
                               df["effect"].to_numpy().reshape(2, T), atol=0, rtol=0)
    assert unchanged(model)


def test_patch_show_embeds_the_grid_and_says_why_effects_are_undefined():
    model, tok = as_user("gpt2")
    df = attnscope.patch(model, tok, CLEAN, CORRUPT, metric="prob")
    fragment = df.show()._repr_html_()
    data = embedded(fragment)
    assert (data["view"], data["mode"], data["layers"], data["columns"], data["metric"]) == (
        "patch", "heads", 2, [0, 1, 2, 3], "prob")
    np.testing.assert_array_equal(np.array(data["effects"]), df["effect"].to_numpy())
    np.testing.assert_array_equal(np.array(data["values"]), df["value"].to_numpy())
    assert data["answer"] == df.answer and data["foil"] is None and data["reason"] is None
    check_offline_bundle(fragment)
    sub = embedded(df[df["layer"] == 1].show()._repr_html_())  # filtered: layer 0 is not in the frame
    assert sub["values"][:4] == [None] * 4 and sub["layers"] == 2 and type(df[df.layer == 1]).__name__ == "PatchFrame"
    same = attnscope.patch(model, tok, CLEAN, CLEAN, metric="kl")
    assert same.reason and "undefined" in same.reason and same["effect"].isna().all()
    data = embedded(same.show()._repr_html_())
    assert data["effects"] == [None] * 8 and data["reason"] == same.reason
    assert unchanged(model)


def test_patch_bad_input_is_a_readable_value_error():
    model, tok = as_user("llama")
    with pytest.raises(ValueError, match=r"same number of tokens: clean is \d+ tokens .*corrupt is \d+"):
        attnscope.patch(model, tok, CLEAN, CLEAN + " tired")
    assert unchanged(model)
    with pytest.raises(ValueError, match="unknown metric 'loss'"):
        attnscope.patch(model, tok, CLEAN, CORRUPT, metric="loss")
    with pytest.raises(ValueError, match="not one"):
        attnscope.patch(model, tok, CLEAN, CORRUPT, target="the street")
    bert, btok = as_user("bert")
    with pytest.raises(ValueError, match="decoders"):
        attnscope.patch(bert, btok, CLEAN, CORRUPT)
    assert unchanged(bert) and unchanged(model)


# --- both frames ---------------------------------------------------------------------------------------------------


def test_without_pandas_the_error_names_the_extra(monkeypatch):
    model, tok = build("llama")
    n = attnscope.norms(model, tok, TEXT, 0)  # arrays need no pandas
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    for call in (lambda: attnscope.lens(model, tok, TEXT), lambda: attnscope.patch(model, tok, CLEAN, CORRUPT),
                 n.to_dataframe):
        with pytest.raises(ImportError, match=re.escape("pip install 'attnscope[notebook]'")):
            call()


def test_the_three_are_public():
    for name in ("norms", "lens", "patch"):
        assert name in attnscope.__all__ and callable(getattr(attnscope, name))


# --- the real MiniLM -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_user():
    """MiniLM as a notebook user loads it (transformers' default attention: SDPA), and an eager copy."""
    from transformers import AutoModel, AutoTokenizer

    path = attnscope.example_model()
    model, tok = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    eager = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return model, tok, eager


@pytest.mark.slow
def test_minilm_norms_are_the_cores_and_a_direct_computation(minilm_user):
    model, tok, eager = minilm_user
    assert impl(model) == "sdpa" and not model.training
    n = attnscope.norms(model, tok, SENTENCE, 5)
    assert impl(model) == "sdpa" and not model.training
    check_norms(n, core_norms(wrap(eager, tok), SENTENCE, 5), direct_norms(eager, tok, SENTENCE, 5))
    assert n.weights.shape == (12, len(n.tokens), len(n.tokens)) and n.tokens[0] == "[CLS]"
    with pytest.raises(ValueError, match="encoder without a language-model head"):
        attnscope.lens(model, tok, SENTENCE)
    with pytest.raises(ValueError, match="decoders"):
        attnscope.patch(model, tok, CLEAN, CORRUPT)
    assert impl(model) == "sdpa" and not model.training


# --- in Chromium -----------------------------------------------------------------------------------------------------


def open_page(browser, path):
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = ctx.new_page()
    pg.blocked, pg.errors = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:"))
             else (pg.blocked.append(r.request.url), r.abort()))
    pg.goto(path.as_uri())
    pg.wait_for_selector(".attnscope-effects[data-ready]", timeout=10_000)
    return ctx, pg


def painted(pg, selector: str) -> int:
    """How many pixels of the canvas are not transparent."""
    return pg.eval_on_selector(selector, """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")


def hover(pg, selector: str, i: int, j: int) -> None:
    canvas = pg.locator(selector)
    box = canvas.bounding_box()
    left, top, w, h = (float(canvas.get_attribute(f"data-{k}")) for k in ("left", "top", "cell-w", "cell-h"))
    pg.mouse.move(box["x"] + left + (j + 0.5) * w, box["y"] + top + (i + 0.5) * h)


@pytest.mark.slow
@pytest.mark.browser
def test_the_three_figures_draw_and_hover_the_right_numbers_in_chromium(minilm_user, browser, tmp_path):
    model, tok, _ = minilm_user
    n = attnscope.norms(model, tok, SENTENCE, 5)
    i, h = n.tokens.index("it"), 11
    j = int(np.argmax(n.weights[h, i]))
    ctx, pg = open_page(browser, n.show(head=h).save_html(tmp_path / "norms.html"))
    try:
        assert pg.get_attribute(".attnscope-norms", "data-head") == "11"
        assert painted(pg, "canvas.attnscope-norms-weights") > 1000 < painted(pg, "canvas.attnscope-norms-norms")
        hover(pg, "canvas.attnscope-norms-norms", i, j)
        text = pg.locator(".attnscope-norms-hover").text_content()
        assert f'query {i} "it" → key {j} "{n.tokens[j]}"' in text
        assert f"weight {n.weights[h, i, j]:.4f}" in text and f"‖α·f(x)‖ {n.norms[h, i, j]:.4f} " in text
        assert f"({n.norms_with_wo_normalised[h, i, j]:.4f} of the row)" in text
        shot(pg, "notebook-norms.png", full_page=True)
        pg.select_option(".attnscope-norms select >> nth=0", "3")
        assert pg.get_attribute(".attnscope-norms", "data-head") == "3"
        assert pg.blocked == [] and pg.errors == []
    finally:
        ctx.close()

    gpt, gtok = build("gpt2")
    df = attnscope.lens(gpt, gtok, SENTENCE, k=3)
    ctx, pg = open_page(browser, df.show().save_html(tmp_path / "lens.html"))
    try:
        grid = "canvas.attnscope-lens-grid"
        assert pg.get_attribute(grid, "data-rows") == "3" and painted(pg, grid) > 1000
        P = df["position"].nunique()
        assert pg.get_attribute(grid, "data-cols") == str(P)
        hover(pg, grid, 2, 4)
        cell = df[(df["layer"] == "1") & (df["position"] == 4)].sort_values("rank")
        text = pg.locator(".attnscope-lens-hover").text_content()
        assert text.startswith(f"layer 1 · position 4 {json.dumps(cell.iloc[0].token)}")
        assert f"1. {json.dumps(cell.iloc[0].top_token)} {cell.iloc[0].prob:.4f}" in text and ": rank 0, p " in text
        shot(pg, "notebook-lens.png", full_page=True)
        assert pg.blocked == [] and pg.errors == []
    finally:
        ctx.close()

    llama, ltok = build("llama")
    p = attnscope.patch(llama, ltok, CLEAN, CORRUPT)
    ctx, pg = open_page(browser, p.show().save_html(tmp_path / "patch.html"))
    try:
        grid = "canvas.attnscope-patch-grid"
        assert (pg.get_attribute(grid, "data-rows"), pg.get_attribute(grid, "data-cols")) == ("2", "4")
        assert painted(pg, grid) > 1000
        hover(pg, grid, 1, 2)
        row = p[(p["layer"] == 1) & (p["head"] == 2)].iloc[0]
        assert pg.locator(".attnscope-patch-hover").text_content() == (
            f"layer 1 · head 2 · effect {row.effect:.4f} · logit_diff {row.value:.4f}")
        assert "1 = fully restored" in pg.locator(".attnscope-patch-metric").text_content()
        shot(pg, "notebook-patch.png", full_page=True)
        assert pg.blocked == [] and pg.errors == []
    finally:
        ctx.close()
