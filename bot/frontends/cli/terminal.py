"""Render answers and the corpus for a person at a terminal (colour on a TTY, plain when piped)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

from bot.core.answer import Answer, Quote, attribution
from bot.core.sources import SourceMeta

BOLD_YELLOW = "\033[1;33m"
UNDERLINE = "\033[4m"
DIM = "\033[2m"
RESET = "\033[0m"


def use_colour(stream_is_tty: bool) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream_is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _marked(quote: Quote) -> str:
    """The quote with matched words in bold yellow and the best sentence underlined."""
    text = quote.text
    events: dict[int, list[str]] = {}
    for start, end in quote.best:
        events.setdefault(start, []).append("best+")
        events.setdefault(end, []).append("best-")
    for start, end in quote.highlights:
        events.setdefault(start, []).append("hit+")
        events.setdefault(end, []).append("hit-")
    out: list[str] = []
    best = hit = False
    last = 0
    for pos in sorted(events):
        out.append(text[last:pos])
        for event in events[pos]:
            best = (event == "best+") or (best and event != "best-")
            hit = (event == "hit+") or (hit and event != "hit-")
        out.append(RESET + (UNDERLINE if best else "") + (BOLD_YELLOW if hit else ""))
        last = pos
    out.append(text[last:] + RESET)
    return "".join(out)


def format_answer(answer: Answer, colour: bool = False, width: int | None = None) -> str:
    """The answer as text: each quote, then its attribution and who else reports it."""
    if not answer.answered:
        return answer.message or "I couldn't find that in the sources."
    blocks = []
    for number, quote in enumerate(answer.quotes, start=answer.offset + 1):
        body = _marked(quote) if colour else quote.text
        if width:
            body = "\n".join(
                textwrap.fill(line, width, initial_indent="   ", subsequent_indent="   ")
                for line in body.splitlines()
            )
        else:
            body = textwrap.indent(body, "   ")
        kind = "" if quote.kind == "body" else f" [{quote.kind}]"
        lines = [f"{number}.{body[2:]}", f"   — {attribution(quote.source)}{kind}"]
        if quote.also_reported_by:
            others = "; ".join(_short(m) for m in quote.also_reported_by)
            lines.append(f"   Also reported by: {others}")
        if colour:
            lines[1:] = [DIM + line + RESET for line in lines[1:]]
        blocks.append("\n".join(lines))
    footer = (
        f"({answer.agreeing_sources} of {answer.sources_searched} sources"
        f"{' — more with -k' if answer.more else ''})"
    )
    return "\n\n".join(blocks) + "\n\n" + footer


def _short(meta: SourceMeta) -> str:
    title = f"\u201c{meta.title}\u201d" if meta.title else meta.id
    return f"{meta.outlet}, {title}" if meta.outlet else title


def format_sources(sources: Sequence[SourceMeta]) -> str:
    """The corpus as a readable list: id, then the attribution line and url."""
    lines = []
    for meta in sources:
        lines.append(meta.id)
        lines.append(f"   {attribution(meta)}")
        lines.append(f"   url: {meta.url or 'unknown'}; language: {meta.language or 'unknown'}")
    lines.append(f"{len(sources)} source{'s' if len(sources) != 1 else ''}")
    return "\n".join(lines)
