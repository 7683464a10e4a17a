"""The query handler every front end calls: question in, ranked verbatim quotes (or abstention) out.

Retrieval is BM25 over passages; on top of it the engine decides whether anything is relevant
enough to quote (abstention), prefers the best passage from different sources (diversity), folds
near-identical passages from other sources into "also reported by", and marks the matched words
and the best-matching sentence of each quote.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.core import bm25
from bot.core.answer import NOT_FOUND, Answer, Quote
from bot.core.index import (
    BuildReport,
    Index,
    IndexMissing,
    build_index,
    load_index,
    staleness,
)
from bot.core.passages import sentence_spans
from bot.core.sources import SourceMeta
from bot.core.synonyms import Synonyms, load_synonyms
from bot.core.tokenizer import iter_tokens, tokenize
from bot.errors import QuestionError, QuestionTooLong

MAX_QUESTION_CHARS = 1000
_TERMS_CACHE = 20_000  # passages whose term counts an engine keeps


@dataclass(frozen=True)
class Tuning:
    """Retrieval settings, chosen with ``python -m bot eval`` (see README, "Evaluation")."""

    bm25: bm25.BM25Params = field(default_factory=bm25.BM25Params)
    kind_weight: tuple[tuple[str, float], ...] = (
        ("body", 1.0),
        ("caption", 0.8),
        ("references", 0.5),
        ("note", 0.5),
    )
    synonym_weight: float = 0.5  # query weight of a term added by the synonyms file
    context_weight: float = 0.3  # query weight of a term from the earlier question (follow-ups)
    min_coverage: float = 0.5  # share of the question's idf mass a quote must match
    min_score: float = 0.1  # quote score / the best score the question could reach
    min_relative: float = 0.3  # later quotes must score at least this share of the best
    duplicate_similarity: float = 0.5  # cosine above which a passage repeats one already quoted
    agreement_similarity: float = 0.2  # cosine above which another source "also reports" a quote
    pool: int = 40  # candidates considered for diversity and abstention


def parse_question(question: str) -> tuple[str, list[str]]:
    """The question ready to search and its terms, or QuestionError saying what is wrong."""
    controls = sorted(
        {c for c in question if unicodedata.category(c) == "Cc" and c not in "\t\n\r"}
    )
    if controls:
        names = ", ".join(f"U+{ord(c):04X}" for c in controls[:3])
        raise QuestionError(f"the question contains control characters ({names}); remove them")
    question = " ".join(question.split())
    if not question:
        raise QuestionError("the question is empty; ask something about the articles")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLong(
            f"the question is too long ({len(question):,} characters; the limit is "
            f"{MAX_QUESTION_CHARS:,}); ask it in fewer words"
        )
    words = tokenize(question)
    if not words:
        raise QuestionError(
            "the question has no searchable words (only stop words or punctuation); "
            "ask with words that might appear in the articles"
        )
    return question, words


def open_index(
    sources_dir: Path,
    index_dir: Path,
    params: bm25.BM25Params,
    notify: Callable[[str], None] = lambda _: None,
) -> Index:
    """Load the index, rebuilding it first (and saying so) when it is missing or stale.

    A missing or empty sources folder surfaces from the rebuild as a SourcesError.
    """
    try:
        reason = staleness(index_dir, sources_dir, params)
    except IndexMissing:
        reason = f"there is no index in {index_dir} yet"
    if reason:
        notify(f"Rebuilding the index: {reason}.")
        report = build_index(sources_dir, index_dir, params)
        for problem in report.problems:
            notify(str(problem))
        notify(describe_build(report))
    return load_index(index_dir)


def describe_build(report: BuildReport) -> str:
    """One line saying what a rebuild did."""
    n = report.skipped
    skipped = f"; {n} document{'s' if n != 1 else ''} skipped (see above)" if n else ""
    return (
        f"Indexed {report.sources} sources: {report.passages} passages, "
        f"{report.vocabulary} terms in {report.seconds:.2f} s{skipped}."
    )


@dataclass
class _Candidate:
    passage: int
    score: float
    text: str
    terms: Counter[str]
    coverage: float
    also: list[SourceMeta] = field(default_factory=list)


class Engine:
    """Answers questions from one loaded index. Immutable: swap in a new Engine to reindex."""

    def __init__(
        self, index: Index, synonyms: Synonyms | None = None, tuning: Tuning | None = None
    ) -> None:
        self.index = index
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.tuning = tuning or Tuning()
        self._kind_weight = index.kind_multiplier(dict(self.tuning.kind_weight))
        params = self.tuning.bm25
        # What one query term can add at most (tf → ∞), per unit of idf: normalises scores.
        self._best_term_weight = params.k1 + 1 + (params.delta if params.variant == "plus" else 0)
        self._terms: dict[int, tuple[str, Counter[str]]] = {}
        n = max(index.size, 1)
        self._unknown_idf = max(
            float(np.max(index.idf, initial=0.0)), math.log(1 + (n + 0.5) / 0.5)
        )

    @classmethod
    def open(
        cls,
        sources_dir: Path,
        index_dir: Path,
        tuning: Tuning | None = None,
        notify: Callable[[str], None] = lambda _: None,
    ) -> Engine:
        """Open the index for a sources directory, rebuilding it when stale."""
        tuning = tuning or Tuning()
        return cls(open_index(sources_dir, index_dir, tuning.bm25, notify), tuning=tuning)

    def sources(self) -> list[SourceMeta]:
        """The corpus, in index order."""
        return list(self.index.sources)

    def surrounding(self, passage: int, before: int = 1, after: int = 1) -> list[tuple[int, str]]:
        """The passage with its neighbours in the same source, for "show the full passage"."""
        source = self.index.passage_source[passage]
        ids = range(max(0, passage - before), min(self.index.size, passage + after + 1))
        return [(i, self.index.text(i)) for i in ids if self.index.passage_source[i] == source]

    def _idf(self, term: str) -> float:
        tid = self.index.vocabulary.get(term)
        return float(self.index.idf[tid]) if tid is not None else self._unknown_idf

    def search(self, terms: dict[str, float], k: int) -> list[tuple[int, float]]:
        """The ``k`` best passages containing a query term, by kind-weighted BM25 score."""
        vocab = self.index.vocabulary
        known = [(vocab[t], w) for t, w in terms.items() if t in vocab]
        ids, scores = bm25.search(
            self.index.postings,
            [t for t, _ in known],
            [w for _, w in known],
            k,
            self._kind_weight,
            fill=False,
        )
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def ask(
        self, question: str, k: int = 3, *, context: str | None = None, offset: int = 0
    ) -> Answer:
        """Answer a question with up to ``k`` quotes (skipping the first ``offset``, for "More")."""
        began = time.perf_counter()
        question, words = parse_question(question)
        tuning = self.tuning
        context_terms = set(tokenize(context)) if context else set()
        related = self.synonyms.expand(words)
        weights: dict[str, float] = dict(Counter(words))
        for extra in related.values():
            for term in extra:
                weights[term] = max(weights.get(term, 0.0), tuning.synonym_weight)
        for term in context_terms:
            weights[term] = max(weights.get(term, 0.0), tuning.context_weight)
        hits = self.search(weights, tuning.pool)
        searched = time.perf_counter()
        concepts = {t: {t} | related.get(t, set()) for t in dict.fromkeys(words)}
        ideal = sum(self._idf(t) for t in words) * self._best_term_weight
        weighted = {t: (alts, self._idf(t)) for t, alts in concepts.items()}
        total = sum(weight for _, weight in weighted.values())
        candidates = [self._candidate(p, score, weighted, total) for p, score in hits]
        best = candidates[0].score if candidates else 0.0
        relevant = [
            c
            for c in candidates
            if c.coverage >= tuning.min_coverage
            and c.score / ideal >= tuning.min_score
            and c.score >= tuning.min_relative * best
        ]
        chosen = self._diversify(relevant, offset + k + 1)
        page = chosen[offset : offset + k]
        shown = {c.passage for c in page}
        self._note_agreement(page, [c for c in relevant if c.passage not in shown])
        highlight_terms = set(weights) - context_terms | set(words)
        quotes = tuple(self._quote(c, concepts, highlight_terms) for c in page)
        timings = {
            "search_ms": (searched - began) * 1000,
            "total_ms": (time.perf_counter() - began) * 1000,
        }
        return Answer(
            question=question,
            answered=bool(quotes),
            quotes=quotes,
            message=None if quotes else NOT_FOUND,
            terms=tuple(dict.fromkeys(words)),
            sources_searched=len(self.index.sources),
            more=len(chosen) > offset + k,
            offset=offset,
            timings=timings,
        )

    def _passage_terms(self, passage: int) -> tuple[str, Counter[str]]:
        """A passage's text and term counts, cached: popular passages come back often."""
        cached = self._terms.get(passage)
        if cached is None:
            text = self.index.text(passage)
            cached = (text, Counter(tokenize(text)))
            if len(self._terms) >= _TERMS_CACHE:
                self._terms.clear()
            self._terms[passage] = cached
        return cached

    def _candidate(
        self, passage: int, score: float, concepts: dict[str, tuple[set[str], float]], total: float
    ) -> _Candidate:
        """A scored passage with its coverage: the share of the question's idf mass it matches."""
        text, terms = self._passage_terms(passage)
        present = terms.keys()
        matched = sum(weight for alts, weight in concepts.values() if not alts.isdisjoint(present))
        return _Candidate(passage, score, text, terms, matched / total if total else 0.0)

    def _similarity(self, a: _Candidate, b: _Candidate) -> float:
        """Cosine of the idf-weighted term vectors of two passages."""
        common = a.terms.keys() & b.terms.keys()
        dot = sum(a.terms[t] * b.terms[t] * self._idf(t) ** 2 for t in common)
        norm_a = math.sqrt(sum((n * self._idf(t)) ** 2 for t, n in a.terms.items()))
        norm_b = math.sqrt(sum((n * self._idf(t)) ** 2 for t, n in b.terms.items()))
        return dot / (norm_a * norm_b) if norm_a and norm_b else 0.0

    def _diversify(self, candidates: list[_Candidate], limit: int) -> list[_Candidate]:
        """Best passage per source first, then second ones; repeats of chosen ones are dropped."""
        index = self.index
        chosen: list[_Candidate] = []
        done: set[int] = set()  # passages chosen or folded into a chosen one
        for first_round in (True, False):
            for cand in candidates:
                if len(chosen) >= limit:
                    break
                if cand.passage in done:
                    continue
                source = int(index.passage_source[cand.passage])
                if first_round and any(index.passage_source[c.passage] == source for c in chosen):
                    continue
                done.add(cand.passage)
                limit_sim = self.tuning.duplicate_similarity
                twin = next((c for c in chosen if self._similarity(c, cand) >= limit_sim), None)
                meta = index.sources[source]
                if twin is None:
                    chosen.append(cand)
                elif source != index.passage_source[twin.passage] and meta not in twin.also:
                    twin.also.append(meta)
        return chosen

    def _note_agreement(self, page: list[_Candidate], others: list[_Candidate]) -> None:
        """Name, under the quote they resemble most, the other sources that report the same."""
        quoted = {self.index.source(c.passage).id for c in page}
        for other in others:
            meta = self.index.source(other.passage)
            if meta.id in quoted or not page:
                continue
            similarity, twin = max((self._similarity(c, other), i) for i, c in enumerate(page))
            new = all(m.id != meta.id for q in page for m in q.also)
            if similarity >= self.tuning.agreement_similarity and new:
                page[twin].also.append(meta)

    def _quote(self, cand: _Candidate, concepts: dict[str, set[str]], terms: set[str]) -> Quote:
        index = self.index
        text = cand.text
        highlights = tuple((s, e) for t, s, e in iter_tokens(text) if t in terms)
        best: tuple[tuple[int, int], ...] = ()
        best_value = 0.0
        for start, end in sentence_spans(text):
            present = set(tokenize(text[start:end]))
            value = sum(self._idf(t) for t, alts in concepts.items() if alts & present)
            if value > best_value + 1e-9:
                best, best_value = ((start, end),), value
        p = cand.passage
        return Quote(
            passage_id=p,
            text=text,
            score=cand.score,
            source=index.source(p),
            kind=index.kind(p),
            span=(int(index.passage_start[p]), int(index.passage_end[p])),
            highlights=highlights,
            best=best,
            also_reported_by=tuple(cand.also),
        )
