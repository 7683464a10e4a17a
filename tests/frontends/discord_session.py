"""Shared set-up of the Discord end-to-end tests: the stand-in, a real NewsBot and Service.

Every session runs the unmodified bot (discord.py) on 127.0.0.1 against the local Discord
stand-in, with a real Service/Engine over a small corpus (or the repo's five articles with a
temporary index); tests check what the stand-in recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import discord

from bot.frontends.discord_bot.client import NewsBot
from bot.frontends.discord_bot.formatting import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
)
from bot.frontends.discord_bot.markdown import width
from bot.service.service import Service
from bot.service.settings import DiscordSettings, QuestionLogSettings, Settings
from tests.discord_standin import DiscordStandIn, patch_discord, running_client
from tests.helpers import ROOT, run, write_corpus

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
        semantic="off",  # answers pinned lexically; the semantic stage has its own tests
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
    """The message's buttons by label (or emoji, for 👍 and 👎)."""
    return {
        c.get("label") or c["emoji"]["name"]: c
        for row in message["components"]
        for c in row["components"]
    }


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


def run_config(tmp_path: Path, standin: DiscordStandIn, http_port: int | None = None) -> Path:
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


def check_embed(embed: discord.Embed) -> list[str]:
    """Which Discord limits ``embed`` breaks (empty when it is fine)."""
    data = embed.to_dict()
    problems = []
    sizes = {
        "title": (width(data.get("title", "")), TITLE_LIMIT),
        "description": (width(data.get("description", "")), DESCRIPTION_LIMIT),
        "footer": (width(data.get("footer", {}).get("text", "")), FOOTER_LIMIT),
        "fields": (len(data.get("fields", [])), FIELDS_LIMIT),
    }
    total = sizes["title"][0] + sizes["description"][0] + sizes["footer"][0]
    for item in data.get("fields", []):
        sizes[f"field name {item['name'][:20]!r}"] = (width(item["name"]), FIELD_NAME_LIMIT)
        sizes[f"field value {item['name'][:20]!r}"] = (width(item["value"]), FIELD_VALUE_LIMIT)
        total += width(item["name"]) + width(item["value"])
    sizes["total"] = (total, EMBED_TOTAL_LIMIT)
    for key, (size, limit) in sizes.items():
        if size > limit:
            problems.append(f"{key}: {size} > {limit}")
    return problems
