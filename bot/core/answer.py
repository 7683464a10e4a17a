"""The structured answer every front end renders: whether it answered, and the ranked quotes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.sources import SourceMeta, span_basis

NOT_FOUND = "I couldn't find that in the sources."

Span = tuple[int, int]


def stated(meta: SourceMeta, field: str) -> str:
    """What the source says its ``field`` (outlet, author, date) is, or "unknown <field>"."""
    value = getattr(meta, field)
    return str(value) if value else f"unknown {field}"


def attribution(meta: SourceMeta) -> str:
    """Where a quote comes from: outlet, "title", author, date ("unknown" where unsaid)."""
    title = f"\u201c{meta.title}\u201d" if meta.title else "untitled"
    return ", ".join((stated(meta, "outlet"), title, stated(meta, "author"), stated(meta, "date")))


@dataclass(frozen=True)
class Correction:
    """A word of the question read as another ("did you mean")."""

    original: str
    corrected: str

    def to_json(self) -> dict[str, str]:
        """``{"from": …, "to": …}``."""
        return {"from": self.original, "to": self.corrected}


@dataclass(frozen=True)
class Quote:
    """One passage quoted verbatim, with what matched and where it comes from.

    ``highlights`` are the spans of matched words and ``best`` the spans of the best-matching
    sentence(s), both as offsets into ``text``; ``span`` locates ``text`` in the source file.
    """

    passage_id: int
    text: str
    score: float
    source: SourceMeta
    kind: str
    span: Span
    highlights: tuple[Span, ...] = ()
    best: tuple[Span, ...] = ()
    also_reported_by: tuple[SourceMeta, ...] = ()  # the first few other sources, named
    also_reported_more: int = 0  # how many more other sources also report it, unnamed

    def to_json(self) -> dict[str, Any]:
        """JSON form, as ``ask --json`` and the HTTP API print it."""
        return {
            "text": self.text,
            "score": round(self.score, 6),
            "source": self.source.to_dict(),
            "passage_id": self.passage_id,
            "kind": self.kind,
            "span": list(self.span),
            "span_in": span_basis(self.source.path),
            "best_sentences": [self.text[s:e] for s, e in self.best],
            "best_spans": [list(s) for s in self.best],
            "highlights": [list(s) for s in self.highlights],
            "also_reported_by": [m.to_dict() for m in self.also_reported_by],
            "also_reported_more": self.also_reported_more,
            "attribution": attribution(self.source),
        }


@dataclass(frozen=True)
class Answer:
    """What the query handler returns; ``answered`` is False (and no quotes) when it abstains."""

    question: str
    answered: bool
    quotes: tuple[Quote, ...] = ()
    message: str | None = None
    terms: tuple[str, ...] = ()
    sources_searched: int = 0
    more: bool = False
    offset: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    corrections: tuple[Correction, ...] = ()
    reason: str | None = None  # why it declined, in one line

    @property
    def did_you_mean(self) -> str | None:
        """One line naming corrected words: ``Did you mean: ambassador (not ambasador)?``."""
        if not self.corrections:
            return None
        fixes = ", ".join(f"{c.corrected} (not {c.original})" for c in self.corrections)
        return f"Did you mean: {fixes}?"

    @property
    def agreeing_sources(self) -> int:
        """How many distinct sources the quotes (and the "also reported by" notes) come from."""
        ids = {q.source.id for q in self.quotes}
        ids.update(m.id for q in self.quotes for m in q.also_reported_by)
        return len(ids) + sum(q.also_reported_more for q in self.quotes)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``ask --json`` / ``GET /api/ask``."""
        return {
            "question": self.question,
            "answered": self.answered,
            "message": self.message,
            "results": [q.to_json() for q in self.quotes],
            "terms": list(self.terms),
            "sources_searched": self.sources_searched,
            "sources_agreeing": self.agreeing_sources,
            "more": self.more,
            "corrections": [c.to_json() for c in self.corrections],
            "reason": self.reason,
        }
