"""Answers, passages, the source list and notes as Discord embeds, within Discord's limits.

Pure functions (no I/O). Quoted text goes through :mod:`.markdown`: escaped, matched
words in bold, the answering sentence underlined, cut at a sentence or word boundary with "…".
The space of an embed (description 4,096, total 6,000) is shared fairly between the quotes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import discord

from bot.core.answer import Answer, Quote, attribution, stated
from bot.core.sources import SourceMeta
from bot.frontends.shared import ELLIPSIS, pages

from .markdown import Marked, fit_text, unescape, width

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
FIELDS_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000

COLOUR = discord.Colour.from_rgb(47, 111, 178)
SOURCES_PER_PAGE = 8
PAGE_CHARS = 3500  # description characters per /sources page
NOTE_LIMIT = 500  # "did you mean" and the reason for declining: one line each
_URL = re.compile(r"https?://[^\s<>\"'`|]+")


def safe_url(url: str | None) -> str | None:
    """The url if it is a plain http(s) link that can be shown inside <…>, else None."""
    if url and _URL.fullmatch(url) and len(url) <= 512:
        return url
    return None


def source_line(meta: SourceMeta, limit: int) -> str:
    """ "— outlet, “title”, author, date <url>" escaped, within ``limit`` (link kept whole)."""
    url = safe_url(meta.url)
    link = f" <{url}>" if url and len(url) + 40 < limit else ""
    return "— " + fit_text(attribution(meta), limit - 2 - len(link)) + link


def title_for(question: str) -> str:
    """The embed title: the question in quotation marks (read back by question_from_title)."""
    return "\u201c" + fit_text(question, TITLE_LIMIT - 2) + "\u201d"


def question_from_title(title: str | None) -> str | None:
    """The question an answer embed was for, from its title (None if it is not an answer)."""
    if not title or not (title.startswith("\u201c") and title.endswith("\u201d")):
        return None
    question = unescape(title[1:-1]).removesuffix(ELLIPSIS).strip()
    return question or None


def _shares(needs: list[int], budget: int) -> list[int]:
    """Split ``budget`` so small needs are met in full and the rest share equally."""
    shares = [0] * len(needs)
    left = budget
    order = sorted(range(len(needs)), key=lambda i: needs[i])
    for n, i in enumerate(order):
        shares[i] = max(0, min(needs[i], left // (len(needs) - n)))
        left -= shares[i]
    return shares


def _footer(answer: Answer) -> str:
    if not answer.answered:
        return f"Searched {answer.sources_searched} sources."
    first = answer.offset + 1
    last = answer.offset + len(answer.quotes)
    shown = f"quote {first}" if first == last else f"quotes {first}\u2013{last}"
    more = " · more available" if answer.more else ""
    return f"{answer.agreeing_sources} of {answer.sources_searched} sources agree · {shown}{more}"


def answer_embed(answer: Answer) -> discord.Embed:
    """The answer: one description section per quote with its attribution, counts in the footer.

    "Did you mean" (corrected words) heads it in italics; a declined answer says why in a line.
    """
    title = title_for(answer.question)
    footer = _footer(answer)
    embed = discord.Embed(title=title, colour=COLOUR)
    embed.set_footer(text=footer)
    meant = answer.did_you_mean
    if not answer.answered:
        notes = [answer.message or "No answer.", answer.reason, meant]
        embed.description = "\n".join(fit_text(n, NOTE_LIMIT) for n in notes if n)
        return embed
    heading = f"*{fit_text(meant, NOTE_LIMIT)}*\n\n" if meant else ""
    budget = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - width(title) - width(footer))
    budget -= width(heading)
    quotes = answer.quotes
    per_quote = budget // len(quotes)
    fixed: list[str] = []
    for number, quote in enumerate(quotes, answer.offset + 1):
        meta_limit = max(60, min(400, per_quote // 3))
        lines = ["", source_line(quote.source, meta_limit)]
        if quote.also_reported_by:
            names = ", ".join(str(m.outlet or m.title or m.id) for m in quote.also_reported_by)
            names += f" and {quote.also_reported_more} more" if quote.also_reported_more else ""
            lines.append("Also reported by: " + fit_text(names, max(40, meta_limit // 2)))
        fixed.append(f"**{number}.** ")
        fixed.append("\n".join(lines))
    overhead = sum(width(part) for part in fixed) + 2 * (len(quotes) - 1)
    marks = [Marked(q.text, q.highlights, q.best) for q in quotes]
    shares = _shares([width(m.render()) for m in marks], max(0, budget - overhead))
    sections = [
        fixed[2 * i]
        + mark.fit(shares[i], quotes[i].best[0] if quotes[i].best else None)
        + fixed[2 * i + 1]
        for i, mark in enumerate(marks)
    ]
    embed.description = heading + "\n\n".join(sections)
    return embed


def passage_embed(quote: Quote, paragraphs: Sequence[tuple[int, str]]) -> discord.Embed:
    """ "Full passage": the quoted passage (marked, ▶) with its neighbours and its source."""
    title = fit_text(quote.source.title or "Full passage", TITLE_LIMIT)
    embed = discord.Embed(title=title, colour=COLOUR)
    embed.add_field(name="Source", value=source_line(quote.source, FIELD_VALUE_LIMIT))
    parts: list[Marked] = []
    focus = 0
    for passage_id, text in paragraphs or [(quote.passage_id, quote.text)]:
        if passage_id == quote.passage_id:
            focus = len(parts)
            parts.append(Marked(text, quote.highlights, quote.best))
        else:
            parts.append(Marked(text))
    prefix = "\u25b6 "
    budget = DESCRIPTION_LIMIT - len(prefix) - 2 * (len(parts) - 1)
    need = [width(p.render()) for p in parts]
    own = min(need[focus], max(budget // 2, budget - sum(need) + need[focus]))
    rest = _shares([n for i, n in enumerate(need) if i != focus], budget - own)
    shares = [*rest[:focus], own, *rest[focus:]]
    best = quote.best[0] if quote.best else None
    texts = [
        (prefix + p.fit(shares[i], best)) if i == focus else p.fit(shares[i])
        for i, p in enumerate(parts)
    ]
    embed.description = "\n\n".join(t for t in texts if t)
    return embed


def sources_pages(sources: Sequence[SourceMeta]) -> list[discord.Embed]:
    """The corpus as pages of at most SOURCES_PER_PAGE entries (for /sources)."""
    entries = []
    for number, meta in enumerate(sources, 1):
        title = fit_text(meta.title or meta.id, 200)
        details = [stated(meta, field) for field in ("outlet", "author", "date")]
        url = safe_url(meta.url)
        line = fit_text(" · ".join(details), 250) + (f"\n<{url}>" if url else "")
        entries.append(f"**{number}. {title}**\n{line}")
    chunks = pages(entries, SOURCES_PER_PAGE, PAGE_CHARS, width)
    embeds = []
    for number, chunk in enumerate(chunks, 1):
        text = "\n\n".join(chunk) or "No sources are indexed."
        embed = discord.Embed(title="Sources", colour=COLOUR, description=text)
        embed.set_footer(text=f"{len(sources)} sources · page {number} of {len(chunks)}")
        embeds.append(embed)
    return embeds


def follow_up_help(name: str, reads_messages: bool) -> str:
    """How to ask a follow-up: without the Message Content intent a reply must mention the bot."""
    if reads_messages:
        return (
            "**Reply** to one of my answers, or write in a thread I started, to ask a follow-up "
            "in its context (no need to mention me)."
        )
    return (
        f"**Reply** to one of my answers with **@{fit_text(name, 80)}** on (the reply's mention "
        "switch) to ask a follow-up in its context; without the mention I don't see the reply."
    )


def help_embed(
    max_chars: int, quotes: int, name: str = "newsbot", reads_messages: bool = False
) -> discord.Embed:
    """What the bot does and how to ask (for /help)."""
    text = (
        "I answer questions about a collection of news articles with **verbatim quotes**: "
        "the passages that answer, matched words in bold, the answering sentence underlined, "
        "and where each quote comes from. I never answer in my own words; when the articles "
        "do not answer, I say so.\n\n"
        f"**/ask** `question` — up to {quotes} quotes; **More** shows the next ones, "
        "**Full passage** the paragraph around a quote (only you see it); **👍 / 👎** rate "
        "the answer, **Wrong source** tells us a quote does not fit.\n"
        "**Mention me** with a question in a channel, or **DM** me.\n"
        f"{follow_up_help(name, reads_messages)}\n"
        "**/sources** — the articles I know.\n"
        "**/reindex** — rebuild the index (server managers only).\n\n"
        f"Questions up to {max_chars:,} characters."
    )
    return discord.Embed(title="newsbot", description=text, colour=COLOUR)


def cooldown_message(retry_after: float, now: dt.datetime | None = None) -> str:
    """When the person may ask again (a relative Discord timestamp and seconds)."""
    now = now or discord.utils.utcnow()
    when = now + dt.timedelta(seconds=retry_after)
    seconds = max(1, round(retry_after))
    return (
        f"You're asking a bit fast. You can ask again {discord.utils.format_dt(when, 'R')} "
        f"(in {seconds} s)."
    )
