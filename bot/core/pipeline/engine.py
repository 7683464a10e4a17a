"""The query handler every front end calls: question in, ranked verbatim quotes (or abstention) out.

It composes the answer pipeline's stages, each a module with its own settings: understand the
question (``question``), fetch BM25 candidates (``retrieve``), gather where the question's words
occur in them (``match``), combine the signals (``rerank``), decide whether anything answers
(``answerability``), let other sources speak (``diversify``) and quote verbatim (``quote``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.core import bm25
from bot.core.answer import NOT_FOUND, Answer
from bot.core.backend import IndexBackend
from bot.core.build import ensure_index
from bot.core.extras import ExtraArray
from bot.core.index import Index
from bot.core.pipeline.answerability import (
    AnswerabilitySettings,
    Verdict,
    judge,
    model_features,
    semantic_model_path,
    threshold_of,
)
from bot.core.pipeline.diversify import DiversifySettings, diversify, note_agreement
from bot.core.pipeline.match import Evidence, concept_weights, gather, similarities
from bot.core.pipeline.question import Question, QuestionSettings, collapsed, understand
from bot.core.pipeline.quote import quotes
from bot.core.pipeline.rerank import RerankSettings, SemanticScorer, rerank
from bot.core.pipeline.retrieve import RetrieveSettings, retrieve
from bot.core.pipeline.semantic import (
    MINILM,
    PassageVectors,
    SemanticSettings,
    VectorScorer,
    semantic_stage,
    widen,
)
from bot.core.pipeline.softmatch import WordVectors, soft_missing
from bot.core.sources import SourceMeta
from bot.core.synonyms import Synonyms, load_synonyms
from bot.errors import QuestionError

__all__ = [
    "Engine",
    "QuestionError",
    "Tuning",
    "open_index",
]


@dataclass(frozen=True)
class Tuning:
    """Every stage's settings, chosen with ``python -m bot eval`` (see README, "Evaluation")."""

    bm25: bm25.BM25Params = field(default_factory=bm25.BM25Params)
    question: QuestionSettings = field(default_factory=QuestionSettings)
    retrieve: RetrieveSettings = field(default_factory=RetrieveSettings)
    rerank: RerankSettings = field(default_factory=RerankSettings)
    answerability: AnswerabilitySettings = field(default_factory=AnswerabilitySettings)
    diversify: DiversifySettings = field(default_factory=DiversifySettings)
    semantic: SemanticSettings = field(default_factory=SemanticSettings)

    def setting(self, path: str) -> float:
        """One stage's setting by its dotted name, e.g. ``"answerability.min_coverage"``."""
        stage, name = path.split(".")
        return float(getattr(getattr(self, stage), name))

    def with_setting(self, path: str, value: float) -> Tuning:
        """A copy with one stage's setting changed (see :meth:`setting`)."""
        stage, name = path.split(".")
        return dataclasses.replace(
            self, **{stage: dataclasses.replace(getattr(self, stage), **{name: value})}
        )


def open_index(
    sources_dir: Path,
    index_dir: Path,
    params: bm25.BM25Params,
    notify: Callable[[str], None] = lambda _: None,
    extras: tuple[ExtraArray, ...] = (),
) -> Index:
    """Load the index, updating it first (and saying so) when it is missing or stale.

    A missing or empty sources folder surfaces from the rebuild as a SourcesError.
    """
    return ensure_index(sources_dir, index_dir, params, notify, extras)


class Engine:
    """Answers questions from one loaded index. Immutable: swap in a new Engine to reindex."""

    def __init__(
        self,
        index: Index,
        synonyms: Synonyms | None = None,
        tuning: Tuning | None = None,
        semantic: SemanticScorer | None = None,
    ) -> None:
        self.index = index
        self.backend = IndexBackend(index)
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.tuning = tuning or Tuning()
        self.semantic = semantic
        model = semantic.model if isinstance(semantic, VectorScorer) else MINILM
        self._semantic_model = semantic_model_path(model)
        # Soft word matches, from the scorer's vectors word by word, where the chosen
        # answerability model weighs them (the static vectors' model: STATIC_FEATURES).
        self._words: WordVectors | None = None
        if isinstance(semantic, VectorScorer) and "soft_missing" in model_features(model):
            self._words = WordVectors(semantic.encoder)
        params = self.tuning.bm25
        # What one query term can add at most (tf → ∞), per unit of idf: normalises scores.
        self._best_term_weight = params.k1 + 1 + (params.delta if params.variant == "plus" else 0)

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
        index = open_index(sources_dir, index_dir, tuning.bm25, notify, cls.extras(tuning))
        return cls.over(index, tuning)

    @staticmethod
    def extras(tuning: Tuning) -> tuple[ExtraArray, ...]:
        """What a rebuild adds to the index for these settings (the passage vectors).

        Without ``semantic.rank`` an index lacking them is not stale, and a rebuild only keeps
        vectors the index already has up to date (a one-shot command never encodes a corpus).
        """
        stage = semantic_stage(tuning.semantic)
        if stage is None:
            return ()
        vectors = stage.vectors
        return (
            vectors if tuning.semantic.rank else PassageVectors(vectors.encoder, required=False),
        )

    @classmethod
    def over(cls, index: Index, tuning: Tuning) -> Engine:
        """An engine over a loaded index, with the semantic scorer when the settings rank by it."""
        stage = semantic_stage(tuning.semantic) if tuning.semantic.rank else None
        return cls(index, tuning=tuning, semantic=stage.scorer(index) if stage else None)

    def threshold(self) -> float:
        """The P(answerable) this engine answers from: its semantic model's, with a scorer."""
        semantic_model = self._semantic_model if self.semantic is not None else None
        return threshold_of(self.tuning.answerability, semantic_model)

    def warm(self) -> None:
        """Load now what the first question would otherwise wait for (the embedding model, about
        0.2 s): a long-running front end's first users should not queue behind it."""
        if isinstance(self.semantic, VectorScorer):
            self.semantic.encoder.encode(["warm up"])

    def prime(self, questions: Sequence[str]) -> None:
        """Prepare, in one batch, what questions about to be asked need from the embedding model
        (a no-op without the semantic stage): the service primes the questions queued together."""
        if isinstance(self.semantic, VectorScorer):
            self.semantic.prime([collapsed(q) for q in questions])

    def sources(self) -> list[SourceMeta]:
        """The corpus, in index order."""
        return list(self.index.sources)

    def surrounding(self, passage: int, before: int = 1, after: int = 1) -> list[tuple[int, str]]:
        """The passage with its neighbours in the same source, for "show the full passage"."""
        ids = np.arange(max(0, passage - before), min(self.backend.size, passage + after + 1))
        same = self.backend.source_of(ids) == self.backend.source_of(np.array([passage]))[0]
        return [(int(i), self.backend.text(int(i))) for i in ids[same]]

    def ask(
        self, question: str, k: int = 3, *, context: str | None = None, offset: int = 0
    ) -> Answer:
        """Answer a question with up to ``k`` quotes (skipping the first ``offset``, for "More")."""
        began = time.perf_counter()
        backend, settings = self.backend, self.tuning.diversify
        asked, evidence, scores, verdict, timings = self._judged(question, context)
        judged = time.perf_counter()
        sources = backend.source_of(evidence.passages)
        similarity = similarities(evidence, backend, verdict.relevant)
        kinds = backend.is_body(evidence.passages).astype(int)
        chosen = diversify(
            verdict.relevant, scores, sources, similarity, offset + k + 1, settings, kinds
        )
        page = chosen[offset : offset + k]
        shown = {c.row for c in page} | {r for c in chosen for r in c.also}
        others = [r for r in verdict.relevant if r not in shown]
        note_agreement(page, others, sources, similarity, settings)
        diversified = time.perf_counter()
        quoted = quotes(page, scores, evidence, asked, backend, settings.also_named)
        done = time.perf_counter()
        timings["diversify_ms"] = (diversified - judged) * 1000
        timings["quote_ms"] = (done - diversified) * 1000
        timings["total_ms"] = (done - began) * 1000
        return Answer(
            question=asked.text,
            answered=bool(quoted),
            quotes=quoted,
            message=None if quoted else NOT_FOUND,
            terms=asked.terms,
            sources_searched=backend.source_count,
            more=len(chosen) > offset + k,
            offset=offset,
            timings=timings,
            corrections=asked.corrections,
            reason=None if quoted else verdict.reason,
        )

    def signals(self, question: str, context: str | None = None) -> dict[str, float]:
        """What the answerability stage decides from, for one question (for calibration)."""
        return self._judged(question, context)[3].features

    def _judged(
        self, question: str, context: str | None
    ) -> tuple[Question, Evidence, np.ndarray, Verdict, dict[str, float]]:
        """Understand, retrieve, match, rerank and judge: everything before diversity."""
        began = time.perf_counter()
        tuning, backend = self.tuning, self.backend
        asked = understand(question, backend, self.synonyms, tuning.question, context)
        understood = time.perf_counter()
        found = retrieve(asked, backend, tuning.retrieve)
        if tuning.semantic.dense and isinstance(self.semantic, VectorScorer):
            found = widen(found, self.semantic, asked.text, tuning.semantic.dense)
        searched = time.perf_counter()
        weights = concept_weights(asked, backend)
        evidence = gather(asked, found.passages, weights, backend, tuning.rerank.detail)
        ranked = rerank(asked.text, found.scores, evidence, tuning.rerank, self.semantic)
        evidence = evidence.take(ranked.order)
        matched = time.perf_counter()
        ideal = float(weights.sum()) * self._best_term_weight
        soft = None
        if self._words is not None:
            soft = soft_missing(asked, evidence, backend, self._words)
        verdict = judge(
            asked,
            ranked.scores,
            evidence,
            ideal,
            tuning.answerability,
            ranked.semantic,
            self._semantic_model,
            soft,
        )
        timings = {
            "question_ms": (understood - began) * 1000,
            "search_ms": (searched - understood) * 1000,
            "match_ms": (matched - searched) * 1000,
            "judge_ms": (time.perf_counter() - matched) * 1000,
        }
        return asked, evidence, ranked.scores, verdict, timings
