"""Render answers and the corpus for a person: plain text when piped, rich on a terminal.

Piped output is plain and unwrapped, for scripts and files. On a terminal, rich wraps by visible
width (the attribution line too) at the terminal's width, highlights matched words, underlines
the answering sentence, and leaves colour out under ``NO_COLOR`` or ``TERM=dumb``. Every string
from a source goes through :func:`~bot.core.printable.printable` first.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from bot.core.answer import NOT_FOUND, Answer, Quote, attribution
from bot.core.printable import printable
from bot.core.sources import SourceMeta

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

HIT_STYLE = "bold yellow"
BEST_STYLE = "underline"
NOTE_STYLE = "dim"


def _number(answer: Answer, i: int) -> str:
    return f"{answer.offset + i + 1}."


def _attribution(quote: Quote) -> str:
    kind = "" if quote.kind == "body" else f" [{quote.kind}]"
    return f"— {attribution(quote.source)}{kind}"


def _also(quote: Quote) -> str | None:
    if not quote.also_reported_by:
        return None
    more = f" and {quote.also_reported_more} more" if quote.also_reported_more else ""
    return "Also reported by: " + "; ".join(_short(m) for m in quote.also_reported_by) + more


def _footer(answer: Answer) -> str:
    more = " — more with -k" if answer.more else ""
    return f"({answer.agreeing_sources} of {answer.sources_searched} sources{more})"


def _not_found(answer: Answer) -> str:
    return " ".join(filter(None, (answer.message or NOT_FOUND, answer.reason)))


def format_answer(answer: Answer) -> str:
    """The answer as plain text: each quote, then its attribution and who else reports it."""
    if not answer.answered:
        return printable(_not_found(answer))
    blocks = [answer.did_you_mean] if answer.did_you_mean else []
    for i, quote in enumerate(answer.quotes):
        lines = [f"{_number(answer, i)} " + quote.text.replace("\n", "\n   ")]
        lines += [f"   {line}" for line in (_attribution(quote), _also(quote)) if line]
        blocks.append("\n".join(lines).replace("\n   \n", "\n\n"))
    return printable("\n\n".join([*blocks, _footer(answer)]))


def heading(question: str) -> str:
    """The line that introduces each answer in batch output."""
    return printable(f"Q: {question}".rstrip())


def format_sources(sources: Sequence[SourceMeta]) -> str:
    """The corpus as a readable list: id, then the attribution line and url."""
    lines = []
    for meta in sources:
        lines.append(meta.id)
        lines.append(f"   {attribution(meta)}")
        lines.append(f"   url: {meta.url or 'unknown'}; language: {meta.language or 'unknown'}")
    lines.append(f"{len(sources)} source{'s' if len(sources) != 1 else ''}")
    return printable("\n".join(lines))


def _short(meta: SourceMeta) -> str:
    title = f"\u201c{meta.title}\u201d" if meta.title else meta.id
    return f"{meta.outlet}, {title}" if meta.outlet else title


class Screen:
    """Where the CLI writes its results: rich on a terminal, plain lines anywhere else."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The rich console (imported only for a terminal, to keep piped start-up quick)."""
        if self._console is None:
            from rich.console import Console

            # the size is given, since rich assumes 80 columns for TERM=dumb
            width, height = shutil.get_terminal_size()
            self._console = Console(
                file=self.stream, width=width, height=height, highlight=False, emoji=False
            )
        return self._console

    def answer(self, answer: Answer) -> None:
        """Show one answer."""
        if not self.tty:
            self.line(format_answer(answer))
        elif not answer.answered:
            self.text(_not_found(answer))
        else:
            if answer.did_you_mean:
                self.text(answer.did_you_mean)
                self.line()
            console = self.console
            console.print(_rich_answer(answer, console), soft_wrap=True)

    def heading(self, question: str) -> None:
        """Introduce the answer to ``question`` (batch mode)."""
        if self.tty:
            self.console.print(_text(heading(question), "bold"))
        else:
            self.line(heading(question))

    def text(self, text: str) -> None:
        """Plain text, made printable; wrapped on a terminal, each line under its own indent."""
        if not self.tty:
            self.line(printable(text))
            return
        from rich.text import Text

        console = self.console
        out = Text()
        for line in printable(text).splitlines():
            body = line.lstrip(" ")
            indent = " " * (len(line) - len(body))
            for part in Text(body).wrap(console, max(console.width - len(indent), 20)):
                part.rstrip()
                out.append_text(Text(indent) + part + "\n")
        console.print(out, soft_wrap=True, end="")

    def line(self, text: str = "") -> None:
        """Text already made printable, as is."""
        print(text, file=self.stream, flush=True)


def _text(text: str, style: str = "") -> RenderableType:
    from rich.text import Text

    return Text(text, style=style)


def _rich_answer(answer: Answer, console: Console) -> RenderableType:
    """The answer as rich text, each quote wrapped at the console's width with a hanging indent."""
    from rich.text import Text

    indent = len(_number(answer, len(answer.quotes) - 1)) + 1
    width = max(console.width - indent, 20)
    out = Text()
    for i, quote in enumerate(answer.quotes):
        body = Text(printable(quote.text))
        for start, end in quote.best:
            body.stylize(BEST_STYLE, start, end)
        for start, end in quote.highlights:
            body.stylize(HIT_STYLE, start, end)
        notes = [_attribution(quote), _also(quote)]
        paragraphs = [body, *(Text(printable(n), style=NOTE_STYLE) for n in notes if n)]
        lines = [line for p in paragraphs for line in p.wrap(console, width)]
        for j, line in enumerate(lines):
            line.rstrip()
            prefix = _number(answer, i).rjust(indent - 1) + " " if j == 0 else " " * indent
            out.append_text(Text(prefix if line.plain else "") + line + "\n")
        out.append("\n")
    out.append(_footer(answer))
    return out
