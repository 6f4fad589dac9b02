"""The textbook transformer, as in "Attention Is All You Need" (Vaswani et al., 2017).

One file, top to bottom, following the lectures:

1. ``TextbookConfig``: the sizes.
2. ``sinusoidal_encoding``: PE(pos, 2i) = sin(pos / n^(2i/d)), PE(pos, 2i+1) = cos(pos / n^(2i/d)).
3. ``Embeddings``: token embedding x sqrt(d_model) + PE, the input of each stack.
4. ``MultiHeadAttention``: q = x W_q, k = x W_k, v = x W_v, split into heads,
   scores = q k^T, scaled = scores / sqrt(d_k), masked, softmax, z = weights v,
   concat heads, out = concat W_o. Written step by step; no fused kernels.
5. ``FeedForward``: max(0, x W_1 + b_1) W_2 + b_2.
6. ``EncoderLayer`` / ``DecoderLayer``: sublayers with "Add & Norm" after each
   (post-LN, as the paper): x = LayerNorm(x + Sublayer(x)).
7. ``Encoder`` / ``Decoder`` stacks and the ``Transformer`` with the final
   linear layer to the target vocabulary.
8. ``greedy_decode`` and ``beam_search``.

Masks are bool tensors, True where a key is REMOVED (set to -inf before softmax).
Every attention module can record its intermediates for inspection: pass a
:class:`Recording` and each module appends an :class:`AttentionRecord`.

Embedding scale: token embeddings are initialised with std 1/sqrt(d_model) and
multiplied by sqrt(d_model) (as in the paper), so the vectors that are added to
the positional encoding have entries of size ~1, like the sines and cosines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

# --- 1. configuration -------------------------------------------------------


@dataclass
class TextbookConfig:
    """Sizes of the textbook transformer."""

    src_vocab_size: int = 64
    tgt_vocab_size: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    d_ff: int = 256
    max_len: int = 32  # longest sequence, in tokens, on either side
    pe_base: float = 10000.0  # the n of the sinusoidal encoding
    dropout: float = 0.1
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(
                f"d_model ({self.d_model}) must be even and divisible by n_heads ({self.n_heads})"
            )

    @property
    def d_k(self) -> int:
        """Size of one head's queries, keys and values."""
        return self.d_model // self.n_heads


# --- 2. positional encoding --------------------------------------------------


def sinusoidal_encoding(positions: Sequence[int] | Tensor, d: int, n: float = 10000.0) -> Tensor:
    """The sinusoidal positional encoding of the lectures.

    PE(pos, 2i) = sin(pos / n^(2i/d)),  PE(pos, 2i+1) = cos(pos / n^(2i/d)).

    Args:
        positions: (T,) positions, usually 0..T-1.
        d: the encoding size (even).
        n: the base (10000 in the paper; 100 in the "I am a robot" example).

    Returns:
        (T, d) float32.
    """
    if d % 2:
        raise ValueError(f"the encoding size d must be even, got {d}")
    pos = torch.as_tensor(positions, dtype=torch.float64)  # (T,)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (d/2,) the even indices 2i
    angles = pos[:, None] / n ** (two_i / d)  # (T, d/2)
    pe = torch.zeros(len(pos), d, dtype=torch.float64)  # (T, d)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()


# --- 3. embeddings -----------------------------------------------------------


class Embeddings(nn.Module):
    """Input of a stack: token_embedding(ids) * sqrt(d_model) + PE, then dropout."""

    def __init__(self, vocab_size: int, cfg: TextbookConfig) -> None:
        super().__init__()
        self.d_model, self.max_len = cfg.d_model, cfg.max_len
        self.token = nn.Embedding(vocab_size, cfg.d_model)
        nn.init.normal_(self.token.weight, std=cfg.d_model**-0.5)
        pe = sinusoidal_encoding(torch.arange(cfg.max_len), cfg.d_model, cfg.pe_base)
        self.register_buffer("pe", pe, persistent=False)  # (max_len, d_model), not trained
        self.drop = nn.Dropout(cfg.dropout)

    def token_part(self, ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, d_model) scaled token embeddings, as added to PE."""
        return self.token(ids) * math.sqrt(self.d_model)

    def position_part(self, length: int) -> Tensor:
        """(T, d_model) the PE rows added to a sequence of ``length`` tokens."""
        if length > self.max_len:
            raise ValueError(f"{length} tokens is more than the model's maximum of {self.max_len}")
        return self.pe[:length]

    def forward(self, ids: Tensor) -> Tensor:
        x = self.token_part(ids) + self.position_part(ids.shape[1])  # (B, T, d_model)
        return self.drop(x)


# --- 4. multi-head attention -------------------------------------------------


@dataclass
class AttentionRecord:
    """One attention call's intermediates (batch first), kept for inspection."""

    x: Tensor  # (B, Tq, d_model) query-side input
    q: Tensor  # (B, H, Tq, d_k)
    k: Tensor  # (B, H, Tk, d_k)
    v: Tensor  # (B, H, Tk, d_k)
    mask: Tensor  # (B, Tq, Tk) bool, True = removed
    weights: Tensor  # (B, H, Tq, Tk)
    z: Tensor  # (B, H, Tq, d_k)
    out: Tensor  # (B, Tq, d_model)


@dataclass
class Recording:
    """What one forward pass records: attention per layer and hidden states.

    ``*_hidden`` hold the stack's input (embeddings + PE), then each layer's
    output; ``encoder_hidden[-1]`` is the encoder output that cross-attention reads.
    """

    encoder: list[AttentionRecord] = field(default_factory=list)
    decoder: list[AttentionRecord] = field(default_factory=list)
    cross: list[AttentionRecord] = field(default_factory=list)
    encoder_hidden: list[Tensor] = field(default_factory=list)  # each (B, S, d_model)
    decoder_hidden: list[Tensor] = field(default_factory=list)  # each (B, T, d_model)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with H heads, one explicit step per line."""

    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.n_heads, self.d_k = cfg.n_heads, cfg.d_k
        self.w_q = nn.Linear(cfg.d_model, cfg.d_model)  # all heads' W_q side by side
        self.w_k = nn.Linear(cfg.d_model, cfg.d_model)
        self.w_v = nn.Linear(cfg.d_model, cfg.d_model)
        self.w_o = nn.Linear(cfg.d_model, cfg.d_model)

    def split_heads(self, t: Tensor) -> Tensor:
        """(B, T, d_model) -> (B, H, T, d_k): head h gets columns h*d_k .. (h+1)*d_k."""
        B, T, _ = t.shape
        return t.view(B, T, self.n_heads, self.d_k).transpose(1, 2)

    def forward(
        self, x: Tensor, kv: Tensor, mask: Tensor, record: list[AttentionRecord] | None = None
    ) -> Tensor:
        """Attention of the ``x`` positions over the ``kv`` positions.

        Args:
            x: (B, Tq, d_model) query-side input.
            kv: (B, Tk, d_model) key/value-side input: ``x`` itself for
                self-attention, the encoder output for cross-attention.
            mask: bool, broadcastable to (B, Tq, Tk); True removes the key.
            record: if a list, this call's :class:`AttentionRecord` is appended.

        Returns:
            (B, Tq, d_model) the module's output.
        """
        B, Tq, _ = x.shape
        q = self.w_q(x)  # (B, Tq, d_model)   q = x @ W_q + b_q
        k = self.w_k(kv)  # (B, Tk, d_model)   k = kv @ W_k + b_k
        v = self.w_v(kv)  # (B, Tk, d_model)   v = kv @ W_v + b_v
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)  # (B, H, T, d_k)
        scores = q @ k.transpose(-2, -1)  # (B, H, Tq, Tk)
        scaled = scores / math.sqrt(self.d_k)  # (B, H, Tq, Tk)
        scaled = scaled.masked_fill(mask[:, None], float("-inf"))  # (B, H, Tq, Tk)
        weights = torch.softmax(scaled, dim=-1)  # (B, H, Tq, Tk), each row sums to 1
        z = weights @ v  # (B, H, Tq, d_k)
        concat = z.transpose(1, 2).reshape(B, Tq, -1)  # (B, Tq, H * d_k)
        out = self.w_o(concat)  # (B, Tq, d_model)   out = concat @ W_o + b_o
        if record is not None:
            full_mask = mask.expand(B, Tq, kv.shape[1])  # (B, Tq, Tk)
            record.append(AttentionRecord(x, q, k, v, full_mask, weights, z, out))
        return out


# --- 5. feed-forward -----------------------------------------------------------


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, applied to each position."""

    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.w_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.w_2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(torch.relu(self.w_1(x)))  # (B, T, d_model)


# --- 6. layers: sublayer, then Add & Norm ---------------------------------------


class EncoderLayer(nn.Module):
    """Self-attention, Add & Norm, feed-forward, Add & Norm."""

    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg)
        self.ffn = FeedForward(cfg)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: Tensor, src_mask: Tensor, record: list[AttentionRecord] | None = None
    ) -> Tensor:
        x = self.norm1(x + self.drop(self.self_attn(x, x, src_mask, record)))  # (B, S, d_model)
        x = self.norm2(x + self.drop(self.ffn(x)))  # (B, S, d_model)
        return x


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the encoder output, feed-forward.

    Each sublayer is followed by Add & Norm.
    """

    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg)
        self.cross_attn = MultiHeadAttention(cfg)
        self.ffn = FeedForward(cfg)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor,
        src_mask: Tensor,
        rec: Recording | None = None,
    ) -> Tensor:
        self_rec, cross_rec = (rec.decoder, rec.cross) if rec is not None else (None, None)
        x = self.norm1(x + self.drop(self.self_attn(x, x, tgt_mask, self_rec)))  # (B, T, d_model)
        x = self.norm2(
            x + self.drop(self.cross_attn(x, memory, src_mask, cross_rec))
        )  # (B, T, d_model)
        x = self.norm3(x + self.drop(self.ffn(x)))  # (B, T, d_model)
        return x


# --- 7. stacks and the whole model ------------------------------------------------


def padding_mask(ids: Tensor, pad_id: int) -> Tensor:
    """(B, T) ids -> (B, 1, T) bool, True at <pad> keys."""
    return (ids == pad_id)[:, None, :]


def causal_mask(length: int) -> Tensor:
    """(1, T, T) bool, True above the diagonal: position i may not see j > i."""
    return torch.ones(length, length, dtype=torch.bool).triu(1)[None]


class Encoder(nn.Module):
    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.embed = Embeddings(cfg.src_vocab_size, cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))

    def forward(self, src: Tensor, src_mask: Tensor, rec: Recording | None = None) -> Tensor:
        x = self.embed(src)  # (B, S, d_model)
        hidden = [x]
        for layer in self.layers:
            x = layer(x, src_mask, rec.encoder if rec is not None else None)  # (B, S, d_model)
            hidden.append(x)
        if rec is not None:
            rec.encoder_hidden = hidden
        return x


class Decoder(nn.Module):
    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.embed = Embeddings(cfg.tgt_vocab_size, cfg)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor,
        src_mask: Tensor,
        rec: Recording | None = None,
    ) -> Tensor:
        x = self.embed(tgt)  # (B, T, d_model)
        hidden = [x]
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, src_mask, rec)  # (B, T, d_model)
            hidden.append(x)
        if rec is not None:
            rec.decoder_hidden = hidden
        return x


class Transformer(nn.Module):
    """Encoder, decoder and the final linear layer to target-vocabulary logits."""

    def __init__(self, cfg: TextbookConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.generator = nn.Linear(cfg.d_model, cfg.tgt_vocab_size)
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)

    def encode(
        self, src: Tensor, rec: Recording | None = None, pattern: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, S) source ids -> encoder output (B, S, d_model) and source mask (B, 1, S).

        ``pattern``: optional (S, S) bool, True removes the key from the encoder's
        self-attention only (local, strided or global "efficient attention").
        """
        src_mask = padding_mask(src, self.cfg.pad_id)
        enc_mask = src_mask if pattern is None else src_mask | pattern[None]  # (B, S, S)
        return self.encoder(src, enc_mask, rec), src_mask

    def decode(
        self, tgt: Tensor, memory: Tensor, src_mask: Tensor, rec: Recording | None = None
    ) -> Tensor:
        """(B, T) decoder input ids -> (B, T, tgt_vocab) logits of the next token."""
        tgt_mask = causal_mask(tgt.shape[1]) | padding_mask(tgt, self.cfg.pad_id)  # (B, T, T)
        return self.generator(self.decoder(tgt, memory, tgt_mask, src_mask, rec))

    def forward(
        self, src: Tensor, tgt: Tensor, rec: Recording | None = None, pattern: Tensor | None = None
    ) -> Tensor:
        """(B, S) source, (B, T) decoder input -> (B, T, tgt_vocab) logits."""
        memory, src_mask = self.encode(src, rec, pattern)
        return self.decode(tgt, memory, src_mask, rec)


def save_config(cfg: TextbookConfig, path: Path) -> None:
    path.write_text(json.dumps(asdict(cfg), indent=2) + "\n", encoding="utf-8")


def load_model(directory: Path) -> Transformer:
    """The model in ``directory`` (config.json + model.safetensors), in eval mode."""
    cfg = TextbookConfig(**json.loads((directory / "config.json").read_text(encoding="utf-8")))
    model = Transformer(cfg)
    model.load_state_dict(load_file(directory / "model.safetensors"))
    return model.eval()


# --- 8. decoding ------------------------------------------------------------------


@dataclass
class Decoded:
    """A generated translation and the attention of each generation step.

    Step t feeds the decoder input token t (``<s>`` at step 0) and produces
    ``tokens[t]``; its attention rows are those of that query position.
    """

    tokens: list[int]  # generated ids, without <s>; ends with </s> unless the cap was hit
    score: float  # sum of the tokens' log-probabilities
    self_attention: list[Tensor]  # per step t: (L, H, t + 1) decoder self-attention
    cross_attention: list[Tensor]  # per step t: (L, H, S) attention over the source


def _cap(model: Transformer, max_len: int | None) -> int:
    """Number of tokens we may generate: the decoder sees at most cfg.max_len inputs."""
    return model.cfg.max_len if max_len is None else min(max_len, model.cfg.max_len)


def _step_attention(
    model: Transformer, src: Tensor, tokens: list[int], score: float, pattern: Tensor | None = None
) -> Decoded:
    """Re-run the decoder once on <s> + tokens[:-1] and cut each step's attention rows.

    With a causal mask and no dropout, row t of this pass equals the attention
    of step t during generation.
    """
    rec = Recording()
    model(src, torch.tensor([[model.cfg.bos_id, *tokens[:-1]]]), rec, pattern)  # (1, T, V)
    self_w = torch.stack([r.weights[0] for r in rec.decoder])  # (L, H, T, T)
    cross_w = torch.stack([r.weights[0] for r in rec.cross])  # (L, H, T, S)
    return Decoded(
        tokens,
        score,
        [self_w[:, :, t, : t + 1] for t in range(len(tokens))],
        [cross_w[:, :, t] for t in range(len(tokens))],
    )


@torch.inference_mode()
def greedy_decode(
    model: Transformer,
    src_ids: Sequence[int],
    max_len: int | None = None,
    pattern: Tensor | None = None,
) -> Decoded:
    """Translate by taking the most probable next token until </s> or ``max_len`` tokens.

    Args:
        model: the transformer (put in eval mode here).
        src_ids: (S,) source ids.
        max_len: cap on generated tokens (default and ceiling: cfg.max_len).
        pattern: optional (S, S) encoder self-attention mask (see ``Transformer.encode``).
    """
    model.eval()
    src = torch.as_tensor(list(src_ids)).view(1, -1)  # (1, S)
    memory, src_mask = model.encode(src, pattern=pattern)  # (1, S, d_model), (1, 1, S)
    ys, score = [model.cfg.bos_id], 0.0
    for _ in range(_cap(model, max_len)):
        logp = model.decode(torch.tensor([ys]), memory, src_mask)[0, -1].log_softmax(-1)  # (V,)
        nxt = int(logp.argmax())
        ys.append(nxt)
        score += float(logp[nxt])
        if nxt == model.cfg.eos_id:
            break
    return _step_attention(model, src, ys[1:], score, pattern)


@torch.inference_mode()
def beam_search(
    model: Transformer,
    src_ids: Sequence[int],
    beam_width: int = 4,
    max_len: int | None = None,
    length_penalty: float = 1.0,
) -> Decoded:
    """Keep the ``beam_width`` best partial translations at each step.

    Hypotheses that emit </s> are set aside; the search stops when
    ``beam_width`` are finished or at ``max_len`` tokens. The winner has the
    best score / length**length_penalty (1.0: mean log-probability per token).
    With ``beam_width=1`` this is greedy decoding.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    model.eval()
    src = torch.as_tensor(list(src_ids)).view(1, -1)  # (1, S)
    memory, src_mask = model.encode(src)  # (1, S, d_model), (1, 1, S)
    alive: list[tuple[list[int], float]] = [([model.cfg.bos_id], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(_cap(model, max_len)):
        ys = torch.tensor([seq for seq, _ in alive])  # (W, t)
        W = len(alive)
        logp = model.decode(ys, memory.expand(W, -1, -1), src_mask.expand(W, -1, -1))
        logp = logp[:, -1].log_softmax(-1)  # (W, V)
        total = torch.tensor([s for _, s in alive])[:, None] + logp  # (W, V)
        top = total.flatten().topk(min(beam_width, total.numel()))
        prev, alive = alive, []
        for value, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            beam, token = divmod(index, logp.shape[1])
            hyp = (prev[beam][0] + [token], value)
            (finished if token == model.cfg.eos_id else alive).append(hyp)
        if len(finished) >= beam_width or not alive:
            break
    best = max(finished or alive, key=lambda h: h[1] / (len(h[0]) - 1) ** length_penalty)
    return _step_attention(model, src, best[0][1:], best[1])
