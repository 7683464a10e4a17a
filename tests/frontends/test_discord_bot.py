"""End to end: the real NewsBot (discord.py) against the local Discord stand-in, real Service.

Every test runs the unmodified bot on 127.0.0.1 with a real Service/Engine over a small corpus
(or the repo's five articles with a temporary index) and checks what the stand-in recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.frontends.discord_bot.client import NewsBot
from bot.frontends.discord_bot.formatting import check_embed
from bot.service.service import Service
from bot.service.settings import DiscordSettings, QuestionLogSettings, Settings
from tests.discord_standin import DiscordStandIn, patch_discord, run, running_client
from tests.discord_standin._world import EVERYONE_PERMS
from tests.helpers import ROOT, free_port, write_corpus

Json = dict[str, Any]
EPHEMERAL = 64
QUESTION = "How many Japanese lived on the islands before the Soviet occupation?"
MULTI = "Why did Russia suspend the peace treaty talks with Japan?"


@dataclasses.dataclass
class Session:
    """A running stand-in, bot and service for one test."""

    standin: DiscordStandIn
    bot: NewsBot
    service: Service
    settings: Settings

    async def ask(self, question: str, **kwargs: Any) -> tuple[Json, Json]:
        """/ask and wait for the response: (interaction payload, output)."""
        inter = await self.standin.send_slash_command("ask", {"question": question}, **kwargs)
        return inter, await self.standin.wait_for_response(inter, timeout=5)

    async def quiet(self, seconds: float = 0.3, start: int = 0) -> list[Json]:
        """Outputs recorded after ``start`` during a short wait (to assert silence)."""
        await asyncio.sleep(seconds)
        return self.standin.outputs[start:]


def make_settings(
    tmp_path: Path, articles: dict[str, str] | None = None, **discord_: Any
) -> Settings:
    """Settings over a temporary corpus (the repo's five articles when ``articles`` is None)."""
    sources = ROOT / "sources"
    if articles is not None:
        sources = write_corpus(tmp_path / "sources", articles)
    options: dict[str, Any] = {"cooldown_seconds": 0.0, **discord_}
    return Settings(
        sources=sources,
        index=tmp_path / "index",
        discord=DiscordSettings(**options),
        question_log=QuestionLogSettings(path=tmp_path / "logs" / "questions.jsonl"),
    )


@contextlib.asynccontextmanager
async def session(settings: Settings, **standin_kwargs: Any) -> AsyncIterator[Session]:
    """Stand-in + NewsBot + Service; checks that nothing leaked to the loop's error handler."""
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: loop_errors.append(ctx))
    service = await asyncio.to_thread(Service.open, settings)
    try:
        async with DiscordStandIn(**standin_kwargs) as standin:
            with patch_discord(standin):
                if settings.discord.guild_id is None:
                    guild = settings.discord.model_copy(update={"guild_id": standin.guild_id})
                    settings = settings.model_copy(update={"discord": guild})
                bot = NewsBot(settings, service, latency_interval=0.2)
                async with running_client(bot, standin, guild_ready_timeout=0.05):
                    yield Session(standin, bot, service, settings)
    finally:
        await service.aclose()
    assert not loop_errors, loop_errors


def scenario(
    settings: Settings, fn: Callable[[Session], Coroutine[Any, Any, None]], **standin: Any
) -> None:
    """Run ``fn`` in a fresh session, bounded in time."""

    async def main() -> None:
        async with session(settings, **standin) as s:
            await fn(s)

    run(main(), timeout=15)


def standin_scenario(
    prepare: Callable[[DiscordStandIn], Settings],
    fn: Callable[[Session], Coroutine[Any, Any, None]],
) -> None:
    """Like :func:`scenario`, for settings that depend on the stand-in (channel ids, roles)."""

    async def main() -> None:
        async with DiscordStandIn() as standin:
            settings = prepare(standin)
            service = await asyncio.to_thread(Service.open, settings)
            guild = settings.discord.model_copy(update={"guild_id": standin.guild_id})
            bot = NewsBot(settings.model_copy(update={"discord": guild}), service)
            try:
                with patch_discord(standin):
                    async with running_client(bot, standin, guild_ready_timeout=0.05):
                        await fn(Session(standin, bot, service, settings))
            finally:
                await service.aclose()

    run(main(), timeout=15)


def embed_of(output: Json) -> Json:
    """The first embed of a recorded output's message."""
    return output["message"]["embeds"][0]


def buttons(message: Json) -> dict[str, Json]:
    """The message's buttons by label."""
    return {c["label"]: c for row in message["components"] for c in row["components"]}


def assert_no_mentions(standin: DiscordStandIn) -> None:
    """Every message allowed no mentions ({"parse": []}; replies add replied_user false),
    nothing was rejected and no message pinged anyone."""
    assert standin.allowed_mentions, "no allowed_mentions recorded"
    for entry in standin.allowed_mentions:
        allowed = dict(entry["allowed_mentions"])
        if "message_reference" in (entry.get("body") or {}) or allowed.get("replied_user") is False:
            allowed.pop("replied_user", None)
        assert allowed == {"parse": []}, entry
    for output in standin.outputs:
        message = output["message"] or {}
        assert not message.get("mentions") and not message.get("mention_everyone"), message
    standin.assert_clean()


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
        assert set(buttons(out["message"])) == {"Full passage 1", "Full passage 2"}
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
        passage = labels.get("Full passage 1") or labels["Full passage"]
        click = await s.standin.click_button(first, passage["custom_id"])
        full = await s.standin.wait_for_response(click, timeout=5)
        assert full["message"]["flags"] & EPHEMERAL
        text = embed_of(full)["description"]
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
        s.bot.cog.questions.clear()  # forgotten (e.g. a restart): read back from the embed
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
        """,
}


def test_source_with_everyone_pings_nobody(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        question = "When will the lighthouse at the harbour reopen?"
        _, out = await s.ask(question)
        text = embed_of(out)["description"]
        assert "@\u200beveryone" in text and "@\u200bhere" in text and "@everyone" not in text
        assert "\\*\\*bold\\*\\*" in text and "\\|\\|spoilers\\|\\|" in text
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


def test_question_the_sources_do_not_answer(tmp_path: Path) -> None:
    async def check(s: Session) -> None:
        _, out = await s.ask("What is the best recipe for sourdough pizza?")
        embed = embed_of(out)
        assert embed["description"] == "I couldn't find that in the sources."
        assert embed["footer"]["text"] == "Searched 5 sources."
        assert not out["message"]["components"]
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
        assert s.bot.cog.questions.get(int(message["id"])) == MULTI
        s.standin.assert_clean()

    scenario(make_settings(tmp_path, button_timeout_seconds=0.5), check)


# ---------------------------------------------------------------------- python -m bot run


def test_run_without_token_exits_with_one_sentence(tmp_path: Path) -> None:
    drop = {"DISCORD_TOKEN", "PYTHONDEVMODE", "PYTHONWARNINGS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,  # no .env, no config.yaml
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: DISCORD_TOKEN is not set;")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@contextlib.contextmanager
def standin_in_thread(**kwargs: Any) -> Iterator[tuple[DiscordStandIn, asyncio.AbstractEventLoop]]:
    """A stand-in serving from its own event loop in a thread (the bot runs in the main one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    standin = asyncio.run_coroutine_threadsafe(DiscordStandIn(**kwargs).start(), loop).result(5)
    try:
        with patch_discord(standin):
            yield standin, loop
    finally:
        asyncio.run_coroutine_threadsafe(standin.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _config(tmp_path: Path, standin: DiscordStandIn, http_port: int | None = None) -> Path:
    lines = [
        f"sources: {ROOT / 'sources'}",
        f"index: {tmp_path / 'index'}",
        "log_level: INFO",
        "discord:",
        f"  guild_id: {standin.guild_id}",
        "  cooldown_seconds: 0",
        "question_log:",
        f"  path: {tmp_path / 'questions.jsonl'}",
    ]
    if http_port:
        lines += ["http:", "  enabled: true", f"  port: {http_port}"]
    path = tmp_path / "newsbot.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_with_a_rejected_token_exits_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "not.the.right.token")
    with standin_in_thread() as (standin, _):
        status = main(["run", "--config", str(_config(tmp_path, standin))])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines()[-1] == (
        "error: Discord rejected the token in DISCORD_TOKEN; copy the bot token again from the "
        "Developer Portal (Bot → Reset Token)."
    )
    assert "Traceback" not in err and "not.the.right.token" not in err


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_run_serves_http_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    port = free_port()
    seen: dict[str, Any] = {}

    def drive(standin: DiscordStandIn, loop: asyncio.AbstractEventLoop) -> None:
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    seen["health"] = body
                    break
                time.sleep(0.05)
            if "health" not in seen:
                return
            inter = asyncio.run_coroutine_threadsafe(
                standin.send_slash_command("ask", {"question": QUESTION}), loop
            ).result(5)
            out = asyncio.run_coroutine_threadsafe(standin.wait_for_response(inter), loop)
            seen["answer"] = out.result(5)
            time.sleep(0.3)
            seen["metrics"] = _get(f"http://127.0.0.1:{port}/metrics")[1]
        except Exception as exc:  # reported by the assertions below
            seen["error"] = exc
        finally:
            os.kill(os.getpid(), signal.SIGTERM if "health" in seen else signal.SIGINT)

    with standin_in_thread(heartbeat_interval_ms=500) as (standin, loop):
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        driver = threading.Thread(target=drive, args=(standin, loop), daemon=True)
        driver.start()
        status = main(["run", "--config", str(_config(tmp_path, standin, port))])
        driver.join(5)
    err = capsys.readouterr().err
    assert "error" not in seen, seen["error"]
    assert status == 0, err
    assert "discord: connected" in seen["health"]
    assert "17,000" in embed_of(seen["answer"])["description"]
    assert "newsbot_discord_gateway_latency_seconds 0.0" in seen["metrics"]
    assert "SIGTERM received: shutting down" in err and "Traceback" not in err
    logged = (tmp_path / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(logged) == 1 and '"frontend": "discord"' in logged[0]
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 0  # the HTTP API stopped too


def test_sync_global_syncs_once_and_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    with standin_in_thread() as (standin, _):
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        status = main(["run", "--sync-global", "--config", str(_config(tmp_path, standin))])
        assert status == 0
        assert sorted(c["name"] for c in standin.commands[None]) == [
            "ask",
            "help",
            "reindex",
            "sources",
        ]
        assert standin.guild_id not in standin.commands  # no guild sync in this mode
        assert not standin.identifies  # never connected to the gateway
    assert capsys.readouterr().out.startswith("Synced 4 commands globally (/ask, ")


def test_run_with_the_http_port_taken_exits_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "any.token")
    with socket.socket() as taken, standin_in_thread() as (standin, _):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["run", "--config", str(_config(tmp_path, standin, port))])
        assert not standin.identifies
    err = capsys.readouterr().err
    assert status == 1 and err.splitlines()[-1].startswith(
        f"error: cannot listen on 127.0.0.1:{port}"
    )
    assert "Traceback" not in err
