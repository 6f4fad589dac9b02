"""Slide vs computed: where a lecture's printed numbers are illustrative or inexact, the true ones beside them.

Each :class:`Comparison` holds the slide's matrix as printed, the same quantity computed here (numpy, from
the slide's own inputs), and which cells disagree by more than the slide's rounding (half a unit in its
last printed decimal). Numbers are transcribed from the lectures (``/work/shared/seeds/examples.json`` and
the lecture texts); the app never reads that folder at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnscope.inspection.playground import PRESETS, SLIDE_NUMBERS


@dataclass
class Comparison:
    id: str
    title: str
    source: str  # the lecture file
    preset: str | None  # the playground preset (or positions preset) it belongs to
    rows: list[str]
    cols: list[str]
    slide: np.ndarray  # as printed
    computed: np.ndarray
    decimals: int  # decimals the slide prints
    computed_as: str  # how "computed" is computed
    verdict: str  # one sentence: what the difference means

    @property
    def diff(self) -> np.ndarray:
        return self.slide - self.computed

    @property
    def mismatch(self) -> np.ndarray:
        """True where the slide is off by more than its own rounding."""
        return np.abs(self.diff) > 0.5 * 10.0 ** (-self.decimals) + 1e-9

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "source": self.source, "preset": self.preset,
                "rows": self.rows, "cols": self.cols, "slide": self.slide.tolist(),
                "computed": self.computed.tolist(), "diff": self.diff.tolist(),
                "mismatch": self.mismatch.tolist(), "mismatches": int(self.mismatch.sum()),
                "decimals": self.decimals, "computed_as": self.computed_as, "verdict": self.verdict}


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax; -inf entries get 0."""
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cat() -> list[Comparison]:
    p, s = PRESETS["the_cat_sat_here"], SLIDE_NUMBERS["the_cat_sat_here"]
    q, k = np.array(p["q"], dtype=float), np.array(p["k"], dtype=float)
    toks = p["tokens"]
    raw = q @ k.T  # (4, 4)
    slide_scaled = np.array(s["scaled"])
    return [
        Comparison("cat_scores", "The cat sat here — Q·Kᵀ", "002_2579be3d9bc24775.txt", "the_cat_sat_here", toks, toks,
                   np.array(s["scores"]), raw, 2, "Q · Kᵀ of the slide's own Q and K",
                   "The slide's raw scores are not the product of its own Q and K (row 'The': 4.21 printed, 4.08 computed)."),
        Comparison("cat_scaled", "The cat sat here — scaled = Q·Kᵀ / √4", "002_2579be3d9bc24775.txt", "the_cat_sat_here",
                   toks, toks, slide_scaled, raw / 2, 2, "Q · Kᵀ / 2",
                   "The slide divides its own raw scores by 2 correctly, but they started from the wrong products."),
        Comparison("cat_weights", "The cat sat here — softmax of the slide's own scaled scores", "002_2579be3d9bc24775.txt",
                   "the_cat_sat_here", toks, toks, np.array(s["weights"]), softmax_rows(slide_scaled), 2,
                   "softmax of the slide's own scaled row",
                   "The slide's weights are not the softmax of its own scaled scores (row 'cat': 0.29, 0.18 printed, 0.27, 0.21 computed)."),
    ]


def _student() -> Comparison:
    p = PRESETS["i_am_a_student"]
    scores = np.array(p["scores"], dtype=float)
    masked = np.where(np.triu(np.ones_like(scores, dtype=bool), 1), -np.inf, scores)
    return Comparison("student_weights", "I am a student — masked softmax", "004_a861d1c58d8e33b7.txt", "i_am_a_student",
                      p["tokens"], p["tokens"], np.array(SLIDE_NUMBERS["i_am_a_student"]["weights"], dtype=float),
                      softmax_rows(masked), 2, "softmax of each row with −∞ above the diagonal",
                      "Row 'am': 0.37 printed, 0.3775 exactly (0.38 to two decimals); row 'a': 0.30 printed, 0.3156.")


#: The lecture's table (003): rows are dimensions i = 0..3, columns positions 3, 2, 1, 0; d = 50, n = 10000.
PE_D50_SLIDE = [[0.141, 0.909, 0.841, 0.000],
                [-0.990, -0.416, 0.540, 0.000],
                [0.875, 0.983, 0.638, 0.000],
                [-0.484, 0.186, 0.770, 0.000]]  # fmt: skip
PE_D50_POSITIONS = [3, 2, 1, 0]


def sinusoidal_value(pos: int, i: int, d: int, n: float = 10000.0) -> float:
    """PE(pos, i): sin(pos / n^(2⌊i/2⌋/d)) for even i, cos for odd i."""
    angle = pos / n ** (2 * (i // 2) / d)
    return float(np.sin(angle) if i % 2 == 0 else np.cos(angle))


def _pe_d50() -> Comparison:
    computed = np.array([[sinusoidal_value(p, i, 50) for p in PE_D50_POSITIONS] for i in range(4)])
    return Comparison("pe_d50", "Positional encoding table, d = 50, n = 10000", "003_13bb5c3c84754789.txt", "pe_d50",
                      [f"i={i} ({'sin' if i % 2 == 0 else 'cos'})" for i in range(4)], [f"p{p}" if p else "0" for p in PE_D50_POSITIONS],
                      np.array(PE_D50_SLIDE), computed, 3, "sin / cos(pos / 10000^(2⌊i/2⌋/50))",
                      "At position 0 every sin is 0 but every cos is cos(0) = 1: the slide's .000 for i = 1 and i = 3 should read 1.000.")


#: The lecture's similarity rows for "apple" (004) and the normalised rows it prints.
APPLE_TOKENS = {"fruit": ["my", "favourite", "fruit", "is", "apple"], "brand": ["my", "favourite", "brand", "is", "apple"]}
APPLE_SIMILARITY = {"fruit": [0, 0, 0.25, 0, 1], "brand": [0, 0, 0.11, 0, 1]}
APPLE_SLIDE = {"fruit": [0, 0, 0.2, 0, 0.8], "brand": [0, 0, 0.1, 0, 0.9]}


def _apple() -> Comparison:
    sims = np.array([APPLE_SIMILARITY["fruit"], APPLE_SIMILARITY["brand"]], dtype=float)
    slide = np.array([APPLE_SLIDE["fruit"], APPLE_SLIDE["brand"]], dtype=float)
    return Comparison("apple", "\"apple\" normalised: the slide's 0.8 / 0.2 against softmax", "004_a861d1c58d8e33b7.txt",
                      "apple_fruit", ["apple (fruit sentence)", "apple (brand sentence)"],
                      ["my", "favourite", "fruit / brand", "is", "apple"], slide, softmax_rows(sims), 1,
                      "softmax of the similarity row",
                      "The slide says softmax but divides by the row's sum (0.25 / 1.25 = 0.2, 1 / 1.25 = 0.8): proportional "
                      "scaling. Softmax gives every word some weight (e⁰ = 1 for the zeros).")


def _apple_proportional() -> Comparison:
    sims = np.array([APPLE_SIMILARITY["fruit"], APPLE_SIMILARITY["brand"]], dtype=float)
    slide = np.array([APPLE_SLIDE["fruit"], APPLE_SLIDE["brand"]], dtype=float)
    return Comparison("apple_proportional", "\"apple\": the slide's numbers are the row divided by its sum",
                      "004_a861d1c58d8e33b7.txt", "apple_fruit", ["apple (fruit sentence)", "apple (brand sentence)"],
                      ["my", "favourite", "fruit / brand", "is", "apple"], slide, sims / sims.sum(axis=1, keepdims=True), 1,
                      "similarity / the row's sum",
                      "Proportional scaling reproduces every printed number: that is what the slide computed.")


def comparisons() -> list[Comparison]:
    return [*_cat(), _student(), _pe_d50(), _apple(), _apple_proportional()]


#: The lecture's illustrative cross-attention row (004): producing "student", over je, suis, étudiant.
JE_SUIS_SLIDE = [0.15, 0.05, 0.8]


def je_suis_cross(model_row: np.ndarray) -> Comparison:
    """The slide's illustrative row beside a trained model's own (the textbook model's last-layer mean)."""
    return Comparison("je_suis_cross", "je suis étudiant — cross-attention of the row producing \"student\"",
                      "004_a861d1c58d8e33b7.txt", "je_suis_etudiant", ["a → student"], ["je", "suis", "étudiant"],
                      np.array([JE_SUIS_SLIDE]), np.asarray(model_row, dtype=np.float64)[None], 2,
                      "the textbook model's cross-attention, last decoder layer, mean of its heads",
                      "The slide's weights are illustrative; the trained model puts almost all its weight on "
                      "\"étudiant\", as the slide's ranking says.")
