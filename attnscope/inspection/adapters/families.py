"""Model families as data: what the attention interface cannot say.

Attention itself (q and k after rotation, v, the mask, the scaling, the soft-cap, the sliding window,
T5's position bias) is read where transformers computes it (:mod:`attnscope.inspection.capture`). A
:class:`Family` entry says only where the weights Step by step needs are (Q/K/V and W_O projections)
and where the layers are; the generic :class:`~attnscope.inspection.adapters.generic.HFAdapter` does
the rest.
Adding a family is one entry here plus a tiny-config test in
``tests/inspect/test_families.py``.

Paths are dotted attribute paths (``"encoder.layer"``, ``"layer.0.SelfAttention"``):

* ``layers[group]``: from the base model (``model.base_model``) to the list of layers of
  that block group ("encoder", "decoder", "cross").
* ``attn[group]``: from a layer to the attention module; its forward pre-hook gives the
  attention input ``x``.
* ``q``, ``k``, ``v`` (separate projections) or ``qkv`` (one fused projection, split by
  ``layout``), and ``o``: from the attention module (``o_from_layer`` overrides ``o``
  with a path from the layer, for BERT's ``attention.output.dense``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: how a fused projection's output columns are laid out
LAYOUTS = ("thirds", "q_kv", "per_head")


@dataclass(frozen=True)
class Family:
    """What one model family contributes to the generic adapter.

    Attributes:
        name: the family name shown in ``/api/models``.
        kind: "encoder", "decoder" or "encoder-decoder".
        layers: block group -> path from the base model to its layer list.
        attn: block group -> path from a layer to its attention module.
        q, k, v: separate projection modules (paths from the attention module), or None.
        qkv: one fused projection instead; ``layout`` says how its columns split:
            "thirds" (q | k | v, GPT-2), "q_kv" (q heads | kv heads | kv heads, Phi-3),
            "per_head" (per head q | k | v, GPT-NeoX).
        o: the output projection W_O (path from the attention module).
        o_from_layer: block group -> path from the layer, overriding ``o``.
        positional: "learned", "rotary", "sinusoidal", "relative bias"... ("rotary": Step by step
            rotates ``x·W_q`` with the modeling module's own ``apply_rotary_pos_emb``; the self-check
            at load compares that with the q the attention received).
        pos_table: path from the base model to a learned absolute position table indexed
            0..T-1 (filled into ``Trace.position_embeddings``), or None.
        qk_norm: paths (from the attention module) of per-head RMS norms applied to q and k after the
            projection and before RoPE (Qwen3, Gemma 3): a step of their own in Step by step.
        q_prescaled: the module multiplies q by its ``scaling`` before the attention function and passes
            scaling 1 (OPT): the Trace's q is ``x·W_q`` again and the divisor ``1 / scaling``.
        steps_reason: why Q/K/V step by step is not offered although Q/K/V are read.
        shared_layers: ALBERT: the layer list repeats one module (``layers`` is ignored).
    """

    name: str
    kind: str
    layers: dict[str, str] = field(default_factory=dict)
    attn: dict[str, str] = field(default_factory=dict)
    q: str | None = None
    k: str | None = None
    v: str | None = None
    qkv: str | None = None
    layout: str = "thirds"
    o: str | None = None
    o_from_layer: dict[str, str] = field(default_factory=dict)
    positional: str = "learned"
    pos_table: str | None = None
    qk_norm: tuple[str, str] | None = None
    q_prescaled: bool = False
    steps_reason: str | None = None
    shared_layers: bool = False

    @property
    def reads_qkv(self) -> bool:
        """True when the table says where Q, K, V and W_O are (else: attention weights only)."""
        return bool(self.attn) and (self.o is not None or bool(self.o_from_layer))

    @property
    def groups(self) -> tuple[str, ...]:
        return {"encoder": ("encoder",), "decoder": ("decoder",),
                "encoder-decoder": ("encoder", "decoder", "cross")}[self.kind]


_BERT = Family("bert", "encoder", layers={"encoder": "encoder.layer"}, attn={"encoder": "attention.self"},
               q="query", k="key", v="value", o_from_layer={"encoder": "attention.output.dense"},
               pos_table="embeddings.position_embeddings")
_LLAMA = Family("llama", "decoder", layers={"decoder": "layers"}, attn={"decoder": "self_attn"},
                q="q_proj", k="k_proj", v="v_proj", o="o_proj", positional="rotary")
_BART = Family("bart", "encoder-decoder",
               layers={"encoder": "encoder.layers", "decoder": "decoder.layers", "cross": "decoder.layers"},
               attn={"encoder": "self_attn", "decoder": "self_attn", "cross": "encoder_attn"},
               q="q_proj", k="k_proj", v="v_proj", o="out_proj")

#: model_type (``model.config.model_type``) -> family
FAMILIES: dict[str, Family] = {
    # encoders
    "bert": _BERT,
    # RoBERTa's positions start at padding_idx + 1: no 0..T-1 table to show
    "roberta": replace(_BERT, name="roberta", pos_table=None),
    "electra": replace(_BERT, name="electra"),
    "distilbert": Family("distilbert", "encoder", layers={"encoder": "transformer.layer"},
                         attn={"encoder": "attention"}, q="q_lin", k="k_lin", v="v_lin", o="out_lin",
                         pos_table="embeddings.position_embeddings"),
    "albert": Family("albert", "encoder", attn={"encoder": "attention"}, q="query", k="key", v="value",
                     o="dense", shared_layers=True, layers={"encoder": "<albert>"},
                     pos_table="embeddings.position_embeddings"),
    "deberta-v2": Family("deberta-v2", "encoder", positional="relative (disentangled)"),
    # decoders
    "gpt2": Family("gpt2", "decoder", layers={"decoder": "h"}, attn={"decoder": "attn"}, qkv="c_attn",
                   layout="thirds", o="c_proj", pos_table="wpe"),
    "gpt_neox": Family("gpt_neox", "decoder", layers={"decoder": "layers"}, attn={"decoder": "attention"},
                       qkv="query_key_value", layout="per_head", o="dense", positional="rotary"),
    "llama": _LLAMA,
    "mistral": replace(_LLAMA, name="mistral"),
    "qwen2": replace(_LLAMA, name="qwen2"),
    "qwen3": replace(_LLAMA, name="qwen3", qk_norm=("q_norm", "k_norm")),
    "gemma": replace(_LLAMA, name="gemma"),
    "gemma2": replace(_LLAMA, name="gemma2"),
    # Gemma 3's text decoder: sliding-window layers (RoPE base 10k) between global ones (1M), q/k norms
    "gemma3_text": replace(_LLAMA, name="gemma3_text", qk_norm=("q_norm", "k_norm")),
    "phi3": Family("phi3", "decoder", layers={"decoder": "layers"}, attn={"decoder": "self_attn"},
                   qkv="qkv_proj", layout="q_kv", o="o_proj", positional="rotary"),
    "opt": Family("opt", "decoder", layers={"decoder": "decoder.layers"}, attn={"decoder": "self_attn"},
                  q="q_proj", k="k_proj", v="v_proj", o="out_proj", q_prescaled=True),
    # encoder-decoders
    "t5": Family("t5", "encoder-decoder",
                 layers={"encoder": "encoder.block", "decoder": "decoder.block", "cross": "decoder.block"},
                 attn={"encoder": "layer.0.SelfAttention", "decoder": "layer.0.SelfAttention",
                       "cross": "layer.1.EncDecAttention"},
                 q="q", k="k", v="v", o="o", positional="relative bias"),
    "bart": _BART,
    "marian": replace(_BART, name="marian", positional="sinusoidal"),
}
FAMILIES["mt5"] = replace(FAMILIES["t5"], name="mt5")


def generic_family(config, model_class: str | None = None) -> Family:
    """An attention-weights-only family for an architecture the table does not know.

    The kind comes from the config (``is_encoder_decoder``, ``is_decoder``) and the model class or the
    config's ``architectures`` (``...ForCausalLM``, ``...LMHeadModel``: a decoder).
    """
    names = [model_class or "", *(getattr(config, "architectures", None) or [])]
    if getattr(config, "is_encoder_decoder", False):
        kind = "encoder-decoder"
    elif getattr(config, "is_decoder", False) or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in names):
        kind = "decoder"
    else:
        kind = "encoder"
    return Family(getattr(config, "model_type", "unknown") or "unknown", kind, positional="unknown")


def family_for(config, model_class: str | None = None) -> tuple[Family, bool]:
    """(the family of ``config.model_type``, True if the table knows it; else the generic fallback)."""
    fam = FAMILIES.get(getattr(config, "model_type", None) or "")
    return (fam, True) if fam is not None else (generic_family(config, model_class), False)
