"""After attention: the residual, the normalisation and the feed-forward step of one layer, for one token.

Step by step stops at W_O; this continues the block with the model's own weights, in float64 numpy:

* BERT / MiniLM (post-LN): ``r = x + out``; ``h = LayerNorm(r)`` (μ, σ, γ, β); ``f = W_2 GELU(W_1 h + b_1) + b_2``;
  block output ``LayerNorm(h + f)``.
* LLaMA / SmolLM2 (pre-norm, RMSNorm): attention read ``RMSNorm(x)``; ``r = x + out``;
  ``f = W_down (SiLU(W_gate n) ⊙ W_up n)`` with ``n = RMSNorm(r)``; block output ``r + f`` (no norm after).
* the textbook encoder (post-LN, like the lecture's "Add & Norm"): as BERT with ReLU.

``x`` (the layer's input) and ``out`` (attention after W_O) are captured with forward hooks during the
model's own forward pass; everything after is recomputed here from the module weights, and
``model_out`` is the model's own output of the layer for comparison (``max_diff``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from attnscope.inspection.adapters.base import Adapter


@dataclass
class Norm:
    """One normalisation of one vector: LayerNorm ((v − μ)/σ · γ + β) or RMSNorm (v / rms · γ)."""

    kind: str  # "layernorm" | "rmsnorm"
    input: np.ndarray  # (d,)
    mean: float | None  # μ (LayerNorm only)
    std: float  # σ = sqrt(var + eps) for LayerNorm; rms = sqrt(mean(v²) + eps) for RMSNorm
    eps: float
    normalized: np.ndarray  # (d,) before γ, β
    gamma: np.ndarray  # (d,)
    beta: np.ndarray | None  # (d,) LayerNorm only
    output: np.ndarray  # (d,)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": self.input, "mean": self.mean, "std": self.std, "eps": self.eps,
                "normalized": self.normalized, "gamma": self.gamma, "beta": self.beta, "output": self.output}


@dataclass
class BlockSteps:
    """One token through the rest of one layer, every intermediate a float64 vector of the model's numbers."""

    family: str
    placement: str  # "post" (x + sublayer, then norm) | "pre" (norm, sublayer, then x + ...)
    layer: int
    query: int
    activation: str  # "gelu" | "silu (SwiGLU)" | "relu"
    x: np.ndarray  # (d,) the layer's input (the residual stream)
    attn_in: Norm | None  # pre-norm only: RMSNorm(x), what the attention read
    out: np.ndarray  # (d,) attention after W_O (Step by step's last vector)
    residual: np.ndarray  # (d,) x + out
    norm1: Norm  # post: LayerNorm(residual); pre: RMSNorm(residual), the feed-forward's input
    ffn_shapes: dict  # name -> [rows, cols] of each matrix as the lecture writes it (x @ W)
    ffn_pre: np.ndarray  # (d_ff,) x @ W_1 + b_1 (pre: the gate, x @ W_gate)
    ffn_up: np.ndarray | None  # (d_ff,) SwiGLU's x @ W_up
    ffn_act: np.ndarray  # (d_ff,) after the activation (SwiGLU: SiLU(gate) ⊙ up)
    ffn_out: np.ndarray  # (d,) back to d_model
    residual2: np.ndarray  # (d,) post: norm1 + ffn; pre: residual + ffn
    norm2: Norm | None  # post only: LayerNorm(residual2)
    block_out: np.ndarray  # (d,) what this computes the layer outputs
    model_out: np.ndarray  # (d,) what the model's own forward pass output
    residuals: np.ndarray | None = None  # (T, d) x + out for every token (the batch-norm vs layer-norm demo)
    tokens: int = 0

    @property
    def max_diff(self) -> float:
        return float(np.max(np.abs(self.block_out - self.model_out)))


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _layer_norm(v: np.ndarray, mod) -> Norm:
    eps = float(mod.eps if hasattr(mod, "eps") else mod.variance_epsilon)
    mean = float(v.mean())
    std = math.sqrt(float(((v - mean) ** 2).mean()) + eps)
    normalized = (v - mean) / std
    gamma, beta = _f64(mod.weight), _f64(mod.bias)
    return Norm("layernorm", v, mean, std, eps, normalized, gamma, beta, normalized * gamma + beta)


def _rms_norm(v: np.ndarray, mod) -> Norm:
    eps = float(getattr(mod, "variance_epsilon", getattr(mod, "eps", 1e-6)))
    rms = math.sqrt(float((v**2).mean()) + eps)
    normalized = v / rms
    gamma = _f64(mod.weight)
    return Norm("rmsnorm", v, None, rms, eps, normalized, gamma, None, normalized * gamma)


def _linear(v: np.ndarray, mod) -> np.ndarray:
    """v @ W^T + b of an nn.Linear (PyTorch stores W as (out, in))."""
    y = _f64(mod.weight) @ v
    return y + _f64(mod.bias) if mod.bias is not None else y


def _gelu(v: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * v * (1 + np.vectorize(erf)(v / math.sqrt(2)))


def _silu(v: np.ndarray) -> np.ndarray:
    return v / (1 + np.exp(-v))


def _layers(adapter: Adapter):
    fam = adapter.info.family
    m = adapter.model
    if fam == "bert":
        return "bert", (m.encoder.layer if hasattr(m, "encoder") else m.bert.encoder.layer)
    if fam == "llama":
        return "llama", (m.model.layers if hasattr(m, "model") else m.layers)
    if fam == "textbook":
        return "textbook", m.encoder.layers
    raise ValueError(f"{adapter.info.id} ({fam}): Add & Norm and the feed-forward step are shown for BERT-, "
                     "LLaMA-family models and the textbook encoder")


def _attn_out_module(family: str, layer):
    return {"bert": lambda: layer.attention.output.dense, "llama": lambda: layer.self_attn.o_proj,
            "textbook": lambda: layer.self_attn}[family]()


def _run(adapter: Adapter, family: str, text: str) -> None:
    if family == "textbook":
        src = torch.tensor([adapter.source_tokens(text).ids])
        adapter.model.encode(src)
        return
    from attnscope.inspection.adapters.hf import tokenize

    inputs, _ = tokenize(adapter.tokenizer, text)
    adapter.model(**inputs, use_cache=False) if family == "llama" else adapter.model(**inputs)


def block_steps(adapter: Adapter, text: str, layer: int, query: int) -> BlockSteps:
    """Residual, norm and feed-forward of ``layer`` for token ``query`` of ``text`` (the encoder, for textbook).

    Raises:
        ValueError: an unsupported family, a layer or query out of range.
    """
    family, layers = _layers(adapter)
    if not isinstance(layer, int) or not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} is out of range: {adapter.info.id} has {len(layers)} layers (0 to {len(layers) - 1})")
    mod = layers[layer]
    got: dict[str, torch.Tensor] = {}

    def pre(_m, args, kwargs):
        got["x"] = (args[0] if args else kwargs["hidden_states"])[0]  # (T, d)

    def post(_m, _args, output):
        got["layer_out"] = (output[0] if isinstance(output, tuple) else output)[0]  # (T, d)

    def attn(_m, _args, output):
        got["out"] = (output[0] if isinstance(output, tuple) else output)[0]  # (T, d)

    hooks = [mod.register_forward_pre_hook(pre, with_kwargs=True), mod.register_forward_hook(post),
             _attn_out_module(family, mod).register_forward_hook(attn)]
    try:
        with adapter.lock, torch.inference_mode():
            _run(adapter, family, text)
    finally:
        for h in hooks:
            h.remove()
    lo = got["layer_out"]
    if lo.dim() == 3:  # a layer that returned (B, T, d)
        lo = lo[0]
    T = got["x"].shape[0]
    if not isinstance(query, int) or not 0 <= query < T:
        raise ValueError(f"query {query} is out of range: the text has {T} tokens (0 to {T - 1})")
    x, out, model_out = _f64(got["x"][query]), _f64(got["out"][query]), _f64(lo[query])
    if family == "llama":
        res = _pre_norm(adapter, mod, layer, query, x, out, model_out)
    else:
        res = _post_norm(adapter, family, mod, layer, query, x, out, model_out)
    res.residuals = _f64(got["x"]) + _f64(got["out"])  # (T, d)
    res.tokens = T
    return res


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


def _post_norm(adapter, family, mod, layer, query, x, out, model_out) -> BlockSteps:
    if family == "bert":
        n1, w1, w2, n2 = mod.attention.output.LayerNorm, mod.intermediate.dense, mod.output.dense, mod.output.LayerNorm
        act_name = str(adapter.model.config.hidden_act)
        if act_name not in ("gelu", "relu"):
            raise ValueError(f"{adapter.info.id} uses activation {act_name!r}; shown are gelu and relu")
    else:
        n1, w1, w2, n2 = mod.norm1, mod.ffn.w_1, mod.ffn.w_2, mod.norm2
        act_name = "relu"
    residual = x + out
    norm1 = _layer_norm(residual, n1)
    pre = _linear(norm1.output, w1)
    act = _gelu(pre) if act_name == "gelu" else np.maximum(pre, 0)
    f = _linear(act, w2)
    residual2 = norm1.output + f
    norm2 = _layer_norm(residual2, n2)
    d, d_ff = x.shape[0], pre.shape[0]
    return BlockSteps(family, "post", layer, query, act_name, x, None, out, residual, norm1,
                      {"W_1": [d, d_ff], "W_2": [d_ff, d]}, pre, None, act, f, residual2, norm2, norm2.output,
                      model_out)


def _pre_norm(adapter, mod, layer, query, x, out, model_out) -> BlockSteps:
    attn_in = _rms_norm(x, mod.input_layernorm)
    residual = x + out
    norm1 = _rms_norm(residual, mod.post_attention_layernorm)
    mlp = mod.mlp
    gate, up = _linear(norm1.output, mlp.gate_proj), _linear(norm1.output, mlp.up_proj)
    act = _silu(gate) * up
    f = _linear(act, mlp.down_proj)
    residual2 = residual + f
    d, d_ff = x.shape[0], gate.shape[0]
    return BlockSteps("llama", "pre", layer, query, "silu (SwiGLU)", x, attn_in, out, residual, norm1,
                      {"W_gate": [d, d_ff], "W_up": [d, d_ff], "W_down": [d_ff, d]}, gate, up, act, f,
                      residual2, None, residual2, model_out)
