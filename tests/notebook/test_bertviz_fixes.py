"""Issue 25's notebook-host bugs: bertviz's README call, the head view's layer select, decoder captions,
``html_action="return"``'s ``.data``, SDPA's missing weights and the untrusted-notebook placeholder.

Tiny random models built in the tests (BERT with MiniLM's tokenizer, GPT-2 with a byte-level BPE); the browser
tests open the outputs as files in Chromium, offline.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import attnscope
from attnscope._html import unpack
from tests.inspect.decoder_fixtures import tiny_gpt2, tiny_tokenizer

STEP = 0.5 / 255 + 1e-6  # weights travel as round(255 w): within half a step of the model's own


def tiny_bert(tok, impl: str = "eager"):
    """A random 2-layer, 4-head, hidden-32 BERT on ``impl`` attention (what ``from_pretrained`` would give)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.3,  # peaked weights
                     attn_implementation=impl)
    return BertModel(cfg).eval()


def readme_call(tok, model, text: str = "The cat sat on the mat"):
    """bertviz's README: ``inputs = tokenizer.encode(text, return_tensors='pt')``, then the model with
    ``output_attentions=True`` and the tokens of ``inputs[0]``."""
    inputs = tok.encode(text, return_tensors="pt")
    with torch.no_grad():
        outputs = model(inputs, output_attentions=True)
    return outputs, tok.convert_ids_to_tokens(inputs[0])


def embedded(view) -> dict:
    m = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', view.data, re.S)
    assert m, "the output embeds no data"
    return json.loads(m.group(1))


def hover_weight(page, output, i: int, j: int) -> float:
    """Move the mouse onto cell (query i, key j) of ``output``'s big heatmap; the weight its tooltip shows."""
    hm = output.locator("canvas.attnscope-heatmap")
    hm.scroll_into_view_if_needed()
    d = hm.evaluate("c => ({left: +c.dataset.left, top: +c.dataset.top, cell: +c.dataset.cell})")
    box = hm.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)  # off the cells first: a redraw under a resting pointer has no move
    page.mouse.move(box["x"] + d["left"] + (j + 0.5) * d["cell"], box["y"] + d["top"] + (i + 0.5) * d["cell"])
    tip = output.locator(".attnscope-tip")
    tip.wait_for(state="visible", timeout=5000)
    assert f"(query {i}, key {j})" in tip.text_content()
    return float(tip.get_attribute("data-weight"))


def caption(output) -> str:
    return output.locator("p").text_content()


def caption_has(page, text: str) -> None:
    """Wait until the page's one figure's caption holds ``text`` (a redraw finishes after a yield to the browser)."""
    page.wait_for_function("t => document.querySelector('.attnscope-output p').textContent.includes(t)", arg=text,
                           timeout=5000)


# ---------------------------------------------------------------- 1. bertviz's README call


def test_readme_outputs_last_draws_the_models_attentions(minilm_tokenizer):
    """transformers 5 puts cross_attentions last (empty for BERT), so ``outputs[-1]`` is ``()``: the attentions of
    the one model output in the caller's variables that ends with it are drawn, with a warning that says so."""
    model = tiny_bert(minilm_tokenizer)
    outputs, tokens = readme_call(minilm_tokenizer, model)
    want = torch.stack(outputs.attentions)[:, 0].numpy()  # (L, H, T, T)
    assert outputs[-1] == () and len(outputs.attentions) == 2  # what bertviz's own call would get
    for view in (attnscope.model_view, attnscope.head_view):
        with pytest.warns(UserWarning, match=r"outputs\[-1\] is outputs.cross_attentions"):
            v = view(outputs[-1], tokens, html_action="return")
        block = embedded(v)["blocks"][0]
        assert (block["name"], block["kind"]) == ("encoder", "self") and block["q"] == tokens
        np.testing.assert_allclose(unpack(block["weights"]), want, atol=STEP, rtol=0)
    attention = outputs[-1]  # the README's `attention = outputs[-1]`, then the call
    with pytest.warns(UserWarning):
        attnscope.model_view(attention, tokens, html_action="return")
    # the whole output, and bertviz's keywords
    v = attnscope.model_view(outputs, tokens, include_layers=[1], include_heads=[2, 3], display_mode="light",
                             prettify_tokens=False, html_action="return")
    block = embedded(v)["blocks"][0]
    np.testing.assert_allclose(unpack(block["weights"]), want[[1]][:, [2, 3]], atol=STEP, rtol=0)
    assert block["layerIds"] == [1] and block["headIds"] == [2, 3]
    v = attnscope.head_view(outputs.attentions, tokens, layer=1, heads=[3], html_action="return")
    assert (v.layer, v.head) == (1, 3)  # bertviz's `heads`: the heads selected first, not a filter
    with pytest.raises(ValueError, match="not among the layers drawn"):
        attnscope.head_view(outputs.attentions, tokens, layer=0, include_layers=[1], html_action="return")


def test_an_empty_outputs_last_with_two_candidate_outputs_is_refused(minilm_tokenizer):
    model = tiny_bert(minilm_tokenizer)
    outputs, tokens = readme_call(minilm_tokenizer, model)
    again, _ = readme_call(minilm_tokenizer, model)  # noqa: F841 (the caller's second model output)
    with pytest.raises(ValueError, match=r"several model outputs \(outputs, again\)"):
        attnscope.head_view(outputs[-1], tokens, html_action="return")
    with pytest.raises(ValueError, match=r"outputs\[-1\].*cross_attentions.*pass outputs.attentions"):
        _no_caller_outputs(tokens)


def _no_caller_outputs(tokens):
    """A frame with no model output in its variables: the empty tuple gets the error that names both causes."""
    return attnscope.head_view((), tokens, html_action="return")


# ---------------------------------------------------------------- 5. SDPA returns no weights


def test_sdpa_attentions_say_why_they_are_empty(minilm_tokenizer):
    model = tiny_bert(minilm_tokenizer, impl="sdpa")
    outputs, tokens = readme_call(minilm_tokenizer, model)
    assert not outputs.attentions or all(a is None for a in outputs.attentions)  # SDPA computed no weights
    for arg in (outputs.attentions, outputs[-1], outputs, tuple(None for _ in range(2))):
        with pytest.raises(ValueError, match="SDPA") as err:
            attnscope.head_view(arg, tokens, html_action="return")
        msg = str(err.value)
        assert 'attn_implementation="eager"' in msg and "attnscope.show(model, tokenizer, text)" in msg, msg
    with pytest.raises(ValueError, match="output_attentions=True.*SDPA"):
        attnscope.model_view(None, tokens, html_action="return")
    # attnscope.show reads the same SDPA model as it is
    t = attnscope.trace(model, minilm_tokenizer, "The cat sat on the mat")
    np.testing.assert_allclose(t.to_numpy().sum(-1), 1, atol=1e-5)


# ---------------------------------------------------------------- 3. a decoder is captioned as one


def test_a_causal_decoders_attention_is_labelled_causal():
    adapter, tok = tiny_gpt2(), tiny_tokenizer()
    ids = tok("The animal didn't cross the street", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        att = adapter.model(ids, output_attentions=True).attentions
    tokens = tok.convert_ids_to_tokens(ids[0])
    block = embedded(attnscope.head_view(att, tokens, html_action="return"))["blocks"][0]
    assert (block["name"], block["kind"]) == ("decoder", "causal")  # lower-triangular: only tensors were given
    assert block["q"] == [t.replace("Ġ", " ") for t in tokens]  # bertviz's prettify_tokens
    # from the model itself (attnscope.show / trace): its family says so
    t = attnscope.trace(adapter.model, tok, "The animal didn't cross the street")
    assert [(b["name"], b["kind"]) for b in embedded(t.view())["blocks"]] == [("decoder", "causal")]
    enc = embedded(attnscope.head_view(tuple(np.full((1, 2, 3, 3), 1 / 3) for _ in range(2)), list("abc"),
                                       html_action="return"))["blocks"][0]
    assert (enc["name"], enc["kind"]) == ("encoder", "self")


# ---------------------------------------------------------------- 4. .data is the HTML; 6. the placeholder


def test_return_gives_html_data_and_the_placeholder_says_how_to_trust(minilm_tokenizer):
    outputs, tokens = readme_call(minilm_tokenizer, tiny_bert(minilm_tokenizer))
    v = attnscope.head_view(outputs.attentions, tokens, html_action="return")
    assert isinstance(v.data, str) and v.data.startswith('<div id="attnscope-')
    assert v.payload()["view"] == "attention" and v._repr_html_().startswith('<div id="attnscope-')
    head = v.data.split("</div>", 1)[0]
    assert "Command Palette → Trust Notebook" in head and "jupyter trust NOTEBOOK.ipynb" in head


# ---------------------------------------------------------------- in Chromium


@pytest.fixture
def file_page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.errors, pg.blocked = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)

    def local_only(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            pg.blocked.append(route.request.url)
            route.abort()

    pg.route("**/*", local_only)
    yield pg
    ctx.close()


@pytest.mark.browser
def test_bertviz_save_recipe_layer_select_and_captions_in_chromium(minilm_tokenizer, file_page, tmp_path):
    outputs, tokens = readme_call(minilm_tokenizer, tiny_bert(minilm_tokenizer))
    want = torch.stack(outputs.attentions)[:, 0].numpy()
    html = attnscope.head_view(outputs.attentions, tokens, html_action="return")
    with open(tmp_path / "head_view.html", "w") as f:  # bertviz's recipe, as its README writes it
        f.write(html.data)
    file_page.goto((tmp_path / "head_view.html").as_uri())
    out = file_page.locator(".attnscope-output")
    file_page.wait_for_selector(".attnscope-output[data-ready]")
    assert caption(out).startswith("encoder self-attention · layer 1 · head 1 ·")
    i, j = np.unravel_index(np.abs(want[0, 0] - want[1, 0]).argmax(), want.shape[2:])  # where layers 1, 2 differ most
    assert abs(want[0, 0, i, j] - want[1, 0, i, j]) > 0.05
    w1 = hover_weight(file_page, out, i, j)
    assert abs(w1 - want[0, 0, i, j]) <= STEP
    layer_select = out.locator("select").nth(0)
    # each option's value is its text: "2" is layer 2 whether a select is driven by value or by label (the values
    # were 0-based under 1-based texts, so choosing "1"... by value picked layer 1 or 2 depending on the tool)
    assert layer_select.evaluate("s => [...s.options].map(o => [o.value, o.text])") == [["1", "1"], ["2", "2"]]
    assert layer_select.select_option("2") == ["2"]  # the layer select: layer 2
    caption_has(file_page, "layer 2 ·")
    w2 = hover_weight(file_page, out, i, j)
    assert abs(w2 - want[1, 0, i, j]) <= STEP
    out.locator("select").nth(0).focus()
    file_page.keyboard.press("ArrowUp")  # the keyboard changes it too
    caption_has(file_page, "layer 1 ·")
    assert abs(hover_weight(file_page, out, i, j) - want[0, 0, i, j]) <= STEP

    # include_layers / include_heads: the labels keep the model's own numbers
    v = attnscope.model_view(outputs.attentions, tokens, include_layers=[1], include_heads=[2, 3], html_action="return")
    file_page.goto(v.save_html(tmp_path / "model_view.html").as_uri())
    file_page.wait_for_selector(".attnscope-output[data-ready]")
    assert "layer 2 · head 3 ·" in caption(out)
    assert out.get_by_text("H4", exact=True).count() == 1 and out.get_by_text("L2", exact=True).count() == 1
    out.locator("canvas[data-layer='0'][data-head='1']").click()
    caption_has(file_page, "head 4 ·")
    assert abs(hover_weight(file_page, out, 1, 4) - want[1, 3, 1, 4]) <= STEP

    # a GPT-2's head view: decoder (causal) self-attention
    adapter, tok = tiny_gpt2(), tiny_tokenizer()
    ids = tok("The animal didn't cross the street", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        att = adapter.model(ids, output_attentions=True).attentions
    v = attnscope.head_view(att, tok.convert_ids_to_tokens(ids[0]), html_action="return")
    file_page.goto(v.save_html(tmp_path / "gpt2.html").as_uri())
    file_page.wait_for_selector(".attnscope-output[data-ready]")
    assert caption(out).startswith("decoder (causal) self-attention · layer 1 · head 1 ·")
    assert file_page.errors == [] and file_page.blocked == []
