"""Bytes of bertviz's head_view HTML for MiniLM, all layers, at 64 and 512 tokens (for attention_api.py).

bertviz is not a dependency of this project: install it somewhere else and put it on the path, e.g.
``pip install --target /tmp/bv --no-deps bertviz==1.4.1`` then
``PYTHONPATH=/tmp/bv .venv/bin/python bench/bertviz_size.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bertviz import head_view  # noqa: E402

from attnscope.settings import Settings  # noqa: E402
from attnscope.inspection.registry import Registry  # noqa: E402

WORDS = "students watched the attention heads move across a very long sentence about rivers and banks".split()


def main() -> None:
    adapter = Registry(Settings()).get("minilm")
    for n in (64, 512):
        text = " ".join(WORDS[i % len(WORDS)] for i in range(n - 2))
        enc = adapter.tokenizer(text, return_tensors="pt")
        assert enc["input_ids"].shape[1] == n
        with torch.inference_mode():
            att = adapter.model(**enc, output_attentions=True).attentions
        tokens = adapter.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
        html = head_view(att, tokens, html_action="return")
        print(f"{n} tokens: bertviz head_view HTML {len(html.data.encode('utf-8')):,} bytes")


if __name__ == "__main__":
    main()
