"""Next-token prediction and step-by-step generation for decoder adapters (LLaMA, GPT-2).

* :func:`next_token`: the candidates for the token after ``text``, with their
  probability as the model gives it (temperature 1) and after temperature,
  top-k and top-p filtering (what sampling draws from).
* :func:`generate`: greedy, sampled or beam-search continuation, one
  :class:`Step` per new token: the token, its probability, the top candidates
  and the attention row of the query that produced it, for every layer and head.

Filtering uses transformers' own ``TemperatureLogitsWarper``,
``TopKLogitsWarper`` and ``TopPLogitsWarper`` in transformers' order, so
"sample" means what ``model.generate(do_sample=True)`` means. Greedy equals
``model.generate(do_sample=False)``. Sampling draws from a private
``torch.Generator`` seeded with ``seed``: the same seed gives the same text,
and the global RNG is untouched.

Which attention a step carries: the new token at position ``p`` is predicted by
the query of position ``p - 1``, so ``Step.attention`` is that query's row over
the ``p`` tokens before the new one (prompt + earlier generated tokens), shape
(L, H, p). This is the textbook "which tokens did it look at to produce this
word" (as :class:`attnscope.inspection.adapters.textbook.TranslationStep`).

Greedy and sampling run the model with its KV cache (one token per forward)
and stream steps as they come; the adapter's lock is held per forward pass,
not across steps. Beam search runs ``model.generate(num_beams=...)`` first,
then ONE forward pass over the final sequence gives every step's probabilities
and attention (the beam's own per-step numbers are not kept); its steps arrive
together at the end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.adapters.hf import display_piece, np32, tokenize
from attnscope.inspection.capture import capture

MAX_NEW_TOKENS = 64
STRATEGIES = ("greedy", "sample", "beam")


@dataclass
class Candidate:
    """One possible next token."""

    token: str  # display text ("Ġthe" shown as " the")
    id: int
    logit: float
    prob: float  # softmax of the raw logits (temperature 1, nothing filtered)
    prob_sampled: float  # after temperature, top-k, top-p: what sampling draws from (0 if filtered out)

    def to_dict(self) -> dict:
        return {"token": self.token, "id": self.id, "logit": self.logit, "prob": self.prob,
                "prob_sampled": self.prob_sampled}


@dataclass
class Step:
    """One generated token and what produced it.

    Attributes:
        index: 0 for the first new token.
        token, id: the chosen token (display text) and its id.
        prob: its probability at temperature 1.
        prob_sampled: its probability in the distribution it was chosen from
            (equal to ``prob`` for greedy and beam).
        candidates: the top candidates by logit, plus the chosen token if it is not among them.
        attention: (L, H, p) float32: the attention of the query at position
            p - 1 (which predicted this token) over the p tokens before it.
        text: the whole continuation so far, decoded.
        finished: True when the token is an end-of-sequence token.
    """

    index: int
    token: str
    id: int
    prob: float
    prob_sampled: float
    candidates: list[Candidate]
    attention: np.ndarray
    text: str
    finished: bool

    def to_dict(self) -> dict:
        return {"index": self.index, "token": self.token, "id": self.id, "prob": self.prob,
                "prob_sampled": self.prob_sampled, "candidates": [c.to_dict() for c in self.candidates],
                "text": self.text, "finished": self.finished}


def next_token(
    adapter: Adapter,
    text: str,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    n: int = 10,
) -> list[Candidate]:
    """The ``n`` most likely tokens after ``text``, most likely first.

    Args:
        temperature: > 0; divides the logits before the softmax (``prob_sampled`` only).
        top_k: keep the k most likely tokens (0: no limit).
        top_p: keep the smallest set whose probability reaches top_p (1: no limit).
    """
    check_sampling(temperature, top_k, top_p)
    ids = prompt_ids(adapter, text)
    with adapter.lock, torch.inference_mode():
        logits = adapter.model(input_ids=ids, use_cache=False).logits[0, -1].float()  # (V,)
    return candidates(adapter, logits, sampled_probs(ids, logits, temperature, top_k, top_p), n)


def generate(
    adapter: Adapter,
    text: str,
    strategy: str = "greedy",
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    beam_width: int = 4,
    seed: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    n_candidates: int = 10,
) -> Iterator[Step]:
    """Continue ``text`` token by token; returns an iterator of :class:`Step`.

    The arguments are checked now (ValueError), the model runs as the iterator
    is consumed. Stop early by breaking out of the loop, or with ``should_stop``
    (checked before every forward pass, and by beam search at each of its steps).

    Args:
        strategy: "greedy" (argmax), "sample" (temperature / top-k / top-p, seeded)
            or "beam" (``beam_width`` beams, transformers' beam search).
        max_new_tokens: 1 to 64; generation also ends at an end-of-sequence token.
        seed: the sampling seed (None: a fresh random one). Ignored by greedy and beam.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be an integer from 1 to {MAX_NEW_TOKENS}, got {max_new_tokens!r}")
    check_sampling(temperature, top_k, top_p)
    if strategy == "beam" and (not isinstance(beam_width, int) or not 1 <= beam_width <= 16):
        raise ValueError(f"beam_width must be an integer from 1 to 16, got {beam_width!r}")
    ids = prompt_ids(adapter, text)
    total = ids.shape[1] + max_new_tokens
    if total > adapter.info.max_tokens:
        raise ValueError(
            f"the prompt is {ids.shape[1]} tokens; with {max_new_tokens} new tokens that is {total}, "
            f"over the {adapter.info.max_tokens} {adapter.info.id} takes"
        )
    if strategy == "beam":
        return _beam(adapter, ids, max_new_tokens, beam_width, should_stop, n_candidates)
    rng = None
    if strategy == "sample":
        rng = torch.Generator().manual_seed(random.SystemRandom().randrange(2**63) if seed is None else int(seed))
    settings = (temperature, top_k, top_p) if strategy == "sample" else (1.0, 0, 1.0)
    return _stepwise(adapter, ids, max_new_tokens, settings, rng, should_stop, n_candidates)


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    """ValueError unless temperature > 0, top_k >= 0 (0: off) and 0 < top_p <= 1."""
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number above 0, got {temperature!r}")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 keeps every token), got {top_k!r}")
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p!r}")


def prompt_ids(adapter: Adapter, text: str) -> torch.Tensor:
    """(1, P) the ids of ``text``, tokenised exactly as the adapter's trace does."""
    if adapter.info.kind != "decoder":
        raise ValueError(f"{adapter.info.id!r} is an {adapter.info.kind}: it does not generate text")
    if not text or not text.strip():
        raise ValueError("text is empty: type the beginning of a sentence")
    inputs, _ = tokenize(adapter.tokenizer, text)
    ids = inputs["input_ids"]
    if ids.shape[1] == 0:
        raise ValueError("text is empty: type the beginning of a sentence")
    if ids.shape[1] > adapter.info.max_tokens:
        raise ValueError(
            f"text is {ids.shape[1]} tokens long; {adapter.info.id} takes at most {adapter.info.max_tokens}"
        )
    return ids.to(adapter.device)  # the model's device (ATTNSCOPE_DEVICE)


def sampled_probs(
    ids: torch.Tensor, logits: torch.Tensor, temperature: float, top_k: int, top_p: float
) -> torch.Tensor:
    """(V,) the distribution sampling draws from: transformers' temperature, top-k, top-p warpers, softmax."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    scores = logits[None].float()  # (1, V)
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(float(temperature))(ids, scores)
    if top_k > 0:
        scores = TopKLogitsWarper(top_k=int(top_k))(ids, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p=float(top_p))(ids, scores)
    return torch.softmax(scores, dim=-1)[0]


def candidates(adapter: Adapter, logits: torch.Tensor, sampled: torch.Tensor, n: int,
               include: int | None = None) -> list[Candidate]:
    """The ``n`` highest-logit tokens (plus ``include`` if missing), most likely first."""
    probs = torch.softmax(logits.float(), dim=-1)
    top = torch.topk(logits, min(n, logits.shape[0])).indices.tolist()
    if include is not None and include not in top:
        top.append(include)
    return [Candidate(token=_show(adapter.tokenizer, i), id=i, logit=float(logits[i]), prob=float(probs[i]),
                      prob_sampled=float(sampled[i])) for i in top]


def _show(tokenizer, token_id: int) -> str:
    piece = tokenizer.convert_ids_to_tokens(token_id)
    return display_piece(tokenizer, piece, token_id in tokenizer.all_special_ids)


def eos_ids(model) -> set[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = model.config.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}


def _step(adapter, index: int, chosen: int, logits, sampled, attention, generated: list[int], n: int,
          eos: set[int]) -> Step:
    probs = torch.softmax(logits.float(), dim=-1)
    return Step(
        index=index,
        token=_show(adapter.tokenizer, chosen),
        id=chosen,
        prob=float(probs[chosen]),
        prob_sampled=float(sampled[chosen]),
        candidates=candidates(adapter, logits, sampled, n, include=chosen),
        attention=attention,
        text=adapter.tokenizer.decode(generated, skip_special_tokens=False),
        finished=chosen in eos,
    )


def _keys_to(row: torch.Tensor, p: int) -> torch.Tensor:
    """(H, n) attention over the cached keys -> (H, p) over every position: a sliding-window layer's cache
    holds its last n keys, so the earlier positions get zero weight."""
    n = row.shape[-1]
    return row if n == p else torch.nn.functional.pad(row, (p - n, 0))


def _stepwise(adapter, ids, max_new, settings, rng, should_stop, n) -> Iterator[Step]:
    """Greedy (rng None) or sampling, one token per forward pass through the KV cache."""
    model, eos = adapter.model, eos_ids(adapter.model)
    temperature, top_k, top_p = settings
    feed, past, seen, generated = ids, None, ids, []
    for index in range(max_new):
        if should_stop is not None and should_stop():
            return
        with adapter.lock, torch.inference_mode(), capture(model, full=False):
            out = model(input_ids=feed, past_key_values=past, use_cache=True, output_attentions=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float()  # (V,)
            p = seen.shape[1]  # the keys so far; a sliding-window layer's cache holds only its last ones
            attention = np32(torch.stack([_keys_to(a[0, :, -1, :], p) for a in out.attentions]))  # (L, H, p)
            if rng is None:
                sampled = torch.softmax(logits, dim=-1)
                chosen = int(torch.argmax(logits))
            else:
                sampled = sampled_probs(seen, logits, temperature, top_k, top_p)
                chosen = int(torch.multinomial(sampled.float().cpu(), 1, generator=rng))
        generated.append(chosen)
        step = _step(adapter, index, chosen, logits, sampled, attention, generated, n, eos)
        yield step
        if step.finished:
            return
        feed = torch.tensor([[chosen]], device=seen.device)
        seen = torch.cat([seen, feed], dim=1)


def _beam(adapter, ids, max_new, beam_width, should_stop, n) -> Iterator[Step]:
    """transformers' beam search, then one forward pass over the winner for the per-step numbers."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), bool(should_stop()), dtype=torch.bool)

    model, eos = adapter.model, eos_ids(adapter.model)
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else (min(eos) if eos else 0)
    if should_stop is not None and should_stop():
        return
    with adapter.lock, torch.inference_mode():
        seq = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=beam_width,
            num_return_sequences=1, max_new_tokens=max_new, pad_token_id=pad,
            stopping_criteria=StoppingCriteriaList([Stop()]) if should_stop is not None else None,
        )[0]
    if should_stop is not None and should_stop():
        return
    p0 = ids.shape[1]
    new = seq[p0:].tolist()
    for j, tok in enumerate(new):  # cut after the first end-of-sequence token
        if tok in eos:
            new = new[: j + 1]
            break
    if not new:
        return
    full = torch.cat([ids[0], torch.tensor(new, device=ids.device)])[None]  # (1, P + N)
    with adapter.lock, torch.inference_mode(), capture(model, full=False):
        out = model(input_ids=full[:, :-1], use_cache=False, output_attentions=True)
    for index, tok in enumerate(new):
        p = p0 + index  # the new token's position; predicted by the query at p - 1
        logits = out.logits[0, p - 1].float()
        attention = np32(torch.stack([a[0, :, p - 1, :p] for a in out.attentions]))  # (L, H, p)
        probs = torch.softmax(logits, dim=-1)
        yield _step(adapter, index, tok, logits, probs, attention, new[: index + 1], n, eos)


# --- the beam tree (what the lecture draws: the top k sequences kept at every step) --------------


# beam search's tree (every step's kept and pruned hypotheses): attnscope/inspection/beam_tree.py
from attnscope.inspection.beam_tree import BeamNode, BeamTree, beam_tree, textbook_beam_tree  # noqa: E402,F401
