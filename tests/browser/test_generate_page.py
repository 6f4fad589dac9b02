"""The generate page in real headless Chromium against a live server: streaming, scrubbing, masking, stopping."""

from __future__ import annotations

import base64
import time

import httpx
import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROMPT = "The animal didn't cross the street because"


def wait_loaded(base: str, model: str) -> None:
    """The live server loads SmolLM2 in the background: wait until /api/models lists it loaded."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        models = {m["id"]: m for m in httpx.get(base + "/api/models", timeout=60).json()["models"]}
        if models[model]["status"] == "loaded":
            return
        assert models[model]["status"] in ("loading", "converting", "not loaded"), models[model]
        time.sleep(1)
    raise AssertionError(f"{model} did not load")


def open_view(page, model: str = "smollm2") -> None:
    wait_loaded(page.base, model)
    page.goto(page.base + f"/?view=generate&model={model}")
    page.wait_for_function("m => document.querySelector('#gen-model').value === m", arg=model, timeout=60_000)


def run(page, text: str, max_new: int, strategy: str = "greedy") -> None:
    page.fill("#gen-text", text)
    page.select_option("#gen-strategy", strategy)
    page.fill("#gen-max", str(max_new))
    page.click("#gen-run")


def wait_done(page, at_least: int = 1) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#gen-tokens .chip').length >= n && !document.querySelector('#gen-run').disabled",
        arg=at_least, timeout=120_000)


def label_of(t: str) -> str:
    """A token as the page labels it (plot.js tokenText): a leading space as ␣, newlines and tabs as ↵ and ⇥."""
    t = t.replace("Ċ", "\n").replace("ĉ", "\t")
    return ("␣" + t[1:] if t.startswith(" ") else t).replace("\n", "↵").replace("\t", "⇥")


def chips(page) -> list[str]:
    return page.eval_on_selector_all("#gen-tokens .chip", "els => els.map(e => e.textContent)")


def figure(page, el_id: str, expr: str):
    return page.evaluate(f"() => {{ const d = document.getElementById('{el_id}'); return {expr}; }}")


def test_greedy_steps_stream_scrub_and_the_causal_heatmap_is_masked(page):
    open_view(page)
    run(page, PROMPT, 6)
    wait_done(page, 6)
    want = httpx.post(page.base + "/api/generate", timeout=120,
                      json={"model": "smollm2", "text": PROMPT, "max_new_tokens": 6}).json()
    assert len(chips(page)) == 6
    assert chips(page) == [label_of(t) for t in want["tokens"]]
    assert page.text_content("#gen-output-new") == want["text"]
    assert page.input_value("#gen-step") == "5"  # the scrubber followed the stream to the last step
    last = figure(page, "gen-cands", "d.data[0].y")
    assert any(label_of(want["steps"][5]["candidates"][0]["token"]) in label for label in last[:1])

    page.click("h3#gen-gqa-title")  # focus out of the inputs: the view's keys apply
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('#gen-step').value === '3'")
    assert "Step 4 of 6" in page.text_content("#gen-step-label")
    earlier = figure(page, "gen-cands", "d.data[0].y")
    assert earlier != last
    assert "candidates" in figure(page, "gen-cands", "d.layout.title.text") and "Step 4" in figure(page, "gen-cands", "d.layout.title.text")
    page.eval_on_selector("#gen-step", "el => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.getElementById('gen-step-label').textContent.includes('Step 2 of 6')")
    # the step's attention: one row per layer, one column per earlier token
    z = np.array(figure(page, "gen-step-attn", "d.data[0].z"), dtype=float)
    assert z.shape == (30, len(want["prompt_tokens"]) + 1)
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=5e-3)

    # the causal heatmap of prompt + output: masked above the diagonal, the model's numbers below
    page.wait_for_function("() => document.getElementById('gen-causal').data")
    shown = np.array([[np.nan if v is None else v for v in row] for row in figure(page, "gen-causal", "d.data[0].z")])
    full = httpx.post(page.base + "/api/attention", timeout=120, json={
        "model": "smollm2", "text": PROMPT + want["text"], "layer": 0, "format": "f16"}).json()
    weights = np.frombuffer(base64.b64decode(full["weights"]), dtype="<f2").reshape(full["shape"])[0].astype(float)
    t = weights.shape[0]
    assert shown.shape == (t, t) and t == len(want["prompt_tokens"]) + 6
    upper = np.triu_indices(t, 1)
    assert np.all(np.isnan(shown[upper]))
    lower = np.tril_indices(t)
    np.testing.assert_allclose(shown[lower], weights[lower], atol=2e-3)
    assert figure(page, "gen-causal", "d.layout.plot_bgcolor") not in ("rgba(0,0,0,0)", "white", "#ffffff")
    # the current step's query row is outlined: step 2 was produced by the query of token p0
    rect = figure(page, "gen-causal", "d.layout.shapes.find(s => s.type === 'rect')")
    assert rect["y0"] == pytest.approx(len(want["prompt_tokens"]) - 0.5)

    # heads in their key/value groups: 9 heatmaps, 3 group labels
    page.wait_for_function("() => (document.getElementById('gen-gqa').data || []).length === 9")
    notes = figure(page, "gen-gqa", "d.layout.annotations.map(a => a.text)")
    assert sum("KV group" in n for n in notes) == 3
    assert "9 query heads share 3 key/value heads" in page.text_content("#gen-gqa-note")

    # the next-token panel follows the temperature slider
    page.wait_for_function("() => document.getElementById('gen-next').data")
    cold, model_p = figure(page, "gen-next", "d.data[1].x"), figure(page, "gen-next", "d.data[0].x")
    page.eval_on_selector("#gen-temperature", "el => { el.value = '2.5'; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.getElementById('gen-next').layout.title.text.includes('T = 2.50')")
    hot = figure(page, "gen-next", "d.data[1].x")
    assert hot[0] < cold[0] and figure(page, "gen-next", "d.data[0].x") == model_p  # only the sampled bars move
    page.eval_on_selector("#gen-temperature", "el => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.getElementById('gen-next').layout.title.text.includes('T = 1.00')")

    assert page.errors == []
    page.keyboard.press("End")
    page.wait_for_timeout(400)
    shot(page, "generate.png", full_page=True)


def test_stop_halts_a_long_generation_and_the_server_moves_on(page):
    open_view(page)
    run(page, "Once upon a time", 64)
    page.wait_for_function("() => document.querySelectorAll('#gen-tokens .chip').length >= 2", timeout=60_000)
    page.click("#gen-stop")
    page.wait_for_function("() => !document.querySelector('#gen-run').disabled", timeout=10_000)
    n = len(chips(page))
    assert 2 <= n < 64
    assert "Stopped after" in page.text_content("#gen-status")
    page.wait_for_timeout(1000)
    assert len(chips(page)) == n  # nothing more arrives
    r = httpx.post(page.base + "/api/next-token", json={"model": "smollm2", "text": "A fresh prompt"}, timeout=30)
    assert r.status_code == 200  # the model lock was released when the stream stopped
    page.wait_for_function("() => document.getElementById('gen-causal').data")  # the text so far, as a heatmap
    assert page.errors == []


def test_textbook_translation_steps_show_cross_attention(page):
    open_view(page, "textbook")
    assert page.input_value("#gen-text") == "je suis étudiant"
    assert page.is_disabled("#gen-strategy option[value=sample]")
    run(page, "je suis étudiant", 12)
    wait_done(page, 5)
    assert chips(page) == ["i", "am", "a", "student", "</s>"]
    page.click("#gen-tokens .chip >> nth=3")  # "student"
    page.select_option("#gen-attn-kind", "cross")
    page.wait_for_function("() => document.getElementById('gen-step-attn').layout.title.text.includes('cross')")
    ticks = page.eval_on_selector_all("#gen-step-attn .xtick text", "els => els.map(e => e.textContent)")
    assert ticks == ["je", "suis", "étudiant"]
    z = np.array(figure(page, "gen-step-attn", "d.data[0].z"))
    assert z.shape == (2, 3) and ticks[int(z.mean(0).argmax())] == "étudiant"
    page.wait_for_function("() => document.getElementById('gen-causal').data")
    assert "ordinary multi-head attention" in page.text_content("#gen-gqa-note")
    assert page.errors == []


def test_html_in_the_prompt_stays_text(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_view(page)
    run(page, "<img src=x onerror=alert(1)> <b>bold</b> and", 2)
    wait_done(page, 2)
    page.wait_for_timeout(300)
    assert dialogs == [] and page.evaluate("() => document.querySelectorAll('main img, main b').length") == 0
    assert page.text_content("#gen-output-prompt").startswith("<img src=x")
    assert page.errors == []
