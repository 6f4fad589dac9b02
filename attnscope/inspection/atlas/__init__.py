"""The head atlas: every head of a model scored on standard tasks over many prompts, here or on Ray.

See :mod:`.core` (``head_atlas``, ``Atlas``), :mod:`.tasks` (the definitions), :mod:`.text` (corpus and
needles), :mod:`.retrieval` and :mod:`.distributed` (Ray actors).
"""

from attnscope.inspection.atlas.core import TOP_EXAMPLES, Atlas, head_atlas, load_local, plan, score_item
from attnscope.inspection.atlas.tasks import (DEFAULT_TASKS, LENGTH_RANGE, PROMPTS_RANGE, TASKS, attention_weights,
                                              candidate_ids, make_inputs, parse_tasks, prompt_scores)
from attnscope.inspection.atlas.text import read_corpus, shipped_corpus

__all__ = ["Atlas", "head_atlas", "load_local", "plan", "score_item", "TASKS", "DEFAULT_TASKS", "PROMPTS_RANGE",
           "LENGTH_RANGE", "TOP_EXAMPLES", "attention_weights", "candidate_ids", "make_inputs", "parse_tasks",
           "prompt_scores", "read_corpus", "shipped_corpus"]
