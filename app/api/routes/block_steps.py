"""After attention: residual, Add & Norm (LayerNorm / RMSNorm) and the feed-forward layer for one token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text
from attnscope_server.api.routes.steps import sig
from attnscope_server.api.schemas import Answer, Block
from attnscope.inspection.block_steps import Norm, block_steps, norm_axes

router = APIRouter(prefix="/api", tags=["steps"])

#: features shown in the batch-norm vs layer-norm panel (the statistics use every feature)
DEMO_FEATURES = 8


class BlockStepsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model id from /api/models", max_length=64)
    text: str = Field(description="the input sentence (the source, for encoder-decoders)")
    layer: int = Field(description="the layer, from 0")
    query: int = Field(description="the token's index, from 0")
    block: Block | None = Field(default=None, description="only the model's first block (encoder-decoders: encoder)")


def _norm(n: Norm | None) -> dict | None:
    if n is None:
        return None
    return {"kind": n.kind, "input": sig(n.input), "mean": n.mean, "std": n.std, "eps": n.eps,
            "normalized": sig(n.normalized), "gamma": sig(n.gamma), "beta": None if n.beta is None else sig(n.beta),
            "output": sig(n.output), "path": n.path, "module": n.module, "scale_offset": n.scale_offset}


Vector = list[float]


class BlockNorm(Answer):
    """One normalisation of one vector, with the model's own γ (and β)."""

    kind: str = Field(description="layernorm | rmsnorm")
    input: Vector
    mean: float | None = Field(description="μ (LayerNorm only)")
    std: float = Field(description="σ = √(var + eps) (LayerNorm) or the rms = √(mean(v²) + eps) (RMSNorm)")
    eps: float
    normalized: Vector
    gamma: Vector
    beta: Vector | None
    output: Vector
    path: str = Field(description="the norm module's path in the layer")
    module: str = Field(description="its class name")
    scale_offset: float = Field(description="Gemma's norms scale by 1 + γ (offset 1), the others by γ (0)")


class NormAxes(Answer):
    """Batch norm vs layer norm of the layer's x + out (tokens × the first features), without γ and β."""

    input: list[Vector]
    layer_norm: list[Vector]
    layer_mean: Vector
    layer_std: Vector
    batch_norm: list[Vector]
    batch_mean: Vector
    batch_std: Vector
    eps: float


class BlockStepsResponse(Answer):
    """One token through the rest of one layer after W_O, every number the model's own."""

    model: str
    text: str
    layer: int
    query: int
    family: str
    placement: str = Field(description="pre | post")
    activation: str
    d_model: int
    d_ff: int
    ffn_shapes: dict[str, list[int]] = Field(description="each feed-forward matrix as the lecture writes it (x @ W)")
    x: Vector
    attn_in: BlockNorm | None = Field(description="pre-norm: the attention's input norm")
    out: Vector
    residual: Vector
    norm1: BlockNorm
    ffn_pre: Vector
    ffn_up: Vector | None = Field(description="gated feed-forwards: x @ W_up")
    ffn_act: Vector
    ffn_out: Vector
    residual2: Vector
    norm2: BlockNorm | None
    block_out: Vector
    model_out: Vector = Field(description="the model's own output of the layer")
    max_diff: float
    norm_axes: NormAxes | None
    act: str
    act_name: str
    gated: bool
    parallel: bool = Field(description="GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x))")
    attn_out_norm: BlockNorm | None = Field(description="Gemma 2: the norm of the attention's output")
    ffn_out_norm: BlockNorm | None = Field(description="Gemma 2: the norm of the feed-forward's output")
    ffn_modules: dict[str, str]
    ffn_bias: dict[str, bool]
    layers: int
    tokens: int


@router.post("/block-steps", summary="After W_O: x + out, Add & Norm and the feed-forward layer for one token.",
             response_model=None, responses={200: {"model": BlockStepsResponse}})
def block_steps_route(req: BlockStepsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """After W_O: x + out, Add & Norm and the feed-forward layer for one token, from the model's own weights.

    Every family with a block layout (the encoders BERT, RoBERTa, ELECTRA, DistilBERT, ALBERT; the decoders
    GPT-2, GPT-NeoX, OPT, LLaMA, Mistral, Qwen2/3, Gemma, Gemma 2, Phi-3; the encoders of T5, mT5, BART,
    Marian; the textbook encoder) follows one rule, ``x`` being the layer's input and ``out`` attention
    after W_O:

    * ``placement`` "post" (BERT, BART, Marian, the textbook): ``residual`` = x + out, ``norm1`` =
      LayerNorm(residual), the feed-forward reads norm1, ``residual2`` = norm1 + ffn, ``block_out`` =
      ``norm2`` = LayerNorm(residual2).
    * ``placement`` "pre" (GPT-2, LLaMA, T5...): ``attn_in`` = N(x) is what attention read, ``residual``
      = x + out, ``norm1`` = N(residual) is what the feed-forward reads, ``block_out`` = ``residual2`` =
      residual + ffn (``norm2`` null). With ``parallel`` (GPT-NeoX) norm1 = N(x), so block_out = x + out +
      ffn. Gemma 2 also normalises each sublayer's output before adding it: ``attn_out_norm`` = N(out)
      (residual = x + N(out)) and ``ffn_out_norm`` = N(ffn) (residual2 = residual + N(ffn)).

    A norm has ``kind`` "layernorm" ((v − ``mean``) / ``std`` · ``gamma`` + ``beta``, std = √(var + eps)) or
    "rmsnorm" (v / ``std`` · (``scale_offset`` + ``gamma``), std = rms = √(mean(v²) + eps); scale_offset is
    1 for Gemma, else 0; T5's T5LayerNorm is an RMSNorm), and its module's ``path`` and class ``module``.
    The feed-forward: ``ffn_pre`` = n · W_1 + b_1, ``ffn_act`` = act(ffn_pre), ``ffn_out`` = ffn_act · W_2 + b_2;
    ``gated`` (SwiGLU, GeGLU): ``ffn_pre`` = n · W_gate, ``ffn_up`` = n · W_up, ``ffn_act`` = act(ffn_pre) ⊙ ffn_up,
    ``ffn_out`` = ffn_act · W_down. ``act`` is the function ("gelu" exact, "gelu_tanh" the tanh approximation,
    "relu", "silu", "quick_gelu"), ``act_name`` the config's name ("gelu_new", "swish"...), ``activation`` a
    label ("gelu", "silu (SwiGLU)"). ``ffn_shapes``, ``ffn_modules`` and ``ffn_bias``: each matrix's
    (in, out) shape, module path and whether it adds a bias.

    ``model_out`` is the model's own output of the layer; ``max_diff`` the largest difference from
    ``block_out``. ``norm_axes``: batch norm vs layer norm of the layer's residuals (tokens × first features).
    A family without a block layout, or an encoder-decoder's decoder or cross block, is a 422 that says why.
    """
    adapter = registry.get(req.model)
    text = checked_text(req.text, adapter, settings)
    if req.block is not None and req.block != adapter.default_block:
        raise ValueError(f"Add & Norm and the feed-forward step are shown for {req.model}'s {adapter.default_block} "
                         f"block only, not {req.block!r}")
    b = block_steps(adapter, text, req.layer, req.query)
    axes = norm_axes(b.residuals[:, :DEMO_FEATURES]) if b.residuals is not None else None
    return {
        "model": req.model, "text": text, "layer": b.layer, "query": b.query, "family": b.family,
        "placement": b.placement, "activation": b.activation, "d_model": int(b.x.shape[0]),
        "d_ff": int(b.ffn_pre.shape[0]), "ffn_shapes": b.ffn_shapes,
        "x": sig(b.x), "attn_in": _norm(b.attn_in), "out": sig(b.out), "residual": sig(b.residual),
        "norm1": _norm(b.norm1), "ffn_pre": sig(b.ffn_pre), "ffn_up": None if b.ffn_up is None else sig(b.ffn_up),
        "ffn_act": sig(b.ffn_act), "ffn_out": sig(b.ffn_out), "residual2": sig(b.residual2),
        "norm2": _norm(b.norm2), "block_out": sig(b.block_out), "model_out": sig(b.model_out),
        "max_diff": b.max_diff,
        "norm_axes": None if axes is None else {k: (sig(v) if hasattr(v, "shape") else v) for k, v in axes.items()},
        "act": b.act, "act_name": b.act_name, "gated": b.gated, "parallel": b.parallel,
        "attn_out_norm": _norm(b.attn_out_norm), "ffn_out_norm": _norm(b.ffn_out_norm),
        "ffn_modules": b.ffn_modules, "ffn_bias": b.ffn_bias, "layers": b.layers, "tokens": b.tokens,
    }
