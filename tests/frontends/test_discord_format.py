"""Answer → embed formatting at Discord's limits: cuts, markdown, mentions, attribution."""

from __future__ import annotations

import datetime as dt
import random
import re

import discord
import pytest

from bot.core.answer import NOT_FOUND, Answer, Quote
from bot.core.passages import sentence_spans
from bot.core.sources import SourceMeta
from bot.frontends.discord_bot.formatting import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    answer_embed,
    cooldown_message,
    passage_embed,
    question_from_title,
    source_line,
    sources_pages,
)
from bot.frontends.discord_bot.markdown import (
    Marked,
    escape,
    fit_text,
    unescape,
    width,
)
from bot.frontends.shared import ELLIPSIS
from tests.frontends.discord_session import check_embed


def mark_quote(quote: Quote, limit: int) -> str:
    """A quote marked up and cut to ``limit`` the way an answer embed does it."""
    marked = Marked(quote.text, quote.highlights, quote.best)
    return marked.fit(limit, quote.best[0] if quote.best else None)


WORDS = "the *bold* _under_ ~strike~ |pipe| `code` @everyone @here <@123456789012345678> \\ # - >"
WORDS += " visa-free talks Kuril islands 17,000 Tokyo’s [link](https://x.y) 東京 😀 a b"


def plain(rendered: str) -> str:
    """What a reader sees: markers removed, escapes resolved, zero-width spaces dropped."""
    out, i = [], 0
    while i < len(rendered):
        if rendered[i] == "\\" and i + 1 < len(rendered):
            out.append(rendered[i + 1])
            i += 2
        elif rendered.startswith(("**", "__"), i):
            i += 2
        else:
            out.append(rendered[i])
            i += 1
    return "".join(out).replace("\u200b", "")


def assert_balanced(rendered: str) -> None:
    """Every ** and __ opened is closed, properly nested; no dangling backslash."""
    stack: list[str] = []
    i = 0
    while i < len(rendered):
        if rendered[i] == "\\":
            assert i + 1 < len(rendered), f"dangling backslash: {rendered!r}"
            i += 2
            continue
        token = rendered[i : i + 2]
        if token in ("**", "__"):
            if stack and stack[-1] == token:
                stack.pop()
            else:
                assert token not in stack, f"crossed markers in {rendered!r}"
                stack.append(token)
            i += 2
            continue
        assert rendered[i] not in "*_~|`", f"unescaped {rendered[i]!r} in {rendered!r}"
        i += 1
    assert not stack, f"unclosed {stack} in {rendered!r}"


def meta(n: int = 0, **fields: str | None) -> SourceMeta:
    """Source metadata (unknown fields stay None)."""
    return SourceMeta(id=f"s{n}", path=f"s{n}.md", **fields)  # type: ignore[arg-type]


def quote(text: str, n: int = 0, *, source: SourceMeta | None = None) -> Quote:
    """A quote highlighting every 'talks' and 'islands' and its second sentence as best."""
    highlights = tuple(
        (m.start(), m.end()) for m in re.finditer(r"talks|islands|Tokyo", text, re.IGNORECASE)
    )
    sentences = sentence_spans(text)
    best = (sentences[1] if len(sentences) > 1 else (0, len(text)),)
    return Quote(
        passage_id=n,
        text=text,
        score=10.0 - n,
        source=source or meta(n, title=f"Title {n}"),
        kind="body",
        span=(0, len(text)),
        highlights=highlights,
        best=best,
    )


def answer(quotes: list[Quote], question: str = "What about the talks?") -> Answer:
    """An answered Answer with these quotes."""
    return Answer(
        question=question, answered=True, quotes=tuple(quotes), sources_searched=5, more=True
    )


MARKUP = "<@1> <@!22> <@&333> <#4444> </ask:5> <t:1700000000:R> <:smile:6> <a:wave:7> <id:home>"


def test_every_discord_markup_token_in_a_source_reads_as_literal_text() -> None:
    text = f"Said {MARKUP} and <https://example.org> or a<b>c, 2 < 3 > 1."
    rendered = escape(text)
    for token in MARKUP.split():
        assert "\\" + token in rendered, token  # "\\<@1>": Discord shows "<@1>" as written
    assert "<https://example.org> or a<b>c, 2 < 3 > 1." in rendered  # other "<" untouched
    assert plain(rendered) == text and unescape(rendered) == text
    marked = Marked(text, [(0, 4)], [(5, len(text))]).fit(60)
    assert marked.startswith("**Said** __\\<@1> \\<@!22>") and marked.endswith(">__…")
    assert_balanced(marked)


def test_marking_escapes_markdown_and_defuses_mentions() -> None:
    text = "Talks on the *islands* stalled. @everyone in Tokyo_city said talks ||end||."
    second = text.index("@")
    q = Quote(0, text, 1.0, meta(), "body", (0, 0), ((0, 5), (14, 21), (45, 50)), ((second, 76),))
    rendered = mark_quote(q, 2000)
    assert rendered.startswith("**Talks** on the \\***islands**\\* stalled. __@\u200beveryone")
    assert rendered.endswith("in **Tokyo**\\_city said talks \\|\\|end\\|\\|.__")
    assert_balanced(rendered)
    assert plain(rendered) == text
    assert escape("<@123456789012345678> @here") == "\\<@\u200b123456789012345678> @\u200bhere"
    swallowed = escape("[a](b) *x* [c](d)")  # escape_markdown takes it all for one link
    assert swallowed == "\\[a](b) \\*x\\* \\[c](d)"


def test_neighbouring_matches_share_one_bold_run() -> None:
    text = "The visa-free visits ended."
    marked = Marked(text, [(4, 8), (9, 13), (14, 20)])
    assert marked.render() == "The **visa-free visits** ended."
    assert Marked("東京都", [(0, 2), (1, 3)]).render() == "**東京都**"  # overlapping bigrams


def test_long_quote_is_cut_at_a_word_or_sentence_boundary() -> None:
    text = " ".join(["Negotiations on the islands stalled again after the talks."] * 40)
    for limit in (40, 100, 333, 1000):
        rendered = mark_quote(Quote(0, text, 1.0, meta(), "body", (0, 0), (), ()), limit)
        assert width(rendered) <= limit and rendered.endswith(ELLIPSIS)
        seen = plain(rendered).removesuffix(ELLIPSIS).rstrip()
        assert text.startswith(seen) and text[len(seen)] == " ", seen[-20:]  # never mid-word
    sentence_cut = mark_quote(Quote(0, text, 1.0, meta(), "body", (0, 0), (), ()), 1000)
    assert sentence_cut.endswith("talks. " + ELLIPSIS)


def test_cut_keeps_the_answering_sentence_in_view() -> None:
    filler = "Background sentence number {} has nothing to do with it. "
    text = "".join(filler.format(i) for i in range(40)) + "The talks on the islands ended."
    best = (text.index("The talks"), len(text))
    q = Quote(0, text, 1.0, meta(), "body", (0, 0), (), (best,))
    rendered = mark_quote(q, 200)
    assert rendered.startswith(ELLIPSIS + " __The talks on the islands ended.__")
    assert width(rendered) <= 200


def test_one_giant_word_is_still_cut_within_the_limit() -> None:
    rendered = fit_text("x" * 5000, 100)
    assert width(rendered) == 100 and rendered.endswith(ELLIPSIS)
    assert fit_text("anything at all", 1) == ELLIPSIS
    assert fit_text("", 10) == ""


@pytest.mark.parametrize("seed", range(40))
def test_random_markdown_cuts_stay_balanced_and_within_limits(seed: int) -> None:
    rng = random.Random(seed)
    words = WORDS.split(" ")
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 300)))
    text = "\n".join(text.split(" . ")) + rng.choice(["", ".", " end."])
    spans = []
    for _ in range(rng.randint(0, 30)):
        start = rng.randrange(len(text))
        spans.append((start, min(len(text), start + rng.randint(1, 12))))
    best = [(rng.randrange(len(text) // 2 + 1), len(text))]
    marked = Marked(text, spans, best)
    for limit in (1, 5, 17, 64, 200, 1024, 4096):
        rendered = marked.fit(limit, best[0])
        assert width(rendered) <= limit
        assert_balanced(rendered)
        seen = plain(rendered).strip(ELLIPSIS + " ")
        assert seen in text.strip() or seen.rstrip(ELLIPSIS) in text


def test_many_long_quotes_fit_every_embed_limit() -> None:
    paragraph = "Talks *on* the islands_ @everyone stalled. " * 40  # ~1,700 characters
    quotes = [quote(paragraph, n) for n in range(10)]
    embed = answer_embed(answer(quotes, "Why " * 400 + "?"))
    assert not check_embed(embed)
    data = embed.to_dict()
    assert width(data["title"]) <= TITLE_LIMIT and data["title"].endswith(ELLIPSIS + "\u201d")
    assert width(data["description"]) <= DESCRIPTION_LIMIT
    total = sum(width(data[k]) for k in ("title", "description")) + width(data["footer"]["text"])
    assert total <= EMBED_TOTAL_LIMIT
    sections = data["description"].split("\n\n**")
    assert len(sections) == 10
    for n, section in enumerate(sections):
        assert f"{n + 1}.** " in section and f"— unknown outlet, \u201cTitle {n}\u201d" in section
        assert_balanced(section if n == 0 else "**" + section)
    assert "@everyone" not in data["description"]


def test_short_answer_is_whole_with_attribution_and_footer() -> None:
    source = meta(
        title="Japan protests",
        outlet="The *Moscow* Times",
        author="Jane Doe",
        date="2022-03-22",
        url="https://example.org/a_b",
    )
    embed = answer_embed(answer([quote("Tokyo protested. The talks ended.", source=source)]))
    text = embed.description or ""
    assert text.startswith("**1.** **Tokyo** protested. __The **talks** ended.__\n")
    assert (
        "— The \\*Moscow\\* Times, \u201cJapan protests\u201d, Jane Doe, 2022-03-22 "
        "<https://example.org/a_b>" in text
    )
    assert embed.footer.text == "1 of 5 sources agree · quote 1 · more available"


def test_links_only_where_the_url_is_known_and_safe() -> None:
    unknown = source_line(meta(), 300)
    assert unknown == "— unknown outlet, untitled, unknown author, unknown date"
    assert "<" not in unknown
    for url in ("javascript:alert(1)", "https://x.y/a b", "https://x.y/>@everyone"):
        assert "<" not in source_line(meta(url=url), 300)
    long_url = "https://example.org/" + "a" * 400
    line = source_line(meta(title="T" * 500, url=long_url), 200)
    assert width(line) <= 200 and "<https" not in line  # no room: the link is left out


def test_also_reported_by_is_named() -> None:
    q = quote("The talks ended.")
    q = Quote(**{**q.__dict__, "also_reported_by": (meta(7, outlet="Caixin"), meta(8))})
    assert "Also reported by: Caixin, s8" in (answer_embed(answer([q])).description or "")
    q = Quote(**{**q.__dict__, "also_reported_more": 4})
    assert "Also reported by: Caixin, s8 and 4 more" in (
        answer_embed(answer([q])).description or ""
    )


def test_no_answer_embed() -> None:
    embed = answer_embed(
        Answer(question="Bread?", answered=False, message=NOT_FOUND, sources_searched=5)
    )
    assert embed.description == NOT_FOUND and embed.footer.text == "Searched 5 sources."


def test_question_round_trips_through_the_title() -> None:
    for question in ("What about *the* talks_now?", "@everyone visa-free?", "x " * 300):
        title = answer_embed(answer([quote("The talks.")], question)).title
        back = question_from_title(title)
        assert back is not None and question.strip().startswith(back)
    assert question_from_title("Sources") is None and question_from_title(None) is None


def test_full_passage_with_huge_neighbours_fits() -> None:
    big = "Neighbouring words about the harbour. " * 300
    q = quote("The talks on the islands ended. " * 200, 5)
    source = meta(title="T" * 400, outlet="O" * 900, url="https://example.org/x")
    q = Quote(**{**q.__dict__, "source": source})
    embed = passage_embed(q, [(4, big), (5, q.text), (6, big)])
    assert not check_embed(embed)
    text = embed.description or ""
    assert "\u25b6 " in text and text.count("\n\n") == 2
    assert width(embed.fields[0].value or "") <= FIELD_VALUE_LIMIT
    assert len(text.split("\n\n")[1]) > len(text.split("\n\n")[0])  # the passage comes first
    assert_balanced(text.replace("\u25b6 ", ""))


def test_sources_pages_fit_and_paginate() -> None:
    sources = [
        meta(n, title="A long title " * 30, outlet="Outlet", url=f"https://example.org/{n}")
        for n in range(30)
    ]
    pages = sources_pages(sources)
    assert len(pages) >= 4
    for number, page in enumerate(pages, 1):
        assert not check_embed(page)
        assert page.footer.text == f"30 sources · page {number} of {len(pages)}"
    assert "<https://example.org/0>" in (pages[0].description or "")
    assert "unknown author" in (pages[0].description or "")
    assert len(sources_pages([])) == 1


def test_messages_say_what_to_do() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    note = cooldown_message(4.2, now)
    assert f"<t:{int(now.timestamp()) + 4}:R>" in note and "(in 4 s)" in note


def test_check_embed_reports_each_limit() -> None:
    assert check_embed(discord.Embed(title="x" * 257)) == ["title: 257 > 256"]
    embed = discord.Embed(description="x" * 4000)
    for _ in range(26):
        embed.add_field(name="n", value="v" * 1025)
    problems = check_embed(embed)
    assert "fields: 26 > 25" in problems and any(p.startswith("total") for p in problems)
    assert any(p.startswith("field value") for p in problems)
