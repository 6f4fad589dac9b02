"""Beam search's tree: every step's kept and pruned hypotheses with cumulative log-probabilities.

Re-exported by :mod:`attnscope.inspection.generate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnscope.inspection.adapters.base import Adapter

@dataclass
class BeamNode:
    """One hypothesis extended by one token at one step of the beam tree.

    Attributes:
        step: 0 for the first new token.
        parent: index of the hypothesis it extends among the previous step's kept ones (-1 at step 0).
        token, id: the token added (display text) and its id.
        logprob: log p(token | its prefix), natural log.
        score: the cumulative log-probability of the whole continuation so far (parent's score + logprob).
        kept: True if it is among the ``beam_width`` best of the step; False: pruned (drawn grey).
        finished: it ended with an end-of-sequence token (kept finished hypotheses are carried, not extended).
        rank: its place among the step's nodes by score (0 best).
    """

    step: int
    parent: int
    token: str
    id: int
    logprob: float
    score: float
    kept: bool
    finished: bool
    rank: int

    def to_dict(self) -> dict:
        return {"step": self.step, "parent": self.parent, "token": self.token, "id": self.id,
                "logprob": self.logprob, "score": self.score, "kept": self.kept, "finished": self.finished,
                "rank": self.rank}


@dataclass
class BeamTree:
    """The beam search as the lectures teach it, and greedy decoding beside it.

    Attributes:
        beam_width: k, the hypotheses kept at every step.
        steps: per step, every node considered (each kept hypothesis's k best next tokens, plus the
            finished hypotheses carried over), best score first; the first ``beam_width`` are kept.
        kept: per step, the indices into ``steps[t]`` of the kept hypotheses, in the order their
            ``parent`` fields at step t + 1 refer to.
        best: the best hypothesis at the end, as (step, node index) per step from the root.
        greedy: greedy decoding's path: per step {token, id, logprob, score}.
        diverge_step: the first step at which the best beam's token differs from greedy's (None if never).
    """

    beam_width: int
    steps: list[list[BeamNode]]
    kept: list[list[int]]
    best: list[int]
    best_score: float
    greedy: list[dict]
    greedy_score: float
    diverge_step: int | None

    def to_dict(self) -> dict:
        return {"beam_width": self.beam_width, "steps": [[n.to_dict() for n in s] for s in self.steps],
                "kept": self.kept, "best": self.best, "best_score": self.best_score, "greedy": self.greedy,
                "greedy_score": self.greedy_score, "diverge_step": self.diverge_step}


def _piece(adapter, token_id: int) -> str:
    """A token as the text it adds (" Paris", "\n"), special tokens by name."""
    if token_id in adapter.tokenizer.all_special_ids:
        return adapter.tokenizer.convert_ids_to_tokens(token_id)
    return adapter.tokenizer.decode([token_id])


def _next_logprobs(adapter, seqs: list[list[int]]) -> torch.Tensor:
    """(B, V) log-softmax of the next token after each of the equally long sequences."""
    with adapter.lock, torch.inference_mode():
        out = adapter.model(input_ids=torch.tensor(seqs), use_cache=False)
    return torch.log_softmax(out.logits[:, -1].float(), dim=-1)


def beam_tree(adapter: Adapter, text: str, max_new_tokens: int = 8, beam_width: int = 4,
              should_stop: Callable[[], bool] | None = None) -> BeamTree:
    """Beam search step by step, keeping every step's kept and pruned hypotheses, and greedy beside it.

    At each step every unfinished kept hypothesis proposes its ``beam_width`` most likely next tokens;
    all proposals (and the finished hypotheses, carried with their score) are ranked by cumulative
    log-probability and the best ``beam_width`` are kept. No length penalty: with no hypothesis
    finishing early this is the ranking transformers' beam search uses, so the winners agree.
    """
    from attnscope.inspection.generate import eos_ids, prompt_ids

    _check_tree(max_new_tokens, beam_width)
    prompt = prompt_ids(adapter, text)[0].tolist()
    return _tree(lambda seqs: _next_logprobs(adapter, [prompt + s for s in seqs]), lambda t: _piece(adapter, t),
                 eos_ids(adapter.model), max_new_tokens, beam_width, should_stop)


def textbook_beam_tree(adapter, text: str, max_new_tokens: int = 8, beam_width: int = 4) -> BeamTree:
    """:func:`beam_tree` for the textbook encoder-decoder: the French source is encoded once."""
    _check_tree(max_new_tokens, beam_width)
    model, cfg = adapter.model, adapter.model.cfg
    src = torch.tensor([adapter.source_tokens(text).ids])  # (1, S)
    with adapter.lock, torch.inference_mode():
        memory, src_mask = model.encode(src)  # (1, S, d), (1, 1, S)

    def step(seqs: list[list[int]]) -> torch.Tensor:
        ys = torch.tensor([[cfg.bos_id, *s] for s in seqs])  # (B, t)
        B = ys.shape[0]
        with adapter.lock, torch.inference_mode():
            logits = model.decode(ys, memory.expand(B, -1, -1), src_mask.expand(B, -1, -1))
        return torch.log_softmax(logits[:, -1].float(), dim=-1)  # (B, V)

    return _tree(step, lambda t: adapter.output_tokens([t])[0], {cfg.eos_id}, min(max_new_tokens, cfg.max_len),
                 beam_width, None)


def _check_tree(max_new_tokens: int, beam_width: int) -> None:
    from attnscope.inspection.generate import MAX_NEW_TOKENS

    if not isinstance(beam_width, int) or not 1 <= beam_width <= 8:
        raise ValueError(f"beam_width must be an integer from 1 to 8, got {beam_width!r}")
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be an integer from 1 to {MAX_NEW_TOKENS}, got {max_new_tokens!r}")


def _tree(next_logprobs: Callable[[list[list[int]]], torch.Tensor], show: Callable[[int], str], eos: set[int],
          max_new_tokens: int, beam_width: int, should_stop: Callable[[], bool] | None) -> BeamTree:
    """The beam tree and greedy's path, given ``next_logprobs`` (continuations -> (B, V) log-softmax)."""
    greedy, g_score, seq = [], 0.0, []
    for _ in range(max_new_tokens):
        if should_stop is not None and should_stop():
            break
        lp = next_logprobs([seq])[0]
        tok = int(torch.argmax(lp))
        g_score += float(lp[tok])
        greedy.append({"token": show(tok), "id": tok, "logprob": float(lp[tok]), "score": g_score})
        seq = seq + [tok]
        if tok in eos:
            break
    beams: list[tuple[list[int], float, bool]] = [([], 0.0, False)]  # (tokens so far, score, finished)
    steps: list[list[BeamNode]] = []
    kept_idx: list[list[int]] = []
    paths: list[list[int]] = [[]]  # per kept beam: its node index at each step
    for t in range(max_new_tokens):
        if should_stop is not None and should_stop():
            break
        if all(b[2] for b in beams):
            break
        live = [i for i, b in enumerate(beams) if not b[2]]
        lps = next_logprobs([beams[i][0] for i in live])  # (B, V)
        props = []  # (score, parent, token, logprob, finished)
        for row, i in enumerate(live):
            top = torch.topk(lps[row], beam_width)
            for lp, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                props.append((beams[i][1] + lp, i, int(tok), lp, int(tok) in eos))
        for i, b in enumerate(beams):
            if b[2]:
                props.append((b[1], i, -1, 0.0, True))  # a finished hypothesis competes with its own score
        props.sort(key=lambda p: -p[0])
        nodes = []
        for rank, (score, parent, tok, lp, fin) in enumerate(props):
            carried = tok == -1
            tok_id = beams[parent][0][-1] if carried else tok
            nodes.append(BeamNode(t, parent if t else -1, "(finished)" if carried else show(tok_id),
                                  tok_id, lp, score, rank < beam_width, fin, rank))
        keep = list(range(min(beam_width, len(nodes))))
        new_beams, new_paths = [], []
        for r in keep:
            score, parent, tok, lp, fin = props[r]
            toks = beams[parent][0] if tok == -1 else beams[parent][0] + [tok]
            new_beams.append((toks, score, fin))
            new_paths.append(paths[parent] + [r])
        beams, paths = new_beams, new_paths
        steps.append(nodes)
        kept_idx.append(keep)
    best = max(range(len(beams)), key=lambda i: beams[i][1])
    best_tokens = beams[best][0]
    diverge = next((t for t, (b, g) in enumerate(zip(best_tokens, [x["id"] for x in greedy])) if b != g), None)
    if diverge is None and len(best_tokens) != len(greedy):
        diverge = min(len(best_tokens), len(greedy))
    return BeamTree(beam_width, steps, kept_idx, paths[best], beams[best][1], greedy, g_score, diverge)
