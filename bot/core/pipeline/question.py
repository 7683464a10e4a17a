"""Understand the question: validate and normalise it, set aside question words, correct typos,
add synonyms and guess what kind of answer it wants.

Question and discourse words ("what", "name", "say", "still" …) hint the answer type but are not
what the answer must contain, so they do not count toward coverage. A word that is neither an
index term nor common English is looked up in the index vocabulary by edit distance (rapidfuzz)
and replaced by the nearest term; wordfreq says what "common English" is. Both libraries are
imported only when a word is unknown to the index, so a question of known words stays cheap.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from weakref import WeakKeyDictionary

import numpy as np

from bot.core.answer import Correction
from bot.core.backend import Retrieval
from bot.core.pipeline.nearterms import NearTerms
from bot.core.pipeline.wordlist import zipf_frequency
from bot.core.synonyms import Synonyms
from bot.core.tokenizer import folded, iter_tokens, tokenize
from bot.errors import QuestionError

# Generic English words that ask rather than tell: how a question is put, not what it is about.
# Not specific to any corpus. They steer the answer type and weigh little in the search.
QUESTION_WORDS = frozenset(
    tokenize(
        """
        what whats which who whos whom whose when where wheres why how hows
        name names named called say says said saying tell told talk happen happened happening
        date dates year years day time
        still currently actually exactly really ever already yet now
        put give gave given get got make made do done thing things kind sort type way
        anything something someone anyone explain describe mention mentioned mean means know
        think according report reported reports article articles source sources news story piece
        please pls thanks hi hey quote quotes
        """
    )
)

# The answer a question asks for, from how it is put (first match wins).
_ANSWER_TYPES = (
    (
        "number",
        r"\bhow (?:many|much|old|far|long|big|large|high|often)\b|\bnumber of\b"
        r"|\bwhat (?:percentage|percent|share|proportion|number|amount)\b",
    ),
    (
        "date",
        r"\bwhen\b|\b(?:what|which) (?:year|date|day|month|time)\b|\bdate of\b|\bsince when\b",
    ),
    ("name", r"\bwho(?:m|se|s)?\b|\bname of\b|\bwhat(?:s| is) (?:the|his|her|their) name\b"),
    ("place", r"\bwhere\b|\b(?:what|which) (?:country|city|town|island|region|place)\b"),
)


@dataclass(frozen=True)
class QuestionSettings:
    """How the question is read."""

    synonym_weight: float = 0.5  # query weight of a term added by the synonyms file
    context_weight: float = 0.3  # query weight of a term from the earlier question (follow-ups)
    question_word_weight: float = 0.0  # query weight of a question word (0: not searched;
    # 0.25 scored the same on the calibration sets and reads long posting lists)
    common_zipf: float = 3.0  # wordfreq Zipf frequency from which a word is common English
    slip_zipf: float = 2.0  # how much more common (Zipf, per edit) a correction of a word
    # English knows must be: a slip in about one word in a hundred (see likelier_slip)
    max_edits_short: int = 1  # edits allowed to correct a word of 4–7 letters (of 4 only one
    # English does not know; shorter words are never corrected)
    max_edits_long: int = 2  # … of 8 letters or more
    context_tier: float = 0.8  # near terms fitting the other words this well as the best tie


@dataclass(frozen=True)
class Concept:
    """One content word of the question: its term, the word as typed, the terms that match it."""

    term: str
    surface: str
    alternatives: frozenset[str]
    term_id: int | None  # None when no passage contains the term
    alternative_ids: tuple[int, ...]  # ids of the term and its synonyms that passages contain

    @property
    def known(self) -> bool:
        """Whether any passage contains the term."""
        return self.term_id is not None


@dataclass(frozen=True)
class Question:
    """The question as the later stages use it."""

    text: str
    concepts: tuple[Concept, ...]
    query: dict[str, float]  # term → weight for the search
    query_ids: dict[int, float]  # the same for the terms passages contain, by term id
    highlight: frozenset[str]  # terms to mark in quotes
    highlight_ids: np.ndarray  # their term ids, ascending
    cue_words: tuple[str, ...]
    answer_type: str | None
    corrections: tuple[Correction, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        """The content terms searched for, in question order."""
        return tuple(c.term for c in self.concepts)


# Unicode category Cc (C0, DEL, C1) but tab, newline and carriage return: one regex scan.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NO_WORDS = (
    "the question has no searchable words (only stop words or punctuation); "
    "ask with words that might appear in the articles"
)


def parse_question(question: str) -> tuple[str, list[str]]:
    """The question ready to search and its terms, or QuestionError saying what is wrong."""
    question = _cleaned(question)
    words = tokenize(question)
    if not words:
        raise QuestionError(_NO_WORDS)
    return question, words


def collapsed(question: str) -> str:
    """The question with its whitespace collapsed: the text every stage reads."""
    return " ".join(question.split())


def _cleaned(question: str) -> str:
    """The question with its whitespace collapsed, or QuestionError when it is bad or empty."""
    controls = sorted(set(_CONTROLS.findall(question)))
    if controls:
        names = ", ".join(f"U+{ord(c):04X}" for c in controls[:3])
        raise QuestionError(f"the question contains control characters ({names}); remove them")
    question = collapsed(question)
    if not question:
        raise QuestionError("the question is empty; ask something about the articles")
    return question


def answer_type(question: str) -> str | None:
    """number, date, name or place when the question's form asks for one."""
    lowered = question.casefold().replace("’", "'")
    for kind, pattern in _ANSWER_TYPES:
        if re.search(pattern, lowered):
            return kind
    return None


def understand(
    question: str,
    backend: Retrieval,
    synonyms: Synonyms,
    settings: QuestionSettings,
    context: str | None = None,
) -> Question:
    """Read a question against the index: content words, corrections, query weights."""
    question = _cleaned(question)
    tokens = [(t, question[s:e]) for t, s, e in iter_tokens(question)]  # tokenized once
    if not tokens:
        raise QuestionError(_NO_WORDS)
    content = [(t, w) for t, w in tokens if t not in QUESTION_WORDS]
    cues = tuple(dict.fromkeys(t for t, _ in tokens if t in QUESTION_WORDS))
    if not content:  # nothing but question words: they are what there is to look for
        content, cues = tokens, ()
    ids: dict[str, int | None] = {}

    def term_id(term: str) -> int | None:
        if term not in ids:
            ids[term] = backend.term_id(term)
        return ids[term]

    corrections: list[Correction] = []
    words: list[tuple[str, str]] = []
    context_ids = [i for t, _ in content if (i := term_id(t)) is not None]
    fixes = [
        correct(term, surface, backend, settings, context_ids) if term_id(term) is None else None
        for term, surface in content
    ]
    for k, (term, surface) in enumerate(content):
        fixed = fixes[k]
        if fixed is not None and _beside_unknown(k, content, fixes, term_id):
            fixed = None
        if fixed is not None:
            corrections.append(Correction(surface.casefold(), fixed[1]))
            term = fixed[0]
        words.append((term, surface))
    terms = [t for t, _ in words]
    related = synonyms.expand(terms)
    query: dict[str, float] = dict(Counter(terms))
    for term in cues if settings.question_word_weight else ():
        query.setdefault(term, settings.question_word_weight)
    for extra in related.values():
        for term in extra:
            query[term] = max(query.get(term, 0.0), settings.synonym_weight)
    context_terms = set(tokenize(context)) if context else set()
    for term in context_terms:
        query[term] = max(query.get(term, 0.0), settings.context_weight)
    first: dict[str, str] = {}
    for term, surface in words:
        first.setdefault(term, surface)
    concepts = []
    for term, surface in first.items():
        alternatives = frozenset({term} | related.get(term, set()))
        alternative_ids = tuple(i for a in sorted(alternatives) if (i := term_id(a)) is not None)
        concepts.append(Concept(term, surface, alternatives, term_id(term), alternative_ids))
    highlight = frozenset((set(query) - context_terms - set(cues)) | set(terms))
    return Question(
        text=question,
        concepts=tuple(concepts),
        query=query,
        query_ids={i: w for t, w in query.items() if (i := term_id(t)) is not None},
        highlight=highlight,
        highlight_ids=np.array(
            sorted({i for t in highlight if (i := term_id(t)) is not None}), np.int32
        ),
        cue_words=cues,
        answer_type=answer_type(question),
        corrections=tuple(dict.fromkeys(corrections)),
    )


def _beside_unknown(
    k: int,
    content: Sequence[tuple[str, str]],
    fixes: Sequence[tuple[str, str] | None],
    term_id: Callable[[str], int | None],
) -> bool:
    """Whether content word ``k`` stands next to a word of letters that is not common English,
    no passage has and nothing corrects: then the two are likelier a name or phrase the sources
    lack ("hoppo ryodo") than a slip beside it, and the word is not corrected ("ryodo" is not
    "kyodo"). A number beside it does not count (nor costs wordfreq's import to look up)."""
    return any(
        0 <= j < len(content)
        and content[j][1].isalpha()
        and term_id(content[j][0]) is None
        and fixes[j] is None
        and zipf(content[j][1].casefold()) == 0
        for j in (k - 1, k + 1)
    )


@lru_cache(maxsize=50_000)
def zipf(word: str) -> float:
    """How common a word is in English (wordfreq's Zipf scale: 0 unknown … 7+ "the")."""
    return zipf_frequency(word)


def correct(
    term: str,
    surface: str,
    backend: Retrieval,
    settings: QuestionSettings,
    context: Sequence[int] = (),
) -> tuple[str, str] | None:
    """The index term (and its word) a misspelled word stands for, or None to keep it.

    Never for common English words, words under four letters, or four-letter words English
    knows: "pizza" missing from the sources is a finding, not a typo. Among the terms fewest
    edits away the one that fits the question's other words wins (see :func:`context_fit`:
    "deutsche borse" → "boerse", not "boss"), then the fewest letters added or dropped rather
    than changed (a doubled or missing letter is the likelier slip: "stamm" → "stam", not
    "stamp"), then the term in more passages.
    """
    word = surface.casefold()
    if len(word) < 4 or not word.isalpha() or zipf(word) >= settings.common_zipf:
        return None
    if len(word) == 4 and zipf_frequency(word, "large") > 0:
        return None  # a short word English knows ("mori") is meant; "limt" is a slip
    edits = settings.max_edits_short if len(word) < 8 else settings.max_edits_long
    near = near_terms(backend).near(term, edits)
    found = nearest(term, near, edits)
    if not found:
        return None
    from rapidfuzz.distance import Indel

    fewest = found[0][1]  # nearest first: only the terms fewest edits away compete
    found = [(choice, distance) for choice, distance in found if distance == fewest]
    ids = [cast(int, backend.term_id(choice)) for choice, _ in found]
    frequency = backend.document_frequency(np.array(ids))
    fit = context_fit(ids, context, backend) if len(found) > 1 else np.zeros(1)
    best_fit = float(fit.max(initial=0.0))

    def rank(i: int) -> tuple[bool, int, int, str]:
        fits = best_fit > 0 and fit[i] >= settings.context_tier * best_fit
        choice = found[i][0]
        return (not fits, Indel.distance(term, choice), -int(frequency[i]), choice)

    choice = found[min(range(len(found)), key=rank)][0]
    shown = surface_form(choice, backend, word) or choice
    known = zipf_frequency(word, "large")  # 0: no English word, a slip or a name
    if known > 0 and not likelier_slip(word, known, shown, edits, settings):
        return None
    return choice, shown


def likelier_slip(
    word: str, known: float, shown: str, edits: int, settings: QuestionSettings
) -> bool:
    """Whether a word English knows (a rare one: "signer", "gestated"; ``known`` its Zipf
    frequency) is likelier a slip for the word of the sources ``shown`` than meant as typed —
    the noisy-channel test.

    Terms are compared after stemming, where "stylistically" is two edits from "statistical"
    ("stylist" / "statist"): the words themselves must lie within ``edits`` too. And a slip is
    rare (about one word in a hundred per edit), so when ``shown`` is common English it must
    be ``slip_zipf`` per edit more common than the word typed ("goverment" → "government",
    not "signer" → "singer"); a name or rare word of the sources ("borse" → "boerse") is not
    weighed so, wordfreq knowing little of either.
    """
    from rapidfuzz.distance import OSA

    typed, meant = folded(word), folded(shown)
    distance = OSA.distance(typed, meant)
    if distance > edits:
        return False
    common = zipf(meant)  # the small list: 0 below common_zipf
    return common < settings.common_zipf or common - known >= settings.slip_zipf * distance


def context_fit(
    candidates: Sequence[int], context: Sequence[int], backend: Retrieval
) -> np.ndarray:
    """How well each candidate term fits the question's other words: the most idf of them that
    one passage holding the candidate also holds (0 without context). Read from the forward
    vectors of the candidate's best passages, so it costs a search per candidate, only for a
    typo with several equally near terms.
    """
    fit = np.zeros(len(candidates))
    others = np.array(sorted(set(context)), dtype=np.int64)
    if not len(others):
        return fit
    idf = backend.idf(others)
    nudge = dict.fromkeys(others.tolist(), CONTEXT_NUDGE)
    for k, candidate in enumerate(candidates):
        passages, _ = backend.search({**nudge, candidate: 1.0}, CONTEXT_PASSAGES, {})
        indptr, ids, _ = backend.forward(passages)
        row = np.repeat(np.arange(len(passages)), np.diff(indptr))
        where = np.minimum(np.searchsorted(others, ids), len(others) - 1)
        other = others[where] == ids  # each row holds a term once
        held = np.bincount(row[other], weights=idf[where[other]], minlength=len(passages))
        holds = np.bincount(row[ids == candidate], minlength=len(passages)) > 0
        fit[k] = float(held[holds].max(initial=0.0))
    return fit


def nearest(term: str, choices: list[str], edits: int, limit: int = 20) -> list[tuple[str, int]]:
    """The ``limit`` choices within ``edits`` of ``term``, nearest first, ties in list order.

    Edits are optimal string alignment's: a letter added, dropped or changed, or two neighbours
    swapped ("captians" → "captains" is one slip, not two).

    What ``process.extract(..., limit=limit)`` returns, from one C++ pass (``cdist``) without a
    Python result per choice.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    distances = process.cdist(
        [term], choices, scorer=OSA.distance, score_cutoff=edits, dtype=np.int32
    )[0]
    within = np.flatnonzero(distances <= edits)
    order = within[np.argsort(distances[within], kind="stable")][:limit].tolist()
    return [(choices[i], int(distances[i])) for i in order]


# Context fit: a candidate's passages that also hold the question's other words rank first.
CONTEXT_NUDGE = 0.01  # query weight of the other words (ranks, never outweighs the candidate)
CONTEXT_PASSAGES = 20  # of a candidate's passages, how many are read for the other words
FORM_PASSAGES = 5  # of a correction's passages, how many are read for the form shown

_NEAR: WeakKeyDictionary[Retrieval, NearTerms] = WeakKeyDictionary()


def near_terms(backend: Retrieval) -> NearTerms:
    """The backend's alphabetic terms indexed by letter pairs (built at the first typo)."""
    found = _NEAR.get(backend)
    if found is None:
        found = _NEAR.setdefault(backend, NearTerms.of(backend.vocabulary()))
    return found


def surface_form(term: str, backend: Retrieval, like: str = "") -> str | None:
    """A word of the sources that indexes as ``term`` (as written, lowercased): of its forms in
    the passages that use it most (up to ``FORM_PASSAGES``), the one nearest ``like``, letter
    by letter ("reserch" → "research", not "researchers")."""
    tid = backend.term_id(term)
    if tid is None:
        return None
    passages, _ = backend.search({tid: 1.0}, FORM_PASSAGES, {})
    forms: dict[str, None] = {}
    for passage in passages.tolist():
        tokens = backend.tokens(passage)
        text = backend.text(passage)
        for at in (tokens.ids == tid).nonzero()[0].tolist():
            forms[text[int(tokens.starts[at]) : int(tokens.ends[at])].casefold()] = None
    if not forms:
        return None
    from rapidfuzz.distance import OSA

    typed = folded(like)
    return min(forms, key=lambda form: OSA.distance(typed, folded(form)))  # ties: first seen
