"""One adapter for every transformers model: what all families share, driven by a :class:`Family` entry.

Attention is read where transformers computes it: each pass runs through the attention function of
:mod:`attnscope.inspection.capture` (registered with ``AttentionInterface``), which receives the q and k
after rotation and per-head norms, v, the mask, the scaling, the soft-cap and T5's position bias. Hooks
remain only where the interface does not reach: the attention input ``x``, W_O's output, layer outputs.

The Trace it fills: block groups "encoder" ("self"), "decoder" ("causal"), "cross" (queries from the
decoder, keys from the encoder), one block per layer, with ``weights`` (what the model's attention uses,
equal to eager ``output_attentions``), ``q``, ``k``, ``v`` (k and v expanded to query heads: head h reads
KV head ``kv_head[h]``), ``z`` (W_O's input by head), ``scale``, ``softcap``, ``bias`` (T5), so that
``softmax(scaled())`` equals ``weights``; ``x`` and ``out`` where the family table says where the modules
are. Families outside the interface (DeBERTa-v2) read ``output_attentions``: q, k, v, z have zero width.
``hidden_states[group]`` is (L + 1, T, d): the first layer's input, then each layer's output (before any
final norm); ``logits`` (T, vocab) where the model has an LM head (of the target for encoder-decoders,
whose decoder input is the start token followed by the target's tokens).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import replace

import numpy as np
import torch

from attnscope.inspection.adapters import checks
from attnscope.inspection.adapters.base import Adapter, ModelInfo
from attnscope.inspection.adapters.families import FAMILIES, Family, family_for
from attnscope.inspection.adapters.hf import np32
from attnscope.inspection.adapters.hf_inputs import HFInputs
from attnscope.inspection.adapters.projections import attr, head_weights, rope_function, rotate, split_fused, \
    weight_in_out  # noqa: F401  (re-exported)
from attnscope.inspection.adapters.parts import _empty_block, _first, _input, mask_from  # noqa: F401
from attnscope.inspection.capture import Call, capture
from attnscope.inspection.hooks import hooks
from attnscope.inspection.trace import AttentionBlock, HeadWeights, Tokens, Trace

DEFAULT_MAX_TOKENS = 512
TOLERANCE = checks.TOLERANCE
KIND_OF_GROUP = {"encoder": "self", "decoder": "causal", "cross": "cross"}


class HFAdapter(HFInputs, Adapter):
    """The generic adapter: any transformers model, a :class:`Family` saying where its modules are."""

    def __init__(self, model_id: str, source: str, name: str | None = None, model=None, tokenizer=None,
                 family: str | Family | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 check: bool = True):
        """Wrap a loaded model (see :func:`attnscope.inspection.adapters.loading.load_model` to load one).

        Any attention implementation works (eager, SDPA...): each pass runs through the capture
        function and the model's config is left as it was.

        Args:
            family: a family name or entry; default: from ``model.config.model_type``,
                the generic attention-only fallback for unknown architectures.
            max_tokens: the longest input accepted (also capped by the model's context).
            check: run the step identities on a few tokens now and withhold what does not hold.

        Raises:
            ValueError: the model has no attention heads, or returns no attention weights.
        """
        super().__init__()
        if model is None or tokenizer is None:
            raise ValueError(f"{model_id!r}: HFAdapter wraps a loaded model and tokenizer")
        self.model, self.tokenizer = model.eval(), tokenizer
        cfg = model.config
        if isinstance(family, Family):
            fam, known = family, True
        elif family is not None:
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
        self.apply_rope = None
        self._reads = known and fam.reads_qkv and self._resolve_modules()
        self._plain_layers = [] if self._reads or fam.kind == "encoder-decoder" else self._find_layers()
        self.checks: dict[str, float] = {}
        self.info = self._with_capabilities(self.info, check)

    # --- modules ------------------------------------------------------------------

    def _resolve_modules(self) -> bool:
        """Find every layer's attention module and W_O; False (attention only) if the table does not fit."""
        try:
            self._layer_lists = {g: self._layer_list(g) for g in self.fam.groups}
            for g in self.fam.groups:
                for i in range(len(self._layer_lists[g])):
                    self.attn_module(g, i)
                    self.output_projection(g, i)
            self.apply_rope = rope_function(self.attn_module(self.fam.groups[0], 0)) \
                if self.fam.positional == "rotary" else None
        except (AttributeError, IndexError, KeyError):
            return False
        return True

    def _find_layers(self) -> list:
        """An architecture outside the table: its layers are the base model's ModuleList of num_hidden_layers."""
        n = self.info.layers
        return next((list(m) for m in self.base.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n), [])

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

    def _with_capabilities(self, info: ModelInfo, check: bool) -> ModelInfo:
        """What the model offers (:func:`~attnscope.inspection.adapters.checks.capabilities`)."""
        return checks.capabilities(self, info, check)

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

    def _forward(self, inputs: dict, full: bool):
        """One pass through the capture function; returns (output, recorder, hooked x/out, layer states)."""
        seen: dict[str, dict[int, list]] = {"x": defaultdict(list), "out": defaultdict(list)}
        states: dict[str, list] = defaultdict(list)
        extra = {"use_cache": False} if self.info.kind != "encoder" else {}
        with torch.inference_mode(), hooks() as hs, capture(self.model, full=full) as rec:
            if full and self._reads:
                self._hook_all(hs, seen, states)
            elif full and self._plain_layers:  # outside the table: each layer's output, before any final norm
                for layer in self._plain_layers:
                    self._hook_layer(hs, layer, states[self.info.blocks[0]])
            out = self.model(**inputs, output_attentions=True, output_hidden_states=full, **extra)
        return out, rec, seen, states

    def run(self, text: str, target: str | None = None) -> Trace:
        kind = self.info.kind
        inputs, tokens, target_tokens = self._prepare(text, target)
        out, rec, seen, states = self._forward(inputs, full=True)
        own = self._own_attentions(out)
        calls = {id(c.weights): c for c in rec.calls}  # the weights transformers returns are the calls' own
        used = defaultdict(int)  # module -> how many of its calls the blocks took (ALBERT shares one)
        with torch.inference_mode():
            blocks = {}
            for g, layers in own.items():
                blocks[g] = []
                for i, w in enumerate(layers):
                    c = calls.get(id(w))
                    blocks[g].append(self._block(g, i, w, c, seen, used, out))
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

        What ``/api/attention``, the model view and rollout read. The weights are the capture
        function's own tensors, kept without a copy (fresh inference-mode outputs). The mask
        is the causal one: a sliding window or padding shows as zero weights, not as a masked cell.
        """
        kind = self.info.kind
        inputs, tokens, target_tokens = self._prepare(text, target)
        out, _rec, _seen, _states = self._forward(inputs, full=False)
        own = self._own_attentions(out)
        blocks = {g: [_empty_block(KIND_OF_GROUP[g], i, w, self.kv_head) for i, w in enumerate(layers)]
                  for g, layers in own.items()}
        logits = getattr(out, "logits", None)
        return Trace(model=self.info.id, text=text, tokens=tokens, blocks=blocks,
                     target=target if kind == "encoder-decoder" else None, target_tokens=target_tokens,
                     logits=np32(logits[0]) if logits is not None and kind != "encoder" else None, full=False)

    def _own_attentions(self, out) -> dict[str, tuple]:
        if self.info.kind == "encoder-decoder":
            own = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
                   "cross": out.cross_attentions}
        else:
            own = {self.info.blocks[0]: out.attentions}
        if any(a is None or len(a) == 0 or a[0] is None for a in own.values()):
            raise ValueError(f"{self.info.id}: the model returned no attention weights (no eager attention path)")
        return own

    def _hook_all(self, hs, seen: dict[str, dict[int, list]], states: dict[str, list]) -> None:
        """Hooks where the interface does not reach: each attention module's input, W_O's output, each layer."""
        def keep_x(m, args, kwargs):
            seen["x"][id(m)].append(_input(args, kwargs, "hidden_states"))

        def keep_out(m, _args, output):
            seen["out"][id(m)].append(_first(output))

        for g in self.fam.groups:
            layers = self._layer_lists[g]
            for attn, o in dict.fromkeys((self.attn_module(g, i), self.output_projection(g, i))
                                         for i in range(len(layers))):
                hs.pre(attn, keep_x)
                hs.post(o, keep_out)
            if g != "cross":
                for layer in dict.fromkeys(layers):
                    self._hook_layer(hs, layer, states[g])

    @staticmethod
    def _hook_layer(hs, layer, seen: list) -> None:
        def first_input(_m, args, kwargs):
            if not seen:
                seen.append(_input(args, kwargs, "hidden_states"))

        def output(_m, _args, out):
            seen.append(_first(out))

        hs.pre(layer, first_input)
        hs.post(layer, output)

    def _block(self, group: str, i: int, weights: torch.Tensor, c: Call | None, seen: dict, used: dict,
               out) -> AttentionBlock:
        """One block from the capture function's call (None: a family outside the interface)."""
        kind = KIND_OF_GROUP[group]
        if c is None or c.q is None:
            hidden = self._fallback_hidden(out, group)
            x = np32(hidden[i][0]) if hidden is not None and group != "cross" else None
            return _empty_block(kind, i, weights, self.kv_head, x)
        h, tq, tk = weights.shape[1], weights.shape[2], weights.shape[3]
        groups = c.q.shape[1] // c.k.shape[1]
        k, v = c.k.repeat_interleave(groups, dim=1), c.v.repeat_interleave(groups, dim=1)  # (1, H, Tk, dh)
        causal = np.triu(np.ones((tq, tk), dtype=bool), 1) if kind == "causal" else np.zeros((tq, tk), bool)
        x = o = None
        if self._reads:
            attn, wo = self.attn_module(group, i), self.output_projection(group, i)
            n = used[id(attn)]
            used[id(attn)] += 1
            xs, outs = seen["x"].get(id(attn), []), seen["out"].get(id(wo), [])
            x = np32(xs[n][0]) if n < len(xs) else None
            o = np32(outs[n][0]) if n < len(outs) else None
        if x is None:
            hidden = self._fallback_hidden(out, group)
            x = np32(hidden[i][0]) if hidden is not None and group != "cross" else np.zeros((tq, 0), np.float32)
        bias = np32(c.bias[0].expand(h, tq, tk)) if c.bias is not None else None  # (H, Tq, Tk)
        q, scaling = c.q[0], c.scaling
        if self.fam.q_prescaled and self._reads:  # OPT: q = x·W_q · scaling arrives with scaling 1
            s = float(self.attn_module(group, i).scaling)
            q, scaling = q / s, scaling * s
        return AttentionBlock(
            kind=kind,
            layer=i,
            x=x,
            q=np32(q),
            k=np32(k[0]),
            v=np32(v[0]),
            mask=mask_from(c.mask, tq, tk) | causal,
            weights=np32(weights[0]),
            z=np32(c.out[0].transpose(0, 1)),  # (H, Tq, dh)
            out=o if o is not None else np.zeros((tq, 0), np.float32),
            scale=float(1.0 / scaling),
            kv_head=self.kv_head.copy(),
            bias=bias,
            softcap=c.softcap,
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
        """Slices of query head ``head``; ``w_k``/``w_v`` are those of the KV head it reads (see
        :func:`~attnscope.inspection.adapters.projections.head_weights`)."""
        self._check(block, layer, head)
        if not self._reads:
            raise ValueError(f"{self.info.id}: {self.info.reasons.get('steps', 'Q/K/V are not read')}")
        return head_weights(self, block, layer, head)

    def rotate(self, t: np.ndarray, positions: np.ndarray | list[int] | None = None,
               layer: int | None = None) -> np.ndarray:
        """The model's rotary embedding applied to q or k given before rotation (see
        :func:`~attnscope.inspection.adapters.projections.rotate`)."""
        return rotate(self, t, positions, layer)
