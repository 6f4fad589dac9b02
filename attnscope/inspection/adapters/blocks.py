"""The rest of a transformer block, as data: where each family keeps its norms, W_O and feed-forward.

``/api/block-steps`` (:mod:`attnscope.inspection.block_steps`) continues a layer after its attention
from these modules' weights. A :class:`BlockLayout` names the modules by dotted attribute paths from
one layer (``"attention.output.LayerNorm"``, ``"layer.1.DenseReluDense.wi"``); only ``layers`` starts
at ``model.base_model`` (the plain model for the textbook). Encoder-decoders describe their encoder.

Two shapes of block (``x`` the layer's input, ``out`` the output of W_O, ``N`` a norm):

* ``"post"`` (BERT, BART, Marian, the textbook: the lecture's Add & Norm):
  ``h = N(x + out)``, ``y = N'(h + FFN(h))``.
* ``"pre"`` (GPT-2, LLaMA, T5...): attention reads ``N0(x)``; ``r = x + out``;
  ``y = r + FFN(N(r))``. Gemma 2 also normalises each sublayer's output before adding it
  (``r = x + N1(out)``, ``y = r + N3(FFN(N2(r)))``); GPT-NeoX's parallel residual feeds the
  feed-forward the layer input: ``y = x + out + FFN(N(x))``.

The feed-forward is ``W_2 act(W_1 n + b_1) + b_2`` or gated (GLU): ``W_down (act(W_gate n) ⊙ W_up n)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

#: "layernorm": (v − μ) / √(var + ε) · γ + β; "rmsnorm": v / √(mean(v²) + ε) · γ (LLaMA's RMSNorm,
#: T5's T5LayerNorm: no mean subtracted, no β)
NORM_KINDS = ("layernorm", "rmsnorm")

#: the activation names of transformers configs -> the function computed
ACTIVATIONS: dict[str, str] = {
    "gelu": "gelu", "gelu_python": "gelu",  # exact: x Φ(x), with erf
    "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",  # the tanh approximation
    "relu": "relu", "silu": "silu", "swish": "silu", "quick_gelu": "quick_gelu",
}


@dataclass(frozen=True)
class FeedForward:
    """The feed-forward sublayer's projections (paths from the layer).

    Attributes:
        down: W_2 (W_down), back to d_model.
        up: W_1 of an ungated feed-forward, or W_up of a gated one.
        gate: W_gate of a gated (GLU) feed-forward: ``act(n W_gate) ⊙ (n W_up)``; None: ungated.
        gate_up: one fused projection instead of ``gate`` and ``up`` (Phi-3's ``gate_up_proj``):
            its first d_ff outputs are the gate, the next d_ff the up (``chunk(2)``).
    """

    down: str
    up: str | None = None
    gate: str | None = None
    gate_up: str | None = None

    def __post_init__(self) -> None:
        if (self.up is None) == (self.gate_up is None) or (self.gate_up and self.gate):
            raise ValueError("FeedForward: give up (and optionally gate), or gate_up alone")

    @property
    def gated(self) -> bool:
        return self.gate is not None or self.gate_up is not None


@dataclass(frozen=True)
class When:
    """Layout fields that differ when ``config.<key> == value`` (OPT-350m's post-norm, T5's gated-gelu)."""

    key: str
    value: object
    changes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockLayout:
    """Where one family keeps the sublayers of a block, and how they are wired.

    Attributes:
        layers: path from ``model.base_model`` to the layer list (the encoder's, for encoder-decoders).
        placement: "post" (x + sublayer, then norm) or "pre" (norm, sublayer, then x + ...).
        norm: the kind of every norm of the block, one of :data:`NORM_KINDS`.
        attn_out: the attention's output projection W_O; its forward output is ``out``.
        ffn: the feed-forward's projections.
        ffn_norm: the norm the feed-forward reads: post: the Add & Norm of x + out; pre: the norm
            before the feed-forward.
        attn_norm: pre: the norm the attention reads (``input_layernorm``, ``ln_1``).
        out_norm: post: the second Add & Norm, the block's output.
        attn_out_norm, ffn_out_norm: Gemma 2's norms of each sublayer's output before it is added.
        scale_offset: the norms scale by ``(scale_offset + γ)``: 1 for Gemma (weights stored as γ − 1).
        parallel: GPT-NeoX's parallel residual: ``y = x + out + FFN(N(x))``.
        act: config attributes naming the activation, the first one set wins
            (``hidden_act``, ``activation_function``, ``hidden_activation``, T5's ``dense_act_fn``,
            which its config derives from ``feed_forward_proj``).
        act_default: the activation when the config names none.
        conv1d: the projections are GPT-2's ``Conv1D``: weights stored (in, out), not (out, in).
        shared: ALBERT: ``layers`` is the list of layer groups and ``shared`` the path from a group
            to its one layer; ``num_hidden_layers`` passes go over the groups in order.
        run: "hf" (a transformers model: decoders with ``use_cache=False``, encoder-decoders
            only their encoder) or "textbook" (``model.encode`` of the textbook transformer).
        when: config-dependent changes, applied by :meth:`resolve`.
    """

    layers: str
    placement: str
    norm: str
    attn_out: str
    ffn: FeedForward
    ffn_norm: str
    attn_norm: str | None = None
    out_norm: str | None = None
    attn_out_norm: str | None = None
    ffn_out_norm: str | None = None
    scale_offset: float = 0.0
    parallel: bool = False
    act: tuple[str, ...] = ("hidden_act",)
    act_default: str = "gelu"
    conv1d: bool = False
    shared: str | None = None
    run: str = "hf"
    when: tuple[When, ...] = ()

    def __post_init__(self) -> None:
        if self.placement not in ("pre", "post") or self.norm not in NORM_KINDS:
            raise ValueError(f"BlockLayout: placement {self.placement!r} / norm {self.norm!r}")
        if self.placement == "pre" and (self.attn_norm is None or self.out_norm is not None):
            raise ValueError("BlockLayout: a pre-norm block names attn_norm and no out_norm")
        if self.placement == "post" and (self.out_norm is None or self.attn_norm or self.parallel):
            raise ValueError("BlockLayout: a post-norm block names out_norm, no attn_norm, no parallel residual")

    def resolve(self, config) -> BlockLayout:
        """This layout with the :attr:`when` changes that ``config`` selects."""
        out = self
        for w in self.when:
            if getattr(config, w.key, None) == w.value:
                out = replace(out, **w.changes, when=())
        return out


def activation(layout: BlockLayout, config) -> tuple[str, str]:
    """(the function, one of :data:`ACTIVATIONS`' values; the config's own name) of a layout's feed-forward.

    Raises:
        ValueError: the config names an activation not in :data:`ACTIVATIONS`.
    """
    name = next((v for k in layout.act if isinstance(v := getattr(config, k, None), str) and v), layout.act_default)
    fn = ACTIVATIONS.get(name.lower())
    if fn is None:
        raise ValueError(f"the feed-forward uses activation {name!r}; shown are {', '.join(ACTIVATIONS)}")
    return fn, name


def layer_list(model, layout: BlockLayout) -> list:
    """The layers :attr:`BlockLayout.layers` names (one entry per layer; ALBERT repeats its shared ones).

    Raises:
        ValueError: the model has no such modules, or ALBERT groups more than one layer.
    """
    root = getattr(model, "base_model", model)
    try:
        mods = list(attr(root, layout.layers))
        if layout.shared is None:
            return mods
        cfg = model.config
        if getattr(cfg, "inner_group_num", 1) != 1:
            raise ValueError(f"inner_group_num = {cfg.inner_group_num}: only one layer per shared group is shown")
        n = cfg.num_hidden_layers
        return [attr(mods[i * len(mods) // n], layout.shared) for i in range(n)]
    except (AttributeError, IndexError, TypeError) as e:
        raise ValueError(f"{type(model).__name__} has no layer list at {layout.layers!r} ({e})") from None


def attr(obj, path: str):
    """``obj`` followed along a dotted path (``"layer.0.SelfAttention"``; numbers index lists)."""
    for name in path.split("."):
        obj = obj[int(name)] if name.lstrip("-").isdigit() else getattr(obj, name)
    return obj


_BERT = BlockLayout("encoder.layer", "post", "layernorm", attn_out="attention.output.dense",
                    ffn=FeedForward(up="intermediate.dense", down="output.dense"),
                    ffn_norm="attention.output.LayerNorm", out_norm="output.LayerNorm")
_LLAMA = BlockLayout("layers", "pre", "rmsnorm", attn_out="self_attn.o_proj",
                     ffn=FeedForward(gate="mlp.gate_proj", up="mlp.up_proj", down="mlp.down_proj"),
                     attn_norm="input_layernorm", ffn_norm="post_attention_layernorm", act_default="silu")
_BART = BlockLayout("encoder.layers", "post", "layernorm", attn_out="self_attn.out_proj",
                    ffn=FeedForward(up="fc1", down="fc2"), ffn_norm="self_attn_layer_norm",
                    out_norm="final_layer_norm", act=("activation_function",))
_T5_FF = "layer.1.DenseReluDense"
_T5 = BlockLayout("encoder.block", "pre", "rmsnorm", attn_out="layer.0.SelfAttention.o",
                  ffn=FeedForward(up=f"{_T5_FF}.wi", down=f"{_T5_FF}.wo"), attn_norm="layer.0.layer_norm",
                  ffn_norm="layer.1.layer_norm", act=("dense_act_fn",), act_default="relu",
                  when=(When("is_gated_act", True, {"ffn": FeedForward(gate=f"{_T5_FF}.wi_0", up=f"{_T5_FF}.wi_1",
                                                                       down=f"{_T5_FF}.wo")}),))

#: family name (as in the family table, plus "textbook") -> its block layout
BLOCKS: dict[str, BlockLayout] = {
    # encoders (post-norm)
    "bert": _BERT,
    "roberta": _BERT,
    "electra": _BERT,
    "distilbert": BlockLayout("transformer.layer", "post", "layernorm", attn_out="attention.out_lin",
                              ffn=FeedForward(up="ffn.lin1", down="ffn.lin2"), ffn_norm="sa_layer_norm",
                              out_norm="output_layer_norm", act=("activation",)),
    "albert": BlockLayout("encoder.albert_layer_groups", "post", "layernorm", attn_out="attention.dense",
                          ffn=FeedForward(up="ffn", down="ffn_output"), ffn_norm="attention.LayerNorm",
                          out_norm="full_layer_layer_norm", act_default="gelu_new", shared="albert_layers.0"),
    # decoders (pre-norm)
    "gpt2": BlockLayout("h", "pre", "layernorm", attn_out="attn.c_proj",
                        ffn=FeedForward(up="mlp.c_fc", down="mlp.c_proj"), attn_norm="ln_1", ffn_norm="ln_2",
                        act=("activation_function",), act_default="gelu_new", conv1d=True),
    "gpt_neox": BlockLayout("layers", "pre", "layernorm", attn_out="attention.dense",
                            ffn=FeedForward(up="mlp.dense_h_to_4h", down="mlp.dense_4h_to_h"),
                            attn_norm="input_layernorm", ffn_norm="post_attention_layernorm", parallel=True,
                            when=(When("use_parallel_residual", False, {"parallel": False}),)),
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _LLAMA,  # its per-head q/k norms are inside attention: the block is LLaMA's
    "gemma": replace(_LLAMA, scale_offset=1.0, act_default="gelu_pytorch_tanh"),
    "gemma2": replace(_LLAMA, scale_offset=1.0, act=("hidden_activation", "hidden_act"),
                      act_default="gelu_pytorch_tanh", attn_out_norm="post_attention_layernorm",
                      ffn_norm="pre_feedforward_layernorm", ffn_out_norm="post_feedforward_layernorm"),
    "gemma3_text": None,  # filled below: Gemma 2's block
    "phi3": replace(_LLAMA, ffn=FeedForward(gate_up="mlp.gate_up_proj", down="mlp.down_proj")),
    "opt": BlockLayout("decoder.layers", "pre", "layernorm", attn_out="self_attn.out_proj",
                       ffn=FeedForward(up="fc1", down="fc2"), attn_norm="self_attn_layer_norm",
                       ffn_norm="final_layer_norm", act=("activation_function",), act_default="relu",
                       when=(When("do_layer_norm_before", False,  # OPT-350m
                                  {"placement": "post", "attn_norm": None, "ffn_norm": "self_attn_layer_norm",
                                   "out_norm": "final_layer_norm"}),)),
    # encoder-decoders: the encoder's layers
    "t5": _T5,
    "mt5": _T5,
    "bart": _BART,
    "marian": _BART,
    # the textbook transformer's encoder (attnscope.builtin.model.EncoderLayer)
    "textbook": BlockLayout("encoder.layers", "post", "layernorm", attn_out="self_attn.w_o",
                            ffn=FeedForward(up="ffn.w_1", down="ffn.w_2"), ffn_norm="norm1", out_norm="norm2",
                            act=(), act_default="relu", run="textbook"),
}

BLOCKS["gemma3_text"] = BLOCKS["gemma2"]  # the same sandwich norms; its q/k norms are inside attention

__all__ = ["ACTIVATIONS", "BLOCKS", "NORM_KINDS", "BlockLayout", "FeedForward", "When", "activation", "layer_list"]
