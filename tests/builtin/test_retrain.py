"""Retraining with the shipped seed reproduces the shipped weights bit for bit (a few minutes on 2 cores)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "textbook"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_weights(tmp_path):
    subprocess.run([sys.executable, "-m", "app.builtin.train", "--out", str(tmp_path), "--seed", "0"],
                   cwd=ROOT, check=True, timeout=1800, capture_output=True)
    assert sha256(tmp_path / "model.safetensors") == sha256(SHIPPED / "model.safetensors")
    assert (tmp_path / "vocab.json").read_text() == (SHIPPED / "vocab.json").read_text()
    assert (tmp_path / "config.json").read_text() == (SHIPPED / "config.json").read_text()
