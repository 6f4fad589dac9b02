"""attnscope.trace on in-memory decoders (tiny random GPT-2 and LLaMA): the model's own attention comes back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attnscope
from tests.inspect.decoder_fixtures import tiny_gpt2, tiny_llama, tiny_tokenizer

TEXT = "The animal didn't cross the street"


@pytest.mark.parametrize("build", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_a_decoder_object_traces_to_its_own_output_attentions(build):
    model, tok = build().model, tiny_tokenizer()
    t = attnscope.trace(model, tok, TEXT)
    assert t.block_names == ["decoder"]
    ids = torch.tensor([t.tokens.ids])  # the adapter's own tokenisation (BOS added where the family adds it)
    assert tok.decode(t.tokens.ids, skip_special_tokens=True) == TEXT
    with torch.inference_mode():
        ref = torch.stack(model(input_ids=ids, output_attentions=True).attentions)[:, 0].numpy()
    w = t.to_numpy()
    assert w.shape == ref.shape
    np.testing.assert_allclose(w, ref, atol=1e-5)
    assert np.triu(w[0, 0], 1).max() == 0  # causal
    html = t.view("model").html()
    assert '"name":"decoder"' in html
