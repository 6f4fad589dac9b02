"""Concurrent requests on one model never mix their hooks: every answer equals a serial run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

SENTENCES = [
    "The animal didn't cross the street because it was too tired",
    "Alice is wearing a jacket and she is freezing",
    "Thinking Machines",
    "My favorite fruit is apple",
    "My favorite brand is apple",
    "I sat on the bank of the river",
    "I deposited money at the bank",
    "The cat sat here",
    "Attention is all you need, they said, and everyone believed it",
    "je suis étudiant",
    "A very long sentence about nothing in particular that keeps going for a while longer",
    "short",
]


def own_attentions(minilm, text):
    enc = minilm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return np.stack([a[0].numpy() for a in minilm.model(**enc, output_attentions=True).attentions])


def test_concurrent_requests_equal_serial_runs(live_server, minilm):
    def ask(text):
        r = httpx.post(live_server + "/api/attention", json={"model": "minilm", "text": text, "format": "f16"},
                       timeout=120)
        r.raise_for_status()
        return r.json()

    import base64

    with ThreadPoolExecutor(max_workers=len(SENTENCES)) as pool:
        answers = list(pool.map(ask, SENTENCES * 2))
    for text, body in zip(SENTENCES * 2, answers):
        got = np.frombuffer(base64.b64decode(body["weights"]), dtype="<f2").reshape(body["shape"])
        np.testing.assert_allclose(got.astype(np.float32), own_attentions(minilm, text), atol=2e-3)
        assert body["text"] == text
