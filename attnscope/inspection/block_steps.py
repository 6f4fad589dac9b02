"""After attention: the residual, the normalisations and the feed-forward step of one layer, for one token.

Step by step stops at W_O; this continues the block with the model's own weights, in float64 numpy,
wired as the family's :class:`~attnscope.inspection.adapters.blocks.BlockLayout` says (``x`` the
layer's input, ``out`` the attention after W_O):

* post-norm (BERT / MiniLM, DistilBERT, ALBERT, BART, Marian, OPT-350m, the textbook encoder):
  ``r = x + out``; ``h = LayerNorm(r)`` (μ, σ, γ, β); ``f = FFN(h)``; block output ``LayerNorm(h + f)``.
* pre-norm (GPT-2, GPT-NeoX, OPT, LLaMA / SmolLM2, Mistral, Qwen, Gemma, Phi-3, T5): attention read
  ``N(x)``; ``r = x + out``; ``n = N(r)``; ``f = FFN(n)``; block output ``r + f`` (no norm after).
  Gemma 2 adds ``N(out)`` and ``N(f)`` instead of ``out`` and ``f``; GPT-NeoX's parallel residual
  has ``n = N(x)``, so the output is ``x + out + f``.

``N`` is LayerNorm or RMSNorm (v / rms(v) · γ; Gemma: · (1 + γ)); ``FFN`` is ``W_2 act(W_1 n + b_1) + b_2``
or gated, ``W_down (act(W_gate n) ⊙ W_up n)``. ``x`` and ``out`` are captured with forward hooks during
the model's own forward pass; everything after is recomputed here from the module weights, and
``model_out`` is the model's own output of the layer for comparison (``max_diff``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.adapters.blocks import BLOCKS, BlockLayout, activation, attr, layer_list

#: the gated (GLU) feed-forward's usual name, by its activation
GLU_NAMES = {"silu": "SwiGLU", "gelu": "GeGLU", "gelu_tanh": "GeGLU", "relu": "ReGLU", "quick_gelu": "GLU"}


@dataclass
class Norm:
    """One normalisation of one vector: LayerNorm ((v − μ)/σ · γ + β) or RMSNorm (v / rms · (offset + γ))."""

    kind: str  # "layernorm" | "rmsnorm"
    input: np.ndarray  # (d,)
    mean: float | None  # μ (LayerNorm only)
    std: float  # σ = sqrt(var + eps) for LayerNorm; rms = sqrt(mean(v²) + eps) for RMSNorm
    eps: float
    normalized: np.ndarray  # (d,) before γ, β
    gamma: np.ndarray  # (d,) the module's weight (ones where it has none)
    beta: np.ndarray | None  # (d,) LayerNorm with a bias only
    output: np.ndarray  # (d,) normalized · (scale_offset + γ) (+ β)
    path: str = ""  # the module, from the layer ("post_attention_layernorm")
    module: str = ""  # its class ("LlamaRMSNorm", "T5LayerNorm", "LayerNorm")
    scale_offset: float = 0.0  # Gemma: 1 (it scales by 1 + γ)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": self.input, "mean": self.mean, "std": self.std, "eps": self.eps,
                "normalized": self.normalized, "gamma": self.gamma, "beta": self.beta, "output": self.output,
                "path": self.path, "module": self.module, "scale_offset": self.scale_offset}


@dataclass
class BlockSteps:
    """One token through the rest of one layer, every intermediate a float64 vector of the model's numbers."""

    family: str
    placement: str  # "post" (x + sublayer, then norm) | "pre" (norm, sublayer, then x + ...)
    layer: int
    query: int
    activation: str  # "gelu" | "gelu_tanh" | "relu" | "silu" | ..., gated: "silu (SwiGLU)", "gelu_tanh (GeGLU)"
    x: np.ndarray  # (d,) the layer's input (the residual stream)
    attn_in: Norm | None  # pre-norm only: N(x), what the attention read
    out: np.ndarray  # (d,) attention after W_O (Step by step's last vector)
    residual: np.ndarray  # (d,) x + out (Gemma 2: x + N(out))
    norm1: Norm  # what the feed-forward reads: post: LayerNorm(residual); pre: N(residual); parallel: N(x)
    ffn_shapes: dict  # name -> [rows, cols] of each matrix as the lecture writes it (x @ W)
    ffn_pre: np.ndarray  # (d_ff,) x @ W_1 + b_1 (gated: the gate, x @ W_gate)
    ffn_up: np.ndarray | None  # (d_ff,) gated only: x @ W_up
    ffn_act: np.ndarray  # (d_ff,) after the activation (gated: act(gate) ⊙ up)
    ffn_out: np.ndarray  # (d,) back to d_model
    residual2: np.ndarray  # (d,) post: norm1 + ffn; pre: residual + ffn (Gemma 2: + N(ffn))
    norm2: Norm | None  # post only: LayerNorm(residual2)
    block_out: np.ndarray  # (d,) what this computes the layer outputs
    model_out: np.ndarray  # (d,) what the model's own forward pass output
    residuals: np.ndarray | None = None  # (T, d) the residual of every token (the batch-norm vs layer-norm demo)
    tokens: int = 0
    act: str = ""  # the function: "gelu" (erf), "gelu_tanh", "relu", "silu", "quick_gelu"
    act_name: str = ""  # the config's own name ("gelu_new", "swish"...)
    gated: bool = False
    parallel: bool = False  # GPT-NeoX: the feed-forward reads N(x); block output x + out + ffn
    attn_out_norm: Norm | None = None  # Gemma 2: N(out), added instead of out
    ffn_out_norm: Norm | None = None  # Gemma 2: N(ffn), added instead of ffn
    ffn_modules: dict = field(default_factory=dict)  # name ("W_1", "W_gate"...) -> module path from the layer
    ffn_bias: dict = field(default_factory=dict)  # name -> whether it adds a bias
    layers: int = 0  # the number of layers of this block group

    @property
    def max_diff(self) -> float:
        return float(np.max(np.abs(self.block_out - self.model_out)))


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _stats(v: np.ndarray, kind: str, eps: float) -> tuple[np.ndarray | None, np.ndarray]:
    """(μ or None, σ / rms) over the last axis of v (..., d), keepdims."""
    if kind == "layernorm":
        mean = v.mean(-1, keepdims=True)
        return mean, np.sqrt(((v - mean) ** 2).mean(-1, keepdims=True) + eps)
    return None, np.sqrt((v**2).mean(-1, keepdims=True) + eps)


def _normalize(v: np.ndarray, mod, kind: str, offset: float, path: str = "") -> tuple[np.ndarray, Norm | None]:
    """N(v) of (..., d) rows, and for one (d,) vector the :class:`Norm` with its numbers."""
    eps = next((getattr(mod, n) for n in ("eps", "variance_epsilon", "epsilon") if hasattr(mod, n)), None)
    if eps is None:
        raise ValueError(f"the norm {path or type(mod).__name__} ({type(mod).__name__}) names no epsilon")
    eps = float(eps)
    w, b = getattr(mod, "weight", None), getattr(mod, "bias", None)
    gamma = _f64(w) if w is not None else np.ones(v.shape[-1])
    beta = _f64(b) if b is not None and kind == "layernorm" else None
    mean, std = _stats(v, kind, eps)
    normalized = (v - mean if mean is not None else v) / std
    out = normalized * (offset + gamma) + (beta if beta is not None else 0.0)
    if v.ndim != 1:
        return out, None
    return out, Norm(kind, v, None if mean is None else float(mean[0]), float(std[0]), eps, normalized, gamma, beta,
                     out, path, type(mod).__name__, offset)


def _project(v: np.ndarray, mod, conv1d: bool) -> np.ndarray:
    """v @ W + b of one projection: nn.Linear stores W as (out, in), GPT-2's Conv1D as (in, out)."""
    w = _f64(mod.weight)
    y = v @ w if conv1d else w @ v
    return y + _f64(mod.bias) if getattr(mod, "bias", None) is not None else y


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(v / 2))  # = 1 / (1 + e^-v), without overflow


ACT_FUNCTIONS = {
    "gelu": lambda v: 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))),
    "gelu_tanh": lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
    "relu": lambda v: np.maximum(v, 0),
    "silu": lambda v: v * _sigmoid(v),
    "quick_gelu": lambda v: v * _sigmoid(1.702 * v),
}


def layout_for(adapter: Adapter) -> BlockLayout:
    """The block layout of the adapter's family, resolved against its config.

    Raises:
        ValueError: the family has no layout in :data:`~attnscope.inspection.adapters.blocks.BLOCKS`.
    """
    fam = adapter.info.family
    layout = BLOCKS.get(fam)
    if layout is None:
        raise ValueError(f"{adapter.info.id} ({fam}): Add & Norm and the feed-forward step need to know where the "
                         f"family keeps its norms and feed-forward, and AttnScope's block table has no {fam!r}. "
                         f"Shown for: {', '.join(sorted(BLOCKS))}")
    return layout.resolve(getattr(adapter.model, "config", None))


def _inputs(adapter: Adapter, layout: BlockLayout, text: str) -> tuple[dict, int]:
    """The forward pass's keyword inputs (on the model's device) and the number of tokens."""
    if layout.run == "textbook":
        ids = adapter.source_tokens(text).ids
        device = next(adapter.model.parameters()).device
        return {"src": torch.tensor([ids], device=device)}, len(ids)
    inputs, tokens = adapter.inputs(text)  # on adapter.device; ValueError for an empty or too long text
    return inputs, len(tokens)


def _run(adapter: Adapter, layout: BlockLayout, inputs: dict) -> None:
    model = adapter.model
    if layout.run == "textbook":
        model.encode(**inputs)
    elif adapter.info.kind == "encoder-decoder":
        model.get_encoder()(**inputs)  # the encoder's layers are shown: no decoder input needed
    elif adapter.info.kind == "decoder":
        model(**inputs, use_cache=False)
    else:
        model(**inputs)


def _first(output) -> torch.Tensor:
    """(T, d) of one call's output or input: the first of a tuple, batch item 0."""
    t = output[0] if isinstance(output, (tuple, list)) else output
    return t[0] if t.dim() == 3 else t


def block_steps(adapter: Adapter, text: str, layer: int, query: int) -> BlockSteps:
    """Residual, norms and feed-forward of ``layer`` for token ``query`` of ``text`` (encoder-decoders: the encoder).

    Args:
        adapter: a model whose family has a block layout (``BLOCKS``).
        text: the input (the source, for encoder-decoders).
        layer: the layer, from 0.
        query: the token, from 0.

    Returns:
        Every intermediate of token ``query`` as float64 vectors: (d_model,) ones and the
        feed-forward's (d_ff,) ones; ``residuals`` (T, d_model) for every token.

    Raises:
        ValueError: a family without a block layout, a model that does not fit its layout, an
            unknown activation, an empty or too long text, a layer or query out of range.
    """
    layout = layout_for(adapter)
    cfg = getattr(adapter.model, "config", None)
    act, act_name = activation(layout, cfg)
    layers = layer_list(adapter.model, layout)
    if not isinstance(layer, int) or not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} is out of range: {adapter.info.id} has {len(layers)} layers "
                         f"(0 to {len(layers) - 1})")
    mod = layers[layer]
    try:
        mods = {p: attr(mod, p) for p in _paths(layout)}
    except (AttributeError, IndexError) as e:
        raise ValueError(f"{adapter.info.id}: its layers do not have the modules the {adapter.info.family} block "
                         f"layout names ({e})") from None
    inputs, T = _inputs(adapter, layout, text)
    if not isinstance(query, int) or not 0 <= query < T:
        raise ValueError(f"query {query} is out of range: the text has {T} tokens (0 to {T - 1})")
    # a shared module (ALBERT) runs once per layer that uses it: this layer's call is that occurrence
    nth = sum(1 for m in layers[:layer] if m is mod)
    got: dict[str, list[torch.Tensor]] = {"x": [], "layer_out": [], "out": []}

    def pre(_m, args, kwargs):
        got["x"].append(_first(args[0] if args else kwargs.get("hidden_states", kwargs.get("x"))))

    hooks = [mod.register_forward_pre_hook(pre, with_kwargs=True),
             mod.register_forward_hook(lambda _m, _a, o: got["layer_out"].append(_first(o))),
             mods[layout.attn_out].register_forward_hook(lambda _m, _a, o: got["out"].append(_first(o)))]
    try:
        with adapter.lock, torch.inference_mode():
            _run(adapter, layout, inputs)
    finally:
        for h in hooks:
            h.remove()
    xs, outs, lo = (_f64(got[k][nth]) for k in ("x", "out", "layer_out"))  # (T, d) each
    res = _compute(layout, mods, act, xs, outs, query)
    res.family, res.layer, res.query, res.layers = adapter.info.family, layer, query, len(layers)
    res.act, res.act_name = act, act_name
    res.activation = f"{act} ({GLU_NAMES[act]})" if layout.ffn.gated else act
    res.model_out, res.tokens = lo[query], xs.shape[0]
    return res


def _paths(layout: BlockLayout) -> list[str]:
    ffn = layout.ffn
    names = [layout.attn_out, layout.ffn_norm, layout.attn_norm, layout.out_norm, layout.attn_out_norm,
             layout.ffn_out_norm, ffn.up, ffn.gate, ffn.gate_up, ffn.down]
    return [p for p in names if p is not None]


def _feed_forward(layout: BlockLayout, mods: dict, act: str, n: np.ndarray) -> dict:
    """The feed-forward of one (d,) vector: pre-activation, up (gated), after the activation, output."""
    ffn, c = layout.ffn, layout.conv1d
    fn = ACT_FUNCTIONS[act]
    up = None
    if ffn.gate_up is not None:
        pre, up = np.split(_project(n, mods[ffn.gate_up], c), 2)
    elif ffn.gate is not None:
        pre, up = _project(n, mods[ffn.gate], c), _project(n, mods[ffn.up], c)
    else:
        pre = _project(n, mods[ffn.up], c)
    a = fn(pre) * up if up is not None else fn(pre)
    d, d_ff = n.shape[0], pre.shape[0]

    def has_bias(path: str) -> bool:
        return getattr(mods[path], "bias", None) is not None

    if ffn.gated:
        gate_p = ffn.gate or f"{ffn.gate_up}[:{d_ff}]"
        up_p = ffn.up or f"{ffn.gate_up}[{d_ff}:]"
        shapes = {"W_gate": [d, d_ff], "W_up": [d, d_ff], "W_down": [d_ff, d]}
        paths = {"W_gate": gate_p, "W_up": up_p, "W_down": ffn.down}
        bias = {"W_gate": has_bias(ffn.gate or ffn.gate_up), "W_up": has_bias(ffn.up or ffn.gate_up),
                "W_down": has_bias(ffn.down)}
    else:
        shapes = {"W_1": [d, d_ff], "W_2": [d_ff, d]}
        paths = {"W_1": ffn.up, "W_2": ffn.down}
        bias = {"W_1": has_bias(ffn.up), "W_2": has_bias(ffn.down)}
    return {"pre": pre, "up": up, "act": a, "out": _project(a, mods[ffn.down], c), "shapes": shapes,
            "paths": paths, "bias": bias}


def _compute(layout: BlockLayout, mods: dict, act: str, xs: np.ndarray, outs: np.ndarray, q: int) -> BlockSteps:
    """Everything after W_O for token ``q``, from ``xs`` and ``outs`` (T, d) of every token."""
    kind, off = layout.norm, layout.scale_offset

    def norm(path: str | None, v: np.ndarray) -> Norm | None:
        return None if path is None else _normalize(v, mods[path], kind, off, path)[1]

    x, out = xs[q], outs[q]
    attn_in = norm(layout.attn_norm, x)
    attn_out_norm = norm(layout.attn_out_norm, out)
    added = attn_out_norm.output if attn_out_norm else out
    residual = x + added
    if layout.attn_out_norm:  # every token's residual for the batch-norm vs layer-norm demo
        residuals = xs + _normalize(outs, mods[layout.attn_out_norm], kind, off)[0]
    else:
        residuals = xs + outs
    norm1 = norm(layout.ffn_norm, x if layout.parallel else residual)
    f = _feed_forward(layout, mods, act, norm1.output)
    ffn_out_norm = norm(layout.ffn_out_norm, f["out"])
    f_added = ffn_out_norm.output if ffn_out_norm else f["out"]
    if layout.placement == "post":
        residual2 = norm1.output + f_added
        norm2 = norm(layout.out_norm, residual2)
        block_out = norm2.output
    else:
        residual2, norm2 = residual + f_added, None
        block_out = residual2
    return BlockSteps(
        family="", placement=layout.placement, layer=0, query=q, activation="", x=x, attn_in=attn_in, out=out,
        residual=residual, norm1=norm1, ffn_shapes=f["shapes"], ffn_pre=f["pre"], ffn_up=f["up"], ffn_act=f["act"],
        ffn_out=f["out"], residual2=residual2, norm2=norm2, block_out=block_out, model_out=block_out,
        residuals=residuals, gated=layout.ffn.gated, parallel=layout.parallel, attn_out_norm=attn_out_norm,
        ffn_out_norm=ffn_out_norm, ffn_modules=f["paths"], ffn_bias=f["bias"])


def norm_axes(m: np.ndarray, eps: float = 1e-5) -> dict:
    """Batch norm vs layer norm of one (rows, features) matrix, without γ and β.

    Layer norm: each row (one token) over its features: (m − μ_row) / σ_row.
    Batch norm: each feature (column) over the rows, as if they were a batch: (m − μ_col) / σ_col.
    """
    m = np.asarray(m, dtype=np.float64)
    mu_r, sd_r = m.mean(1, keepdims=True), np.sqrt(m.var(1, keepdims=True) + eps)
    mu_c, sd_c = m.mean(0, keepdims=True), np.sqrt(m.var(0, keepdims=True) + eps)
    return {"input": m, "layer_norm": (m - mu_r) / sd_r, "layer_mean": mu_r[:, 0], "layer_std": sd_r[:, 0],
            "batch_norm": (m - mu_c) / sd_c, "batch_mean": mu_c[0], "batch_std": sd_c[0], "eps": eps}
