"""What a loaded model offers, measured: the step identities checked on a few tokens at load.

A capability is offered when its identities hold on the model itself, not because of its family name:

* ``steps`` (Q/K/V step by step): ``softmax(cap(q·kᵀ·scale) + bias + mask)`` equals the model's weights;
  ``x·W_q + b_q``, rotated as the model rotates, equals the q its attention received (likewise k, v);
  ``concat(z)·W_o + b_o`` equals the attention module's output.
* ``ablate``: the same W_O identity (heads are zeroed at W_O's input), and an output to compare.
* ``block_steps`` (Add & Norm, feed-forward): the block output recomputed from the weights equals the
  model's own hidden state.

A capability whose identities do not hold is withheld with the measured difference as its reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attnscope.inspection.trace import Trace

#: tolerance of the step identities per dtype (relative to the size of the compared numbers)
TOLERANCE = {"float32": 1e-5, "bfloat16": 5e-2, "float16": 1e-2}
#: the text the self-check runs (short: a few tokens, repeated words for non-trivial attention)
CHECK_TEXT = "The cat sat on the mat. The cat"
VIEWS = ("attention", "model_view", "heads", "compare")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / (1 + max |b|): an absolute difference for probabilities, relative for large values."""
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / (1.0 + np.max(np.abs(b))))


def softmax(s: np.ndarray) -> np.ndarray:
    """Row softmax of scores with -inf for masked keys (a fully masked row gives zeros)."""
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m)
    return e / np.maximum(e.sum(-1, keepdims=True), 1e-30)


def step_differences(adapter, trace: Trace) -> dict[str, float]:
    """The largest difference of each step identity over every block of ``trace`` (a full trace)."""
    diffs = {"softmax": 0.0, "q": 0.0, "k": 0.0, "v": 0.0, "w_o": 0.0}
    for group, blocks in trace.blocks.items():
        for b in blocks:
            diffs["softmax"] = max(diffs["softmax"], _rel(softmax(b.scaled().astype(np.float64)), b.weights))
            hw = [adapter.head_weights(group, b.layer, h) for h in range(b.heads)]
            kx = b.x if group != "cross" else None
            for h, w in enumerate(hw):
                q = w.normed(b.x @ w.w_q + (w.b_q if w.b_q is not None else 0), "q")
                diffs["q"] = max(diffs["q"], _rel(adapter.rotate(q, layer=b.layer), b.q[h]))
                if kx is not None:  # cross-attention keys come from the encoder's output
                    k = w.normed(kx @ w.w_k + (w.b_k if w.b_k is not None else 0), "k")
                    v = kx @ w.w_v + (w.b_v if w.b_v is not None else 0)
                    diffs["k"] = max(diffs["k"], _rel(adapter.rotate(k, layer=b.layer), b.k[h]))
                    diffs["v"] = max(diffs["v"], _rel(v, b.v[h]))
            if hw:
                z = np.concatenate(list(b.z), axis=-1)  # (Tq, H * d_head)
                out = z @ hw[0].w_o + (hw[0].b_o if hw[0].b_o is not None else 0)
                diffs["w_o"] = max(diffs["w_o"], _rel(out, b.out))
    return diffs


def self_check(adapter) -> tuple[dict[str, bool], dict[str, str], dict[str, float]]:
    """Run :data:`CHECK_TEXT` and check each capability's identities.

    Returns:
        (capabilities, reasons, measured differences).
    """
    tol = TOLERANCE.get(adapter.dtype, 1e-5) * 10  # a margin over the per-number tolerance the tests use
    caps: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    trace = adapter.run(CHECK_TEXT, None)
    try:
        diffs = step_differences(adapter, trace)
    except Exception as exc:  # noqa: BLE001  (a model whose modules do not fit the table's assumptions)
        reason = f"the step identities could not be checked on this model ({type(exc).__name__}: {exc})"
        return {"steps": False}, {"steps": reason}, {}
    bad = {k: v for k, v in diffs.items() if not v <= tol}
    if bad:
        worst = max(bad, key=bad.get)
        what = {"softmax": "softmax(q·kᵀ·scale + bias + mask) misses the model's weights",
                "q": "x·W_q (normed and rotated as the model does) misses the q its attention receives",
                "k": "x·W_k (rotated) misses the k its attention receives",
                "v": "x·W_v misses the v its attention receives",
                "w_o": "concat(z)·W_o misses the attention module's output"}[worst]
        caps["steps"] = False
        reasons["steps"] = f"{what} by {bad[worst]:.3g} (checked at load on {CHECK_TEXT!r})"
    if "w_o" in bad:
        caps["ablate"] = False
        reasons["ablate"] = f"concat(z)·W_o misses the attention module's output by {bad['w_o']:.3g}"
    return caps, reasons, diffs


def block_check(adapter) -> tuple[bool, str | None, float | None]:
    """Whether Add & Norm and the feed-forward recompute the model's own layer output (first layer, last token)."""
    from attnscope.inspection.block_steps import block_steps

    try:
        n = adapter.count_tokens(CHECK_TEXT)
        b = block_steps(adapter, CHECK_TEXT, 0, n - 1)
    except (ValueError, NotImplementedError, KeyError, AttributeError) as exc:
        return False, str(exc), None
    tol = TOLERANCE.get(adapter.dtype, 1e-5) * 10
    d = float(b.max_diff / (1.0 + float(np.max(np.abs(b.model_out)))))
    if not d <= tol:
        return False, f"the recomputed block output misses the model's hidden state by {d:.3g}", d
    return True, None, d


def capabilities(self, info, check: bool):
    """What the generic adapter ``self`` offers: from what is read, its heads, and the identities measured on it.

    Args:
        self: the :class:`~attnscope.inspection.adapters.generic.HFAdapter` being built.
        info: its :class:`~attnscope.inspection.adapters.base.ModelInfo` so far.
        check: run :func:`self_check` and :func:`block_check` (a few tokens) and withhold what fails.
    """
    caps = dict.fromkeys(VIEWS, True)
    reasons: dict[str, str] = {}
    arch = type(self.model).__name__
    has_lm = hasattr(self.model, "generate") and self.model.get_output_embeddings() is not None
    if not self._reads:
        why = (f"{arch} ({self.fam.name}) is not in AttnScope's family table: only the attention "
               "weights are read")
        if self.known and not self.fam.reads_qkv:
            why = f"{self.fam.name}: {self.fam.positional} attention scores are not q·k/scale; " \
                  "only the attention weights are read"
        for c in ("steps", "ablate", "block_steps"):
            caps[c], reasons[c] = False, why
    else:
        caps["steps"] = True
        softcap = getattr(self.model.config, "attn_logit_softcapping", None)
        if self.fam.steps_reason:
            caps["steps"], reasons["steps"] = False, self.fam.steps_reason
        elif softcap:  # the Trace is exact (AttentionBlock.softcap); the page has no step for the cap yet
            caps["steps"], reasons["steps"] = False, (f"{self.fam.name} soft-caps its scores "
                                                      f"({softcap}·tanh(s/{softcap})) before the softmax, "
                                                      "a step Step by step does not show")
        caps["ablate"] = info.kind == "encoder" or has_lm  # decoders compare next tokens, enc-decs outputs
        if not caps["ablate"]:
            reasons["ablate"] = f"{arch} has no language-model head to compare outputs with"
        caps["block_steps"] = True
    caps["generate"] = info.kind == "decoder" and has_lm
    if not caps["generate"]:
        reasons["generate"] = (f"{arch} has no language-model head" if info.kind == "decoder" else
                               f"an {info.kind} does not continue text" if info.kind == "encoder"
                               else "encoder-decoders generate with /api/seq2seq")
    caps["seq2seq"] = info.kind == "encoder-decoder" and has_lm
    if not caps["seq2seq"]:
        reasons["seq2seq"] = "only encoder-decoders with an LM head translate or summarise"
    info = replace(info, capabilities=caps, reasons=reasons, dtype=self.dtype, device=str(self.device))
    if check and self._reads:
        self.info = info
        measured, why, self.checks = self_check(self)
        for c, ok in measured.items():
            if caps.get(c) and not ok:
                caps[c], reasons[c] = False, why[c]
        ok, why_block, d = block_check(self)
        if d is not None:
            self.checks["block"] = d
        if not ok:
            caps["block_steps"], reasons["block_steps"] = False, why_block or "no block layout"
    return replace(info, capabilities=caps, reasons=reasons)
