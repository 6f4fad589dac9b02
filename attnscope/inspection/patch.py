"""Activation patching: copy one activation from a clean run into a corrupted one and measure what comes back.

Two prompts with the same number of tokens: ``clean`` (e.g. "... John gave a drink to", the model says
" Mary") and ``corrupt`` (names swapped: " John"). A *site* is one activation of the clean run:

* mode ``"heads"``: head ``h`` of layer ``l``: its slice ``z[:, h·d_head:(h+1)·d_head]`` of the input
  to W_O (``concat(z)``: what ablation zeroes, :mod:`attnscope.inspection.ablate`), at every position
  (or at ``positions``); the grid is layers × heads;
* mode ``"residual"``: the residual stream after block ``l`` (the layer's output, before any final
  norm) at one position ``p``; the grid is layers × positions.

Each cell runs the corrupt prompt with that one site overwritten by its clean value and reads the
next-token logits after the last token. Metrics ``m`` of those logits:

* ``logit_diff``: ``logit[answer] - logit[foil]``; by default the answer is the clean prompt's top next
  token and the foil the corrupt prompt's (``target`` / ``foil`` name others, one token each);
* ``prob``: ``softmax(logits)[answer]``;
* ``kl``: ``KL(clean || patched)`` of the next-token distributions, in nats (lower = closer to clean).

The effect is ``(m(patched) - m(corrupt)) / (m(clean) - m(corrupt))``: 1 = fully restored, 0 = no
change, for every metric (for ``kl``, m(clean) = 0: the effect is ``1 - KL(clean||patched) / KL(clean||corrupt)``).
Where ``m(clean) == m(corrupt)`` the normalisation is undefined: ``effects`` is None and ``reason`` says
why; the raw ``values`` are always there.

Batched: after one pass over clean and corrupt together (batch 2, recording every site), the patched
runs go ``batch`` rows at a time (default 32), row ``i`` of the corrupt prompt with site ``i`` patched:
all L·H heads take ``1 + ceil(L·H / 32)`` forward passes. Patching every head at every position restores
the clean logits exactly when the last token is the same in both prompts (that position's residual
stream is then clean at every layer); patching none leaves the corrupt logits.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from attnscope.inspection.adapters.base import Adapter, NotOffered
from attnscope.inspection.adapters.projections import attr
from attnscope.inspection.hooks import hooks
from attnscope.inspection.patch_presets import PATCH_PRESETS  # noqa: F401  (re-exported)

METRICS = ("logit_diff", "prob", "kl")
MODES = ("heads", "residual")
BATCH = 32
#: rows x tokens per patched forward pass (32 rows of 512 tokens); and at most this many patched runs
MAX_BATCH_TOKENS = 16384
MAX_RUNS = 4096
#: when the model returns logits at every position: rows x tokens x vocab x 4 bytes at most
MAX_LOGIT_BYTES = 1 << 30

class Site(NamedTuple):
    """One clean activation to copy: ``kind`` "head" (``index`` = head) or "residual" (after block ``layer``)."""

    kind: str
    layer: int
    index: int = 0
    positions: tuple[int, ...] | None = None  # None: every position


@dataclass
class Patching:
    """One patching grid; ``to_dict`` is the API's answer (without ``model``)."""

    clean_tokens: list[str]
    corrupt_tokens: list[str]
    answer: dict
    foil: dict | None
    metric: str
    mode: str
    clean_value: float
    corrupt_value: float
    values: list[list[float | None]]
    effects: list[list[float | None]] | None
    reason: str | None
    positions: list[int]
    columns: list[int]
    differing: list[int]
    forwards: int
    batch: int
    seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def decoder_parts(adapter: Adapter):
    """(W_O modules, layer modules) of a decoder whose W_O the adapter names; NotOffered otherwise."""
    info = adapter.info
    if info.kind != "decoder":
        raise NotOffered(f"{info.id} is an {info.kind}: patching compares next-token predictions, "
                         "which decoders make")
    if not info.capabilities.get("ablate", False):
        raise NotOffered(f"patching is not available for {info.id}: "
                         f"{info.reasons.get('ablate', 'its output projections are not known')}")
    try:
        layers = list(attr(adapter.base, adapter.fam.layers["decoder"]))
    except (AttributeError, KeyError, IndexError):
        raise NotOffered(f"{info.id} ({info.family}) does not say where its layers are") from None
    return [adapter.output_projection("decoder", i) for i in range(len(layers))], layers


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _forward(model, inputs: dict, keeps_last: bool) -> torch.Tensor:
    """(B, V) float32 next-token logits after the last token."""
    extra = {"logits_to_keep": 1} if keeps_last else {}
    return model(**inputs, use_cache=False, **extra).logits[:, -1].float()


def _keeps_last(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def run_clean(adapter: Adapter, clean: dict, corrupt: dict):
    """One pass over clean and corrupt (batch 2): their last logits (V,) each, and every clean site.

    Returns:
        (clean logits, corrupt logits, z: per layer (T, H·d_head) W_O input, resid: per layer (T, d) output).
    """
    wos, layers = decoder_parts(adapter)
    z: dict[int, torch.Tensor] = {}
    resid: dict[int, torch.Tensor] = {}

    def keep_z(i):
        def hook(_m, args, kwargs):
            z.setdefault(i, (args[0] if args else next(iter(kwargs.values())))[0].clone())  # (T, H * d_head)
        return hook

    def keep_resid(i):
        def hook(_m, _args, out):
            resid.setdefault(i, _first(out)[0].clone())  # (T, d)
        return hook

    both = {k: torch.cat([clean[k], corrupt[k]]) for k in clean}  # (2, T)
    with hooks() as hs:
        for i, (wo, layer) in enumerate(zip(wos, layers)):
            hs.pre(wo, keep_z(i))
            hs.post(layer, keep_resid(i))
        logits = _forward(adapter.model, both, _keeps_last(adapter.model))  # (2, V)
    return logits[0], logits[1], [z[i] for i in range(len(wos))], [resid[i] for i in range(len(layers))]


def _patch_hooks(hs, adapter: Adapter, rows: list[list[Site]], z, resid) -> None:
    """Hooks overwriting row r's sites with their clean values, in one batched pass."""
    wos, layers = decoder_parts(adapter)
    dh = adapter.info.d_head
    heads: dict[int, list] = {}
    streams: dict[int, list] = {}
    for r, sites in enumerate(rows):
        for s in sites:
            pos = slice(None) if s.positions is None else list(s.positions)
            (heads if s.kind == "head" else streams).setdefault(s.layer, []).append((r, s.index, pos))

    def on_wo(layer):
        def hook(_m, args, kwargs):
            key = None if args else next(iter(kwargs))
            x = (args[0] if args else kwargs[key]).clone()  # (B, T, H * d_head)
            for r, h, pos in heads[layer]:
                cols = slice(h * dh, (h + 1) * dh)
                x[r, pos, cols] = z[layer][pos, cols]
            return ((x, *args[1:]), kwargs) if args else (args, {**kwargs, key: x})
        return hook

    def on_layer(layer):
        def hook(_m, _args, out):
            h = _first(out).clone()  # (B, T, d)
            for r, _, pos in streams[layer]:
                h[r, pos] = resid[layer][pos]
            return (h, *out[1:]) if isinstance(out, tuple) else h
        return hook

    for layer in heads:
        hs.pre(wos[layer], on_wo(layer))
    for layer in streams:
        hs.post(layers[layer], on_layer(layer))


def batch_rows(adapter: Adapter, tokens: int, batch: int = BATCH) -> int:
    """Rows per patched pass: ``batch``, bounded by rows x tokens <= 16384 (and the logits' bytes)."""
    rows = max(1, min(batch, MAX_BATCH_TOKENS // max(tokens, 1)))
    if not _keeps_last(adapter.model):
        vocab = adapter.model.get_output_embeddings().weight.shape[0]
        rows = max(1, min(rows, MAX_LOGIT_BYTES // (tokens * vocab * 4)))
    return rows


def _widen(n: int):
    """A layer pre-hook that repeats its (1, T, d) input into (n, T, d): the batch starts at that layer."""
    def hook(_m, args, kwargs):
        if args:
            return (args[0].repeat(n, 1, 1), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": kwargs["hidden_states"].repeat(n, 1, 1)}
    return hook


def run_patched(adapter: Adapter, corrupt: dict, rows: list[list[Site]], z, resid,
                batch: int = BATCH, share_prefix: bool = True) -> tuple[torch.Tensor, int]:
    """The corrupt prompt with each row's sites patched: ((len(rows), V) last logits, forward passes).

    Every row is the corrupt run up to its first patched layer, so a batch runs the layers before its
    rows' first patched layer once, on one row, and repeats the stream into the batch's rows there
    (rows sorted by layer: about half the work of running every row through every layer). A model
    whose layers do not take the widened stream (or ``share_prefix`` False) runs every row from the
    embeddings.
    """
    _, layers = decoder_parts(adapter)
    t = corrupt["input_ids"].shape[1]
    b = batch_rows(adapter, t, batch)
    keeps = _keeps_last(adapter.model)
    out, forwards = [], 0
    for start in range(0, len(rows), b):
        chunk = rows[start:start + b]
        n, first = len(chunk), min((s.layer for sites in chunk for s in sites), default=0)
        logits = None
        with hooks() as hs:
            _patch_hooks(hs, adapter, chunk, z, resid)
            if first > 0 and share_prefix:
                hs.pre(layers[first], _widen(n))
                try:
                    logits = _forward(adapter.model, corrupt, keeps)  # (n, V)
                except RuntimeError:
                    logits = None
                hs.handles.pop().remove()
            if logits is None or logits.shape[0] != n:
                logits = _forward(adapter.model, {k: v.repeat(n, 1) for k, v in corrupt.items()}, keeps)
        out.append(logits)
        forwards += 1
    return torch.cat(out) if out else torch.zeros((0, 0)), forwards


def encode_pair(adapter: Adapter, clean: str, corrupt: str) -> tuple[dict, dict, list[str], list[str]]:
    """Model inputs and tokens of both prompts; ValueError when their token counts differ."""
    ci, ct = adapter.inputs(clean)
    ki, kt = adapter.inputs(corrupt)
    if len(ct) != len(kt):
        raise ValueError(f"clean and corrupt must have the same number of tokens: clean is {len(ct)} tokens "
                         f"({' | '.join(ct.text)}), corrupt is {len(kt)} ({' | '.join(kt.text)})")
    keep = ("input_ids", "attention_mask")
    return {k: ci[k] for k in keep if k in ci}, {k: ki[k] for k in keep if k in ki}, ct.text, kt.text


def patched_logits(adapter: Adapter, clean: str, corrupt: str, rows: list[list[Site]], batch: int = BATCH,
                   share_prefix: bool = True):
    """(clean (V,), corrupt (V,), patched (len(rows), V) next-token logits, forward passes): the raw runs."""
    ci, ki, _, _ = encode_pair(adapter, clean, corrupt)
    adapter.model.eval()
    with adapter.lock, torch.inference_mode():
        c, k, z, resid = run_clean(adapter, ci, ki)
        p, n = run_patched(adapter, ki, rows, z, resid, batch, share_prefix)
    return c, k, p, n + 1


def token_id(adapter: Adapter, text: str, what: str) -> int:
    """The one token ``text`` is (no special tokens); ValueError naming the pieces otherwise."""
    ids = adapter.tokenizer.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return int(ids[0])
    hint = ""
    if not text.startswith(" ") and len(adapter.tokenizer.encode(" " + text, add_special_tokens=False)) == 1:
        hint = f"; {' ' + text!r} (with a leading space) is one token"
    pieces = " | ".join(adapter.output_tokens(ids)) if ids else "nothing"
    raise ValueError(f"{what} {text!r} is {len(ids)} tokens ({pieces}), not one{hint}")


def metric_values(metric: str, logits: torch.Tensor, clean: torch.Tensor, answer: int, foil: int | None) -> np.ndarray:
    """m of each row of (n, V) next-token logits, float64 (n,)."""
    lg = logits.double()
    if metric == "logit_diff":
        return (lg[:, answer] - lg[:, foil]).cpu().numpy()
    if metric == "prob":
        return lg.softmax(-1)[:, answer].cpu().numpy()
    lc, lp = clean.double().log_softmax(-1), lg.log_softmax(-1)  # (V,), (n, V)
    return (lc.exp() * (lc - lp)).sum(-1).clamp_min(0.0).cpu().numpy()


def _sites(adapter: Adapter, mode: str, heads, positions: list[int] | None, t: int):
    """(grid shape, [(row, column, site)]) of the sites tried."""
    from attnscope.inspection.ablate import check_heads

    info = adapter.info
    if positions is not None:
        if not positions:
            raise ValueError("positions is empty: give at least one position, or omit it for all")
        bad = [p for p in positions if not 0 <= p < t]
        if bad:
            raise ValueError(f"position {bad[0]} is out of range: the prompts have {t} tokens (0 to {t - 1})")
    pos = sorted(set(positions)) if positions is not None else list(range(t))
    if mode == "heads":
        pairs = check_heads(adapter, heads) if heads is not None else \
            [(layer, h) for layer in range(info.layers) for h in range(info.heads)]
        where = None if positions is None else tuple(pos)
        return (info.layers, info.heads), pos, [(layer, h, Site("head", layer, h, where)) for layer, h in pairs]
    if heads is not None:
        raise ValueError("heads applies to mode 'heads'; mode 'residual' patches each layer's residual stream")
    return (info.layers, len(pos)), pos, [(layer, j, Site("residual", layer, 0, (p,)))
                                          for layer in range(info.layers) for j, p in enumerate(pos)]


def _pair(adapter, metric, c, k, target, foil) -> tuple[int, int | None, str | None]:
    """(answer id, foil id, why the normalisation is undefined or None)."""
    clean_top, corrupt_top = int(c.argmax()), int(k.argmax())
    answer = token_id(adapter, target, "target") if target is not None else clean_top
    if metric != "logit_diff":
        return answer, None, None
    f = token_id(adapter, foil, "foil") if foil is not None else (corrupt_top if corrupt_top != answer else clean_top)
    if f == answer:
        shown = adapter.output_tokens([answer])[0]
        why = (f"the answer and the foil are the same token ({shown!r}): logit_diff is 0 everywhere; "
               "give a target and a foil that differ" if foil is not None or target is not None else
               f"the clean and corrupt prompts both predict {shown!r}: give a target and a foil, or another metric")
        return answer, f, why
    return answer, f, None


def patch(adapter: Adapter, clean: str, corrupt: str, metric: str = "logit_diff", mode: str = "heads",
          target: str | None = None, foil: str | None = None, heads=None, positions: list[int] | None = None,
          batch: int = BATCH) -> Patching:
    """The patching grid of ``clean`` into ``corrupt`` (definitions: the module docstring).

    Args:
        metric: "logit_diff" | "prob" | "kl".
        mode: "heads" (grid layers x heads) or "residual" (grid layers x positions).
        target, foil: the answer and foil token texts (one token each); default the prompts' top tokens.
        heads: ``[layer, head]`` pairs to try (mode "heads"); default every head; the others are None.
        positions: mode "heads": where heads are patched (default all); "residual": the grid's columns.
        batch: patched runs per forward pass (at most 32 rows of 512 tokens).

    Raises:
        ValueError: different token counts, bad names, heads, positions; NotOffered: not a decoder.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of: {', '.join(METRICS)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of: {', '.join(MODES)}")
    if not 1 <= batch <= 256:
        raise ValueError(f"batch is {batch}; give 1 to 256 rows per pass")
    decoder_parts(adapter)
    ci, ki, ct, kt = encode_pair(adapter, clean, corrupt)
    t = len(ct)
    (n_rows, n_cols), pos, tried = _sites(adapter, mode, heads, positions, t)
    if len(tried) > MAX_RUNS:
        raise ValueError(f"{len(tried)} patched runs asked ({n_rows} layers x {n_cols} positions); at most "
                         f"{MAX_RUNS}: give fewer positions")
    start = time.perf_counter()
    adapter.model.eval()
    with adapter.lock, torch.inference_mode():
        c, k, z, resid = run_clean(adapter, ci, ki)
        answer, foil_id, reason = _pair(adapter, metric, c, k, target, foil)
        p, forwards = run_patched(adapter, ki, [[s] for _, _, s in tried], z, resid, batch)
    seconds = time.perf_counter() - start
    both = metric_values(metric, torch.stack([c, k]), c, answer, foil_id)
    mc, mk = float(both[0]), float(both[1])
    vals = metric_values(metric, p, c, answer, foil_id) if len(tried) else np.zeros(0)
    den = mc - mk
    if reason is None and not abs(den) > 1e-6 * (1.0 + abs(mc) + abs(mk)):
        reason = (f"m(clean) = m(corrupt) = {mc:.6g} ({metric}): the normalisation (m - m(corrupt)) / "
                  "(m(clean) - m(corrupt)) is undefined; the raw values are given")
    values: list[list[float | None]] = [[None] * n_cols for _ in range(n_rows)]
    effects = None if reason else [[None] * n_cols for _ in range(n_rows)]
    for (r, col, _), v in zip(tried, vals):
        values[r][col] = float(v)
        if effects is not None:
            effects[r][col] = float((v - mk) / den)
    names = adapter.output_tokens([answer] + ([foil_id] if foil_id is not None else []))
    clean_ids, corrupt_ids = ci["input_ids"][0].tolist(), ki["input_ids"][0].tolist()
    return Patching(
        clean_tokens=ct, corrupt_tokens=kt, answer={"token": names[0], "id": answer},
        foil={"token": names[1], "id": foil_id} if foil_id is not None else None,
        metric=metric, mode=mode, clean_value=mc, corrupt_value=mk, values=values, effects=effects,
        reason=reason, positions=pos, columns=list(range(n_cols)) if mode == "heads" else pos,
        differing=[i for i, (a, b) in enumerate(zip(clean_ids, corrupt_ids)) if a != b],
        forwards=1 + forwards, batch=batch_rows(adapter, t, batch), seconds=round(seconds, 4))


def forwards_goal(layers: int, heads: int, batch: int = BATCH) -> float:
    """The issue's goal for patching every head: ``1 + L·H / batch`` forward passes."""
    return 1 + layers * heads / batch


__all__ = ["PATCH_PRESETS", "Patching", "Site", "decoder_parts", "patch", "patched_logits", "forwards_goal"]
