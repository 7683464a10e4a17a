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

    # Chosen on the calibration sets' hit@3 (near 0.8 / 0.9 / 0.95 / 1; paragraphs 0.5 / 0.7 / 0.9)
    near: float = 0.95  # another source goes first from this share of the best remaining score
    duplicate_similarity: float = 0.5  # cosine above which a passage repeats one already chosen
    paragraph_similarity: float = 0.7  # … when both are paragraphs of the same kind in one source
    agreement_similarity: float = 0.2  # cosine above which another source "also reports" a quote
    also_named: int = 5  # "also reported by" names this many sources; the others are counted


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
    kinds: np.ndarray | None = None,
) -> list[Choice]:
    """Up to ``limit`` rows (given best first), score-aware across sources, repeats folded.

    A caption repeating its article's body, or another outlet's near-identical paragraph, is a
    repeat from ``duplicate_similarity``; two paragraphs of one article share much vocabulary
    without repeating each other, so for them it takes ``paragraph_similarity``.
    """
    kinds = np.zeros(len(sources), dtype=int) if kinds is None else kinds
    limits = np.where(
        (sources[:, None] == sources[None, :]) & (kinds[:, None] == kinds[None, :]),
        settings.paragraph_similarity,
        settings.duplicate_similarity,
    )
    repeats = (similarity >= limits).tolist()  # row → rows it repeats: a list, cheap to index
    remaining = list(rows)
    source, score = sources.tolist(), scores.tolist()  # plain lists: cheap to index in the loop
    chosen: list[Choice] = []
    quoted: set[int] = set()
    while remaining and len(chosen) < limit:
        floor = settings.near * score[remaining[0]]
        pick = next(
            (r for r in remaining if source[r] not in quoted and score[r] >= floor),
            remaining[0],
        )
        remaining.remove(pick)
        twin = next((c for c in chosen if repeats[c.row][pick]), None)
        if twin is None:
            chosen.append(Choice(pick))
            quoted.add(source[pick])
        elif source[pick] not in {source[r] for r in (twin.row, *twin.also)}:
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
    if not page or not others:
        return
    source = sources.tolist()
    quoted = {source[c.row] for c in page}
    reported = {source[r] for c in page for r in c.also}  # kept up to date below
    values = similarity[np.ix_([c.row for c in page], others)]  # page rows × others
    twins = np.argmax(values, axis=0).tolist()
    agree = (values.max(axis=0) >= settings.agreement_similarity).tolist()
    for other, twin, agrees in zip(others, twins, agree, strict=True):
        if agrees and source[other] not in quoted and source[other] not in reported:
            page[twin].also.append(other)
            reported.add(source[other])
