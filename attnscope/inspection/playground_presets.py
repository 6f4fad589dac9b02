"""The lectures' worked examples as Playground presets, and the numbers their slides print.

Numbers copied from /work/shared/seeds/examples.json (the lectures' worked examples); the app must not
read that folder at run time. :mod:`attnscope.inspection.playground` re-exports everything here.
"""

from __future__ import annotations

from typing import Any


_CAT_X = [[1.2, 0.1, 0.8, 0.3, 0.0, 0.5],
          [0.3, 0.2, 0.5, 1.8, 0.0, 1.2],
          [0.7, 0.3, 1.1, 0.9, 1.5, 0.2],
          [0.4, 0.4, 0.6, 1.2, 0.0, 0.8]]  # fmt: skip
_CAT_W_K = [[0.4, 0.1, 0.3, 0.2], [0.2, 0.5, 0.1, 0.3], [0.1, 0.3, 0.4, 0.2],
            [0.3, 0.2, 0.2, 0.3], [0.2, 0.1, 0.3, 0.4], [0.1, 0.4, 0.2, 0.1]]  # fmt: skip
_CAT_TOKENS = ["The", "cat", "sat", "here"]

#: Keys of a preset that are not arguments of :func:`compute`.
PRESET_META_KEYS = frozenset({"title", "note"})

PRESETS: dict[str, dict[str, Any]] = {
    "thinking_machines": {
        "title": "Thinking Machines (d_k = 64)",
        "note": (
            "The slide's vectors are 64 wide; these 4-wide stand-ins are chosen so that "
            "q1·k1 = 112 and q1·k2 = 96 exactly, and d_k is set to the lecture's 64, so "
            "÷ sqrt(64) = 8 gives 14 and 12 and softmax gives 0.88 and 0.12, as on the slide. "
            "The 'Machines' query and the values are illustrative: the slide does not give them."
        ),
        "tokens": ["Thinking", "Machines"],
        "q": [[4, 4, 4, 4], [3, 5, 2, 4]],
        "k": [[8, 6, 7, 7], [6, 5, 7, 6]],
        "v": [[1.0, 2.0, 0.5, 0.0], [0.0, 1.0, 2.0, 1.5]],
        "d_k": 64,
    },
    "the_cat_sat_here": {
        "title": "The cat sat here (Q, K, V from the slide)",
        "note": (
            "Q, K and V as printed on the slide. They are not X·W (the slide's W_Q has 7 rows "
            "and its W_V is 6x3), and Q·K^T is not the slide's raw scores (row 1 gives 4.08, "
            "not 4.21): these are the true products. Of the slide's own steps, scaled = raw / 2 "
            "holds, but its weights are only near softmax(scaled): row 'cat' gives 0.18, 0.35, "
            "0.27, 0.21 where the slide shows 0.18, 0.35, 0.29, 0.18."
        ),
        "tokens": _CAT_TOKENS,
        "q": [[1.23, 0.81, 1.05, 0.92], [0.76, 1.42, 0.88, 1.31], [1.15, 0.97, 1.33, 1.08], [0.89, 1.28, 0.94, 1.17]],
        "k": [[0.98, 1.21, 0.89, 1.04], [0.82, 1.53, 1.12, 0.95], [1.07, 1.09, 1.25, 1.18], [0.91, 1.35, 1.03, 0.87]],
        "v": [[1.31, 1.02, 0.95, 1.15], [1.08, 1.45, 1.23, 0.89], [1.22, 1.18, 1.09, 1.31], [1.14, 1.33, 1.07, 0.98]],
        "d_k": 4,
    },
    "the_cat_sat_here_x": {
        "title": "The cat sat here (from X, N = 4, d_model = 6, d_k = 4)",
        "note": (
            "X and W_K from the slide. The slide's W_Q (7 rows) and W_V (6x3) cannot multiply "
            "X, so W_K is used for all three projections; the dimension and memory table is "
            "then exactly the lecture's. Q, K, V and the scores differ from the slide's."
        ),
        "tokens": _CAT_TOKENS,
        "x": _CAT_X,
        "w_q": _CAT_W_K,
        "w_k": _CAT_W_K,
        "w_v": _CAT_W_K,
    },
    "i_am_a_student": {
        "title": "I am a student (masked self-attention)",
        "note": (
            "The slide gives the scores only (no Q, K or V), so there is no scaling (d_k = 1) "
            "and no output. Softmax of the masked rows gives [0.38, 0.62] for 'am' and "
            "[0.26, 0.32, 0.43] for 'a'; the slide shows 0.37 and 0.30, rounded differently."
        ),
        "tokens": ["I", "am", "a", "student"],
        "scores": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.1, 0.3, 0.6, 0.1], [0.1, 0.3, 0.3, 0.3]],
        "mask": "causal",
        "d_k": 1,
    },
    "apple_fruit": {
        "title": "apple (fruit): similarity → softmax",
        "note": (
            "The lecture's similarity table for 'My favourite fruit is apple' (fruit–apple 0.25, 1 on the diagonal) as "
            "raw scores. Softmax gives the apple row 0.14, 0.14, 0.18, 0.14, 0.39; the slide's 0.2 / 0.8 is the row divided "
            "by its sum, not softmax (see Slide vs computed below)."
        ),
        "tokens": ["my", "favourite", "fruit", "is", "apple"],
        "scores": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0.25], [0, 0, 0, 1, 0], [0, 0, 0.25, 0, 1]],
        "d_k": 1,
    },
    "apple_brand": {
        "title": "apple (brand): similarity → softmax",
        "note": (
            "The lecture's similarity table for 'My favourite brand is apple' (brand–apple 0.11). Softmax gives the apple "
            "row 0.15, 0.15, 0.16, 0.15, 0.40; the slide's 0.1 / 0.9 is proportional scaling."
        ),
        "tokens": ["my", "favourite", "brand", "is", "apple"],
        "scores": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0.11], [0, 0, 0, 1, 0], [0, 0, 0.11, 0, 1]],
        "d_k": 1,
    },
}

#: The slides' own printed numbers, for showing next to the true ones.
SLIDE_NUMBERS: dict[str, dict[str, Any]] = {
    "thinking_machines": {"scores_q1": [112, 96], "scaled_q1": [14, 12], "weights_q1": [0.88, 0.12]},
    "the_cat_sat_here": {
        "x": _CAT_X,
        "w_k": _CAT_W_K,
        "scores": [[4.21, 4.85, 5.12, 4.33], [4.56, 5.91, 5.43, 4.87], [5.02, 5.73, 5.98, 5.21], [4.43, 5.42, 5.31, 4.76]],
        "scaled": [[2.11, 2.43, 2.56, 2.17], [2.28, 2.96, 2.72, 2.44], [2.51, 2.87, 2.99, 2.61], [2.22, 2.71, 2.66, 2.38]],
        "weights": [[0.20, 0.28, 0.32, 0.20], [0.18, 0.35, 0.29, 0.18], [0.19, 0.28, 0.33, 0.20], [0.17, 0.31, 0.30, 0.22]],
    },
    "i_am_a_student": {"weights": [[1, 0, 0, 0], [0.37, 0.62, 0, 0], [0.26, 0.3, 0.43, 0], [0.21, 0.26, 0.26, 0.26]]},
}
