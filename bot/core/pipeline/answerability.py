"""Answerability: quote the best passages, or say the sources do not answer — and why.

A passage is relevant when it holds enough of the question's weighted content words (coverage)
and scores near enough to the best the question could reach and to the top candidate. When
nothing is relevant the reason is read from the same signals, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.core.pipeline.match import Evidence
from bot.core.pipeline.question import Question


@dataclass(frozen=True)
class AnswerabilitySettings:
    """Thresholds of the relevance gate."""

    min_coverage: float = 0.5  # share of the question's concept weight a quote must match
    min_score: float = 0.1  # quote score / the best score the question could reach
    min_relative: float = 0.3  # later quotes must score at least this share of the best


@dataclass(frozen=True)
class Verdict:
    """The rows worth quoting (best first) or, when there are none, why."""

    relevant: list[int]
    reason: str | None


def judge(
    question: Question,
    scores: np.ndarray,
    evidence: Evidence,
    ideal: float,
    settings: AnswerabilitySettings,
) -> Verdict:
    """Keep the candidates that answer; explain the decision when none does."""
    coverage = evidence.coverage
    best = float(scores[0]) if len(scores) else 0.0
    keep = (
        (coverage >= settings.min_coverage)
        & (scores / (ideal or 1.0) >= settings.min_score)
        & (scores >= settings.min_relative * best)
    )
    relevant = [int(r) for r in np.flatnonzero(keep)]
    return Verdict(relevant, None if relevant else why_not(question, evidence))


def _listed(words: list[str], quote: str = "'", last: str = " or ") -> str:
    shown = [f"{quote}{w}{quote}" for w in dict.fromkeys(words)][:3]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + last + shown[-1]


def why_not(question: Question, evidence: Evidence) -> str:
    """One line saying why nothing was quoted, from what the sources hold of the question."""
    unknown = [c.surface for c in question.concepts if not c.known]
    if unknown and len(unknown) == len(question.concepts):
        return f"Nothing in the sources matches {_listed(unknown)}."
    names = [c.surface for c in question.concepts if not c.known and c.surface[:1].isupper()]
    if names:
        return f"No source mentions {_listed(names, '', ' or ')}."
    if unknown:
        return f"No source mentions {_listed(unknown)}."
    if len(evidence.passages):
        best = int(np.argmax(evidence.presence.sum(axis=1)))
        missing = [
            c.surface
            for c, p in zip(question.concepts, evidence.presence[best], strict=True)
            if not p
        ]
        if missing:
            return f"No passage speaks of {_listed(missing, last=' and ')} with the rest."
    return "No passage matches enough of the question."
