"""Quote: the chosen passages verbatim, with their matched words and best sentence marked."""

from __future__ import annotations

import numpy as np

from bot.core.answer import Quote
from bot.core.backend import Retrieval
from bot.core.pipeline.match import Evidence
from bot.core.pipeline.question import Question


def quote(
    row: int,
    score: float,
    evidence: Evidence,
    question: Question,
    backend: Retrieval,
    also: list[int],
    highlight_ids: np.ndarray,
) -> Quote:
    """One quote: the passage's text, where it lies in its source, what to mark in it."""
    passage = int(evidence.passages[row])
    tokens = evidence.tokens[row]
    marked = np.isin(tokens.ids, highlight_ids)
    best = evidence.best_span(row)
    return Quote(
        passage_id=passage,
        text=backend.text(passage),
        score=score,
        source=backend.source(passage),
        kind=backend.kind(passage),
        span=backend.span(passage),
        highlights=tuple(
            (int(s), int(e))
            for s, e in zip(tokens.starts[marked], tokens.ends[marked], strict=True)
        ),
        best=(best,) if best else (),
        also_reported_by=tuple(backend.source(int(evidence.passages[r])) for r in also),
    )
