"""The notebook function and the ``attnscope`` command give the API's numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import attnscope.inspection as inspect_api

pytestmark = pytest.mark.slow
TEXT = "Alice is wearing a jacket and she is freezing"


def test_trace_function_equals_the_api(client, registry, monkeypatch):
    import attnscope.inspection.registry as reg

    monkeypatch.setattr(reg, "_shared", registry)  # the process's one registry: the server's and the library's
    t = inspect_api.trace("minilm", TEXT)
    body = client.post("/api/attention", json={"model": "minilm", "text": TEXT, "layer": 4}).json()
    assert t.tokens.text == body["tokens"]
    np.testing.assert_allclose(t.weights("encoder", 4), np.array(body["weights"]), atol=1e-6)
    block = t.block("encoder", 4)
    assert block.q.shape == (12, len(t.tokens), 32)
    with pytest.raises(ValueError, match="empty"):
        inspect_api.trace("minilm", "  ")


def test_cli_trace_json_equals_the_api(client):
    out = subprocess.run([sys.executable, "-m", "attnscope.cli", "trace", "minilm", TEXT, "--layer", "1", "--json"],
                         capture_output=True, text=True, timeout=300, check=True)
    cli = json.loads(out.stdout)
    body = client.post("/api/attention", json={"model": "minilm", "text": TEXT, "layer": 1}).json()
    assert cli["tokens"] == body["tokens"] and cli["shape"] == body["shape"]
    np.testing.assert_allclose(np.array(cli["weights"]), np.array(body["weights"]), atol=1e-6)
    bad = subprocess.run([sys.executable, "-m", "attnscope.cli", "trace", "/etc/passwd", "hi"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model" in bad.stderr
