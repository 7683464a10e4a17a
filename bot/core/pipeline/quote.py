"""Quote: the chosen passages verbatim, with their matched words and best sentence marked."""

from __future__ import annotations

from bot.core.answer import Quote
from bot.core.backend import Retrieval
from bot.core.pipeline.match import Evidence, contains, gather
from bot.core.pipeline.question import Question


def quote(
    row: int,
    score: float,
    evidence: Evidence,
    question: Question,
    backend: Retrieval,
    also: list[int],
    named: int,
) -> Quote:
    """One quote: the passage's text, where it lies in its source, what to mark in it; of the
    other sources also reporting it (rows ``also``) the first ``named`` are named, the rest
    counted."""
    passage = int(evidence.passages[row])
    also_reported_by = tuple(backend.source(int(evidence.passages[r])) for r in also[:named])
    own = evidence, row
    if evidence.tokens[row] is None:  # not read sentence by sentence yet: read it now
        own = gather(question, evidence.passages[row : row + 1], evidence.weights, backend), 0
    tokens = own[0].tokens[own[1]]
    assert tokens is not None
    marked = contains(tokens.ids, question.highlight_ids)
    best = own[0].best_span(own[1])
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
        also_reported_by=also_reported_by,
        also_reported_more=max(0, len(also) - named),
    )
