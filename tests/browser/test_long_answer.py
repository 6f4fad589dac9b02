"""The long view's Ask panel in headless Chromium against a live server, with the real SmolLM2 and MiniLM.

Five short paragraphs (~400 tokens) and a question: the answer's chips are the response's tokens; a clicked chip's
bars are that step's mean_mass (plus the answer's own mass, summing to 1), the highlighted passage is the argmax,
and the prompt's trace becomes the view's; an encoder shows the server's 422 reason. Screenshot at 1366 × 768.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROJECTOR = {"width": 1366, "height": 768}
DOCS = "\n\n".join([
    "The lighthouse on the north cape was built in 1871 from grey granite quarried on the island.",
    "Mara arrived at the lighthouse in October with a suitcase, a box of tools and a letter from the harbour board.",
    "The great glass lens had two hundred prisms. Mara washed each one by hand and found that three were cracked.",
    "The new cable for the clockwork came from the mainland on the supply boat in late November.",
    "On the first clear night Mara lit the lamp, and the fishermen saw the beam sweep across the water again.",
])
DOCS = "\n\n".join(p + " " + " ".join([p.split(".")[0] + " again."] * 3) for p in DOCS.split("\n\n"))  # ~400 tokens
QUESTION = "Q: How many of the prisms were cracked?\nA: The number of cracked prisms was"


def wait_loaded(base: str, model: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        models = {m["id"]: m for m in httpx.get(base + "/api/models", timeout=60).json()["models"]}
        if models[model]["status"] == "loaded":
            return
        time.sleep(1)
    raise AssertionError(f"{model} did not load")


def open_view(page, model: str) -> None:
    wait_loaded(page.base, model)
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{page.base}/?view=long&model={model}")
    page.wait_for_function("m => document.querySelector('#lc-model').value === m", arg=model, timeout=60_000)
    page.fill("#lc-text", DOCS)
    page.fill("#lc-ask-q", QUESTION)
    page.fill("#lc-ask-max", "6")


def test_smollm2_answers_and_shows_which_passage_each_token_read(page):
    open_view(page, "smollm2")
    with page.expect_response(lambda r: r.url.endswith("/api/long/generate"), timeout=180_000) as info:
        page.click("#lc-ask")
        page.wait_for_selector("#lc-ask:disabled", state="attached", timeout=5_000)  # busy while it runs
    res = info.value.json()
    assert info.value.status == 200, res
    assert 1 <= len(res["tokens"]) <= 6
    page.wait_for_selector("#lc-ans-chips .lc-chip", timeout=30_000)
    chips = page.eval_on_selector_all("#lc-ans-chips .lc-chip", "cs => cs.map(c => c.dataset.token)")
    assert chips == res["tokens"]
    assert page.text_content("#lc-ans-text") == res["text"]
    assert page.is_enabled("#lc-ask")
    # the prompt's trace is the view's: URL, kept header, heatmap painted; the question is its own (last) passage
    trace = res["trace"]
    page.wait_for_selector("#lc-canvas[data-drawn='1']", timeout=60_000)
    assert page.evaluate("() => new URLSearchParams(location.search).get('trace')") == trace["trace_id"]
    assert page.evaluate("() => new URLSearchParams(location.search).get('lq')") == QUESTION
    assert page.evaluate("() => JSON.parse(sessionStorage.getItem('attnscope.long.header')).trace_id") == trace["trace_id"]
    assert len(trace["passages"]) == 6 and trace["passages"][-1]["title"] == QUESTION.split("\n")[0]
    assert 300 <= len(trace["tokens"]) <= 600, len(trace["tokens"])

    for i in sorted({0, len(res["steps"]) - 1}):
        page.click(f"#lc-ans-chips .lc-chip[data-index='{i}']")
        page.wait_for_function("i => document.querySelector('#lc-ans-bars').dataset.step === String(i)", arg=i)
        step = res["steps"][i]
        bars = page.eval_on_selector_all("#lc-ans-bars .lc-bar[data-passage]", "bs => bs.map(b => +b.dataset.value)")
        assert bars == pytest.approx(step["mean_mass"], abs=1e-9)
        own = float(page.get_attribute("#lc-ans-bars .lc-bar-own", "data-answer-mass"))
        assert own == pytest.approx(sum(step["answer_mass"]) / len(step["answer_mass"]), abs=1e-9)
        assert abs(sum(bars) + own - 1) < 1e-3, (sum(bars), own)
        read = page.eval_on_selector_all("#lc-ans-bars .lc-bar.lc-read", "bs => bs.map(b => +b.dataset.passage)")
        assert read == [step["passage"]] == [max(range(len(bars)), key=bars.__getitem__)]
        assert page.get_attribute(f"#lc-ans-chips .lc-chip[data-index='{i}']", "aria-pressed") == "true"
        keys = page.eval_on_selector_all("#lc-ans-keys li", "ls => ls.map(l => [+l.dataset.index, +l.dataset.weight])")
        assert keys == [[k["index"], pytest.approx(k["weight"])] for k in step["top_keys"]]
    # one layer: the bars are that layer's row
    page.select_option("#lc-ans-layer", "3")
    bars = page.eval_on_selector_all("#lc-ans-bars .lc-bar[data-passage]", "bs => bs.map(b => +b.dataset.value)")
    assert bars == pytest.approx(res["steps"][-1]["mass"][3], abs=1e-9)
    page.select_option("#lc-ans-layer", "mean")
    page.click("#lc-ans-chips .lc-chip[data-index='0']")
    page.evaluate("() => document.querySelector('#lc-ask-form').scrollIntoView()")
    print(shot(page, "long-answer.png"))
    print(shot(page, "long-answer-full.png", full_page=True))
    assert page.errors == []


def test_an_encoder_shows_the_servers_reason(page):
    open_view(page, "minilm")
    with page.expect_response(lambda r: r.url.endswith("/api/long/generate"), timeout=60_000) as info:
        page.click("#lc-ask")
    assert info.value.status == 422
    reason = info.value.json()["detail"]
    page.wait_for_selector("#lc-error:not([hidden])", timeout=10_000)
    text = page.text_content("#lc-error")
    assert reason in text and "only decoders answer" in text
    assert page.is_enabled("#lc-ask")
    assert page.is_hidden("#lc-answer")
    print(shot(page, "long-answer-422.png"))
    assert [e for e in page.errors if "status of 422" not in e] == []
