"""Follow-ups without a ping: /help says how, ``discord.read_messages`` and ``answer_in_thread``.

The real NewsBot against the stand-in, which (like Discord) sends a server message's text only
to a bot that asked for the Message Content intent, unless the message mentions it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.service.settings import Settings
from tests.discord_standin import DiscordStandIn
from tests.discord_standin._world import CREATE_PUBLIC_THREADS, EVERYONE_PERMS, MESSAGE_CONTENT
from tests.frontends.discord_session import (
    MULTI,
    QUESTION,
    Session,
    assert_no_mentions,
    embed_of,
    make_settings,
    scenario,
    standin_scenario,
)

FOLLOW_UP = "and what about the visa-free visits?"
READS = {"allowed_privileged_intents": MESSAGE_CONTENT}


async def help_text(s: Session) -> str:
    inter = await s.standin.send_slash_command("help")
    return str(embed_of(await s.standin.wait_for_response(inter))["description"])


def context_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("question ")]


def test_by_default_a_reply_without_the_mention_is_not_seen_and_help_says_so(
    tmp_path: Path,
) -> None:
    async def check(s: Session) -> None:
        assert not s.standin.identifies[0]["intents"] & MESSAGE_CONTENT
        assert "with **@standin-bot** on" in await help_text(s)
        _, out = await s.ask(QUESTION)
        mark = s.standin.mark()
        await s.standin.send_message(
            FOLLOW_UP,
            referenced_message=out["message"],
            mention_author=False,  # the reply's "@ on" switched off
            channel_id=s.standin.commands_channel_id,
        )
        assert await s.quiet(0.3, mark) == []  # Discord sent the bot no text: nothing to answer
        s.standin.assert_clean()

    scenario(make_settings(tmp_path), check)


def test_read_messages_answers_replies_to_the_bot_without_a_mention(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(s: Session) -> None:
        assert s.standin.identifies[0]["intents"] & MESSAGE_CONTENT
        assert "no need to mention me" in await help_text(s)
        _, out = await s.ask(QUESTION)
        where = s.standin.commands_channel_id
        reply = await s.standin.send_message(
            FOLLOW_UP, referenced_message=out["message"], mention_author=False, channel_id=where
        )
        answer = await s.standin.wait_for_message(reply_to=reply, timeout=5)
        assert "visa-free" in embed_of(answer)["description"]
        mark = s.standin.mark()
        await s.standin.send_message(QUESTION, channel_id=where)  # not for the bot
        other = await s.standin.send_message("hello", channel_id=where, author="admin")
        await s.standin.send_message(
            "me too", referenced_message=other, mention_author=False, channel_id=where
        )
        assert await s.quiet(0.3, mark) == []
        assert_no_mentions(s.standin)

    with caplog.at_level(logging.INFO, logger="bot.frontends.discord_bot"):
        scenario(make_settings(tmp_path, read_messages=True), check, **READS)
    lines = context_lines(caplog)
    assert len(lines) == 2 and f"context={QUESTION!r}" in lines[1]


def test_answer_in_thread_names_a_thread_from_the_question_and_follow_ups_stay_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long = "Why, after all those years of talks and the visits, " + MULTI[4:] + " " + "Really? " * 8

    async def check(s: Session) -> None:
        msg = await s.standin.send_message(QUESTION, mentions=["bot"])
        answer = await s.standin.wait_for_message(timeout=5)
        thread = s.standin.threads[int(msg["id"])]  # started on the question
        assert thread["name"] == QUESTION and thread["parent_id"] == str(s.standin.general_id)
        assert answer["message"]["channel_id"] == thread["id"]
        assert "17,000" in embed_of(answer)["description"]
        mark = s.standin.mark()
        await s.standin.send_message(FOLLOW_UP, channel_id=int(thread["id"]))  # no mention
        follow = await s.standin.wait_for_message(channel_id=int(thread["id"]), start=mark)
        assert "visa-free" in embed_of(follow)["description"]
        assert len(s.standin.threads) == 1  # no thread in a thread

        mark = s.standin.mark()
        inter, out = await s.ask(long)
        await s.standin.wait_for_output(lambda o: o["kind"] == "thread", start=mark)
        started = s.standin.threads[int(out["message"]["id"])]  # the answer starts it
        assert len(started["name"]) <= 100 and started["name"].endswith("…")
        assert long.startswith(started["name"][:-1].rstrip())
        assert int(inter["id"]) and len(s.standin.threads) == 2
        assert_no_mentions(s.standin)

    settings = make_settings(tmp_path, read_messages=True, answer_in_thread=True)
    with caplog.at_level(logging.INFO, logger="bot.frontends.discord_bot"):
        scenario(settings, check, **READS)
    lines = context_lines(caplog)
    assert f"context={QUESTION!r}" in lines[1]


def test_answer_in_thread_falls_back_to_a_reply_when_threads_are_not_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(s: Session) -> None:
        msg = await s.standin.send_message(QUESTION, mentions=["bot"])
        reply = await s.standin.wait_for_message(reply_to=msg, timeout=5)
        assert "17,000" in embed_of(reply)["description"] and not s.standin.threads
        dm = await s.standin.send_message(QUESTION, dm=True, author="outsider")
        await s.standin.wait_for_message(reply_to=dm, timeout=5)  # DMs have no threads
        assert [r["status"] for r in s.standin.rejections] == [403]
        assert s.standin.rejections[0]["path"].endswith("/threads")

    def prepare(standin: DiscordStandIn) -> Settings:
        for role in (standin.roles[0], standin.roles[2]):  # @everyone and the bot's role
            role["permissions"] = str(EVERYONE_PERMS & ~CREATE_PUBLIC_THREADS)
        return make_settings(tmp_path, answer_in_thread=True)

    with caplog.at_level(logging.WARNING):
        standin_scenario(prepare, check)
    assert any("could not start a thread" in r.getMessage() for r in caplog.records)
