"""Where the question's words occur in the candidate passages, computed with NumPy over all
candidates at once from their forward vectors (term ids in reading order, with sentences).

Coverage (which content words a passage contains), the best sentence of each passage, how close
together the matched words sit in it, whether it holds the kind of answer asked for, and the
similarity of candidates to one another: the evidence the rerank, answerability, diversity and
quote stages read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bot.core.backend import CAPITAL, DATE, NUMBER, PassageTokens, Retrieval, TokenBatch
from bot.core.pipeline.question import Question, zipf

# Token flags that hold an answer of each kind.
TYPE_FLAGS = {"number": NUMBER, "date": DATE, "name": CAPITAL, "place": CAPITAL}


@dataclass(frozen=True)
class RowTokens:
    """Each candidate row's tokens (None for rows not read sentence by sentence), built from
    the batch read for the match only when a stage asks for a row."""

    batch: TokenBatch
    where: np.ndarray  # the row's passage in ``batch``, -1 if not read

    def __getitem__(self, row: int) -> PassageTokens | None:
        at = int(self.where[row])
        return None if at < 0 else self.batch[at]

    def take(self, order: np.ndarray) -> RowTokens:
        """The same rows in ``order``."""
        return RowTokens(self.batch, self.where[order])


@dataclass(frozen=True)
class Evidence:
    """Per candidate (rows, in candidate order): what of the question it contains, and where."""

    passages: np.ndarray
    tokens: RowTokens
    presence: np.ndarray  # candidates × concepts: the passage contains the concept (or a synonym)
    weights: np.ndarray  # concept weights (idf; background rarity for words no passage has)
    best_sentence: np.ndarray  # index of each passage's best sentence, -1 when nothing matched
    sentence_coverage: np.ndarray  # share of the concept weight matched by the best sentence
    proximity: np.ndarray  # 1 when the best sentence's matched words are adjacent, → 0 apart
    typed: np.ndarray  # the best sentence holds a word of the asked-for answer type

    @cached_property
    def coverage(self) -> np.ndarray:
        """Share of the question's concept weight each candidate contains."""
        total = float(self.weights.sum())
        return self.presence @ self.weights / total if total else np.zeros(len(self.passages))

    def take(self, order: np.ndarray) -> Evidence:
        """The same evidence with its rows in ``order``."""
        return Evidence(
            passages=self.passages[order],
            tokens=self.tokens.take(order),
            presence=self.presence[order],
            weights=self.weights,
            best_sentence=self.best_sentence[order],
            sentence_coverage=self.sentence_coverage[order],
            proximity=self.proximity[order],
            typed=self.typed[order],
        )

    def best_span(self, row: int) -> tuple[int, int] | None:
        """The character span of a candidate's best sentence (rows read sentence by sentence)."""
        sentence = int(self.best_sentence[row])
        tokens = self.tokens[row]
        if sentence < 0 or tokens is None:
            return None
        start, end = tokens.sentences[sentence]
        return int(start), int(end)


def concept_weights(question: Question, backend: Retrieval) -> np.ndarray:
    """Each concept's weight: its idf, or for a word no passage contains, its background rarity.

    The background weight is the idf the word would have if it occurred in passages as often as
    in English at large (wordfreq): a rare name weighs like the rarest terms of the index, a
    common word ("best", "latest") little. Capped at the idf of a term in half a passage: rarer
    than anything the index holds.
    """
    largest = math.log((max(backend.size, 1) + 1) / 0.5)  # rarer than any index term
    known = [c.term_id for c in question.concepts if c.term_id is not None]
    idf = iter(backend.idf(np.array(known, dtype=np.int64)) if known else ())
    return np.array(
        [
            float(next(idf))
            if c.term_id is not None
            else min(largest, background_idf(c.surface, backend.average_length))
            for c in question.concepts
        ]
    )


def background_idf(word: str, length: float) -> float:
    """−ln P(a passage of ``length`` terms contains the word), from its English frequency."""
    share = 10 ** (zipf(word.casefold()) - 9) if word.isalpha() else 0.0
    present = -math.expm1(-max(length, 1.0) * share)
    return -math.log(present) if present > 0 else math.inf


def concept_lookup(question: Question) -> tuple[np.ndarray, np.ndarray]:
    """Sorted term ids of every concept's alternatives, and the concept each one stands for."""
    pairs = sorted({(tid, k) for k, c in enumerate(question.concepts) for tid in c.alternative_ids})
    ids = np.array([tid for tid, _ in pairs], dtype=np.int64)
    kept = np.ones(len(ids), dtype=bool)  # a term in two concepts counts for the first
    kept[1:] = ids[1:] != ids[:-1]
    concepts = np.array([k for _, k in pairs], dtype=np.int64)
    return ids[kept], concepts[kept]


def gather(
    question: Question,
    passages: np.ndarray,
    weights: np.ndarray,
    backend: Retrieval,
    detail: int | None = None,
) -> Evidence:
    """The evidence for the candidates: which concepts each holds (from the stored forward
    vectors, all candidates), and sentence by sentence for the first ``detail`` (all if None).
    """
    n, k = len(passages), len(question.concepts)
    lookup, concept_of = concept_lookup(question)
    presence = np.zeros((n, k), dtype=bool)
    if n and len(lookup):
        indptr, ids, _ = backend.forward(passages)
        row = np.repeat(np.arange(n), np.diff(indptr))
        hit, concept = _match(ids, lookup, concept_of)
        presence[row[hit], concept[hit]] = True
    shown = n if detail is None else min(detail, n)
    read = backend.tokens_of(passages[:shown])
    tokens = RowTokens(read, np.where(np.arange(n) < shown, np.arange(n), -1))
    best = np.full(n, -1, dtype=np.int64)
    sentence_coverage, proximity, typed = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    if shown and len(lookup):
        sentences = _sentences(question, read, weights, lookup, concept_of)
        best[:shown], sentence_coverage[:shown], proximity[:shown], typed[:shown] = sentences
    return Evidence(passages, tokens, presence, weights, best, sentence_coverage, proximity, typed)


def _match(
    ids: np.ndarray, lookup: np.ndarray, concept_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each term id: whether it is one of the question's, and which concept it stands for."""
    at = np.minimum(np.searchsorted(lookup, ids), len(lookup) - 1)
    return lookup[at] == ids, concept_of[at]


def contains(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which of ``ids`` are among the ascending ``wanted`` (``np.isin`` without its sort)."""
    if not len(wanted):
        return np.zeros(len(ids), dtype=bool)
    return wanted[np.minimum(np.searchsorted(wanted, ids), len(wanted) - 1)] == ids


def _sentences(
    question: Question,
    tokens: TokenBatch,
    weights: np.ndarray,
    lookup: np.ndarray,
    concept_of: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best sentence, its coverage, proximity and answer type of each passage, all at once."""
    n, k = len(tokens), len(question.concepts)
    counts = np.diff(tokens.sentence_indptr)
    first_sentence = tokens.sentence_indptr
    ids, sentence, flags = tokens.ids, tokens.sentence, tokens.flags
    row = np.repeat(np.arange(n), np.diff(tokens.token_indptr))
    hit, concept = _match(ids, lookup, concept_of)
    by_sentence = np.zeros((int(first_sentence[-1]), k), dtype=bool)
    by_sentence[sentence[hit], concept[hit]] = True
    value = by_sentence @ weights
    sentence_row = np.repeat(np.arange(n), counts)
    top = np.maximum.reduceat(value, first_sentence[:-1])
    is_top = value >= top[sentence_row] - 1e-9
    position = np.where(is_top, np.arange(len(value)), len(value))  # first top sentence per row
    best = np.minimum.reduceat(position, first_sentence[:-1])
    best[top <= 1e-9] = -1
    total = float(weights.sum()) or 1.0
    in_best = sentence == best[row]
    proximity = _proximity(row, hit & in_best, concept, n)
    wanted = TYPE_FLAGS.get(question.answer_type or "", 0)
    typed = np.zeros(n, dtype=bool)
    if wanted:
        typed[row[in_best & ~hit & ((flags & wanted) != 0)]] = True
    local_best = np.where(best >= 0, best - first_sentence[:-1], -1)
    return local_best, np.where(best >= 0, top / total, 0.0), proximity, typed


def _proximity(row: np.ndarray, matched: np.ndarray, concept: np.ndarray, n: int) -> np.ndarray:
    """(distinct matched concepts − 1) / (token span − 1) per candidate; 0 below two concepts."""
    positions = np.flatnonzero(matched)  # ascending, so each candidate's run is contiguous
    proximity = np.zeros(n)
    if not len(positions):
        return proximity
    rows = row[positions]
    starts = np.ones(len(rows), dtype=bool)
    starts[1:] = rows[1:] != rows[:-1]
    first = np.flatnonzero(starts)
    last = np.empty_like(first)
    last[:-1] = first[1:] - 1
    last[-1] = len(positions) - 1
    seen = np.zeros((n, int(concept.max(initial=0)) + 1), dtype=bool)
    seen[rows, concept[positions]] = True  # no sort: concepts are few, a table is cheaper
    distinct = np.count_nonzero(seen, axis=1)
    span = np.maximum(positions[last] - positions[first], 1)
    owners = rows[first]
    proximity[owners] = np.where(distinct[owners] >= 2, (distinct[owners] - 1) / span, 0.0)
    return proximity


def similarities(evidence: Evidence, backend: Retrieval, rows: list[int]) -> np.ndarray:
    """Cosine of the idf-weighted term vectors (the stored forward index) of some candidates,
    as a candidates × candidates matrix (zero outside ``rows``)."""
    size = len(evidence.passages)
    full = np.zeros((size, size))
    n = len(rows)
    if n == 0:
        return full
    indptr, ids, counts = backend.forward(evidence.passages[rows])
    row = np.repeat(np.arange(n), np.diff(indptr))
    terms, column = np.unique(ids, return_inverse=True)
    vectors = np.zeros((n, len(terms)))
    vectors[row, column] = counts * backend.idf(terms)[column]
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    vectors /= norms[:, None]
    full[np.ix_(rows, rows)] = vectors @ vectors.T
    return full
