"""Retrieve: the BM25 candidates for the question's weighted terms, through the backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.core.backend import Retrieval
from bot.core.pipeline.question import Question


@dataclass(frozen=True)
class RetrieveSettings:
    """How many candidates the later stages see, and how each block kind is weighted."""

    pool: int = 40
    kind_weight: tuple[tuple[str, float], ...] = (
        ("body", 1.0),
        ("caption", 0.8),
        ("byline", 0.8),
        ("references", 0.5),
        ("note", 0.5),
    )


@dataclass(frozen=True)
class Candidates:
    """Passage ids and their kind-weighted BM25 scores, best first."""

    passages: np.ndarray
    scores: np.ndarray


def retrieve(question: Question, backend: Retrieval, settings: RetrieveSettings) -> Candidates:
    """The ``pool`` best passages containing a query term (terms no passage has are skipped)."""
    terms = question.query_ids
    if not terms:
        return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0))
    passages, scores = backend.search(terms, settings.pool, dict(settings.kind_weight))
    return Candidates(np.asarray(passages, dtype=np.int64), np.asarray(scores, dtype=np.float64))
