"""Diversify: order the relevant passages so that other sources get a say — when they deserve it.

Another source's passage goes before a better one of a source already quoted only when it scores
nearly as well (``near``); a passage that repeats one already chosen is folded into it, and other
sources with a similar relevant passage are named under the quote as "also reported by".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DiversifySettings:
    """Thresholds of the diversity stage."""

    near: float = 0.0  # another source goes first from this share of the best remaining score
    duplicate_similarity: float = 0.5  # cosine above which a passage repeats one already chosen
    agreement_similarity: float = 0.2  # cosine above which another source "also reports" a quote


@dataclass
class Choice:
    """A chosen candidate row and the rows of other sources' passages that report the same."""

    row: int
    also: list[int] = field(default_factory=list)


def diversify(
    rows: list[int],
    scores: np.ndarray,
    sources: np.ndarray,
    similarity: np.ndarray,
    limit: int,
    settings: DiversifySettings,
) -> list[Choice]:
    """Up to ``limit`` rows (given best first), score-aware across sources, repeats folded."""
    remaining = list(rows)
    chosen: list[Choice] = []
    quoted: set[int] = set()
    while remaining and len(chosen) < limit:
        floor = settings.near * scores[remaining[0]]
        pick = next(
            (r for r in remaining if sources[r] not in quoted and scores[r] >= floor),
            remaining[0],
        )
        remaining.remove(pick)
        twin = next(
            (c for c in chosen if similarity[c.row, pick] >= settings.duplicate_similarity), None
        )
        if twin is None:
            chosen.append(Choice(pick))
            quoted.add(int(sources[pick]))
        elif sources[pick] not in {sources[r] for r in (twin.row, *twin.also)}:
            twin.also.append(pick)
    return chosen


def note_agreement(
    page: list[Choice],
    others: list[int],
    sources: np.ndarray,
    similarity: np.ndarray,
    settings: DiversifySettings,
) -> None:
    """Name, under the quote they resemble most, the other sources that report the same."""
    if not page:
        return
    quoted = {int(sources[c.row]) for c in page}
    page_rows = np.array([c.row for c in page])
    for other in others:
        source = int(sources[other])
        if source in quoted or any(source == sources[r] for c in page for r in c.also):
            continue
        values = similarity[page_rows, other]
        twin = int(np.argmax(values))
        if values[twin] >= settings.agreement_similarity:
            page[twin].also.append(other)
