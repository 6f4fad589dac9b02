"""Issue 18 in real headless Chromium: KV cache, beam tree, block steps, rotary captions, tokenizers, scale."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.test_generate_page import open_view, run, wait_done
from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_kv_cache_panel_table_and_growth(page):
    open_view(page)
    page.wait_for_function("() => document.querySelectorAll('#gen-kv-table tbody tr').length === 3", timeout=60_000)
    rows = page.eval_on_selector_all("#gen-kv-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    api = httpx.get(page.base + "/api/kv-cache", params={"model": "smollm2", "tokens": 2048}).json()
    assert [r[0].split(" ")[0] for r in rows] == [v["name"] for v in api["variants"]]
    assert [r[3] for r in rows] == [f"{v['bytes_per_token']:,} B" for v in api["variants"]]
    assert rows[1][3] == "46,080 B" and rows[1][0] == "grouped-query (smollm2)"
    run(page, "Yesterday Alice was wearing a jacket and she", 4)
    wait_done(page, 4)
    page.wait_for_function("() => (document.getElementById('gen-kv-growth').data || []).length === 4")
    growth = page.evaluate("() => document.getElementById('gen-kv-growth').data.map(t => Array.from(t.y))")
    gqa = growth[1]
    assert gqa[1] - gqa[0] == 46_080 and len(gqa) == 4
    assert growth[0][0] == 3 * gqa[0] and growth[2][0] * 3 == gqa[0]
    page.wait_for_function("() => document.getElementById('gen-gqa-note').textContent.length > 0", timeout=60_000)
    note = page.text_content("#gen-gqa-note")
    assert "Multi-query attention" in note
    page.locator("#gen-kv-panel").scroll_into_view_if_needed()
    shot(page, "i18-kv-cache.png", full_page=False)
    assert not page.errors, page.errors


def test_beam_tree_kept_pruned_and_greedy(page):
    open_view(page)
    page.select_option("#gen-strategy", "beam")
    page.fill("#gen-beam", "3")
    run(page, "The capital of France is", 5, strategy="beam")
    wait_done(page, 5)
    page.wait_for_selector("#gen-beam-panel:not([hidden])", timeout=60_000)
    api = httpx.post(page.base + "/api/generate", json={"model": "smollm2", "text": "The capital of France is",
                                                       "strategy": "beam", "beam_width": 3, "max_new_tokens": 5},
                     timeout=120).json()["beam_tree"]
    data = page.evaluate("() => document.getElementById('gen-beam-tree').data.map(t => ({name: t.name, text: t.text}))")
    greedy = next(t for t in data if (t["name"] or "").startswith("greedy"))
    assert f"{api['greedy_score']:.2f}" in greedy["name"]
    pruned = next(t for t in data if (t["name"] or "").startswith("pruned"))
    assert len(pruned["text"]) == sum(not n["kept"] for s in api["steps"] for n in s)
    note = page.text_content("#gen-beam-note")
    d = api["diverge_step"]
    assert f"part at step {d + 1}" in note and f"{api['best_score']:.3f}" in note
    page.locator("#gen-beam-panel").scroll_into_view_if_needed()
    shot(page, "i18-beam-tree.png", full_page=False)
    assert not page.errors, page.errors


def steps_at(page, model: str, text: str, step: int, layer: int = 0, query: int = 2) -> None:
    from urllib.parse import quote

    page.goto(page.base + f"/?view=steps&model={model}&text={quote(text)}&layer={layer}&head=0&query={query}&step={step}")
    page.wait_for_function("s => document.getElementById('steps-title').textContent.startsWith(s + '.')",
                           arg=str(step + 1), timeout=60_000)


def test_steps_continue_past_w_o_on_minilm(page):
    text = "The animal didn't cross the street because it was too tired"
    api = httpx.post(page.base + "/api/block-steps", json={"model": "minilm", "text": text, "layer": 0, "query": 2},
                     timeout=60).json()
    steps_at(page, "minilm", text, 10)
    page.wait_for_function("() => document.getElementById('steps-formula').textContent.includes('μ =')", timeout=60_000)
    formula = page.text_content("#steps-formula")
    assert f"μ = {api['norm1']['mean']:.4f}" in formula and f"{api['norm1']['std']:.4f}" in formula
    strip = page.evaluate("() => Array.from(document.getElementById('steps-fig-a').data[0].z[0])")
    assert strip == pytest.approx(api["norm1"]["output"], abs=1e-6)
    shot(page, "i18-steps-layernorm.png", full_page=True)
    page.click("#steps-next")
    page.wait_for_function("() => document.getElementById('steps-formula').textContent.includes('GELU')")
    page.click("#steps-next")
    page.wait_for_function("() => document.getElementById('steps-explain').textContent.includes('differs from this by at most')")
    shot(page, "i18-steps-block-out.png", full_page=True)
    page.click("#steps-next")
    page.wait_for_function("() => document.getElementById('steps-formula').textContent.includes('batch norm')")
    shot(page, "i18-steps-bn-vs-ln.png", full_page=True)
    assert not page.errors, page.errors


def test_steps_rmsnorm_and_swiglu_on_smollm2(page):
    from tests.browser.test_generate_page import wait_loaded

    wait_loaded(page.base, "smollm2")
    text = "Yesterday Alice was wearing a jacket and she was freezing"
    steps_at(page, "smollm2", text, 10, layer=3, query=4)
    page.wait_for_function("() => document.getElementById('steps-formula').textContent.includes('rms(r)')", timeout=60_000)
    assert "RMSNorm" in page.text_content("#steps-title")
    page.click("#steps-next")
    page.wait_for_function("() => document.getElementById('steps-formula').textContent.includes('SiLU')")
    shot(page, "i18-steps-swiglu.png", full_page=True)
    assert not page.errors, page.errors


def test_rotary_captions_and_rope_demo(page):
    from tests.browser.test_generate_page import wait_loaded

    wait_loaded(page.base, "smollm2")
    # Step by step on SmolLM2: x is the normalised embedding, no position added
    steps_at(page, "smollm2", "Yesterday Alice was wearing a jacket", 0, layer=0, query=1)
    page.wait_for_function("() => document.getElementById('steps-explain').textContent.includes('RMSNorm')", timeout=60_000)
    explain = page.text_content("#steps-explain")
    assert "No position is added" in explain and "combined with its position" not in explain
    shot(page, "i18-steps-rotary-x.png", full_page=False)
    # ... and MiniLM still says its learned position embedding is added
    steps_at(page, "minilm", "The animal didn't cross the street", 0, layer=0, query=1)
    page.wait_for_function("() => document.getElementById('steps-explain').textContent.includes('learned position embedding')",
                           timeout=60_000)
    # Positions: the rotary caption says nothing is added; the sinusoidal one says it is
    page.goto(page.base + "/?view=positions&kind=rotary")
    page.wait_for_function("() => document.getElementById('pos-heatmap-cap').textContent.includes('Nothing is added')",
                           timeout=60_000)
    page.locator("#pos-heatmap-cap").scroll_into_view_if_needed()
    shot(page, "i18-positions-rotary-caption.png", full_page=False)
    page.goto(page.base + "/?view=positions&kind=sinusoidal")
    page.wait_for_function("() => document.getElementById('pos-heatmap-cap').textContent.includes('added to the token embedding')")
    # the RoPE demo: a Toeplitz dot-product grid, the model's own score on the offset curve
    page.wait_for_function("() => (document.getElementById('pos-rope-dots').data || []).length === 1", timeout=60_000)
    body = {"model": "smollm2", "text": "Yesterday Alice was wearing a jacket and she was freezing", "layer": 0, "head": 0,
            "query": int(page.input_value("#pos-rope-query")), "key": int(page.input_value("#pos-rope-key")), "positions": 16}
    api = httpx.post(page.base + "/api/rope-demo", json=body, timeout=60).json()
    z = page.evaluate("() => document.getElementById('pos-rope-dots').data[0].z")
    assert z == api["dots"]
    assert f"{api['actual']:.3f}" in page.text_content("#pos-rope-offset-cap")
    page.locator("#pos-rope-panel").scroll_into_view_if_needed()
    shot(page, "i18-rope-demo.png", full_page=False)
    assert not page.errors, page.errors


def test_sink_note_and_the_new_alice_preset(page):
    import base64

    import numpy as np

    open_view(page)
    chips = page.eval_on_selector_all("#gen-examples .chip", "els => els.map(e => e.textContent)")
    assert "Yesterday Alice was wearing a jacket and she" in chips
    assert not any(c.startswith("Alice is wearing") for c in chips)
    prompt = "Yesterday Alice was wearing a jacket and she"
    run(page, prompt, 2)
    wait_done(page, 2)
    api = httpx.post(page.base + "/api/generate", json={"model": "smollm2", "text": prompt, "max_new_tokens": 1},
                     timeout=120).json()["steps"][0]
    att = np.frombuffer(base64.b64decode(api["attention"]), dtype="<f2").reshape(api["shape"]).astype(np.float32)
    sink = int(att.mean(axis=(0, 1)).argmax()) == 0  # mean over layers and heads: the view's default
    page.click("#gen-tokens .chip >> nth=0")
    page.wait_for_timeout(300)
    assert page.is_visible("#gen-sink-note") == sink
    if sink:
        assert "does not mean" in page.text_content("#gen-sink-note")
    page.locator("#gen-sink-note" if sink else "#gen-step-attn").scroll_into_view_if_needed()
    shot(page, "i18-sink-note-generate.png", full_page=False)
    # the attention view: MiniLM's [CLS] sink
    text = "The animal didn't cross the street because it was too tired"
    page.goto(page.base + "/?view=attention&model=minilm&layer=3&head=0&text=" + text.replace(" ", "+"))
    page.wait_for_function("() => (document.getElementById('heatmap').data || []).length === 1", timeout=60_000)
    res = httpx.post(page.base + "/api/attention", json={"model": "minilm", "text": text, "layer": 3}, timeout=60).json()
    w = np.array(res["weights"])[0]
    rows = [w[i] for i in range(len(w)) if not res["query_special"][i]]
    expect = int(np.mean(rows, axis=0).argmax()) == 0
    page.wait_for_timeout(200)
    assert page.is_visible("#attn-sink-note") == expect
    page.locator("#attn-sink-note" if expect else "#heatmap").scroll_into_view_if_needed()
    shot(page, "i18-sink-note-attention.png", full_page=False)
    assert not page.errors, page.errors


def test_slide_vs_computed_tables(page):
    page.goto(page.base + "/?view=playground&preset=the_cat_sat_here")
    page.wait_for_selector("#pg-slides .slides-cmp[data-id=cat_scores]", timeout=60_000)
    api = {c["id"]: c for c in httpx.get(page.base + "/api/slides").json()["comparisons"]}
    first = page.locator("#pg-slides .slides-cmp[data-id=cat_scores] tbody tr >> nth=0").locator("td >> nth=0")
    assert first.locator(".slides-slide").text_content() == "4.21"
    assert first.locator(".slides-true").text_content() == f"{api['cat_scores']['computed'][0][0]:.4f}".rstrip("0").rstrip(".")
    assert "slides-off" in first.get_attribute("class")
    n_off = page.locator("#pg-slides .slides-cmp[data-id=cat_weights] td.slides-off").count()
    assert n_off == api["cat_weights"]["mismatches"]
    page.locator("#pg-slides").scroll_into_view_if_needed()
    shot(page, "i18-slides-cat.png", full_page=False)
    page.goto(page.base + "/?view=playground&preset=i_am_a_student")
    page.wait_for_selector("#pg-slides .slides-cmp[data-id=student_weights]")
    cell = page.locator("#pg-slides .slides-cmp[data-id=student_weights] tbody tr >> nth=1").locator("td >> nth=0")
    assert cell.locator(".slides-slide").text_content() == "0.37" and "0.3775" in cell.locator(".slides-true").text_content()
    page.goto(page.base + "/?view=playground&preset=apple_fruit")
    page.wait_for_selector("#pg-slides .slides-cmp[data-id=apple_proportional]")
    assert "every printed number agrees" in page.text_content("#pg-slides .slides-cmp[data-id=apple_proportional]")
    page.locator("#pg-slides").scroll_into_view_if_needed()
    shot(page, "i18-slides-apple.png", full_page=False)
    page.goto(page.base + "/?view=positions")
    # the view reads its URL state when it opens: press the preset once that first drawing is done
    page.wait_for_function("() => document.getElementById('pos-heatmap')?.data?.length === 1", timeout=60_000)
    page.click("#pos-d50")
    page.wait_for_selector("#pos-slides .slides-cmp[data-id=pe_d50]", timeout=60_000)
    offs = page.locator("#pos-slides td.slides-off").count()
    assert offs == 2
    page.locator("#pos-slides").scroll_into_view_if_needed()
    shot(page, "i18-slides-pe-d50.png", full_page=False)
    assert not page.errors, page.errors


def test_scale_view_gpt3(page):
    page.goto(page.base + "/?view=scale")
    page.wait_for_function("() => document.getElementById('scale-total').textContent.length > 0", timeout=60_000)
    assert page.text_content("#scale-total") == "175,181,291,520"
    assert page.text_content("#scale-matrices") == "27,938 matrices"
    assert "402,653,184" in page.text_content("#scale-attention")
    y = page.evaluate("() => Array.from(document.getElementById('scale-growth').data[0].y)")
    x = page.evaluate("() => Array.from(document.getElementById('scale-growth').data[0].x)")
    assert all(v == n * n * 96 for n, v in zip(x, y)) and x[-1] == 2048
    shot(page, "i18-scale.png", full_page=True)
    page.fill("#scale-heads", "7")
    page.wait_for_selector("#scale-error:not([hidden])")
    assert "divide" in page.text_content("#scale-error")
    assert not [e for e in page.errors if "422" not in e], page.errors


def test_tokenizers_and_the_causal_note(page):
    from tests.browser.test_generate_page import wait_loaded

    wait_loaded(page.base, "smollm2")
    page.goto(page.base + "/?view=embeddings&model=smollm2")
    page.wait_for_selector(".tok-model[data-model=smollm2]", timeout=60_000)
    text = page.input_value("#tok-text")
    api = {t["model"]: t for t in httpx.post(page.base + "/api/tokenize", json={"text": text}, timeout=60).json()["tokenizers"]}
    for mid in ("minilm", "smollm2"):
        pieces = page.eval_on_selector_all(f".tok-model[data-model={mid}] .tok-text", "els => els.map(e => e.textContent)")
        ids = page.eval_on_selector_all(f".tok-model[data-model={mid}] .tok-id", "els => els.map(e => Number(e.textContent))")
        assert pieces == api[mid]["pieces"] and ids == api[mid]["ids"]
    page.locator("#tok-form").scroll_into_view_if_needed()
    shot(page, "i18-tokenizers.png", full_page=False)
    page.wait_for_function("() => document.querySelector('#emb-model').value === 'smollm2'", timeout=60_000)
    page.click("#emb-preset-watch")
    page.wait_for_function("() => document.getElementById('emb-causal-note').textContent.includes('the same in A and B')",
                           timeout=60_000)
    y = page.evaluate("() => Array.from(document.getElementById('emb-sim-chart').data[0].y)")
    assert min(y) > 0.9999  # the model's own cosines: identical vectors at every layer
    assert "depends only on the tokens before it" in page.text_content("#emb-causal-note")
    page.locator("#emb-causal-note").scroll_into_view_if_needed()
    shot(page, "i18-causal-note.png", full_page=False)
    assert not page.errors, page.errors


def test_textbook_beam_tree(page):
    open_view(page, "textbook")
    page.select_option("#gen-strategy", "beam")
    page.fill("#gen-beam", "3")
    run(page, "je suis étudiant", 8, strategy="beam")
    wait_done(page, 5)
    page.wait_for_selector("#gen-beam-panel:not([hidden])", timeout=60_000)
    assert "beam and greedy choose the same tokens" in page.text_content("#gen-beam-note")
    page.locator("#gen-beam-panel").scroll_into_view_if_needed()
    shot(page, "i18-beam-tree-textbook.png", full_page=False)
    assert not page.errors, page.errors


def test_je_suis_etudiant_slide_row_in_the_attention_view(page):
    page.goto(page.base + "/?view=attention&model=textbook&block=cross&layer=1&head=mean&text=je+suis+%C3%A9tudiant")
    page.wait_for_selector("#attn-slides .slides-cmp[data-id=je_suis_cross]", timeout=60_000)
    api = httpx.get(page.base + "/api/slides", params={"preset": "je_suis_etudiant"}).json()["comparisons"][0]
    cells = page.eval_on_selector_all("#attn-slides td .slides-true", "els => els.map(e => Number(e.textContent))")
    assert cells == pytest.approx(api["computed"][0], abs=1e-4)
    page.locator("#attn-slides").scroll_into_view_if_needed()
    shot(page, "i18-slides-je-suis.png", full_page=False)
    assert not page.errors, page.errors
