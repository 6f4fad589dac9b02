"""A tiny French -> English corpus, generated from a small grammar.

Every pair is built by the same seeded grammar, so the corpus is reproducible
and every translation is right by construction. The grammar covers:

* subject pronouns (je/tu/il/elle/nous/vous/ils/elles) with être and avoir;
* professions without an article, as French says them:
  "je suis étudiant" -> "i am a student";
* noun phrases with an article (le/la/l'/les/un/une/des) and an adjective that
  FOLLOWS the noun in French and PRECEDES it in English
  ("le chat noir" -> "the black cat"), so the alignments cross;
* a few verbs (mange/voit/aime/regarde/cherche) conjugated in the present;
* negation ne ... pas -> "am not" / "is not" / "do not" / "does not"
  (and un/une/des -> de after a negation: "je n'ai pas de chat").

Generalisation split: the (noun, adjective) combinations in
:data:`HELDOUT_PAIRS` never appear in training, neither as "le chat blanc" nor
as "le chat est blanc". Every noun and every adjective of those pairs is seen
in training with other partners, so the held-out split measures whether the
model composes words it knows in a combination it has never seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

Pair = tuple[str, str]  # (french, english)


class Splits(NamedTuple):
    """Train, validation and held-out (unseen noun-adjective combinations) pairs."""

    train: list[Pair]
    valid: list[Pair]
    heldout: list[Pair]


# --- the lexicon --------------------------------------------------------------

#: (french, english, person, plural, gender or None when either)
PRONOUNS = [
    ("je", "i", 1, False, None),
    ("tu", "you", 2, False, None),
    ("il", "he", 3, False, "m"),
    ("elle", "she", 3, False, "f"),
    ("nous", "we", 1, True, None),
    ("vous", "you", 2, True, None),
    ("ils", "they", 3, True, "m"),
    ("elles", "they", 3, True, "f"),
]

#: (person, plural) -> form, in the order je tu il nous vous ils
_SLOTS = [(1, False), (2, False), (3, False), (1, True), (2, True), (3, True)]


def _conj(*forms: str) -> dict[tuple[int, bool], str]:
    return dict(zip(_SLOTS, forms, strict=True))


ETRE = _conj("suis", "es", "est", "sommes", "êtes", "sont")
AVOIR = _conj("ai", "as", "a", "avons", "avez", "ont")
EN_BE = _conj("am", "are", "is", "are", "are", "are")


@dataclass(frozen=True)
class Noun:
    fr: str
    fr_pl: str
    gender: str  # "m" | "f"
    en: str
    en_pl: str
    animate: bool = False


NOUNS = [
    Noun("chat", "chats", "m", "cat", "cats", True),
    Noun("chien", "chiens", "m", "dog", "dogs", True),
    Noun("oiseau", "oiseaux", "m", "bird", "birds", True),
    Noun("cheval", "chevaux", "m", "horse", "horses", True),
    Noun("homme", "hommes", "m", "man", "men", True),
    Noun("enfant", "enfants", "m", "child", "children", True),
    Noun("étudiant", "étudiants", "m", "student", "students", True),
    Noun("professeur", "professeurs", "m", "teacher", "teachers", True),
    Noun("livre", "livres", "m", "book", "books"),
    Noun("vélo", "vélos", "m", "bike", "bikes"),
    Noun("gâteau", "gâteaux", "m", "cake", "cakes"),
    Noun("ballon", "ballons", "m", "ball", "balls"),
    Noun("femme", "femmes", "f", "woman", "women", True),
    Noun("fille", "filles", "f", "girl", "girls", True),
    Noun("souris", "souris", "f", "mouse", "mice", True),
    Noun("maison", "maisons", "f", "house", "houses"),
    Noun("voiture", "voitures", "f", "car", "cars"),
    Noun("pomme", "pommes", "f", "apple", "apples"),
    Noun("fleur", "fleurs", "f", "flower", "flowers"),
    Noun("table", "tables", "f", "table", "tables"),
    Noun("robe", "robes", "f", "dress", "dresses"),
]


@dataclass(frozen=True)
class Adjective:
    forms: tuple[str, str, str, str]  # masc. sg, fem. sg, masc. pl, fem. pl
    en: str

    def fr(self, gender: str, plural: bool) -> str:
        return self.forms[(gender == "f") + 2 * plural]


ADJECTIVES = [
    Adjective(("noir", "noire", "noirs", "noires"), "black"),
    Adjective(("blanc", "blanche", "blancs", "blanches"), "white"),
    Adjective(("rouge", "rouge", "rouges", "rouges"), "red"),
    Adjective(("vert", "verte", "verts", "vertes"), "green"),
    Adjective(("bleu", "bleue", "bleus", "bleues"), "blue"),
    Adjective(("gris", "grise", "gris", "grises"), "grey"),
    Adjective(("jaune", "jaune", "jaunes", "jaunes"), "yellow"),
    Adjective(("rapide", "rapide", "rapides", "rapides"), "fast"),
    Adjective(("intelligent", "intelligente", "intelligents", "intelligentes"), "smart"),
    Adjective(("fatigué", "fatiguée", "fatigués", "fatiguées"), "tired"),
]

#: (masc. sg, fem. sg, masc. pl, fem. pl, english sg, english pl)
PROFESSIONS = [
    ("étudiant", "étudiante", "étudiants", "étudiantes", "student", "students"),
    ("médecin", "médecin", "médecins", "médecins", "doctor", "doctors"),
    ("professeur", "professeure", "professeurs", "professeures", "teacher", "teachers"),
    ("ingénieur", "ingénieure", "ingénieurs", "ingénieures", "engineer", "engineers"),
    ("avocat", "avocate", "avocats", "avocates", "lawyer", "lawyers"),
    ("musicien", "musicienne", "musiciens", "musiciennes", "musician", "musicians"),
    ("cuisinier", "cuisinière", "cuisiniers", "cuisinières", "cook", "cooks"),
]


@dataclass(frozen=True)
class Verb:
    forms: tuple[str, str, str, str, str, str]  # je tu il nous vous ils
    en: str  # base form, e.g. "eat", "look for"
    en_3sg: str  # "eats", "looks for"


VERBS = [
    Verb(("mange", "manges", "mange", "mangeons", "mangez", "mangent"), "eat", "eats"),
    Verb(("vois", "vois", "voit", "voyons", "voyez", "voient"), "see", "sees"),
    Verb(("aime", "aimes", "aime", "aimons", "aimez", "aiment"), "like", "likes"),
    Verb(
        ("regarde", "regardes", "regarde", "regardons", "regardez", "regardent"), "watch", "watches"
    ),
    Verb(
        ("cherche", "cherches", "cherche", "cherchons", "cherchez", "cherchent"),
        "look for",
        "looks for",
    ),
]

#: (noun, adjective masc. sg) combinations that only the held-out split contains.
HELDOUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("chat", "blanc"),
        ("chien", "gris"),
        ("oiseau", "rouge"),
        ("cheval", "rapide"),
        ("femme", "fatigué"),
        ("voiture", "bleu"),
        ("maison", "vert"),
        ("pomme", "jaune"),
        ("fleur", "noir"),
        ("livre", "intelligent"),
    }
)


# --- building sentences -------------------------------------------------------


@dataclass
class Phrase:
    """French and English words of a sentence being built, and the (noun, adj) pairs in it."""

    fr: list[str] = field(default_factory=list)
    en: list[str] = field(default_factory=list)
    pairs: set[tuple[str, str]] = field(default_factory=set)

    def add(self, other: Phrase) -> Phrase:
        self.fr += other.fr
        self.en += other.en
        self.pairs |= other.pairs
        return self


_VOWELS = tuple("aeiouyéèêâàîôûh")
_ELIDING = {"je": "j'", "ne": "n'", "le": "l'", "la": "l'", "de": "d'"}


def french_text(words: list[str]) -> str:
    """Join French words, eliding before a vowel: ["je", "ai"] -> "j'ai"."""
    out = ""
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in _ELIDING and nxt.startswith(_VOWELS):
            out += _ELIDING[word]
        else:
            out += word + ("" if nxt in ("", ".") else " ")
    return out


def english_text(words: list[str]) -> str:
    """Join English words, turning "a" into "an" before a vowel."""
    words = [
        "an" if w == "a" and i + 1 < len(words) and words[i + 1][0] in "aeiou" else w
        for i, w in enumerate(words)
    ]
    return " ".join(words).replace(" .", ".")


def _pronoun(rng: random.Random) -> tuple[tuple, str]:
    """A pronoun and its gender (drawn when the pronoun does not say it)."""
    p = rng.choice(PRONOUNS)
    return p, p[4] or rng.choice("mf")


def noun_phrase(
    rng: random.Random,
    negated_object: bool = False,
    animate: bool = False,
) -> tuple[Phrase, Noun, bool]:
    """Article + noun + optional adjective, e.g. "les chats noirs" -> "the black cats"."""
    noun = rng.choice([n for n in NOUNS if n.animate] if animate else NOUNS)
    plural = rng.random() < 0.35
    definite = rng.random() < 0.55
    adj = rng.choice(ADJECTIVES) if rng.random() < 0.7 else None
    if definite:
        fr_art, en_art = ("les" if plural else "le" if noun.gender == "m" else "la"), ["the"]
    elif negated_object:
        fr_art, en_art = "de", ([] if plural else ["a"])
    else:
        fr_art = "des" if plural else "un" if noun.gender == "m" else "une"
        en_art = [] if plural else ["a"]
    ph = Phrase([fr_art, noun.fr_pl if plural else noun.fr], en_art.copy())
    if adj is not None:
        ph.fr.append(adj.fr(noun.gender, plural))
        ph.en.append(adj.en)
        ph.pairs.add((noun.fr, adj.forms[0]))
    ph.en.append(noun.en_pl if plural else noun.en)
    return ph, noun, plural


def _be(person: int, plural: bool, negated: bool) -> Phrase:
    """être conjugated, with ne ... pas: ("ne suis pas", "am not")."""
    verb, en = ETRE[(person, plural)], EN_BE[(person, plural)]
    return Phrase(["ne", verb, "pas"], [en, "not"]) if negated else Phrase([verb], [en])


def _verb(verb: Verb, person: int, plural: bool, negated: bool) -> Phrase:
    """A verb conjugated, with "do/does not" in English negation."""
    fr = verb.forms[_SLOTS.index((person, plural))]
    third_sg = person == 3 and not plural
    if negated:
        return Phrase(["ne", fr, "pas"], ["does" if third_sg else "do", "not", *verb.en.split()])
    return Phrase([fr], (verb.en_3sg if third_sg else verb.en).split())


def s_profession(rng: random.Random, neg: bool) -> Phrase:
    """ "je suis étudiant" -> "i am a student" (no article in French)."""
    (fr, en, person, plural, _), gender = _pronoun(rng)
    prof = rng.choice(PROFESSIONS)
    ph = Phrase([fr], [en]).add(_be(person, plural, neg))
    ph.fr.append(prof[(gender == "f") + 2 * plural])
    ph.en += [prof[5]] if plural else ["a", prof[4]]
    return ph


def s_pronoun_adjective(rng: random.Random, neg: bool) -> Phrase:
    """ "elle est fatiguée" -> "she is tired"."""
    (fr, en, person, plural, _), gender = _pronoun(rng)
    adj = rng.choice(ADJECTIVES)
    ph = Phrase([fr], [en]).add(_be(person, plural, neg))
    ph.fr.append(adj.fr(gender, plural))
    ph.en.append(adj.en)
    return ph


def s_noun_is_adjective(rng: random.Random, neg: bool) -> Phrase:
    """ "le chat noir est fatigué" -> "the black cat is tired"."""
    ph, noun, plural = noun_phrase(rng)
    adj = rng.choice(ADJECTIVES)
    ph.add(_be(3, plural, neg))
    ph.fr.append(adj.fr(noun.gender, plural))
    ph.en.append(adj.en)
    ph.pairs.add((noun.fr, adj.forms[0]))
    return ph


def s_pronoun_has(rng: random.Random, neg: bool) -> Phrase:
    """ "j'ai un chat noir" -> "i have a black cat".

    "je n'ai pas de chat" -> "i do not have a cat".
    """
    (fr, en, person, plural, _), _ = _pronoun(rng)
    have = Verb(tuple(AVOIR[s] for s in _SLOTS), "have", "has")
    return (
        Phrase([fr], [en])
        .add(_verb(have, person, plural, neg))
        .add(noun_phrase(rng, negated_object=neg)[0])
    )


def s_pronoun_verb(rng: random.Random, neg: bool) -> Phrase:
    """ "il mange la pomme rouge" -> "he eats the red apple"."""
    (fr, en, person, plural, _), _ = _pronoun(rng)
    return (
        Phrase([fr], [en])
        .add(_verb(rng.choice(VERBS), person, plural, neg))
        .add(noun_phrase(rng, negated_object=neg)[0])
    )


def s_noun_verb(rng: random.Random, neg: bool) -> Phrase:
    """ "le chien noir voit le chat" -> "the black dog sees the cat"."""
    ph, _, plural = noun_phrase(rng, animate=True)
    return ph.add(_verb(rng.choice(VERBS), 3, plural, neg)).add(
        noun_phrase(rng, negated_object=neg)[0]
    )


TEMPLATES = [
    (s_profession, 2),
    (s_pronoun_adjective, 1),
    (s_noun_is_adjective, 2),
    (s_pronoun_has, 2),
    (s_pronoun_verb, 2),
    (s_noun_verb, 3),
]


def sample(rng: random.Random) -> tuple[Pair, set[tuple[str, str]]]:
    """One (french, english) pair and the (noun, adjective) combinations it uses."""
    template = rng.choices([t for t, _ in TEMPLATES], weights=[w for _, w in TEMPLATES])[0]
    ph = template(rng, rng.random() < 0.25)
    if rng.random() < 0.2:
        ph.fr.append(".")
        ph.en.append(".")
    return (french_text(ph.fr), english_text(ph.en)), ph.pairs


def make_splits(
    seed: int = 0, n_train: int = 40_000, n_valid: int = 1_000, n_heldout: int = 1_000
) -> Splits:
    """Deterministic train / valid / held-out splits.

    One seeded stream of samples fills the three lists. A sentence that uses a
    combination of :data:`HELDOUT_PAIRS` can only go to ``heldout``. ``train``
    keeps repeats (short sentences such as "je suis étudiant" recur, as they
    would in a real corpus); ``valid`` and ``heldout`` hold distinct sentences
    that are not in ``train``.
    """
    rng = random.Random(seed)
    train: list[Pair] = []
    valid: list[Pair] = []
    heldout: list[Pair] = []
    in_train: set[str] = set()
    elsewhere: set[str] = set()
    while len(train) < n_train or len(valid) < n_valid or len(heldout) < n_heldout:
        pair, pairs = sample(rng)
        if pairs & HELDOUT_PAIRS:
            if len(heldout) < n_heldout and pair[0] not in elsewhere:
                heldout.append(pair)
                elsewhere.add(pair[0])
        elif len(train) < n_train:
            train.append(pair)
            in_train.add(pair[0])
        elif len(valid) < n_valid and pair[0] not in in_train | elsewhere:
            valid.append(pair)
            elsewhere.add(pair[0])
    return Splits(train, valid, heldout)


_ARTICLES = {"le", "la", "l'", "les", "un", "une", "des", "de", "d'"}


def noun_adjective_pairs(french: str) -> set[tuple[str, str]]:
    """Read the (noun, adjective) combinations back out of a generated French sentence.

    An independent check of the generator's bookkeeping: finds "article noun
    adjective" and "article noun [adjective] [ne] est|sont [pas] adjective".
    Nouns and adjectives come back in their dictionary (masc. sg.) form.
    """
    words = french.replace("'", "' ").replace(".", " ").split()
    nouns = {n.fr: n.fr for n in NOUNS} | {n.fr_pl: n.fr for n in NOUNS}
    adjs = {form: a.forms[0] for a in ADJECTIVES for form in a.forms}
    found = set()
    for i, word in enumerate(words):
        if word not in nouns or i == 0 or words[i - 1] not in _ARTICLES:
            continue
        rest = [w for w in words[i + 1 :] if w not in ("ne", "n'", "pas")]
        if rest and rest[0] in adjs:
            found.add((nouns[word], adjs[rest.pop(0)]))
        if len(rest) > 1 and rest[0] in ("est", "sont") and rest[1] in adjs:
            found.add((nouns[word], adjs[rest[1]]))
    return found
