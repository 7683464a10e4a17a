"""Quote: the chosen passages verbatim, with their matched words and best sentence marked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.core.answer import Quote
from bot.core.backend import Retrieval
from bot.core.pipeline.diversify import Choice
from bot.core.pipeline.match import Evidence, contains, gather
from bot.core.pipeline.question import Question


def quotes(
    page: Sequence[Choice],
    scores: np.ndarray,
    evidence: Evidence,
    question: Question,
    backend: Retrieval,
    named: int,
) -> tuple[Quote, ...]:
    """The page's quotes. Chosen rows the match did not read sentence by sentence are read now,
    all in one batch."""
    unread = [c.row for c in page if evidence.tokens[c.row] is None]
    where: dict[int, tuple[Evidence, int]] = {}
    if unread:
        late = gather(question, evidence.passages[unread], evidence.weights, backend)
        where = {row: (late, i) for i, row in enumerate(unread)}
    return tuple(
        quote(
            float(scores[c.row]),
            where.get(c.row, (evidence, c.row)),
            [int(evidence.passages[r]) for r in c.also],
            question,
            backend,
            named,
        )
        for c in page
    )


def quote(
    score: float,
    read: tuple[Evidence, int],
    also: list[int],
    question: Question,
    backend: Retrieval,
    named: int,
) -> Quote:
    """One quote: the passage's text, where it lies in its source, what to mark in it (from
    ``read``: evidence and the row where it was read sentence by sentence); of the other
    sources' passages also reporting it (``also``) the first ``named`` are named, the rest
    counted."""
    evidence, row = read
    passage = int(evidence.passages[row])
    tokens = evidence.tokens[row]
    assert tokens is not None
    marked = contains(tokens.ids, question.highlight_ids)
    best = evidence.best_span(row)
    starts, ends = tokens.starts[marked].tolist(), tokens.ends[marked].tolist()
    return Quote(
        passage_id=passage,
        text=backend.text(passage),
        score=score,
        source=backend.source(passage),
        kind=backend.kind(passage),
        span=backend.span(passage),
        highlights=tuple(zip(starts, ends, strict=True)),
        best=(best,) if best else (),
        also_reported_by=tuple(backend.source(p) for p in also[:named]),
        also_reported_more=max(0, len(also) - named),
    )
