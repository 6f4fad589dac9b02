"""One adapter for every transformers model: what all families share, driven by a :class:`Family` entry.

The Trace it fills, for every family:

* block groups: "encoder" (kind "self"), "decoder" (kind "causal"), "cross" (kind
  "cross", queries from the decoder, keys from the encoder), one block per layer.
* ``weights``: the model's own ``output_attentions`` (eager attention), float32.
* where the family table says where the projections are (``Family.reads_qkv``):
  ``x`` (the attention module's input), ``q``, ``k`` (AFTER RoPE where the model
  rotates, with the modeling module's own ``apply_rotary_pos_emb``), ``v``
  (k and v expanded to query heads: head h reads KV head ``kv_head[h]``), ``z``
  (the input of W_O, split by head), ``out`` (W_O's output), ``scale``
  (1 / the module's ``scaling``) and, for T5, ``bias``: the relative position bias
  added to the scores. Then ``softmax(scaled())`` equals ``weights``.
* otherwise (an architecture the table does not know) q, k, v, z have zero
  width and ``out`` is empty: only the attention views are offered.
* ``hidden_states[group]``: (L + 1, T, d): the first layer's input, then each
  layer's output (before any final norm).
* ``logits``: (T, vocab) float32 where the model has an LM head (of the target
  for encoder-decoders).

Encoder-decoders take a ``target``: the decoder input is the decoder start token
followed by the target's tokens (so row t of ``logits`` predicts target token t).
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections import OrderedDict, defaultdict
from dataclasses import replace

import numpy as np
import torch

from attnscope.inspection.adapters.base import Adapter, ModelInfo
from attnscope.inspection.adapters.families import Family, family_for
from attnscope.inspection.adapters.hf import np32, output_tokens, tokenize
from attnscope.inspection.hooks import hooks
from attnscope.inspection.trace import AttentionBlock, HeadWeights, Tokens, Trace

DEFAULT_MAX_TOKENS = 512
#: tolerance of the step identities (softmax(q k^T / scale) = weights, x W_q = q...) per dtype
TOLERANCE = {"float32": 1e-5, "bfloat16": 5e-2, "float16": 1e-2}
KIND_OF_GROUP = {"encoder": "self", "decoder": "causal", "cross": "cross"}
VIEWS = ("attention", "model_view", "heads", "compare")


def attr(obj, path: str):
    """``obj`` followed along a dotted path (``"layer.0.SelfAttention"``)."""
    for name in path.split("."):
        obj = obj[int(name)] if name.isdigit() else getattr(obj, name)
    return obj


def mask_from(attention_mask: torch.Tensor | None, tq: int, tk: int) -> np.ndarray:
    """(Tq, Tk) bool, True where an additive or boolean HF mask removes the key."""
    if attention_mask is None or not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 4:
        return np.zeros((tq, tk), dtype=bool)
    m = attention_mask[0, 0][-tq:, :tk]
    if m.dtype == torch.bool:
        out = (~m).cpu().numpy()
    else:
        out = (m <= torch.finfo(m.dtype).min / 2).cpu().numpy()
    return np.broadcast_to(out, (tq, tk)).copy()


def split_fused(y: torch.Tensor, layout: str, heads: int, kv: int, dh: int):
    """Split a fused projection's last axis into (q, k, v), each head-major ``n * dh`` wide.

    Works on activations (..., out) and on weights given as (in, out) or biases (out,).
    """
    if layout == "thirds":
        return y.split(heads * dh, dim=-1)
    if layout == "q_kv":
        return y.split([heads * dh, kv * dh, kv * dh], dim=-1)
    if layout == "per_head":  # (..., H * 3 * dh): per head q | k | v
        parts = y.reshape(*y.shape[:-1], heads, 3, dh)
        return tuple(parts[..., j, :].reshape(*y.shape[:-1], heads * dh) for j in range(3))
    raise ValueError(f"unknown fused Q/K/V layout {layout!r}")


def weight_in_out(module) -> torch.Tensor:
    """A projection's weight as (in, out): Linear stores (out, in), GPT-2's Conv1D (in, out)."""
    return module.weight if type(module).__name__ == "Conv1D" else module.weight.T


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _input(args, kwargs, *names):
    if args:
        return args[0]
    for n in names:
        if n in kwargs:
            return kwargs[n]
    return None


class HFAdapter(Adapter):
    """The generic adapter: any transformers model with eager attention, a :class:`Family` saying what differs."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None,
                 family: str | Family | None = None, max_tokens: int = DEFAULT_MAX_TOKENS):
        """Wrap a loaded model (see :func:`attnscope.inspection.adapters.loading.load_model` to load one).

        Args:
            family: a family name or entry; default: from ``model.config.model_type``,
                the generic attention-only fallback for unknown architectures.
            max_tokens: the longest input accepted (also capped by the model's context).

        Raises:
            ValueError: the model does not run eager attention, or returns no attention weights.
        """
        super().__init__()
        if model is None or tokenizer is None:
            raise ValueError(f"{model_id!r}: HFAdapter wraps a loaded model and tokenizer")
        impl = getattr(model.config, "_attn_implementation", "eager")
        if impl != "eager":
            raise ValueError(f"{model_id!r} runs {impl!r} attention, which returns no attention weights: "
                             "load it with attn_implementation='eager'")
        self.model, self.tokenizer = model.eval(), tokenizer
        cfg = model.config
        if isinstance(family, Family):
            fam, known = family, True
        elif family is not None:
            from attnscope.inspection.adapters.families import FAMILIES

            if family not in FAMILIES:
                raise ValueError(f"unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
            fam, known = FAMILIES[family], True
        else:
            fam, known = family_for(cfg, type(model).__name__)
        if fam.kind == "encoder-decoder" and not getattr(cfg, "is_encoder_decoder", False):
            if not hasattr(model, "encoder") or hasattr(model, "decoder"):
                raise ValueError(f"{model_id!r}: config says it is not an encoder-decoder but family {fam.name!r} is")
            # the encoder half alone (T5EncoderModel): the family's encoder entries, as an encoder
            fam = replace(fam, kind="encoder", layers={"encoder": fam.layers["encoder"]},
                          attn={"encoder": fam.attn["encoder"]})
        self.fam, self.known = fam, known
        self.base = model.base_model
        heads = getattr(cfg, "num_attention_heads", None)
        if not heads:
            raise ValueError(f"{model_id!r}: {type(model).__name__} ({cfg.model_type}) has no attention heads "
                             "(its config names no num_attention_heads): there is no attention to show")
        kv = getattr(cfg, "num_key_value_heads", None) or heads
        d = cfg.hidden_size
        dh = getattr(cfg, "head_dim", None) or getattr(cfg, "d_kv", None) or d // heads
        ctx = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or max_tokens
        self.device = next(model.parameters()).device
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.info = ModelInfo(
            id=model_id, name=name or source, source=source, family=fam.name, kind=fam.kind,
            layers=cfg.num_hidden_layers, heads=heads, kv_heads=kv, d_model=d, d_head=dh,
            max_tokens=min(int(ctx), max_tokens), positional=fam.positional, blocks=fam.groups,
        )
        self.kv_head = np.arange(heads) // (heads // kv)  # (H,) query head -> KV head
        #: text -> (encoding, Tokens) of recent texts (see :meth:`tokenized`)
        self._tokenized: OrderedDict[str, tuple[dict, Tokens]] = OrderedDict()
        self._tok_lock = threading.Lock()
        self._apply_rope = None
        self._reads = known and fam.reads_qkv and self._resolve_modules()
        self.info = self._with_capabilities(self.info)

    # --- modules ------------------------------------------------------------------

    def _resolve_modules(self) -> bool:
        """Find every layer's attention module; False (attention only) if the table does not fit the model."""
        try:
            self._layer_lists = {g: self._layer_list(g) for g in self.fam.groups}
            for g in self.fam.groups:
                for i in range(len(self._layer_lists[g])):
                    self.attn_module(g, i)
                    self.output_projection(g, i)
            if self.fam.rope:
                self._apply_rope = sys.modules[type(self.attn_module(self.fam.groups[0], 0)).__module__] \
                    .apply_rotary_pos_emb
        except (AttributeError, IndexError, KeyError):
            return False
        return True

    def _layer_list(self, group: str) -> list:
        if self.fam.shared_layers:  # ALBERT: num_hidden_layers passes over a few shared layers
            cfg, enc = self.model.config, self.base.encoder
            if getattr(cfg, "inner_group_num", 1) != 1:
                raise KeyError("inner_group_num")
            per = cfg.num_hidden_layers // cfg.num_hidden_groups
            return [enc.albert_layer_groups[i // per].albert_layers[0] for i in range(cfg.num_hidden_layers)]
        return list(attr(self.base, self.fam.layers[group]))

    def attn_module(self, group: str, layer: int):
        """The attention module of one block."""
        return attr(self._layer_lists[group][layer], self.fam.attn[group])

    def output_projection(self, group: str, layer: int):
        """W_O of one block: the module whose input is ``concat(z)``."""
        if group in self.fam.o_from_layer:
            return attr(self._layer_lists[group][layer], self.fam.o_from_layer[group])
        return attr(self.attn_module(group, layer), self.fam.o)

    # --- capabilities -------------------------------------------------------------

    def _with_capabilities(self, info: ModelInfo) -> ModelInfo:
        caps = dict.fromkeys(VIEWS, True)
        reasons: dict[str, str] = {}
        arch = type(self.model).__name__
        if not self._reads:
            why = (f"{arch} ({self.fam.name}) is not in AttnScope's family table: only the attention "
                   "weights (output_attentions) are read")
            if self.known and not self.fam.reads_qkv:
                why = f"{self.fam.name}: {self.fam.positional} attention scores are not q·k/scale; " \
                      "only the attention weights are read"
            caps["steps"], reasons["steps"] = False, why
            caps["ablate"], reasons["ablate"] = False, why
        else:
            softcap = getattr(self.model.config, "attn_logit_softcapping", None)
            if self.fam.steps_reason:
                caps["steps"], reasons["steps"] = False, self.fam.steps_reason
            elif softcap:
                caps["steps"], reasons["steps"] = False, (f"{self.fam.name} soft-caps its scores "
                                                          f"({softcap}·tanh(s/{softcap})) before the softmax")
            else:
                caps["steps"] = True
        has_lm = hasattr(self.model, "generate") and self.model.get_output_embeddings() is not None
        if self._reads:
            caps["ablate"] = info.kind == "encoder" or has_lm  # decoders compare next tokens, enc-decs outputs
            if not caps["ablate"]:
                reasons["ablate"] = f"{arch} has no language-model head to compare outputs with"
        caps["generate"] = info.kind == "decoder" and has_lm
        if not caps["generate"]:
            reasons["generate"] = (f"{arch} has no language-model head" if info.kind == "decoder" else
                                   f"an {info.kind} does not continue text" if info.kind == "encoder"
                                   else "encoder-decoders generate with /api/seq2seq")
        caps["seq2seq"] = info.kind == "encoder-decoder" and has_lm
        if not caps["seq2seq"]:
            reasons["seq2seq"] = "only encoder-decoders with an LM head translate or summarise"
        return replace(info, capabilities=caps, reasons=reasons, dtype=self.dtype, device=str(self.device))

    # --- tokens -------------------------------------------------------------------

    def tokenized(self, text: str) -> tuple[dict, Tokens]:
        """``tokenize(text)``, remembered for the last few texts: a request checks its length, then runs it.

        Returns a new dict each time (callers add and pop keys); the tensors are never modified.
        """
        with self._tok_lock:
            hit = self._tokenized.get(text)
            if hit is not None:
                self._tokenized.move_to_end(text)
                return dict(hit[0]), hit[1]
        enc, tokens = tokenize(self.tokenizer, text)
        with self._tok_lock:
            self._tokenized[text] = (enc, tokens)
            while len(self._tokenized) > 32:
                self._tokenized.popitem(last=False)
        return dict(enc), tokens

    def count_tokens(self, text: str) -> int:
        return len(self.tokenized(text)[1])

    def output_tokens(self, ids: list[int]) -> list[str]:
        if self.info.kind == "encoder":
            raise NotImplementedError(f"{self.info.id} has no output vocabulary")
        return output_tokens(self.tokenizer, ids)

    def inputs(self, text: str) -> tuple[dict, Tokens]:
        """Model inputs (on the model's device) and tokens of ``text``; ValueError for empty or too long text."""
        inputs, tokens = self.tokenized(text)
        if self.info.kind != "encoder" or "token_type_ids" not in inspect.signature(self.model.forward).parameters:
            inputs.pop("token_type_ids", None)
        t = len(tokens)
        if t == 0:
            raise ValueError("text is empty: type a sentence")
        if t > self.info.max_tokens:
            raise ValueError(f"text is {t} tokens long; {self.info.id} takes at most {self.info.max_tokens} tokens")
        return {k: v.to(self.device) for k, v in inputs.items()}, tokens

    def decoder_start(self) -> int:
        cfg = self.model.config
        start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(self.model.generation_config, "decoder_start_token_id", None)
        if start is None:
            start = cfg.pad_token_id if cfg.pad_token_id is not None else cfg.bos_token_id
        if start is None:
            raise ValueError(f"{self.info.id} names no decoder start token")
        return int(start)

    def target_inputs(self, target: str | None) -> tuple[torch.Tensor, Tokens]:
        """(1, 1 + T) decoder input ids: the start token, then ``target``'s tokens; and their Tokens."""
        start = self.decoder_start()
        ids: list[int] = []
        toks = Tokens(text=[], ids=[], special=[], offsets=[])
        if target:
            enc, toks = tokenize(self.tokenizer, target)
            ids = toks.ids
        shown = output_tokens(self.tokenizer, [start])[0]
        all_toks = Tokens(text=[shown, *toks.text], ids=[start, *ids], special=[True, *toks.special],
                          offsets=[None, *toks.offsets])
        if len(all_toks) > self.info.max_tokens:
            raise ValueError(f"target is {len(all_toks)} tokens long; {self.info.id} takes at most "
                             f"{self.info.max_tokens}")
        return torch.tensor([all_toks.ids], device=self.device), all_toks

    # --- the forward pass ---------------------------------------------------------

    def _prepare(self, text: str, target: str | None) -> tuple[dict, Tokens, Tokens | None]:
        """The forward pass's inputs, the tokens of ``text`` and of the decoder input (encoder-decoders)."""
        kind = self.info.kind
        if kind != "encoder-decoder" and target is not None:
            what = "a decoder-only model" if kind == "decoder" else "an encoder"
            raise ValueError(f"{self.info.id!r} is {what}: it takes no target text")
        inputs, tokens = self.inputs(text)
        target_tokens = None
        if kind == "encoder-decoder":
            inputs["decoder_input_ids"], target_tokens = self.target_inputs(target)
        return inputs, tokens, target_tokens

    def run(self, text: str, target: str | None = None) -> Trace:
        kind = self.info.kind
        inputs, tokens, target_tokens = self._prepare(text, target)
        rec: dict[str, list[dict]] = defaultdict(list)
        states: dict[str, list] = defaultdict(list)
        extra = {"use_cache": False} if kind != "encoder" else {}
        with torch.inference_mode(), hooks() as hs:
            if self._reads:
                self._hook_all(hs, rec, states)
            out = self.model(**inputs, output_attentions=True, output_hidden_states=True, **extra)
        own = self._own_attentions(out)
        if any(a is None or len(a) == 0 or a[0] is None for a in own.values()):
            raise ValueError(f"{self.info.id}: the model returned no attention weights (no eager attention path)")
        with torch.inference_mode():
            blocks = {g: [self._block(g, i, rec[g][i] if self._reads else None, own[g][i], out)
                          for i in range(len(own[g]))] for g in own}
        hidden = self._hidden(out, states)
        tok_emb, pos_emb = self._embeddings(inputs["input_ids"])
        logits = getattr(out, "logits", None)
        return Trace(
            model=self.info.id,
            text=text,
            tokens=tokens,
            blocks=blocks,
            target=target if kind == "encoder-decoder" else None,
            target_tokens=target_tokens,
            token_embeddings=tok_emb,
            position_embeddings=pos_emb,
            hidden_states=hidden,
            logits=np32(logits[0]) if logits is not None and kind != "encoder" else None,
        )

    def run_weights(self, text: str, target: str | None = None) -> Trace:
        """The forward pass with no hooks and no hidden states: weights and logits only (``full`` False).

        What ``/api/attention``, the model view and rollout read. The weights are the model's own
        ``output_attentions`` tensors, kept without a copy (fresh inference-mode outputs). The mask
        is the causal one: a sliding window or padding shows as zero weights, not as a masked cell.
        """
        kind = self.info.kind
        inputs, tokens, target_tokens = self._prepare(text, target)
        extra = {"use_cache": False} if kind != "encoder" else {}
        with torch.inference_mode():
            out = self.model(**inputs, output_attentions=True, **extra)
        own = self._own_attentions(out)
        if any(a is None or len(a) == 0 or a[0] is None for a in own.values()):
            raise ValueError(f"{self.info.id}: the model returned no attention weights (no eager attention path)")
        blocks: dict[str, list[AttentionBlock]] = {}
        for g, layers in own.items():
            kind_g = KIND_OF_GROUP[g]
            blocks[g] = []
            for i, w in enumerate(layers):
                h, tq, tk = w.shape[1], w.shape[2], w.shape[3]
                causal = np.triu(np.ones((tq, tk), dtype=bool), 1) if kind_g == "causal" else np.zeros((tq, tk), bool)
                blocks[g].append(AttentionBlock(
                    kind=kind_g, layer=i, x=np.zeros((tq, 0), np.float32), q=np.zeros((h, tq, 0), np.float32),
                    k=np.zeros((h, tk, 0), np.float32), v=np.zeros((h, tk, 0), np.float32), mask=causal,
                    weights=np32(w[0]), z=np.zeros((h, tq, 0), np.float32), out=np.zeros((tq, 0), np.float32),
                    scale=1.0, kv_head=self.kv_head.copy()))
        logits = getattr(out, "logits", None)
        return Trace(model=self.info.id, text=text, tokens=tokens, blocks=blocks,
                     target=target if kind == "encoder-decoder" else None, target_tokens=target_tokens,
                     logits=np32(logits[0]) if logits is not None and kind != "encoder" else None, full=False)

    def _own_attentions(self, out) -> dict[str, tuple]:
        if self.info.kind == "encoder-decoder":
            return {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
                    "cross": out.cross_attentions}
        return {self.info.blocks[0]: out.attentions}

    def _hook_all(self, hs, rec: dict[str, list[dict]], states: dict[str, list]) -> None:
        """Hooks on every (unique) attention module, its projections and every layer."""
        fam = self.fam
        for g in fam.groups:
            layers = self._layer_lists[g]
            cur: dict = {}
            for attn, o in dict.fromkeys((self.attn_module(g, i), self.output_projection(g, i))
                                         for i in range(len(layers))):
                self._hook_attention(hs, g, attn, o, rec[g], cur)
            if g != "cross":
                for layer in dict.fromkeys(layers):
                    self._hook_layer(hs, layer, states[g])

    def _hook_attention(self, hs, group: str, attn, o, calls: list[dict], cur: dict) -> None:
        fam = self.fam

        def start(_m, args, kwargs):
            r = {"x": _input(args, kwargs, "hidden_states"),
                 "mask": next((kwargs[n] for n in ("attention_mask", "mask") if n in kwargs),
                              args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else None),
                 "rope": kwargs.get("position_embeddings")}
            calls.append(r)
            cur["r"] = r

        def keep(name):
            def fn(_m, _args, output):
                cur["r"][name] = _first(output)
            return fn

        def keep_bias(_m, _args, output):
            cur["r"]["bias"] = output[1]

        def keep_z(_m, args, kwargs):
            cur["r"]["z"] = _input(args, kwargs, "input", "x")

        hs.pre(attn, start)
        if fam.qkv:
            hs.post(attr(attn, fam.qkv), keep("qkv"))
        else:
            hs.post(attr(attn, fam.q_hook or fam.q), keep("q"))
            hs.post(attr(attn, fam.k_hook or fam.k), keep("k"))
            hs.post(attr(attn, fam.v), keep("v"))
        if fam.bias_from_output:
            hs.post(attn, keep_bias)
        hs.pre(o, keep_z)
        hs.post(o, keep("out"))

    @staticmethod
    def _hook_layer(hs, layer, seen: list) -> None:
        def first_input(_m, args, kwargs):
            if not seen:
                seen.append(_input(args, kwargs, "hidden_states"))

        def output(_m, _args, out):
            seen.append(_first(out))

        hs.pre(layer, first_input)
        hs.post(layer, output)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(1, T, n * d_head) or (1, T, n, d_head) -> (1, n, T, d_head)."""
        return t.reshape(t.shape[0], t.shape[1], -1, self.info.d_head).transpose(1, 2)

    def _block(self, group: str, i: int, r: dict | None, weights: torch.Tensor, out) -> AttentionBlock:
        h, tq, tk = weights.shape[1], weights.shape[2], weights.shape[3]
        kind = KIND_OF_GROUP[group]
        causal = np.triu(np.ones((tq, tk), dtype=bool), 1) if kind == "causal" else np.zeros((tq, tk), bool)
        if r is None:  # attention weights only
            empty = np.zeros((h, tq, 0), np.float32)
            hidden = self._fallback_hidden(out, group)
            x = np32(hidden[i][0]) if hidden is not None and group != "cross" else np.zeros((tq, 0), np.float32)
            return AttentionBlock(kind=kind, layer=i, x=x, q=empty, k=np.zeros((h, tk, 0), np.float32),
                                  v=np.zeros((h, tk, 0), np.float32), mask=causal, weights=np32(weights[0]),
                                  z=empty, out=np.zeros((tq, 0), np.float32), scale=1.0,
                                  kv_head=self.kv_head.copy())
        info = self.info
        if "qkv" in r:
            q, k, v = split_fused(r["qkv"], self.fam.layout, info.heads, info.kv_heads, info.d_head)
        else:
            q, k, v = r["q"], r["k"], r["v"]
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (1, H|KV, T, dh)
        if self._apply_rope is not None and r.get("rope") is not None:
            cos, sin = r["rope"]
            q, k = self._apply_rope(q, k, cos, sin)
        groups = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        attn = self.attn_module(group, i)
        bias = None
        if r.get("bias") is not None:
            bias = np32(r["bias"][0].expand(h, tq, tk))  # (H, Tq, Tk)
        return AttentionBlock(
            kind=kind,
            layer=i,
            x=np32(r["x"][0]),
            q=np32(q[0]),
            k=np32(k[0]),
            v=np32(v[0]),
            mask=mask_from(r.get("mask"), tq, tk) | causal,
            weights=np32(weights[0]),
            z=np32(self._heads(r["z"])[0]),
            out=np32(r["out"][0]),
            scale=float(1.0 / getattr(attn, "scaling", info.d_head ** -0.5)),
            kv_head=self.kv_head.copy(),
            bias=bias,
        )

    def _fallback_hidden(self, out, group: str):
        if self.info.kind == "encoder-decoder":
            return getattr(out, f"{group}_hidden_states", None)
        return getattr(out, "hidden_states", None)

    def _hidden(self, out, states: dict[str, list]) -> dict[str, np.ndarray]:
        hidden = {}
        for g in self.info.blocks:
            if g == "cross":
                continue
            seq = states.get(g) or self._fallback_hidden(out, g)
            if seq:
                hidden[g] = np.stack([np32(s[0]) for s in seq])
        return hidden

    def _embeddings(self, ids: torch.Tensor) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(T, d) token embedding lookup and (T, d) learned positions 0..T-1 where the family has a table."""
        with torch.inference_mode():
            emb = self.model.get_input_embeddings()
            tok = np32(emb(ids)[0]) if emb is not None else None
            pos = None
            if self.fam.pos_table:
                try:
                    table = attr(self.base, self.fam.pos_table)
                    pos = np32(table(torch.arange(ids.shape[1], device=self.device)))
                except (AttributeError, IndexError):
                    pos = None
        if tok is not None and pos is not None and tok.shape != pos.shape:
            pos = None  # ALBERT: embeddings are factorised (E != d_model)
        return tok, pos

    # --- weights ------------------------------------------------------------------

    def _check(self, block: str, layer: int, head: int) -> None:
        if block not in self.info.blocks and len(self.info.blocks) == 1:
            raise ValueError(f"{self.info.id!r} is {'an' if self.info.kind[0] in 'ae' else 'a'} {self.info.kind}: "
                             f"it has only {self.info.blocks[0]!r} attention")
        if block not in self.info.blocks:
            raise ValueError(f"{self.info.id!r} has no {block!r} attention; it has: {', '.join(self.info.blocks)}")
        layers = len(self._layer_lists[block]) if self._reads else self.info.layers  # T5: decoder depth may differ
        if not 0 <= layer < layers:
            raise ValueError(f"layer {layer} is out of range: {self.info.id!r} has layers 0 to {layers - 1}")
        if not 0 <= head < self.info.heads:
            raise ValueError(f"head {head} is out of range: {self.info.id!r} has heads 0 to {self.info.heads - 1}")

    def head_weights(self, block: str, layer: int, head: int) -> HeadWeights:
        """Slices of query head ``head``; ``w_k``/``w_v`` are those of the KV head it reads.

        ``x @ w_q + b_q`` is the query BEFORE any rotation: :meth:`rotate` of it is the
        block's ``q[head]`` (likewise for k); ``x @ w_v + b_v`` is ``v[head]``.
        """
        self._check(block, layer, head)
        if not self._reads:
            raise ValueError(f"{self.info.id}: {self.info.reasons.get('steps', 'Q/K/V are not read')}")
        fam, info, dh = self.fam, self.info, self.info.d_head
        attn = self.attn_module(block, layer)
        if fam.qkv:
            lin = attr(attn, fam.qkv)
            ws = split_fused(weight_in_out(lin), fam.layout, info.heads, info.kv_heads, dh)
            bs = split_fused(lin.bias, fam.layout, info.heads, info.kv_heads, dh) if lin.bias is not None \
                else (None, None, None)
        else:
            mods = [attr(attn, n) for n in (fam.q, fam.k, fam.v)]
            ws = [weight_in_out(m) for m in mods]
            bs = [m.bias for m in mods]
        kv = int(self.kv_head[head])
        sls = [slice(head * dh, (head + 1) * dh), slice(kv * dh, (kv + 1) * dh), slice(kv * dh, (kv + 1) * dh)]
        parts = []
        for w, b, sl in zip(ws, bs, sls):
            parts += [np32(w[:, sl]), np32(b[sl]) if b is not None else None]
        o = self.output_projection(block, layer)
        bo = np32(o.bias) if getattr(o, "bias", None) is not None else None
        return HeadWeights(*parts, np32(weight_in_out(o)), bo)

    def rotate(self, t: np.ndarray, positions: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Apply the model's rotary embedding to queries or keys given BEFORE rotation.

        Args:
            t: (T, d_head) or (H, T, d_head), e.g. ``x @ w_q + b_q`` of one head.
            positions: (T,) the token positions (default ``0 .. T-1``).

        Returns:
            Same shape, rotated exactly as the model rotates q and k at those positions
            (unchanged for models without rotary positions).
        """
        arr = torch.as_tensor(np.asarray(t, dtype=np.float32))
        if arr.shape[-1] != self.info.d_head or arr.dim() not in (2, 3):
            raise ValueError(f"expected (T, {self.info.d_head}) or (H, T, {self.info.d_head}), got {tuple(arr.shape)}")
        n = arr.shape[-2]
        pos = torch.arange(n) if positions is None else torch.as_tensor(np.asarray(positions), dtype=torch.long)
        if pos.shape != (n,):
            raise ValueError(f"positions must have one entry per token ({n}), got shape {tuple(pos.shape)}")
        if self._apply_rope is None:
            return np32(arr)
        rotary = next(m for m in self.model.modules() if type(m).__name__.endswith("RotaryEmbedding"))
        x = arr.reshape(1, -1, n, self.info.d_head).to(self.device)  # (1, heads, T, dh)
        with torch.inference_mode():
            cos, sin = rotary(x, pos[None].to(self.device))
            rotated, _ = self._apply_rope(x, x, cos.float(), sin.float())
        return np32(rotated.reshape(arr.shape))

    # --- encoder-decoder generation -------------------------------------------------

    def seq2seq(self, text: str, max_new_tokens: int = 32) -> dict:
        """Greedy output of an encoder-decoder for ``text``, and each output token's cross-attention.

        Returns:
            ``{"text", "source_tokens", "output_tokens", "output_ids", "cross_attention"}`` where
            ``cross_attention`` is (L, H, T_out, S) float32: row t is the attention of the
            decoder query that produced output token t (the start token is not an output).
        """
        if self.info.kind != "encoder-decoder":
            raise ValueError(f"{self.info.id!r} is an {self.info.kind}: /api/seq2seq needs an encoder-decoder")
        inputs, tokens = self.inputs(text)
        inputs.pop("token_type_ids", None)
        with self.lock, torch.inference_mode():
            gen = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            out = self.model(**inputs, decoder_input_ids=gen[:, :-1], output_attentions=True, use_cache=False)
        ids = gen[0, 1:].tolist()
        cross = np.stack([np32(a[0]) for a in out.cross_attentions])  # (L, H, T_out, S)
        return {"text": self.tokenizer.decode(ids, skip_special_tokens=True), "source_tokens": tokens.text,
                "output_tokens": output_tokens(self.tokenizer, ids), "output_ids": ids, "cross_attention": cross}
