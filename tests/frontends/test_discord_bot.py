"""End to end: the real NewsBot (discord.py) against the local Discord stand-in, real Service.

Every test runs the unmodified bot on 127.0.0.1 with a real Service/Engine over a small corpus
(or the repo's five articles with a temporary index) and checks what the stand-in recorded.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import discord
import pytest

from bot.frontends.shared import FollowUps
from bot.service.settings import Settings
from tests.discord_standin import DiscordStandIn
from tests.discord_standin._world import EVERYONE_PERMS
from tests.frontends.discord_session import (
    EPHEMERAL,
    MULTI,
    QUESTION,
    Session,
    assert_no_mentions,
    buttons,
    check_embed,
    embed_of,
    make_settings,
    scenario,
    standin_scenario,
)
from tests.helpers import write_corpus


def test_ask_answers_with_quotes_attribution_and_buttons(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(s: Session) -> None:
        synced = {c["name"] for c in s.standin.commands[s.standin.guild_id]}
        assert synced == {"ask", "sources", "help", "reindex"}
        assert None not in s.standin.commands  # never a global sync on start
        _, out = await s.ask(QUESTION)
        assert out["kind"] == "callback" and out["body"]["type"] == 4
        embed = embed_of(out)
        assert embed["title"] == f"\u201c{QUESTION}\u201d"
        assert "about 17,000 **Japanese lived** on the **islands**" in embed["description"]
        assert "**1.** __According to" in embed["description"]  # answering sentence underlined
        assert (
            "— unknown outlet, \u201cJapan-Russia peace talks suspended\u201d, unknown author"
            in (embed["description"])
        )
        assert "of 5 sources agree" in embed["footer"]["text"]
        rows = [
            [c.get("label") or c["emoji"]["name"] for c in row["components"]]
            for row in out["message"]["components"]
        ]
        assert rows == [["Full passage 1", "Full passage 2"], ["👍", "👎", "Wrong source"]]
        assert not out["message"]["flags"] & EPHEMERAL
        assert_no_mentions(s.standin)

    with caplog.at_level(logging.INFO, logger="bot.frontends.discord_bot"):
        scenario(make_settings(tmp_path), check)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("question ")]
    assert len(lines) == 1
    assert "answered=True" in lines[0] and "via=slash" in lines[0] and "17,000" not in lines[0]
    assert "question='How many Japanese" in lines[0] and "latency_ms=" in lines[0]
    assert "top=[" in lines[0] and "user=" in lines[0]


def test_mention_and_dm_are_answered_as_replies(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        msg = await s.standin.send_message(QUESTION, mentions=["bot"])
        reply = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "17,000" in embed_of(reply)["description"]
        assert reply["message"]["mentions"] == []
        ignored = await s.standin.send_message(QUESTION)  # no mention: not for the bot
        from_bot = await s.standin.send_message(QUESTION, author="other_bot", mentions=["bot"])
        mark = s.standin.mark()
        dm = await s.standin.send_message(QUESTION, dm=True, author="outsider")
        answer = await s.standin.wait_for_message(reply_to=dm, timeout=5, start=mark)
        assert "17,000" in embed_of(answer)["description"]
        replied = [
            o["message"].get("message_reference", {}).get("message_id")
            for o in s.standin.outputs
            if o["message"]
        ]
        assert ignored["id"] not in replied and from_bot["id"] not in replied
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path), check)


def test_more_and_full_passage(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask(MULTI)
        first = out["message"]
        assert "quotes 1–3" in embed_of(out)["footer"]["text"]
        more = buttons(first)["More"]
        click = await s.standin.click_button(first, more["custom_id"], user="admin")
        page = await s.standin.wait_for_response(click, timeout=5)
        assert page["body"]["type"] == 4 and "quotes 4–" in embed_of(page)["footer"]["text"]
        edited = await s.standin.wait_for_output(
            lambda o: o["kind"] == "edit" and o["message"]["id"] == first["id"], timeout=5
        )
        assert buttons(edited["message"])["More"].get("disabled") is True
        labels = buttons(first)
        texts = []
        for label in sorted(k for k in labels if k.startswith("Full passage")):
            click = await s.standin.click_button(first, labels[label]["custom_id"])
            full = await s.standin.wait_for_response(click, timeout=5)
            assert full["message"]["flags"] & EPHEMERAL
            texts.append(embed_of(full)["description"])
        text = next(t for t in texts if "strongly protests" in t)  # wherever it ranks
        assert "\u25b6 " in text and "strongly protests" in text
        assert "Japan has marched in lockstep" in text  # the neighbouring paragraph
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path), check)


def test_reply_to_an_answer_uses_the_earlier_question_as_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask("What did Russia decide about the peace treaty talks?")
        follow = "and what about the visa-free visits?"
        where = int(out["message"]["channel_id"])
        msg = await s.standin.send_message(
            follow, referenced_message=out["message"], channel_id=where
        )
        reply = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "visa-free" in embed_of(reply)["description"]
        s.bot.cog.follow_ups = FollowUps()  # forgotten (e.g. a restart): read from the embed
        again = await s.standin.send_message(
            follow, referenced_message=out["message"], channel_id=where
        )
        await s.standin.wait_for_message(reply_to=again, timeout=5)
        assert_no_mentions(s.standin)

    with caplog.at_level(logging.INFO, logger="bot.frontends.discord_bot"):
        scenario(make_settings(tmp_path), check)
    lines = [r.getMessage() for r in caplog.records if "via=mention" in r.getMessage()]
    assert len(lines) == 2
    assert all("context='What did Russia decide about the peace treaty talks?'" in x for x in lines)


def test_reindex_refused_for_members_done_for_admins_while_answering(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        with pytest.raises(PermissionError):  # hidden from members (default_permissions)
            await s.standin.send_slash_command("reindex", user="member")
        cmd = s.standin.find_command("reindex")
        assert int(cmd["default_member_permissions"]) == 1 << 5  # Manage Server
        cmd["default_member_permissions"] = None  # a server admin lets @everyone see it
        inter = await s.standin.send_slash_command("reindex", user="member")
        refusal = await s.standin.wait_for_response(inter, timeout=5)
        assert refusal["message"]["flags"] & EPHEMERAL
        assert "Manage Server" in refusal["message"]["content"]
        before = s.service.current_engine
        admin = await s.standin.send_slash_command("reindex", user="admin")
        asks = [
            await s.standin.send_slash_command("ask", {"question": q}, user=u)
            for q, u in [(QUESTION, "member"), (MULTI, "owner"), (QUESTION, "admin")] * 2
        ]
        for inter in asks:
            out = await s.standin.wait_for_response(inter, timeout=8)
            assert "sources agree" in embed_of(out)["footer"]["text"]
        done = await s.standin.wait_for_response(
            admin, lambda o: o["kind"] == "followup", timeout=8
        )
        assert done["message"]["content"].startswith("Indexed 5 sources: ")
        assert s.service.current_engine is not before
        owner = await s.standin.send_slash_command("reindex", user="owner")
        await s.standin.wait_for_response(owner, lambda o: o["kind"] == "followup", timeout=8)
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path), check)


def test_admin_role_may_reindex(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, answer = await s.ask("How many Japanese lived on the islands?")
        s.standin.find_command("reindex")["default_member_permissions"] = None
        write_corpus(tmp_path / "sources", {"aaa.txt": "A first article\n\n" + "Filler. " * 80})
        inter = await s.standin.send_slash_command("reindex", user="admin")
        out = await s.standin.wait_for_response(inter, lambda o: o["kind"] == "followup")
        assert out["message"]["content"].startswith("Indexed 3 sources")
        # passage ids moved with the new article; "Full passage" still uses the old index
        button = buttons(answer["message"])["Full passage"]
        click = await s.standin.click_button(answer["message"], button["custom_id"])
        full = await s.standin.wait_for_response(click)
        assert "About 17,000 **Japanese lived**" in embed_of(full)["description"]
        assert "Filler" in s.service.engine.index.text(0)  # the new index starts elsewhere

    def prepare(standin: DiscordStandIn) -> Settings:
        standin.roles[1]["permissions"] = str(EVERYONE_PERMS)  # Moderators: no Manage Server
        settings = make_settings(tmp_path, {}, admin_role="Moderators")
        write_corpus(tmp_path / "sources")
        return settings

    standin_scenario(prepare, check)


def test_cooldown_says_when_to_ask_again(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        await s.ask(QUESTION)
        _, out = await s.ask(MULTI)
        assert out["message"]["flags"] & EPHEMERAL
        assert (
            "You can ask again <t:" in out["message"]["content"]
            and ":R>" in out["message"]["content"]
        )
        msg = await s.standin.send_message(QUESTION, mentions=["bot"])
        note = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "asking a bit fast" in note["message"]["content"]
        _, other = await s.ask(QUESTION, user="admin")  # per user
        assert "sources agree" in embed_of(other)["footer"]["text"]
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path, cooldown_seconds=30), check)


EVERYONE = {
    "pings.md": """\
        ---
        title: "@everyone *must* read"
        outlet: Ping <@&123456789012345678> Times
        ---

        The mayor told @everyone and @here at the harbour festival that the lighthouse will
        reopen; see **bold** claims, __underlined__ words, `code` and ||spoilers|| here.
        The harbour office <@123> in <#456> for <@&789> said it reopens <t:1700000000:R>.
        """,
}


def test_source_with_everyone_pings_nobody(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        question = "When will the lighthouse at the harbour reopen?"
        _, out = await s.ask(question)
        text = embed_of(out)["description"]
        assert "@\u200beveryone" in text and "@\u200bhere" in text and "@everyone" not in text
        assert "\\*\\*bold\\*\\*" in text and "\\|\\|spoilers\\|\\|" in text
        assert "office \\<@123> in \\<#456> for \\<@&789> said" in text  # literal, not mentions
        assert "**reopens** \\<t:1700000000:R>." in text  # as written, not a local date
        msg = await s.standin.send_message(question, mentions=["bot"])
        reply = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "@\u200beveryone" in embed_of(reply)["description"]
        assert reply["message"]["mention_everyone"] is False
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path, EVERYONE), check)


def test_over_long_question_is_refused_clearly(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        long = "Why " + "really " * 60 + "did Russia suspend the talks?"
        _, out = await s.ask(long)
        assert out["message"]["flags"] & EPHEMERAL
        assert "the limit is 300" in out["message"]["content"]
        msg = await s.standin.send_message(long, mentions=["bot"])
        note = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "the limit is 300" in note["message"]["content"]
        _, stop = await s.ask("the of and")
        assert "no searchable words" in stop["message"]["content"]
        assert_no_mentions(s.standin)

    scenario(make_settings(tmp_path), check)


def _huge_corpus() -> dict[str, str]:
    sentence = "The harbour lighthouse keeper counted *ships* and_boats near the pier"
    giant = ", ".join([sentence] * 80) + "."  # one 5,000-character sentence: no cut point
    articles = {}
    for n in range(12):
        body = " ".join(f"{sentence} number {n}-{i}." for i in range(12))
        articles[f"huge{n:02}.md"] = f"---\ntitle: Harbour report {n}\n---\n\n{body}\n\n{giant}\n"
    return articles


def test_answers_that_would_exceed_embed_limits_are_cut_to_fit(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        question = "How many ships did the harbour lighthouse keeper count near the pier?"
        _, out = await s.ask(question)
        embed = discord.Embed.from_dict(embed_of(out))
        assert not check_embed(embed)
        assert len(embed.description or "") > 3000  # filled, not emptied
        assert embed.description
        assert len(re.findall(r"^\*\*\d+\.\*\* ", embed.description, re.MULTILINE)) == 10
        assert "…" in embed.description
        click = await s.standin.click_button(
            out["message"], buttons(out["message"])["Full passage 1"]["custom_id"]
        )
        full = await s.standin.wait_for_response(click)
        assert not check_embed(discord.Embed.from_dict(embed_of(full)))
        s.standin.assert_clean()

    scenario(make_settings(tmp_path, _huge_corpus(), quotes_per_answer=10), check)


def test_gateway_drop_then_resume_and_answer(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        await s.standin.drop_connection(4000, hold=True)
        inter = await s.standin.send_slash_command("ask", {"question": QUESTION})
        s.standin.release_connections()
        out = await s.standin.wait_for_response(inter, timeout=8)
        assert "17,000" in embed_of(out)["description"]
        assert s.standin.resumes and "INTERACTION_CREATE" in s.standin.resumes[0]["replayed"]
        assert len(s.standin.identifies) == 1
        _, nxt = await s.ask(MULTI)
        assert "sources agree" in embed_of(nxt)["footer"]["text"]
        assert s.bot.health()[0]
        s.standin.assert_clean()

    scenario(make_settings(tmp_path), check)


def test_declined_answers_say_why_and_corrections_say_did_you_mean(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask("What is the best recipe for sourdough pizza?")
        embed = embed_of(out)
        assert embed["description"] == (
            "I couldn't find that in the sources.\n"
            "Nothing in the sources matches 'recipe', 'sourdough' or 'pizza'."
        )
        assert embed["footer"]["text"] == "Searched 5 sources."
        assert not out["message"]["components"]
        _, typo = await s.ask("Who is the Rusian ambasador to Japan?")
        text = embed_of(typo)["description"]
        assert text.startswith(
            "*Did you mean: russian (not rusian), ambassador (not ambasador)?*\n\n**1.** "
        )
        assert not check_embed(discord.Embed.from_dict(embed_of(typo)))
        s.standin.assert_clean()

    scenario(make_settings(tmp_path), check)


def test_buttons_expire(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask(MULTI)
        message = out["message"]
        edit = await s.standin.wait_for_output(
            lambda o: o["kind"] == "edit" and o["message"]["id"] == message["id"], timeout=5
        )
        assert all(b.get("disabled") for b in buttons(edit["message"]).values())
        click = await s.standin.click_button(message, buttons(message)["More"]["custom_id"])
        out = await s.standin.wait_for_response(click)
        assert out["message"]["flags"] & EPHEMERAL and "expired" in out["message"]["content"]
        assert not s.bot.cog.views  # nothing kept alive
        s.standin.assert_clean()

    scenario(make_settings(tmp_path, button_timeout_seconds=0.5), check)


def test_sources_paginated_and_help(tmp_path: Path) -> None:
    articles = {
        f"a{n:02}.md": f"---\ntitle: Article {n}\noutlet: Outlet {n}\nurl: https://example.org/{n}\n"
        f"---\n\nParagraph {n} about harbours and lighthouses in the north.\n"
        for n in range(20)
    }

    async def check(s: Session) -> None:
        inter = await s.standin.send_slash_command("sources")
        out = await s.standin.wait_for_response(inter)
        first = embed_of(out)
        assert (
            "page 1 of 3" in first["footer"]["text"]
            and "<https://example.org/0>" in (first["description"])
        )
        nav = buttons(out["message"])
        assert nav["Previous"]["disabled"] and not nav["Next"]["disabled"]
        click = await s.standin.click_button(out["message"], nav["Next"]["custom_id"])
        page = await s.standin.wait_for_response(click)
        assert page["body"]["type"] == 7 and "page 2 of 3" in embed_of(page)["footer"]["text"]
        inter = await s.standin.send_slash_command("help")
        helped = await s.standin.wait_for_response(inter)
        assert helped["message"]["flags"] & EPHEMERAL
        assert "/ask" in embed_of(helped)["description"]
        s.standin.assert_clean()

    scenario(make_settings(tmp_path, articles), check)


def test_channel_allowlist(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        general = s.standin.general_id
        _, out = await s.ask(QUESTION)  # in #bot-commands, not allowed
        assert out["message"]["flags"] & EPHEMERAL
        assert f"I only answer in <#{general}>" in out["message"]["content"]
        mark = s.standin.mark()
        await s.standin.send_message(
            QUESTION, mentions=["bot"], channel_id=s.standin.commands_channel_id
        )
        assert await s.quiet(0.3, mark) == []  # silence outside the allowlist
        msg = await s.standin.send_message(QUESTION, mentions=["bot"], channel_id=general)
        await s.standin.wait_for_message(reply_to=msg, timeout=5)
        _, ok = await s.ask(QUESTION, channel_id=general)
        assert "sources agree" in embed_of(ok)["footer"]["text"]
        s.standin.assert_clean()

    standin_scenario(
        lambda standin: make_settings(tmp_path, allowed_channels=(standin.general_id,)), check
    )


def test_errors_become_apologies_and_logged_tracebacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(s: Session) -> None:
        s.service.unload("the index is being replaced")
        _, out = await s.ask(QUESTION)
        assert "not available right now" in out["message"]["content"]
        inter = await s.standin.send_slash_command("sources")  # fails inside the command
        sorry = await s.standin.wait_for_response(inter)
        assert sorry["message"]["flags"] & EPHEMERAL and "Sorry" in sorry["message"]["content"]
        await s.service.load()
        mark = len(s.standin.rejections)
        await s.standin.send_message(  # the bot may not post in #announcements
            QUESTION, mentions=["bot"], channel_id=s.standin.readonly_channel_id
        )
        for _ in range(100):
            if len(s.standin.rejections) >= mark + 2:  # the answer, then the apology
                break
            await asyncio.sleep(0.02)
        assert [r["status"] for r in s.standin.rejections[mark:]] == [403, 403]

    with caplog.at_level(logging.INFO):
        scenario(make_settings(tmp_path), check)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors][:1] == ["/sources failed"]
    assert errors[0].exc_info and "ServiceUnavailable" in repr(errors[0].exc_info[1])
    assert any(r.getMessage().startswith("answering message") and r.exc_info for r in errors)


def test_slow_answer_is_deferred_then_filled_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.frontends.discord_bot import cog

    monkeypatch.setattr(cog, "DEFER_AFTER", 0.0)  # every answer counts as slow

    async def check(s: Session) -> None:
        inter, first = await s.ask(MULTI)
        assert first["kind"] == "callback" and first["body"]["type"] == 5  # "thinking…"
        filled = await s.standin.wait_for_response(inter, lambda o: o["kind"] == "webhook_edit")
        assert "sources agree" in embed_of(filled)["footer"]["text"]
        message = filled["message"]
        expired = await s.standin.wait_for_output(
            lambda o: o["kind"] == "edit" and o["message"]["id"] == message["id"], timeout=5
        )
        assert all(b.get("disabled") for b in buttons(expired["message"]).values())
        follow = await s.standin.send_message(
            "and the visa-free visits?",
            referenced_message=message,
            channel_id=int(message["channel_id"]),
        )
        await s.standin.wait_for_message(reply_to=follow, timeout=5)
        assert s.bot.cog.follow_ups.question_for(int(message["id"])) == MULTI
        s.standin.assert_clean()

    scenario(make_settings(tmp_path, button_timeout_seconds=0.5), check)
