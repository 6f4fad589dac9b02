"""Memory stays flat under many different sentences: the trace cache is bounded in bytes."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest

from attnscope.settings import Settings
from attnscope.inspection.registry import Registry

pytestmark = pytest.mark.slow
WORDS = "the cat sat on a mat while students watched attention heads move across long sentences".split()


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def test_rss_is_flat_once_the_cache_is_full(minilm):
    bound = 32 * 2**20
    reg = Registry(Settings(trace_cache_bytes=bound), builder=lambda spec: minilm)
    rng = random.Random(1)
    readings = []
    for _ in range(4):
        for _ in range(60):
            reg.trace("minilm", " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40))))
        gc.collect()
        readings.append(rss_mb())
        assert reg.cache.bytes <= bound
    # after the first round fills the cache, 180 more different sentences add (almost) nothing
    assert readings[-1] - readings[1] < 40, readings
