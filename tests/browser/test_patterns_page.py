"""The efficient-attention view in Chromium."""

from __future__ import annotations

import numpy as np
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_local_window_masks_the_figure_and_shows_both_translations(page, client):
    page.goto(page.base + "/?view=patterns&pattern=local&window=1&layer=1&head=2")
    page.wait_for_function("() => document.querySelector('#pat-status').textContent.includes('pairs kept')",
                           timeout=60_000)
    assert page.text_content("#pat-full-text") == "the black cat eats the red apple"
    api = client.post("/api/patterns", json={"model": "textbook", "text": "le chat noir mange la pomme rouge",
                                             "pattern": "local", "window": 1}).json()
    shown = np.array(page.evaluate("() => document.getElementById('pat-masked').data[0].z"))
    np.testing.assert_allclose(shown, np.array(api["patterned"]["weights"][1][2]), atol=1e-6)
    assert shown[0, 3] == 0 and shown[6, 0] == 0
    page.select_option("#pat-kind", "strided")
    page.wait_for_function("() => document.querySelector('#pat-status').textContent.startsWith('strided')")
    assert "pattern=strided" in page.url
    shot(page, "patterns.png", full_page=True)
    assert page.errors == []
