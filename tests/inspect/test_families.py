"""Every family of the table, as a tiny random-weight model: parity with the model's own attention.

For each family: the trace's weights equal ``output_attentions`` (1e-5, float32); decoders are
causal with exact zeros above the diagonal; encoder-decoders give cross blocks of (target x
source); where Q/K/V step by step is offered its identities hold; where generation is offered,
greedy equals ``model.generate``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.inspect import family_fixtures as ff

SOURCE = "The animal didn't cross the street because it was too tired."
TARGET = "It was too tired."
ATOL = 1e-5


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def trace_of(adapter):
    return adapter.trace(SOURCE, TARGET if adapter.info.kind == "encoder-decoder" else None)


def own(adapter, trace) -> dict[str, tuple]:
    """The model's own output_attentions per block group, on the trace's own ids."""
    ids = torch.tensor([trace.tokens.ids])
    with torch.inference_mode():
        if adapter.info.kind == "encoder-decoder":
            out = adapter.model(input_ids=ids, decoder_input_ids=torch.tensor([trace.target_tokens.ids]),
                                output_attentions=True, use_cache=False)
            return {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
                    "cross": out.cross_attentions}
        out = adapter.model(input_ids=ids, output_attentions=True)
        return {adapter.info.blocks[0]: out.attentions}


@pytest.mark.parametrize("family", list(ff.ALL))
def test_family_parity_and_shapes(family):
    adapter = ff.tiny(family)
    info = adapter.info
    assert info.family == family and info.kind == ff.kind(family)
    trace = trace_of(adapter)
    ref = own(adapter, trace)
    assert set(trace.blocks) == set(ref) == set(info.blocks)
    s, t = len(trace.tokens), len(trace.target_tokens) if trace.target_tokens is not None else None
    for group, blocks in trace.blocks.items():
        assert len(blocks) == info.layers == len(ref[group])
        for i, block in enumerate(blocks):
            np.testing.assert_allclose(block.weights, ref[group][i][0].numpy(), atol=ATOL)
            np.testing.assert_allclose(block.weights.sum(-1), 1.0, atol=1e-5)
            if block.kind == "causal":
                upper = np.triu(np.ones(block.weights.shape[1:], dtype=bool), 1)
                assert upper.any() and (block.weights[:, upper] == 0).all()  # exact zeros
                window = getattr(adapter.attn_module(group, i), "sliding_window", None) if adapter._reads else None
                if window and window < block.weights.shape[-1]:  # a sliding-window layer (Gemma 3's local ones)
                    q, k = np.indices(upper.shape)
                    upper = upper | ((q - k) >= window)
                    assert (block.weights[:, upper] == 0).all()
                assert block.mask[upper].all() and not block.mask[~upper].any()
            if group == "cross":
                assert block.weights.shape == (info.heads, t, s)  # (target x source)
                assert block.kind == "cross"
    if info.kind == "encoder-decoder":
        assert trace.target_tokens.ids[0] == adapter.model.config.decoder_start_token_id
        assert trace.logits.shape == (t, len(adapter.tokenizer))


@pytest.mark.parametrize("family", [f for f in ff.ALL if ff.tiny(f).info.capabilities["steps"]])
def test_step_identities(family):
    """softmax(q·k / scale + bias + mask) = weights; x W + b = q, k, v (RoPE where rotated); z, out."""
    adapter = ff.tiny(family)
    trace = trace_of(adapter)
    for group in adapter.info.blocks:
        for i, block in enumerate(trace.blocks[group]):
            np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=ATOL)
            np.testing.assert_allclose(np.einsum("hqk,hkd->hqd", block.weights, block.v), block.z, atol=ATOL)
            for h in (0, adapter.info.heads - 1):
                hw = adapter.head_weights(group, i, h)
                b = {n: (getattr(hw, f"b_{n}") if getattr(hw, f"b_{n}") is not None else 0) for n in "qkv"}
                q_pre = hw.normed(block.x @ hw.w_q + b["q"], "q")  # Qwen3, Gemma 3: the per-head norm first
                np.testing.assert_allclose(adapter.rotate(q_pre, layer=block.layer), block.q[h], atol=ATOL)
                if group != "cross":  # cross keys come from the encoder output, not x
                    k_pre = hw.normed(block.x @ hw.w_k + b["k"], "k")
                    np.testing.assert_allclose(adapter.rotate(k_pre, layer=block.layer), block.k[h], atol=ATOL)
                    np.testing.assert_allclose(block.x @ hw.w_v + b["v"], block.v[h], atol=ATOL)
            concat = block.z.transpose(1, 0, 2).reshape(block.z.shape[1], -1)  # (T, H * dh)
            hw = adapter.head_weights(group, i, 0)
            np.testing.assert_allclose(concat @ hw.w_o + (hw.b_o if hw.b_o is not None else 0), block.out,
                                       atol=ATOL)
            if adapter.info.kv_heads < adapter.info.heads:  # grouped-query: heads of one group share k
                groups = adapter.info.heads // adapter.info.kv_heads
                np.testing.assert_array_equal(block.kv_head, np.arange(adapter.info.heads) // groups)
                np.testing.assert_array_equal(block.k[0], block.k[groups - 1])
                assert not np.allclose(block.k[0], block.k[groups])
    if adapter.info.positional == "rotary":
        hw = adapter.head_weights(adapter.info.blocks[0], 0, 0)
        blk = trace.blocks[adapter.info.blocks[0]][0]
        assert not np.allclose(blk.x[1:] @ hw.w_q, blk.q[0][1:], atol=1e-3)  # RoPE really rotated


def test_t5_relative_position_bias_is_the_added_bias():
    adapter = ff.tiny("t5")
    trace = trace_of(adapter)
    enc = trace.blocks["encoder"][0]
    layer = adapter.model.encoder.block[0].layer[0].SelfAttention
    t = len(trace.tokens)
    with torch.inference_mode():
        expected = layer.compute_bias(t, t)[0].numpy()  # (H, T, T)
    np.testing.assert_allclose(enc.bias, expected, atol=1e-6)
    assert enc.scale == 1.0 and not np.allclose(enc.bias, 0)
    assert trace.blocks["cross"][0].bias is not None and np.allclose(trace.blocks["cross"][0].bias, 0)


@pytest.mark.parametrize("family", [f for f in ff.DECODERS if ff.tiny(f).info.capabilities["generate"]])
def test_greedy_equals_model_generate(family):
    from attnscope.inspection.generate import generate

    adapter = ff.tiny(family)
    steps = list(generate(adapter, SOURCE, "greedy", max_new_tokens=6))
    enc = adapter.tokenizer(SOURCE, return_tensors="pt")
    with torch.inference_mode():
        ref = adapter.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                     max_new_tokens=6, do_sample=False, num_beams=1)
    assert [s.id for s in steps] == ref[0, enc["input_ids"].shape[1]:].tolist()[: len(steps)]
    assert len(steps) >= 1


@pytest.mark.parametrize("family", list(ff.ENCODER_DECODERS))
def test_seq2seq_greedy_equals_model_generate(family):
    adapter = ff.tiny(family)
    assert adapter.info.capabilities["seq2seq"] and not adapter.info.capabilities["generate"]
    result = adapter.seq2seq(SOURCE, max_new_tokens=5)
    enc = adapter.tokenizer(SOURCE, return_tensors="pt")
    with torch.inference_mode():
        ref = adapter.model.generate(input_ids=enc["input_ids"], max_new_tokens=5, do_sample=False, num_beams=1)
    assert result["output_ids"] == ref[0, 1:].tolist()
    layers, heads, t_out, s = result["cross_attention"].shape
    assert (layers, heads, t_out, s) == (2, 4, len(result["output_ids"]), len(enc["input_ids"][0]))
    np.testing.assert_allclose(result["cross_attention"].sum(-1), 1.0, atol=1e-5)


def test_encoders_do_not_generate_and_reasons_are_given():
    info = ff.tiny("bert").info
    assert info.capabilities["steps"] and info.capabilities["ablate"] and not info.capabilities["generate"]
    assert "encoder" in info.reasons["generate"]
    deberta = ff.tiny("deberta-v2").info
    assert not deberta.capabilities["steps"] and "not q·k" in deberta.reasons["steps"]
    assert deberta.capabilities["attention"] and deberta.capabilities["heads"]
    qwen3 = ff.tiny("qwen3")  # its per-head q/k norms are a step of their own
    assert qwen3.info.capabilities["steps"] and qwen3.head_weights("decoder", 0, 0).q_norm is not None


def test_gemma2_soft_capping_turns_steps_off():
    from attnscope.inspection.adapters import wrap

    model, tok = ff.build("gemma2", attn_logit_softcapping=50.0)
    adapter = wrap(model, tok, "tiny-gemma2-capped")
    assert not adapter.info.capabilities["steps"] and "soft-caps" in adapter.info.reasons["steps"]
    trace = adapter.trace(SOURCE)  # attention still equals the model's own
    np.testing.assert_allclose(trace.blocks["decoder"][1].weights, own(adapter, trace)["decoder"][1][0].numpy(),
                               atol=ATOL)


def test_unknown_architecture_gets_attention_only():
    """An architecture outside the table: attention views from output_attentions, steps refused with a reason."""
    import transformers

    from attnscope.inspection.adapters import wrap

    tok = ff.tiny_tokenizer()
    cfg = transformers.XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_attention_heads=4,
                                        num_hidden_layers=2, intermediate_size=64, max_position_embeddings=70)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    adapter = wrap(transformers.XLMRobertaModel(cfg).eval(), tok, "tiny-xlmr")
    assert adapter.info.family == "xlm-roberta" and adapter.info.kind == "encoder"
    assert not adapter.info.capabilities["steps"] and "family table" in adapter.info.reasons["steps"]
    trace = adapter.trace(SOURCE)
    ref = own(adapter, trace)
    for i, block in enumerate(trace.blocks["encoder"]):
        np.testing.assert_allclose(block.weights, ref["encoder"][i][0].numpy(), atol=ATOL)
    with pytest.raises(ValueError, match="family table"):
        adapter.head_weights("encoder", 0, 0)


@pytest.mark.parametrize("family", ["llama", "bert", "t5"])
def test_an_sdpa_model_is_read_exactly_and_left_as_it_was(family):
    """The capture function reads any implementation; the caller's config keeps its own (SDPA)."""
    from attnscope.inspection.adapters import wrap

    model, tok = ff.build(family, attn="sdpa")
    eager, _ = ff.build(family)  # same seed: the same weights, eager attention
    adapter = wrap(model, tok, f"tiny-sdpa-{family}")
    trace = adapter.trace(SOURCE, "the cat" if ff.kind(family) == "encoder-decoder" else None)
    assert model.config._attn_implementation == "sdpa"
    enc = tok(SOURCE, return_tensors="pt")
    kw = {"decoder_input_ids": adapter.target_inputs("the cat")[0]} if ff.kind(family) == "encoder-decoder" else {}
    with torch.inference_mode():
        ref = eager(input_ids=enc["input_ids"], output_attentions=True, **kw)
    want = ref.encoder_attentions if kw else ref.attentions
    got = trace.blocks["encoder" if family != "llama" else "decoder"]
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i].weights, w[0].numpy(), atol=ATOL)
    assert adapter.info.capabilities["steps"]


def test_hooks_are_removed_after_every_family():
    def count(model):  # transformers may keep hooks of its own: compare before and after
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    for family in ("t5", "albert", "phi3"):
        adapter = ff.tiny(family)
        before = count(adapter.model)
        trace_of(adapter)
        assert count(adapter.model) == before


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_identities_hold_to_the_stated_tolerance(dtype):
    from attnscope.inspection.adapters import wrap
    from attnscope.inspection.adapters.generic import TOLERANCE

    model, tok = ff.build("llama")
    adapter = wrap(model.to(getattr(torch, dtype)), tok, f"tiny-{dtype}")
    assert adapter.info.dtype == dtype
    trace = adapter.trace(SOURCE)
    tol = TOLERANCE[dtype]
    ref = own(adapter, trace)["decoder"]
    for i, block in enumerate(trace.blocks["decoder"]):
        assert block.weights.dtype == np.float32 and block.q.dtype == np.float32  # the API's numbers are float32
        np.testing.assert_array_equal(block.weights, ref[i][0].float().numpy())  # the model's own numbers
        np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=tol)
        hw = adapter.head_weights("decoder", i, 3)
        np.testing.assert_allclose(adapter.rotate(block.x @ hw.w_q), block.q[3], atol=tol)
        np.testing.assert_allclose(np.einsum("hqk,hkd->hqd", block.weights, block.v), block.z, atol=tol)


def test_unknown_decoder_gets_causal_attention_and_generation():
    """BLOOM (ALiBi) is not in the table: its attention is still read, causal, and it still generates."""
    import transformers

    from attnscope.inspection.adapters import wrap
    from attnscope.inspection.generate import generate

    tok = ff.tiny_tokenizer()
    special = tok.eos_token_id
    cfg = transformers.BloomConfig(vocab_size=len(tok), hidden_size=32, n_head=4, n_layer=2,
                                   bos_token_id=special, eos_token_id=special, pad_token_id=special)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.BloomForCausalLM(cfg).eval()
    model.generation_config.pad_token_id = special
    adapter = wrap(model, tok, "tiny-bloom")
    info = adapter.info
    assert (info.family, info.kind, info.blocks) == ("bloom", "decoder", ("decoder",))
    assert info.capabilities["generate"] and not info.capabilities["steps"]
    trace = adapter.trace(SOURCE)
    ref = own(adapter, trace)["decoder"]
    for i, block in enumerate(trace.blocks["decoder"]):
        np.testing.assert_allclose(block.weights, ref[i][0].numpy(), atol=ATOL)
        upper = np.triu(np.ones(block.weights.shape[1:], dtype=bool), 1)
        assert (block.weights[:, upper] == 0).all() and block.mask[upper].all()
    steps = list(generate(adapter, SOURCE, "greedy", max_new_tokens=4))
    enc = tok(SOURCE, return_tensors="pt")
    with torch.inference_mode():
        ref_ids = model.generate(**enc, max_new_tokens=4, do_sample=False)[0, enc["input_ids"].shape[1]:]
    assert [s.id for s in steps] == ref_ids.tolist()[: len(steps)] and steps


def test_wrap_real_minilm_and_smollm2(minilm_dir, smollm2):
    """The notebook entry point on the shipped models: the right family, the registry adapter's numbers."""
    from transformers import AutoModel, AutoTokenizer

    from attnscope.inspection.adapters import wrap

    model = AutoModel.from_pretrained(minilm_dir, attn_implementation="eager")
    minilm = wrap(model, AutoTokenizer.from_pretrained(minilm_dir), "my-minilm", "MiniLM")
    assert (minilm.info.id, minilm.info.name, minilm.info.family) == ("my-minilm", "MiniLM", "bert")
    assert minilm.info.capabilities["steps"] and (minilm.info.layers, minilm.info.heads) == (6, 12)
    trace = minilm.trace(SOURCE)
    ref = own(minilm, trace)["encoder"]
    np.testing.assert_allclose(trace.blocks["encoder"][5].weights, ref[5][0].numpy(), atol=ATOL)
    wrapped = wrap(smollm2.model, smollm2.tokenizer)
    assert wrapped.info.family == "llama" and wrapped.info.kv_heads == 3
    np.testing.assert_allclose(wrapped.trace(SOURCE).blocks["decoder"][7].weights,
                               smollm2.trace(SOURCE).blocks["decoder"][7].weights, atol=ATOL)


def test_t5_with_a_deeper_decoder():
    """num_decoder_layers != num_layers: every block group has its own depth, and its weights are readable."""
    from attnscope.inspection.adapters import wrap

    model, tok = ff.build("t5", num_decoder_layers=3)
    adapter = wrap(model, tok, "tiny-t5-deep")
    trace = trace_of(adapter)
    assert (len(trace.blocks["encoder"]), len(trace.blocks["decoder"]), len(trace.blocks["cross"])) == (2, 3, 3)
    hw = adapter.head_weights("cross", 2, 1)
    block = trace.blocks["cross"][2]
    np.testing.assert_allclose(block.x @ hw.w_q, block.q[1], atol=ATOL)
    with pytest.raises(ValueError, match="out of range"):
        adapter.head_weights("encoder", 2, 0)


def test_encoder_halves_and_task_heads_wrap_too():
    """T5EncoderModel (the encoder half alone) and a BERT with a classification head: parity, steps, ablation."""
    import transformers

    from attnscope.inspection.ablate import ablate
    from attnscope.inspection.adapters import wrap

    tok = ff.tiny_tokenizer()
    t5 = transformers.T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                               relative_attention_num_buckets=8)
    bert = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                                   intermediate_size=64, max_position_embeddings=64, num_labels=3)
    for cfg, cls, family in ((t5, transformers.T5EncoderModel, "t5"),
                             (bert, transformers.BertForSequenceClassification, "bert")):
        cfg._attn_implementation = "eager"
        torch.manual_seed(0)
        adapter = wrap(cls(cfg).eval(), tok, f"tiny-{family}-half")
        info = adapter.info
        assert (info.family, info.kind, info.blocks) == (family, "encoder", ("encoder",))
        assert info.capabilities["steps"] and info.capabilities["ablate"] and not info.capabilities["generate"]
        trace = adapter.trace(SOURCE)
        ref = own(adapter, trace)["encoder"]
        for i, block in enumerate(trace.blocks["encoder"]):
            np.testing.assert_allclose(block.weights, ref[i][0].numpy(), atol=ATOL)
            np.testing.assert_allclose(softmax(block.scaled()), block.weights, atol=ATOL)
            hw = adapter.head_weights("encoder", i, 1)
            np.testing.assert_allclose(block.x @ hw.w_q + (hw.b_q if hw.b_q is not None else 0), block.q[1],
                                       atol=ATOL)
        assert (trace.blocks["encoder"][0].bias is not None) == (family == "t5")  # T5's relative position bias
        res = ablate(adapter, SOURCE, [[0, 0], [1, 2]])
        assert res.kind == "encoder" and 0.0 < res.extra["cosine"] < 1.0  # the knocked-out heads changed it


def test_capabilities_are_measured_at_load():
    """Every known family with readable modules passes its step identities; the checks are recorded."""
    for family in ff.ALL:
        adapter = ff.tiny(family)
        caps = adapter.info.capabilities
        if family == "deberta-v2":
            assert not caps["steps"] and adapter.info.reasons["steps"]
            continue
        assert caps["steps"] and caps["block_steps"], (family, adapter.info.reasons)
        assert max(adapter.checks.values()) < 1e-5, (family, adapter.checks)


def test_a_wrong_family_name_is_caught_by_the_identities():
    """Qwen3 named "qwen2" (which has no per-head q/k norm): x·W_q misses the q attention receives."""
    from attnscope.inspection.adapters import wrap

    model, tok = ff.build("qwen3")
    from attnscope.inspection.adapters.generic import HFAdapter

    adapter = wrap(model, tok, "qwen3")

    forced = HFAdapter("qwen3-forced", "memory", model=model, tokenizer=tok, family="qwen2")
    assert not forced.info.capabilities["steps"]
    reason = forced.info.reasons["steps"]
    assert "x·W_q" in reason and "misses" in reason and "by " in reason, reason
    assert forced.checks["q"] > 1e-3 and forced.checks["softmax"] < 1e-5
    assert forced.info.capabilities["attention"]  # the attention itself is still exact
    trace = forced.trace(SOURCE)
    np.testing.assert_allclose(trace.blocks["decoder"][0].weights, own(adapter, trace)["decoder"][0][0].numpy(),
                               atol=ATOL)


def test_the_kv_cache_counts_sliding_layers_by_their_window():
    """Gemma 3: sliding layers keep their window, global layers every token (today's 1.7x overstatement)."""
    from attnscope.inspection import kv_cache

    cfg = ff.tiny("gemma3_text").model.config
    assert kv_cache.layer_windows(cfg) == [4, None]
    full, = [v for v in kv_cache.variants(2, 4, 2, 8, 100) if v.name == "grouped-query"]
    slid, = [v for v in kv_cache.variants(2, 4, 2, 8, 100, windows=[4, None]) if v.name == "grouped-query"]
    assert full.bytes_total == 2 * 2 * 2 * 8 * 4 * 100  # K and V, 2 layers, 2 KV heads, d 8, float32
    assert slid.bytes_total == 2 * 2 * 8 * 4 * (4 + 100)
    # Gemma 3 1B's shape at 1,024 tokens: 5 of every 6 layers slide over 512 tokens
    windows = [None if (i + 1) % 6 == 0 else 512 for i in range(26)]
    gqa = kv_cache.variants(26, 4, 1, 256, 1024, "bfloat16", windows=windows)[-1]
    naive = kv_cache.variants(26, 4, 1, 256, 1024, "bfloat16")[-1]
    assert 1.6 < naive.bytes_total / gqa.bytes_total < 1.8
    mistral = ff.tiny("mistral").model.config  # Mistral slides on every layer (4,096 by default)
    assert kv_cache.layer_windows(mistral) == [mistral.sliding_window] * 2 == [4096, 4096]
    assert kv_cache.cached_tokens(5000, [4096, 4096]) == 8192
    assert kv_cache.layer_windows(ff.tiny("llama").model.config) == [None, None]


def test_hidden_states_mean_before_the_final_norm_for_every_family():
    """The last hidden state is the last layer's output, before any final norm: known families and not."""
    import transformers

    from attnscope.inspection.adapters import wrap

    tok = ff.tiny_tokenizer()
    cfg = transformers.StableLmConfig(vocab_size=len(tok), hidden_size=32, num_attention_heads=4, num_key_value_heads=4,
                                      num_hidden_layers=2,
                                      intermediate_size=64, max_position_embeddings=64)  # not in the table
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.StableLmForCausalLM(cfg).eval()
    for adapter in (wrap(model, tok, "tiny-stablelm"), ff.tiny("llama")):
        got = []
        layers = adapter._plain_layers or adapter._layer_lists["decoder"]
        h = layers[-1].register_forward_hook(lambda m, a, o: got.append(o[0] if isinstance(o, tuple) else o))
        try:
            trace = adapter.trace(SOURCE)
        finally:
            h.remove()
        last = trace.hidden_states["decoder"][-1]
        assert trace.hidden_states["decoder"].shape[0] == adapter.info.layers + 1
        np.testing.assert_allclose(last, got[-1][0].numpy(), atol=1e-6)
        with torch.inference_mode():  # transformers' own last entry is after the final norm
            theirs = adapter.model(**adapter.tokenized(SOURCE)[0], output_hidden_states=True).hidden_states[-1][0]
        assert not np.allclose(last, theirs.numpy(), atol=1e-4)
