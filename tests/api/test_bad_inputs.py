"""Every endpoint that reads text answers bad text with a clear 4xx (or a correct answer), never a 500."""

from __future__ import annotations

import pytest

# a valid body per endpoint; "text" is replaced by each bad input below
ENDPOINTS = {
    "/api/attention": {"model": "minilm", "text": "x", "layer": 0, "format": "f16"},
    "/api/steps": {"model": "minilm", "text": "x", "layer": 0, "head": 0, "query": 0},
    "/api/embeddings": {"model": "minilm", "text": "x", "format": "f16"},
    "/api/heads": {"model": "minilm", "text": "x"},
    "/api/rollout": {"model": "minilm", "text": "x"},
    "/api/ablate": {"model": "minilm", "text": "x", "heads": [[0, 0]]},
    "/api/translate": {"model": "textbook", "text": "x"},
    "/api/patterns": {"model": "textbook", "text": "x"},
}
BAD = {
    "empty": ("", 422),
    "blank": (" \n\t ", 422),
    "huge": ("a" * 20_001, 422),
    "over the token limit": ("word " * 600, 422),
    "wrong type": (12345, 422),
    "null": (None, 422),
    "list": (["a", "b"], 422),
}
ODD_BUT_FINE = ["tab\there \x07 bell \x1b[31m", "مرحبا بالعالم", "שלום עולם", "我喜欢猫", "🙂🍎 emoji 👩‍👩‍👧",
                "<script>alert(1)</script>"]


@pytest.mark.parametrize("path", list(ENDPOINTS))
@pytest.mark.parametrize("case", list(BAD))
def test_bad_text_gets_a_4xx_with_a_detail(client, path, case):
    text, status = BAD[case]
    if path in ("/api/translate", "/api/patterns") and case == "over the token limit":
        text = "je " * 40  # the textbook model reads at most 32 words
    r = client.post(path, json={**ENDPOINTS[path], "text": text})
    assert r.status_code == status, (path, case, r.text[:300])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and 5 < len(detail) < 500, detail


@pytest.mark.parametrize("path", list(ENDPOINTS))
@pytest.mark.parametrize("text", ODD_BUT_FINE)
def test_control_rtl_emoji_and_html_text_is_answered(client, path, text):
    r = client.post(path, json={**ENDPOINTS[path], "text": text})
    assert r.status_code in (200, 422), (path, r.text[:300])  # answered, or refused with a reason
    if r.status_code == 422:
        assert "detail" in r.json()


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_lone_surrogates_and_malformed_json(client, path):
    r = client.post(path, content=b'{"model": "minilm", "text": "\\udcff"}', headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["detail"]
    r = client.post(path, content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "the request body is not valid JSON"
    r = client.post(path, content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_playground_refuses_non_finite_numbers(client, bad):
    body = '{"q": [[1, 2]], "k": [[1, %s]], "v": [[1, 1]]}' % bad
    r = client.post("/api/playground", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "finite" in r.json()["detail"] or "number" in r.json()["detail"]
