"""Escaped, marked-up text that can be cut to a length without ever breaking its markdown.

Text is escaped with :func:`discord.utils.escape_markdown` and :func:`discord.utils.escape_mentions`
(plus the markdown characters escape_markdown leaves alone inside what it takes for a
``[link](…)``, and the ``<`` of every Discord markup token — see :data:`DISCORD_MARKUP`); bold
and underline are then added around whole escaped characters, so a cut can
never split an escape or leave a ``**``/``__`` open. Cuts fall on a sentence or word boundary and
are marked with "…". Lengths are counted in UTF-16 code units, never less than Discord's count.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

import discord

from bot.frontends.shared import ELLIPSIS, cut_point

_JOINABLE = re.compile(r"[\s\-\u2010\u2011]+")  # gaps between matched words worth bolding
_ALWAYS = "\\*_~|`["  # characters that are markdown (or start a masked link) anywhere
_ATOM = re.compile(r"\\*[^\\\u200b]\u200b?", re.DOTALL)  # a character with its escapes
_UNESCAPED = re.compile(r"(?<!\\)[*_~|`\[]")  # what escape_markdown left inside a "link"
_ESCAPED = re.compile(r"\\([^0-9A-Za-z\s])")
# Discord renders these <…> tokens as something else: user, role and channel mentions (any id,
# where escape_mentions only knows 17–20 digits), slash-command links, timestamps (shown in the
# reader's time zone and format), custom emoji and guide links. A quote must read as its source
# wrote it, so their "<" is escaped and every one reads as literal text (none could ping anyway:
# no mentions are allowed).
DISCORD_MARKUP = re.compile(r"<(?=(?:@[!&]?|#|/|t:|a?:\w+:|id:)[^<>\s]*>)")

Span = tuple[int, int]


def width(text: str) -> int:
    """Length as Discord may count it (UTF-16 code units; ≥ the number of code points)."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Text safe to show verbatim: markdown escaped and @everyone/@here/<@id> defused."""
    return _escaped(text)[0]


def unescape(text: str) -> str:
    """Inverse of :func:`escape` (to read a question back from an embed title)."""
    return _ESCAPED.sub(r"\1", text.replace("\u200b", ""))


def _escaped(text: str) -> tuple[str, list[int]]:
    """``text`` escaped, and where each original character's escaped form starts (plus the end).

    Markdown and mentions as :func:`_escaped_markdown` does; then the "<" of Discord markup.
    """
    escaped, starts = _escaped_markdown(text)
    marks = [m.start() for m in DISCORD_MARKUP.finditer(text)]
    if not marks:
        return escaped, starts
    atoms = [escaped[a:b] for a, b in itertools.pairwise(starts)]
    for i in marks:
        atoms[i] = "\\" + atoms[i]
    return "".join(atoms), [0, *itertools.accumulate(len(a) for a in atoms)]


def _escaped_markdown(text: str) -> tuple[str, list[int]]:
    """``text`` markdown-escaped, and where each original character's escaped form starts.

    The escaping is discord.py's (escape_markdown, then escape_mentions); the characters that are
    markdown anywhere but that escape_markdown leaves alone inside what it takes for a
    ``[link](…)`` are escaped too. Escapes stay attached to their character.
    """
    escaped = discord.utils.escape_mentions(discord.utils.escape_markdown(text, ignore_links=False))
    if "\\" not in text and "\u200b" not in text and not _UNESCAPED.search(escaped):
        # every backslash and ZWSP was inserted by the escaping, every special is escaped
        starts = [m.start() for m in _ATOM.finditer(escaped)]
        if len(starts) == len(text):
            return escaped, [*starts, len(escaped)]
    atoms = _align(text, escaped)
    if len(atoms) != len(text):  # escape_markdown changed unexpectedly: escape on our own
        atoms = [("\\" + c if c in _ALWAYS + ">#-" else c) for c in text]
        atoms = [a + "\u200b" if a == "@" else a for a in atoms]
    for i, atom in enumerate(atoms):
        if atom[0] in _ALWAYS and not atom.startswith("\\"):
            atoms[i] = "\\" + atom  # left unescaped inside what was taken for a [link](…)
        elif atom == "\\":
            atoms[i] = "\\\\"
    starts = [0]
    for atom in atoms:
        starts.append(starts[-1] + len(atom))
    return "".join(atoms), starts


def _align(text: str, escaped: str) -> list[str]:
    """One string per character of ``text``: the character with what escaping added to it."""
    atoms, j = [], 0
    for i, char in enumerate(text):
        prefix = ""
        while j < len(escaped) and escaped[j] == "\\" and char != "\\":
            prefix, j = prefix + "\\", j + 1
        if char == "\\" and escaped.startswith("\\\\", j):
            prefix, j = "\\", j + 1
        if j >= len(escaped) or escaped[j] != char:
            return []
        j += 1
        if escaped.startswith("\u200b", j) and text[i + 1 : i + 2] != "\u200b":
            char, j = char + "\u200b", j + 1
        atoms.append(prefix + char)
    return atoms if j == len(escaped) else []


def _merge(spans: Iterable[Span], size: int) -> list[Span]:
    """Sorted, clipped spans with overlapping or touching ones merged (no "****" seams)."""
    merged: list[Span] = []
    for start, end in sorted((max(0, s), min(size, e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Marked:
    """A text with bold and underlined spans, rendered (and cut) on escaped characters."""

    def __init__(self, text: str, bold: Iterable[Span] = (), underline: Iterable[Span] = ()):
        self.text = text
        self.escaped, self.starts = _escaped(text)
        size = len(text)
        bold_spans = _merge(bold, size)
        for n, (start, end) in enumerate(bold_spans):
            after = bold_spans[n + 1][0] if n + 1 < len(bold_spans) else end
            if _JOINABLE.fullmatch(text[end:after]):
                bold_spans[n] = (start, after)  # "**visa-free visits**", not "**visa**-**free**"
        bold_spans = _merge(bold_spans, size)
        under_spans = _merge(underline, size)
        cuts = sorted({0, size, *(i for span in bold_spans + under_spans for i in span)})
        self.runs: list[tuple[int, int, bool, bool]] = []  # (start, end, bold, underlined)
        for a, b in itertools.pairwise(cuts):
            flags = (
                any(s <= a < e for s, e in bold_spans),
                any(s <= a < e for s, e in under_spans),
            )
            if self.runs and self.runs[-1][2:] == flags:
                self.runs[-1] = (self.runs[-1][0], b, *flags)
            else:
                self.runs.append((a, b, *flags))

    def render(self, start: int = 0, end: int | None = None) -> str:
        """Markdown of ``text[start:end]``: bold nested in underline, every marker closed."""
        end = len(self.text) if end is None else end
        out: list[str] = []
        under = False
        for run_start, run_end, is_bold, is_under in self.runs:
            a, b = max(start, run_start), min(end, run_end)
            if a >= b:
                continue
            if is_under != under:
                out.append("__")
                under = is_under
            piece = self.escaped[self.starts[a] : self.starts[b]]
            out.append(f"**{piece}**" if is_bold else piece)
        if under:
            out.append("__")
        return "".join(out)

    def fit(self, limit: int, focus: Span | None = None) -> str:
        """The rendering cut to ``limit`` at a sentence or word boundary, with "…" where cut.

        When the text is too long and ``focus`` (the answering sentence) would fall outside the
        cut, the excerpt starts at ``focus`` instead, with a leading "…".
        """
        text = self.text.strip()
        if not text or limit <= 0:
            return ""
        first = len(self.text) - len(self.text.lstrip())
        last = len(self.text.rstrip())
        whole = self.render(first, last)
        if width(whole) <= limit:
            return whole
        if limit <= len(ELLIPSIS) + 1:
            return ELLIPSIS[:limit]
        start, lead = first, ""
        if focus is not None and focus[0] > first:
            needed = width(self.render(first, min(focus[1], last))) + len(ELLIPSIS) + 1
            if needed > limit:
                start, lead = focus[0], ELLIPSIS + " "

        def cost(end: int, tail: str) -> int:
            return width(lead) + width(self.render(start, end)) + width(tail)

        where = cut_point(self.text, start, last, lambda e, tail: cost(e, tail) <= limit)
        if where is None:
            return ELLIPSIS
        end, tail = where
        return lead + self.render(start, end) + tail


def fit_text(text: str, limit: int) -> str:
    """Plain text escaped and cut to ``limit`` at a word boundary."""
    return Marked(" ".join(text.split())).fit(limit)
