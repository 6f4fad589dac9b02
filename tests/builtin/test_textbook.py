"""The textbook transformer: model, data, tokenizer, shipped weights and adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attnscope.builtin import data
from attnscope.builtin.model import (
    Recording,
    TextbookConfig,
    Transformer,
    beam_search,
    greedy_decode,
    load_model,
    sinusoidal_encoding,
)
from attnscope.builtin.tokenizer import EOS_ID, WordTokenizer, load_vocabs, split
from attnscope.builtin.train import TrainSettings, to_examples, train
from attnscope.inspection.adapters.textbook import MODEL_DIR, TextbookAdapter

METRICS = json.loads((MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def adapter() -> TextbookAdapter:
    return TextbookAdapter()


@pytest.fixture(scope="module")
def shipped() -> tuple[Transformer, WordTokenizer, WordTokenizer]:
    src, tgt = load_vocabs(MODEL_DIR / "vocab.json")
    return load_model(MODEL_DIR), src, tgt


def translate(model: Transformer, src: WordTokenizer, tgt: WordTokenizer, text: str) -> str:
    out = greedy_decode(model, src.encode(text)[0])
    return " ".join(tgt.token(i) for i in out.tokens if i != EOS_ID)


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# --- (1) training lowers the loss ----------------------------------------------------


def test_a_few_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    pairs = data.make_splits(0, n_train=300, n_valid=10, n_heldout=10).train
    src = WordTokenizer.build(fr for fr, _ in pairs)
    tgt = WordTokenizer.build(en for _, en in pairs)
    cfg = TextbookConfig(
        len(src),
        len(tgt),
        d_model=32,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=64,
        dropout=0.0,
    )
    settings = TrainSettings(steps=40, batch_size=32, lr=3e-3, warmup=5, seed=0)
    losses = train(Transformer(cfg), to_examples(pairs, src, tgt), settings)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0


# --- (2) the lecture's positional-encoding table ------------------------------------------


def test_sinusoidal_encoding_matches_the_i_am_a_robot_table() -> None:
    pe = sinusoidal_encoding(range(4), d=4, n=100)
    expected = [
        [0.00, 1.00, 0.00, 1.00],
        [0.84, 0.54, 0.10, 1.00],
        [0.91, -0.42, 0.20, 0.98],
        [0.14, -0.99, 0.30, 0.96],
    ]
    assert np.round(pe.double().numpy(), 2).tolist() == expected


# --- (3), (4) the shipped weights ------------------------------------------------------------


def test_shipped_files_and_size() -> None:
    for name in ("config.json", "model.safetensors", "vocab.json", "MODEL_CARD.md", "metrics.json"):
        assert (MODEL_DIR / name).is_file(), name
    assert (MODEL_DIR / "model.safetensors").stat().st_size < 10_000_000


def test_heldout_accuracy_matches_the_model_card(shipped) -> None:
    model, src, tgt = shipped
    d = METRICS["data"]
    heldout = data.make_splits(METRICS["seed"], d["train"], d["valid"], d["heldout"]).heldout[:100]
    exact = np.mean(
        [
            translate(model, src, tgt, fr) == " ".join(p.text for p in split(en))
            for fr, en in heldout
        ]
    )
    assert exact >= METRICS["heldout"]["exact_match"] - 0.1


def test_je_suis_etudiant(shipped) -> None:
    assert translate(*shipped, "je suis étudiant") == "i am a student"
    assert translate(*shipped, "Je suis étudiant") == "i am a student"


# --- (5) the adapter's Trace ------------------------------------------------------------


def test_trace_shapes_and_tokens(adapter) -> None:
    trace = adapter.trace("je suis étudiant")
    cfg = adapter.model.cfg
    assert trace.tokens.text == ["je", "suis", "étudiant"]
    assert trace.tokens.offsets == [(0, 2), (3, 7), (8, 16)]
    assert trace.target == "i am a student"
    assert trace.target_tokens.text == ["<s>", "i", "am", "a", "student"]
    assert trace.target_tokens.special == [True, False, False, False, False]
    assert [trace.target[a:b] for a, b in trace.target_tokens.offsets[1:]] == trace.target.split()
    assert {g: len(b) for g, b in trace.blocks.items()} == {"encoder": 2, "decoder": 2, "cross": 2}
    assert [b.kind for b in trace.blocks["cross"]] == ["cross", "cross"]
    assert trace.block("cross", 0).weights.shape == (cfg.n_heads, 5, 3)
    assert trace.hidden_states["encoder"].shape == (3, 3, cfg.d_model)
    assert trace.hidden_states["decoder"].shape == (3, 5, cfg.d_model)
    assert trace.logits.shape == (5, cfg.tgt_vocab_size)
    assert np.allclose(
        trace.hidden_states["encoder"][0],
        trace.token_embeddings + trace.position_embeddings,
        atol=1e-6,
    )
    assert np.allclose(
        trace.position_embeddings, sinusoidal_encoding(range(3), cfg.d_model, cfg.pe_base).numpy()
    )


def test_trace_attention_invariants(adapter) -> None:
    trace = adapter.trace("les chats noirs ne mangent pas la pomme rouge.")
    enc_out = trace.hidden_states["encoder"][-1]
    for group, blocks in trace.blocks.items():
        for b in blocks:
            assert np.allclose(b.weights.sum(-1), 1.0, atol=1e-5)
            assert np.allclose(softmax(b.scaled()), b.weights, atol=1e-5)
            assert np.allclose(b.z, b.weights @ b.v, atol=1e-5)
            assert b.scale == pytest.approx(np.sqrt(adapter.info.d_head))
            assert b.kv_head.tolist() == list(range(b.heads))
            kv_input = enc_out if group == "cross" else b.x
            for h in range(b.heads):
                hw = adapter.head_weights(group, b.layer, h)
                assert np.allclose(b.q[h], b.x @ hw.w_q + hw.b_q, atol=1e-5)
                assert np.allclose(b.k[h], kv_input @ hw.w_k + hw.b_k, atol=1e-5)
                assert np.allclose(b.v[h], kv_input @ hw.w_v + hw.b_v, atol=1e-5)
            concat = b.z.transpose(1, 0, 2).reshape(b.z.shape[1], -1)  # (Tq, H * d_head)
            assert np.allclose(b.out, concat @ hw.w_o + hw.b_o, atol=1e-5)


def test_decoder_self_attention_is_causal(adapter) -> None:
    trace = adapter.trace("le chien voit le chat", target="the dog sees the cat")
    T = len(trace.target_tokens)
    above = np.triu(np.ones((T, T), dtype=bool), 1)
    for b in trace.blocks["decoder"]:
        assert (b.mask == above).all()
        assert (b.weights[:, above] == 0.0).all()
    assert not any(b.mask.any() for b in trace.blocks["encoder"] + trace.blocks["cross"])


def test_head_weights_reject_bad_indices(adapter) -> None:
    with pytest.raises(ValueError, match="unknown block"):
        adapter.head_weights("middle", 0, 0)
    with pytest.raises(ValueError, match="layer 9"):
        adapter.head_weights("cross", 9, 0)
    with pytest.raises(ValueError, match="head 9"):
        adapter.head_weights("encoder", 0, 9)


# --- (6) "student" attends to "étudiant" -------------------------------------------------


def test_student_attends_to_etudiant_in_the_last_cross_layer(adapter) -> None:
    """The query that outputs "student" (decoder input "a") looks at "étudiant".

    In the Trace, row t is the decoder input t and predicts token t + 1, so the
    row that produces "student" is found by its logits.
    """
    trace = adapter.trace("je suis étudiant")
    student = adapter.tgt_vocab.ids["student"]
    row = int(np.flatnonzero(trace.logits.argmax(-1) == student)[0])
    mean = trace.weights("cross", len(trace.blocks["cross"]) - 1).mean(0)  # (Tq, Tk)
    assert trace.tokens.text[int(mean[row].argmax())] == "étudiant"

    result = adapter.translate("je suis étudiant")
    step = result.output.text.index("student")
    assert (
        trace.tokens.text[int(result.steps[step].cross_attention[-1].mean(0).argmax())]
        == "étudiant"
    )


# --- (7) the data ---------------------------------------------------------------------


def test_data_is_deterministic_and_holds_out_its_pairs() -> None:
    a = data.make_splits(3, n_train=3000, n_valid=200, n_heldout=200)
    assert a == data.make_splits(3, n_train=3000, n_valid=200, n_heldout=200)
    assert a != data.make_splits(4, n_train=3000, n_valid=200, n_heldout=200)
    for fr, _ in a.train + a.valid:
        assert not data.noun_adjective_pairs(fr) & data.HELDOUT_PAIRS, fr
    for fr, _ in a.heldout:
        assert data.noun_adjective_pairs(fr) & data.HELDOUT_PAIRS, fr
    train = {fr for fr, _ in a.train}
    assert not train & {fr for fr, _ in a.valid + a.heldout}
    assert ("je suis étudiant", "i am a student") in a.train


def test_every_heldout_word_is_seen_in_training() -> None:
    splits = data.make_splits(0, n_train=5000, n_valid=10, n_heldout=200)
    vocab = {p.text for fr, _ in splits.train for p in split(fr)}
    assert {p.text for fr, _ in splits.heldout for p in split(fr)} <= vocab


def test_tokenizer_elision_accents_and_offsets() -> None:
    pieces = split("L’homme n'aime pas l'Étudiant.")
    assert [p.text for p in pieces] == ["l'", "homme", "n'", "aime", "pas", "l'", "étudiant", "."]
    assert (pieces[6].start, pieces[6].end) == (21, 29)


# --- (8) unknown words ----------------------------------------------------------------


def test_unknown_word_becomes_unk_with_a_note(adapter) -> None:
    result = adapter.translate("je suis xylophoniste")
    assert result.source.text == ["je", "suis", "<unk>"]
    assert result.source.ids[-1] == 3
    assert any("xylophoniste" in note for note in result.notes)
    assert adapter.trace("je suis xylophoniste").tokens.text[-1] == "<unk>"


def test_empty_or_too_long_text_is_a_clear_error(adapter) -> None:
    with pytest.raises(ValueError, match="empty"):
        adapter.trace("   ")
    with pytest.raises(ValueError, match="at most 32"):
        adapter.trace("le chat " * 20)
    assert adapter.count_tokens("l'homme mange.") == 4


# --- (9) beam search ------------------------------------------------------------------


def test_beam_of_width_one_is_greedy(shipped) -> None:
    model, src, _ = shipped
    for text in ["je suis étudiant", "le chat noir mange la pomme", "elles n'ont pas de vélo"]:
        ids = src.encode(text)[0]
        greedy, beam = greedy_decode(model, ids), beam_search(model, ids, beam_width=1)
        assert beam.tokens == greedy.tokens
        assert all(
            torch.equal(a, b)
            for a, b in zip(beam.cross_attention, greedy.cross_attention, strict=True)
        )


def test_step_attention_equals_the_attention_during_generation(shipped) -> None:
    model, src, _ = shipped
    ids = torch.tensor([src.encode("la fille ne voit pas le chat noir")[0]])
    out = greedy_decode(model, ids[0].tolist())
    with torch.inference_mode():
        for t in range(len(out.tokens)):
            rec = Recording()
            model(ids, torch.tensor([[model.cfg.bos_id, *out.tokens[:t]]]), rec)
            cross = torch.stack([r.weights[0, :, -1] for r in rec.cross])  # (L, H, S)
            self_ = torch.stack([r.weights[0, :, -1] for r in rec.decoder])  # (L, H, t + 1)
            assert torch.allclose(cross, out.cross_attention[t], atol=1e-6)
            assert torch.allclose(self_, out.self_attention[t], atol=1e-6)


def test_translate_steps_and_beam(adapter) -> None:
    result = adapter.translate("le chat noir mange la pomme", strategy="beam", beam_width=4)
    assert result.text == "the black cat eats the apple"
    assert result.output.text[-1] == "</s>"
    L, H = len(adapter.model.decoder.layers), adapter.info.heads
    for t, step in enumerate(result.steps):
        assert step.self_attention.shape == (L, H, t + 1)
        assert step.cross_attention.shape == (L, H, len(result.source))
        assert np.allclose(step.cross_attention.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="strategy"):
        adapter.translate("je suis étudiant", strategy="sampling")
