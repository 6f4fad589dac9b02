"""The Alice preset (issue 18, part 5): with Alice first, SmolLM2's first-token sink looks like she → Alice."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def she_row(registry, text: str) -> tuple[float, float]:
    """Mean over layers and heads of the "she" row: weight on "Alice", weight on the first token."""
    t = registry.trace("smollm2", text)
    toks = [x.strip() for x in t.tokens.text]
    she, alice = toks.index("she"), toks.index("Alice")
    w = np.stack([t.weights("decoder", layer) for layer in range(30)])  # (L, H, T, T)
    return float(w[:, :, she, alice].mean()), float(w[:, :, she, 0].mean())


def test_old_preset_confuses_the_sink_with_reference(registry, smollm2):
    alice, first = she_row(registry, "Alice is wearing a jacket and she is freezing")
    assert alice == first == pytest.approx(0.56, abs=0.01)  # Alice IS the first token


def test_new_preset_separates_them(registry, smollm2):
    alice, first = she_row(registry, "Yesterday Alice was wearing a jacket and she was freezing")
    assert alice == pytest.approx(0.05, abs=0.01) and first > 0.5


def test_the_pages_no_longer_offer_the_old_preset():
    for js in ("static/js/views/generate.js", "static/js/views/attention.js"):
        src = (ROOT / js).read_text()
        assert not re.search(r'"Alice is wearing', src), js
        assert "Yesterday Alice was wearing a jacket and she" in src
