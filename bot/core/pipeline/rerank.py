"""Rerank: BM25 combined with signals that generalise across corpora.

How close together the matched words sit in a passage's best sentence, whether that sentence
holds the kind of answer asked for (a number for "how many", a date for "when" …) and, when a
semantic scorer is plugged in, how similar the passage means to the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.core.pipeline.match import Evidence


class SemanticScorer(Protocol):
    """Similarity of meaning between the question and passages (e.g. sentence embeddings)."""

    def similarity(self, question: str, passages: np.ndarray) -> np.ndarray:
        """Cosine similarity, in [-1, 1], of the question to each passage id."""
        ...


@dataclass(frozen=True)
class RerankSettings:
    """Each signal's weight, as a multiplier on the BM25 score: score · (1 + Σ wᵢ·signalᵢ)."""

    proximity_weight: float = 0.1  # chosen on the calibration sets' hit@3 (0, 0.1, 0.3)
    type_weight: float = 0.1  # likewise
    semantic_weight: float = 0.0  # for the lead to set when a scorer is wired in
    detail: int = 10  # candidates read sentence by sentence for these signals (BM25's best)
    # With a scorer: rank by (1 − mix)·score/best + mix·cosine, rescaled so the best keeps its
    # score; chosen on the calibration sets' hit@3 (0.15, 0.3, 0.5, 0.7; README "Semantic stage").
    semantic_mix: float = 0.3


@dataclass(frozen=True)
class Ranked:
    """Candidate rows in their new order with the combined scores (and semantic ones, if any)."""

    order: np.ndarray
    scores: np.ndarray
    semantic: np.ndarray | None


def rerank(
    question: str,
    scores: np.ndarray,
    evidence: Evidence,
    settings: RerankSettings,
    semantic: SemanticScorer | None = None,
) -> Ranked:
    """Combine the signals and reorder (ties keep BM25 order)."""
    boost = settings.proximity_weight * evidence.proximity + settings.type_weight * evidence.typed
    similarity = None
    if semantic is not None and len(scores):
        similarity = np.asarray(semantic.similarity(question, evidence.passages), dtype=float)
        boost = boost + settings.semantic_weight * np.clip(similarity, 0.0, 1.0)
    combined = scores * (1.0 + boost)
    if similarity is not None and settings.semantic_mix and float(combined.max()) > 0:
        mix = settings.semantic_mix
        hybrid = (1 - mix) * combined / combined.max() + mix * np.clip(similarity, 0.0, 1.0)
        combined = hybrid * (combined.max() / (float(hybrid.max()) or 1.0))
    order = np.argsort(-combined, kind="stable")
    return Ranked(order, combined[order], None if similarity is None else similarity[order])
