"""Cut sources into the passages a person would quote, each a verbatim span of its source.

Paragraph-based: very short paragraphs join a neighbour of the same kind and section, long ones
are split at sentence boundaries. Reference lists keep one reference per passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.core.sources import Block, Source

MIN_CHARS = 140  # a paragraph shorter than this is merged with a neighbour
MAX_CHARS = 900  # a paragraph longer than this is split at sentence boundaries
TARGET_CHARS = 600  # the size split pieces aim for

# Tokens ending in a period that do not end a sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st jr sr gen gov sen rep col lt sgt capt vs etc al e.g i.e jan feb mar
    apr jun jul aug sep sept oct nov dec no vol pp p fig ed eds approx dept est inc ltd co
    corp u.s u.k u.n
    """.split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9\u0400-\u04ff])|[。！？]|\n")


@dataclass(frozen=True)
class Passage:
    """A quotable unit: ``source.text[start:end]`` of one source, of one block kind."""

    source_index: int
    start: int
    end: int
    kind: str
    heading: str | None = None


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:end]`` (offsets in ``text``), whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if (
            match.group() != "\n"
            and match.group()[0] == "."
            and is_abbreviation(text, match.start())
        ):
            continue
        cut = match.end()
        _append_trimmed(text, begin, cut, spans)
        begin = cut
    _append_trimmed(text, begin, end, spans)
    return spans


def is_abbreviation(text: str, dot: int, start: int = 0) -> bool:
    r"""Whether the period at ``dot`` ends an abbreviation: the word just before it (in the 20
    characters before, from ``start`` on; opening quotes dropped) is listed or a single letter.
    The word is what ``(\S+)$`` finds there, a final newline before it allowed."""
    window = text[max(start, dot - 20) : dot]
    if window.endswith("\n"):
        window = window[:-1]
    if not window or window[-1].isspace():
        return False
    token = window.split()[-1].lstrip("(\"'“‘").lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and "a" <= token <= "z")


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))


def split_source(source: Source, source_index: int) -> list[Passage]:
    """The passages of one source, in reading order."""
    groups = _merge_short(list(source.blocks))
    passages: list[Passage] = []
    for group in groups:
        first, last = group[0], group[-1]
        if last.end - first.start > MAX_CHARS and len(group) == 1:
            for start, end in _split_long(source.text, first.start, first.end):
                passages.append(Passage(source_index, start, end, first.kind, first.heading))
        else:
            passages.append(Passage(source_index, first.start, last.end, first.kind, first.heading))
    return passages


def _mergeable(a: Block, b: Block) -> bool:
    return a.kind == b.kind and a.heading == b.heading and a.kind != "references"


def _merge_short(blocks: list[Block]) -> list[list[Block]]:
    """Group each short block with a neighbour (the next one, or the previous at a section end)."""
    groups: list[list[Block]] = []
    pending: list[Block] = []

    def flush() -> None:
        last = groups[-1] if groups else None
        if (
            last
            and _mergeable(last[-1], pending[0])
            and pending[-1].end - last[0].start <= MAX_CHARS
        ):
            last.extend(pending)
        else:
            groups.append(list(pending))
        pending.clear()

    for block in blocks:
        if pending and not _mergeable(pending[-1], block):
            flush()
        pending.append(block)
        if pending[-1].end - pending[0].start >= MIN_CHARS or block.kind == "references":
            groups.append(list(pending))
            pending.clear()
    if pending:
        flush()
    return groups


def _split_long(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Pieces of ``text[start:end]`` of about TARGET_CHARS, cut between sentences."""
    piece_start: int | None = None
    piece_end = start
    for s, e in sentence_spans(text, start, end):
        if piece_start is not None and e - piece_start > TARGET_CHARS:
            yield piece_start, piece_end
            piece_start = None
        if piece_start is None:
            piece_start = s
        piece_end = e
    if piece_start is not None:
        yield piece_start, piece_end


def split_sources(sources: list[Source]) -> list[Passage]:
    """All passages of a corpus, grouped by source in corpus order."""
    return [p for i, source in enumerate(sources) for p in split_source(source, i)]
