"""Attention knockout: block chosen query -> key edges and compare the model's output before and after.

An edge (layer, query i, key j) is blocked by adding -inf to the score of key j in row i of every head of
that layer, before the softmax: the weight becomes exactly 0 and the row's other weights renormalise, as
the model's own mask would make them. The -inf goes in through the capture path's attention function
(:attr:`attnscope.inspection.capture.Recorder.extra`), so it works for every family whose attention runs
through it. The edges are given either as a list of ``[layer, query, key]`` triples (all heads of that
layer) or as two token ranges, ``from_passage`` and ``to_passage`` (``[start, end)``, end one past the
last token): every query of the first range loses every key of the second, in every layer.

A row whose every visible key is blocked (a query with nothing left to attend to) cannot be renormalised:
it is refused, as are edges out of range and more than :data:`MAX_EDGES` triples.

What is compared follows the model's kind:

* decoders and encoder-decoders: the next-token distribution after the last (decoder) input token: top
  candidates before and after, ``KL(before || after)`` in nats, the change of the original top token's
  probability;
* encoders: the final hidden state at each blocked query token: cosine before/after, norms, and the norm
  of the change; and every token's cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from attnscope.inspection.ablate import TOP_K, kl
from attnscope.inspection.adapters.base import Adapter, NotOffered
from attnscope.inspection.adapters.hf import np32
from attnscope.inspection.adapters.parts import mask_from
from attnscope.inspection.capture import capture

#: the most ``[layer, query, key]`` triples one request may give (ranges have no limit of their own)
MAX_EDGES = 4096


@dataclass(frozen=True)
class Passages:
    """Every query of ``from_passage`` loses every key of ``to_passage``, in every layer (``[start, end)``)."""

    from_passage: tuple[int, int]
    to_passage: tuple[int, int]


@dataclass
class Knockout:
    """Before/after of one knockout; :meth:`to_dict` is the API's answer.

    Attributes:
        kind: "decoder", "encoder-decoder" or "encoder" (what ``extra`` compares).
        block: the attention block the edges belong to.
        query_tokens, key_tokens: the tokens of its rows and columns.
        layers: the layers with at least one blocked edge.
        edges: how many (layer, query, key) entries were asked for.
        blocked: of them, how many the model's own mask kept (the rest were masked already).
        knocked: layer -> (Tq, Tk) bool, True where an edge is blocked.
        attention_after: layer -> (H, Tq, Tk) the knocked layers' attention after the knockout.
        logits_before, logits_after: (V,) the next-token logits (decoders, encoder-decoders), else None.
        hidden_before, hidden_after: (T, d) the final hidden states (encoders), else None.
        extra: the comparison, as the API sends it.
    """

    kind: str
    block: str
    query_tokens: list[str]
    key_tokens: list[str]
    layers: list[int]
    edges: int
    blocked: int
    knocked: dict[int, np.ndarray]
    attention_after: dict[int, np.ndarray]
    logits_before: np.ndarray | None = None
    logits_after: np.ndarray | None = None
    hidden_before: np.ndarray | None = None
    hidden_after: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "block": self.block, "query_tokens": self.query_tokens,
                "key_tokens": self.key_tokens, "layers": self.layers, "edges": self.edges,
                "blocked": self.blocked, **self.extra}


# --- what the request names --------------------------------------------------------------------------


def parse_edges(edges) -> list[tuple[int, int, int]] | Passages:
    """``[[layer, query, key], ...]`` or ``{"from_passage": [s, e], "to_passage": [s, e]}``, checked for shape."""
    if isinstance(edges, Passages):
        return edges
    if isinstance(edges, dict):
        try:
            return Passages(*(tuple(int(x) for x in edges[k]) for k in ("from_passage", "to_passage")))
        except (KeyError, TypeError, ValueError):
            raise ValueError("edges as ranges are {\"from_passage\": [start, end], \"to_passage\": [start, end]}") \
                from None
    edges = list(edges)
    if len(edges) > MAX_EDGES:
        raise ValueError(f"{len(edges)} edges given; at most {MAX_EDGES} (for blocks of tokens, give "
                         "from_passage and to_passage instead)")
    out = []
    for e in edges:
        e = list(e)
        if len(e) != 3 or not all(isinstance(x, (int, np.integer)) for x in e):
            raise ValueError(f"each edge is [layer, query, key] (three token/layer indices from 0); got {e}")
        out.append((int(e[0]), int(e[1]), int(e[2])))
    return out


def _range(name: str, r: Sequence[int], n: int, side: str) -> range:
    if len(r) != 2 or not 0 <= r[0] < r[1] <= n:
        raise ValueError(f"{name} {list(r)} is not a token range of {side}: give [start, end] with "
                         f"0 <= start < end <= {n} (end is one past the last token)")
    return range(r[0], r[1])


def knocked_masks(edges, layers: int, tq: int, tk: int, what: dict[str, str]) -> dict[int, np.ndarray]:
    """layer -> (Tq, Tk) bool, True where an edge is blocked; ValueError naming the first edge out of range.

    Args:
        what: "layers", "queries", "keys": how the error messages name the ranges.
    """
    out: dict[int, np.ndarray] = {}
    if isinstance(edges, Passages):
        qs = _range("from_passage", edges.from_passage, tq, what["queries"])
        ks = _range("to_passage", edges.to_passage, tk, what["keys"])
        m = np.zeros((tq, tk), dtype=bool)
        m[qs.start:qs.stop, ks.start:ks.stop] = True
        return {layer: m.copy() for layer in range(layers)}
    for layer, q, k in edges:
        for name, value, n, side, unit in (("layer", layer, layers, what["layers"], "layers"),
                                           ("query", q, tq, what["queries"], "tokens"),
                                           ("key", k, tk, what["keys"], "tokens")):
            if not 0 <= value < n:
                raise ValueError(f"edge [{layer}, {q}, {k}]: {name} {value} is out of range: {side} has "
                                 f"{n} {unit} (0 to {n - 1})")
        out.setdefault(layer, np.zeros((tq, tk), dtype=bool))[q, k] = True
    return out


# --- the passes --------------------------------------------------------------------------------------


def _own(out, kind: str) -> dict[str, tuple]:
    """Block group -> the attention weights the model returned, one per layer."""
    if kind == "encoder-decoder":
        return {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions, "cross": out.cross_attentions}
    return {"decoder" if kind == "decoder" else "encoder": out.attentions}


def _call_order(adapter: Adapter, out, rec) -> list[tuple[str, int] | None]:
    """(group, layer) of each recorded call, in call order; NotOffered when the attention bypasses the capture."""
    where = {}
    for g, ws in _own(out, adapter.info.kind).items():
        for i, w in enumerate(ws or ()):
            if w is not None:
                where[id(w)] = (g, i)
    order = [where.get(id(c.weights)) for c in rec.calls]
    if not any(order):
        raise NotOffered(f"attention knockout is not available for {adapter.info.id} ({adapter.info.family}): "
                         "its attention does not go through AttnScope's capture function")
    return order


def _visible(call, tq: int, tk: int, causal: bool) -> np.ndarray:
    """(Tq, Tk) bool: the keys the model's own mask keeps for each query of this call."""
    removed = mask_from(call.mask, tq, tk)
    if causal:
        removed |= np.triu(np.ones((tq, tk), dtype=bool), 1)
    return ~removed


def _check_rows(knocked: dict[int, np.ndarray], calls: dict[int, object], causal: bool,
                q_tokens: list[str]) -> int:
    """How many blocked entries the model's mask kept; ValueError for a row left with no key to attend to."""
    blocked = 0
    for layer, m in sorted(knocked.items()):
        vis = _visible(calls[layer], *m.shape, causal)
        left = (vis & ~m).any(-1)  # (Tq,)
        dead = np.flatnonzero(vis.any(-1) & ~left)
        if dead.size:
            i = int(dead[0])
            raise ValueError(f"layer {layer}, query {i} ({q_tokens[i]!r}): every key it attends to is blocked, "
                             "so its row cannot be renormalised; leave it at least one key")
        blocked += int((vis & m).sum())
    return blocked


def _forward(model, inputs: dict, kind: str, full: bool, extra=None):
    kw = {} if kind == "encoder" else {"use_cache": False}
    with torch.inference_mode(), capture(model, full=full) as rec:
        rec.extra = extra
        out = model(**inputs, output_attentions=True, output_hidden_states=kind == "encoder", **kw)
    return out, rec


def _inputs(adapter: Adapter, text: str, block: str, target: str | None) -> tuple[dict, list[str], list[str]]:
    """The model's inputs (an encoder-decoder's decoder input: the start token + ``target``), the rows' and
    the columns' tokens of ``block``."""
    info = adapter.info
    if info.kind != "encoder-decoder" and target is not None:
        raise ValueError(f"{info.id!r} is {'an' if info.kind == 'encoder' else 'a'} {info.kind}: it takes no "
                         "target text")
    try:
        inputs, tokens = adapter.inputs(text)
    except NotOffered as exc:
        raise NotOffered(f"attention knockout is not available for {info.id}: it runs Hugging Face models through "
                         f"AttnScope's capture function ({exc})") from None
    if info.kind != "encoder-decoder":
        return inputs, tokens.text, tokens.text
    inputs.pop("token_type_ids", None)
    inputs["decoder_input_ids"], dec = adapter.target_inputs(target)
    return inputs, dec.text if block != "encoder" else tokens.text, dec.text if block == "decoder" else tokens.text


def knockout(adapter: Adapter, text: str, edges, block: str | None = None, target: str | None = None) -> Knockout:
    """Block ``edges`` of ``block`` (default: the model's first) and compare the output before and after.

    Args:
        edges: ``[[layer, query, key], ...]`` (all heads of that layer) or a :class:`Passages` (or its dict).
        target: the decoder input of an encoder-decoder (default: the start token alone).

    Raises:
        ValueError: bad edges, a row with every key blocked. NotOffered: a model outside the capture path.
    """
    info = adapter.info
    block = block or adapter.default_block
    if block not in info.blocks:
        raise ValueError(f"{info.id} has no {block!r} attention; it has: {', '.join(info.blocks)}")
    parsed = parse_edges(edges)
    inputs, q_tokens, k_tokens = _inputs(adapter, text, block, target)
    model = adapter.model.eval()
    with adapter.lock:
        out0, rec0 = _forward(model, inputs, info.kind, full=True)
        order = _call_order(adapter, out0, rec0)
        calls = {w[1]: c for w, c in zip(order, rec0.calls) if w is not None and w[0] == block}
        layers, tq, tk = len(calls), len(q_tokens), len(k_tokens)
        side = "the target" if block in ("decoder", "cross") and info.kind == "encoder-decoder" else "the text"
        what = {"layers": f"{info.id}'s {block} attention", "queries": side,
                "keys": "the text" if block == "cross" else side}
        knocked = knocked_masks(parsed, layers, tq, tk, what)
        blocked = _check_rows(knocked, calls, block == "decoder", q_tokens)
        dtype, device = next(model.parameters()).dtype, adapter.device
        adds = {layer: torch.zeros((1, 1, tq, tk), dtype=dtype, device=device)
                .masked_fill(torch.as_tensor(m, device=device), float("-inf")) for layer, m in knocked.items()}

        def extra(index: int, _module) -> torch.Tensor | None:
            w = order[index] if index < len(order) else None
            return adds.get(w[1]) if w is not None and w[0] == block else None

        out1, rec1 = _forward(model, inputs, info.kind, full=False, extra=extra if adds else None)
    if len(rec1.calls) != len(rec0.calls):  # pragma: no cover  (a model whose passes differ in their calls)
        raise RuntimeError(f"{info.id}: the knocked-out pass made {len(rec1.calls)} attention calls, "
                           f"the plain one {len(rec0.calls)}")
    own1 = _own(out1, info.kind)[block]
    result = Knockout(kind=info.kind, block=block, query_tokens=q_tokens, key_tokens=k_tokens,
                      layers=sorted(layer for layer, m in knocked.items() if m.any()),
                      edges=int(sum(m.sum() for m in knocked.values())), blocked=blocked, knocked=knocked,
                      attention_after={layer: np32(own1[layer][0]) for layer in knocked})
    if info.kind == "encoder":
        return _hidden(result, out0, out1, knocked)
    return _next_token(adapter, result, out0, out1)


# --- what is compared --------------------------------------------------------------------------------


def _top(adapter: Adapter, p: torch.Tensor) -> list[dict]:
    vals, ids = p.topk(min(TOP_K, p.shape[-1]))
    return [{"token": adapter.tokenizer.decode([i]), "id": int(i), "prob": float(v)}
            for v, i in zip(vals.tolist(), ids.tolist())]


def _next_token(adapter: Adapter, r: Knockout, out0, out1) -> Knockout:
    logits = getattr(out0, "logits", None)
    if logits is None:
        raise NotOffered(f"attention knockout is not available for {adapter.info.id}: "
                         f"{type(adapter.model).__name__} has no language-model head to compare next tokens with")
    l0, l1 = logits[0, -1].double().cpu(), out1.logits[0, -1].double().cpu()  # (V,)
    p0, p1 = l0.softmax(-1), l1.softmax(-1)
    top = int(p0.argmax())
    r.logits_before, r.logits_after = l0.float().numpy(), l1.float().numpy()
    r.extra = {"before": _top(adapter, p0), "after": _top(adapter, p1), "kl": float(kl(l0, l1)),
               "top_token": {"token": adapter.tokenizer.decode([top]), "id": top, "prob_before": float(p0[top]),
                             "prob_after": float(p1[top]), "change": float(p1[top] - p0[top])}}
    return r


def _final_hidden(out) -> torch.Tensor:
    last = getattr(out, "last_hidden_state", None)
    return (last if last is not None else out.hidden_states[-1])[0].double().cpu()  # (T, d)


def _hidden(r: Knockout, out0, out1, knocked: dict[int, np.ndarray]) -> Knockout:
    h0, h1 = _final_hidden(out0), _final_hidden(out1)
    cos = torch.nn.functional.cosine_similarity(h0, h1, dim=-1)  # (T,)
    queries = sorted({int(i) for m in knocked.values() for i in np.flatnonzero(m.any(-1))})
    r.hidden_before, r.hidden_after = h0.float().numpy(), h1.float().numpy()
    r.extra = {"queries": [{"query": i, "token": r.query_tokens[i], "cosine": _unit(cos[i]),
                            "norm_before": float(h0[i].norm()), "norm_after": float(h1[i].norm()),
                            "change_norm": float((h1[i] - h0[i]).norm())} for i in queries],
               "token_cosine": [_unit(c) for c in cos]}
    return r


def _unit(c: torch.Tensor) -> float:
    """A float64 cosine rounded to 12 decimals (identical vectors give exactly 1.0)."""
    return min(1.0, round(float(c), 12))
