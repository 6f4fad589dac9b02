"""The Trace: everything one forward pass shows, under one name per tensor.

Every view reads a :class:`Trace`. Adapters (one per model family) fill it;
the API slices it. Arrays are numpy float32. The names here are the names used
by the API and the page: ``x``, ``q``, ``k``, ``v``, ``scores``, ``scaled``,
``mask``, ``weights``, ``z``, ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Attention block groups a model can have, in page order.
BLOCK_KINDS = ("encoder", "decoder", "cross")


@dataclass
class Tokens:
    """The tokens of one input sequence.

    Attributes:
        text: display text of each piece (e.g. ``"##ing"``, ``"Ġthe"`` cleaned).
        ids: vocabulary ids, same length.
        special: True for special tokens ([CLS], [SEP], <s>, BOS...).
        offsets: (start, end) character offsets into the input text, or None
            for tokens that come from no character (special tokens).
    """

    text: list[str]
    ids: list[int]
    special: list[bool]
    offsets: list[tuple[int, int] | None]

    def __len__(self) -> int:
        return len(self.text)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "ids": self.ids,
            "special": self.special,
            "offsets": [list(o) if o is not None else None for o in self.offsets],
        }


@dataclass
class HeadWeights:
    """One head's projection slices (d_model x d_head) and the shared output projection.

    ``q = x @ w_q + b_q``; ``out = concat(z_heads) @ w_o + b_o`` with ``w_o`` of
    shape (H * d_head, d_model).
    """

    w_q: np.ndarray  # (d_model, d_head)
    b_q: np.ndarray | None  # (d_head,)
    w_k: np.ndarray  # (d_model, d_head)
    b_k: np.ndarray | None
    w_v: np.ndarray  # (d_model, d_head)
    b_v: np.ndarray | None
    w_o: np.ndarray  # (H * d_head, d_model)
    b_o: np.ndarray | None  # (d_model,)
    #: per-head RMS norms of q and k before RoPE (Qwen3, Gemma 3): γ (d_head,), else None
    q_norm: np.ndarray | None = None
    k_norm: np.ndarray | None = None
    norm_eps: float = 1e-6
    #: Gemma's norms scale by (offset + γ) with offset 1; Qwen3's by γ (offset 0)
    norm_offset: float = 0.0

    def normed(self, t: np.ndarray, which: str) -> np.ndarray:
        """``t`` (..., d_head) through the head's q or k norm (unchanged where the model has none)."""
        gamma = self.q_norm if which == "q" else self.k_norm
        if gamma is None:
            return t
        t = np.asarray(t, dtype=np.float32)
        rms = np.sqrt(np.mean(t * t, axis=-1, keepdims=True) + np.float32(self.norm_eps))
        return (t / rms * (np.float32(self.norm_offset) + gamma)).astype(np.float32)


@dataclass
class AttentionBlock:
    """One attention module's numbers for one forward pass.

    Shapes: H heads, Tq query tokens, Tk key tokens.

    Attributes:
        kind: "self", "causal" or "cross".
        layer: layer index within its stack.
        x: (Tq, d_model) the attention input on the query side.
        q: (H, Tq, d_head) queries per head (after rotation where the model rotates).
        k: (H, Tk, d_head) keys, expanded to query heads (GQA: head h reads KV head ``kv_head[h]``).
        v: (H, Tk, d_head) values, expanded the same way.
        mask: (Tq, Tk) bool, True where the mask removes the key.
        weights: (H, Tq, Tk) the model's own attention probabilities.
        z: (H, Tq, d_head) per-head outputs, ``weights @ v``.
        out: (Tq, d_model) ``concat(z) @ W_o + b_o``, the module's output.
        scale: the divisor of the scores (sqrt(d_head) in the textbook formula).
        kv_head: (H,) index of the key/value head each query head reads.
        bias: (H, Tq, Tk) an additive score bias the model adds after scaling (T5's
            relative position bias), else None.
        softcap: c where the model soft-caps its scaled scores as ``c * tanh(s / c)`` (Gemma 2),
            else None.
    """

    kind: str
    layer: int
    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    weights: np.ndarray
    z: np.ndarray
    out: np.ndarray
    scale: float
    kv_head: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bias: np.ndarray | None = None
    softcap: float | None = None

    @property
    def heads(self) -> int:
        return int(self.weights.shape[0])

    def scores(self) -> np.ndarray:
        """Raw dot products q . k for every head: (H, Tq, Tk)."""
        return np.einsum("hqd,hkd->hqk", self.q, self.k, dtype=np.float32)

    def scaled(self) -> np.ndarray:
        """Scores divided by the scale (soft-capped, plus ``bias``, where the model does so), masked keys at -inf.

        Returns:
            (H, Tq, Tk) float32: ``softmax`` of it over the keys is ``weights``.
        """
        s = self.scores() / np.float32(self.scale)
        if self.softcap:
            s = np.float32(self.softcap) * np.tanh(s / np.float32(self.softcap))
        if self.bias is not None:
            s = s + self.bias
        return np.where(self.mask[None], np.float32(-np.inf), s).astype(np.float32)

    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (self.x, self.q, self.k, self.v, self.mask, self.weights, self.z, self.out)
        ) + (self.bias.nbytes if self.bias is not None else 0)


@dataclass
class Trace:
    """The result of one forward pass, the one object every view reads.

    Attributes:
        model: the model id.
        text: the input text (the source, for encoder-decoders).
        tokens: tokens of ``text``.
        target: the decoder's input text for encoder-decoders, else None.
        target_tokens: tokens of the decoder input, else None.
        blocks: block group name ("encoder", "decoder", "cross") -> one
            :class:`AttentionBlock` per layer.
        token_embeddings: (T, d_model) the embedding lookup of ``tokens``.
        position_embeddings: (T, d_model) additive positions, or None where the
            model rotates Q and K instead.
        hidden_states: group name -> (layers + 1, T, d_model): the first layer's
            input, then the output of each layer.
        logits: (T, vocab) where the model has an LM head, else None.
        full: False for a weights-only trace (``Adapter.trace(..., full=False)``): ``weights``,
            masks and ``logits`` are there; q/k/v/x/z/out have zero width and there are no
            embeddings or hidden states. The attention, model and rollout views need nothing more.
    """

    model: str
    text: str
    tokens: Tokens
    blocks: dict[str, list[AttentionBlock]]
    target: str | None = None
    target_tokens: Tokens | None = None
    token_embeddings: np.ndarray | None = None
    position_embeddings: np.ndarray | None = None
    hidden_states: dict[str, np.ndarray] = field(default_factory=dict)
    logits: np.ndarray | None = None
    full: bool = True

    def block(self, group: str, layer: int) -> AttentionBlock:
        """The attention block ``layer`` of ``group``; ValueError if absent."""
        if group not in self.blocks:
            raise ValueError(
                f"model {self.model!r} has no {group!r} attention; it has: {', '.join(self.blocks)}"
            )
        layers = self.blocks[group]
        if not 0 <= layer < len(layers):
            raise ValueError(
                f"layer {layer} is out of range: {self.model!r} has layers 0 to {len(layers) - 1}"
            )
        return layers[layer]

    def query_key_tokens(self, group: str) -> tuple[Tokens, Tokens]:
        """Tokens on the query (row) and key (column) axes of a block group."""
        if group == "encoder":
            return self.tokens, self.tokens
        if group == "decoder":
            toks = self.target_tokens if self.target_tokens is not None else self.tokens
            return toks, toks
        if group == "cross":
            assert self.target_tokens is not None  # internal invariant, not user input
            return self.target_tokens, self.tokens
        raise ValueError(f"unknown block {group!r}; expected one of {', '.join(BLOCK_KINDS)}")

    def weights(self, group: str, layer: int | None = None) -> np.ndarray:
        """(H, Tq, Tk) for one layer, or (L, H, Tq, Tk) for all."""
        if layer is not None:
            return self.block(group, layer).weights
        return np.stack([b.weights for b in self.blocks[group]])

    def nbytes(self) -> int:
        n = sum(b.nbytes() for blocks in self.blocks.values() for b in blocks)
        for a in (self.token_embeddings, self.position_embeddings, self.logits):
            n += a.nbytes if a is not None else 0
        n += sum(h.nbytes for h in self.hidden_states.values())
        return n
