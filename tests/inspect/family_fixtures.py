"""A tiny random-weight model of every family in the table, built from its config inside the tests.

2 layers, 4 heads (2 KV heads where the family groups them), hidden 32: a few hundred KB each,
built in milliseconds, no network. Each is cached per test process (:func:`tiny`).
"""

from __future__ import annotations

import functools

import torch

from tests.inspect.decoder_fixtures import tiny_tokenizer

#: family -> (config class, model class, config kwargs beyond the common ones)
ENCODERS = {
    "bert": ("BertConfig", "BertModel", dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                                             intermediate_size=64, max_position_embeddings=64)),
    "roberta": ("RobertaConfig", "RobertaModel", dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                                                      intermediate_size=64, max_position_embeddings=70)),
    "electra": ("ElectraConfig", "ElectraModel", dict(hidden_size=32, embedding_size=32, num_attention_heads=4,
                                                      num_hidden_layers=2, intermediate_size=64,
                                                      max_position_embeddings=64)),
    "distilbert": ("DistilBertConfig", "DistilBertModel", dict(dim=32, n_heads=4, n_layers=2, hidden_dim=64,
                                                               max_position_embeddings=64)),
    "albert": ("AlbertConfig", "AlbertModel", dict(embedding_size=16, hidden_size=32, num_attention_heads=4,
                                                   num_hidden_layers=2, intermediate_size=64,
                                                   max_position_embeddings=64)),
    "deberta-v2": ("DebertaV2Config", "DebertaV2Model", dict(hidden_size=32, num_attention_heads=4,
                                                             num_hidden_layers=2, intermediate_size=64,
                                                             max_position_embeddings=64, relative_attention=True,
                                                             pos_att_type=["p2c", "c2p"], position_buckets=8)),
}
_ROPE = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
             intermediate_size=64, max_position_embeddings=128)
DECODERS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=32, n_head=4, n_layer=2, n_positions=64)),
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(hidden_size=32, num_attention_heads=4,
                                                             num_hidden_layers=2, intermediate_size=64,
                                                             max_position_embeddings=128, rotary_pct=0.5,
                                                             attention_bias=True)),
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(_ROPE)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(_ROPE)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(_ROPE)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(_ROPE, head_dim=8)),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(_ROPE, head_dim=8)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(_ROPE, head_dim=8, query_pre_attn_scalar=8,
                                                         attn_logit_softcapping=None, final_logit_softcapping=None)),
    "gemma3_text": ("Gemma3TextConfig", "Gemma3ForCausalLM", dict(_ROPE, head_dim=8, query_pre_attn_scalar=8,
                                                                   sliding_window=4,
                                                                   layer_types=["sliding_attention",
                                                                                "full_attention"])),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(_ROPE, partial_rotary_factor=0.5)),
    "opt": ("OPTConfig", "OPTForCausalLM", dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                                                ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=128)),
}
ENCODER_DECODERS = {
    "t5": ("T5Config", "T5ForConditionalGeneration", dict(d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                                          num_decoder_layers=2, num_heads=4,
                                                          relative_attention_num_buckets=8)),
    "bart": ("BartConfig", "BartForConditionalGeneration", dict(d_model=32, encoder_layers=2, decoder_layers=2,
                                                                encoder_attention_heads=4, decoder_attention_heads=4,
                                                                encoder_ffn_dim=64, decoder_ffn_dim=64,
                                                                max_position_embeddings=64)),
    "marian": ("MarianConfig", "MarianMTModel", dict(d_model=32, encoder_layers=2, decoder_layers=2,
                                                     encoder_attention_heads=4, decoder_attention_heads=4,
                                                     encoder_ffn_dim=64, decoder_ffn_dim=64,
                                                     max_position_embeddings=64)),
}
ALL = {**ENCODERS, **DECODERS, **ENCODER_DECODERS}


def kind(family: str) -> str:
    return "encoder" if family in ENCODERS else "decoder" if family in DECODERS else "encoder-decoder"


def build(family: str, seed: int = 0, attn: str = "eager", **overrides):
    """A fresh tiny random-weight model of ``family`` (``eval()``), and the shared tiny tokenizer."""
    import transformers

    cfg_name, model_name, kwargs = ALL[family]
    tok = tiny_tokenizer()
    special = tok.eos_token_id
    ids = dict(bos_token_id=special, eos_token_id=special, pad_token_id=special)
    if family in ENCODER_DECODERS:
        ids["decoder_start_token_id"] = special
    cfg = getattr(transformers, cfg_name)(vocab_size=len(tok), initializer_range=0.3, **ids,
                                           **{**kwargs, **overrides})
    cfg._attn_implementation = attn
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(cfg).eval()
    if family in ENCODER_DECODERS or family in DECODERS:
        model.generation_config.pad_token_id = special
    return model, tok


@functools.cache
def tiny(family: str):
    """The adapter of the tiny ``family`` model, through the public :func:`attnscope.inspection.adapters.wrap`."""
    from attnscope.inspection.adapters import wrap

    model, tok = build(family)
    return wrap(model, tok, model_id=f"tiny-{family}")
