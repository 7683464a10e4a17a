"""Self-tests: an unmodified discord.py bot talks to the local Discord stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord_standin import (
    ApiError,
    DiscordStandIn,
    patch_discord,
    running_client,
    standin_session,
)
from tests.discord_standin._gateway import compressor
from tests.helpers import run

Scenario = Callable[[DiscordStandIn, "StandInTestBot"], Awaitable[None]]


class AnswerView(discord.ui.View):
    """A one-button view like the bot under test would attach to answers."""

    def __init__(self, bot: StandInTestBot) -> None:
        super().__init__(timeout=60)
        self.bot = bot

    @discord.ui.button(label="Sources", custom_id="sources", style=discord.ButtonStyle.primary)
    async def sources(
        self, interaction: discord.Interaction, button: discord.ui.Button[AnswerView]
    ) -> None:
        await interaction.response.send_message("source list", ephemeral=True)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: Any) -> None:
        self.bot.errors.append(error)


class StandInTestBot(commands.Bot):
    """Minimal bot: /ask and friends, mention replies, DM replies."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.1,
        )
        self.guild_id = guild_id
        self.errors: list[BaseException] = []
        self.http_errors: list[discord.HTTPException] = []
        self.seen: list[discord.Message] = []
        self.synced: list[app_commands.AppCommand] = []
        self.synced_global: list[app_commands.AppCommand] = []
        self.tree.on_error = self._tree_error  # type: ignore[method-assign]

    async def _tree_error(self, interaction: discord.Interaction, error: Exception) -> None:
        self.errors.append(error)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError(event_method))

    async def setup_hook(self) -> None:
        guild = discord.Object(self.guild_id)
        slash: tuple[app_commands.Command[Any, Any, Any], ...] = (
            ask,
            big,
            twice,
            slow,
            dmme,
            reindex,
        )
        for cmd in slash:
            self.tree.add_command(cmd, guild=guild)
        self.synced = await self.tree.sync(guild=guild)
        self.tree.add_command(ping)
        self.synced_global = await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        if message.author.bot:
            return
        if message.guild is None:
            await message.channel.send(f"DM reply to: {message.content}")
        elif self.user in message.mentions:
            await message.reply(f"pong: {message.content}", view=AnswerView(self))


def _bot(interaction: discord.Interaction) -> StandInTestBot:
    assert isinstance(interaction.client, StandInTestBot)
    return interaction.client


@app_commands.command(description="Ask a question")
@app_commands.describe(question="What to ask")
async def ask(interaction: discord.Interaction, question: str) -> None:
    embed = discord.Embed(title="Answer", description=f"You asked: {question}")
    embed.add_field(name="Source", value="stand-in news")
    view = AnswerView(_bot(interaction))
    await interaction.response.send_message(embed=embed, view=view)


@app_commands.command(description="Oversized embed")
async def big(interaction: discord.Interaction) -> None:
    try:
        embed = discord.Embed(description="x" * 5000)
        await interaction.response.send_message(embed=embed)
    except discord.HTTPException as exc:
        _bot(interaction).http_errors.append(exc)
        await interaction.response.send_message("too big, sorry")


@app_commands.command(description="Responds twice")
async def twice(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("first")
    interaction.response._response_type = None  # bypass discord.py's own guard
    try:
        await interaction.response.send_message("second")
    except discord.HTTPException as exc:
        _bot(interaction).http_errors.append(exc)


@app_commands.command(description="Deferred answer")
async def slow(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="done thinking")
    await interaction.followup.send("follow-up", wait=True)


@app_commands.command(description="Admins only")
@app_commands.default_permissions(manage_guild=True)
@app_commands.describe(target="Whose index to rebuild")
async def reindex(interaction: discord.Interaction, target: discord.User) -> None:
    perms = interaction.permissions
    text = f"reindex for {target.name} by manage_guild={perms.manage_guild}"
    await interaction.response.send_message(text, ephemeral=True)


@app_commands.command(description="Global ping")
async def ping(interaction: discord.Interaction) -> None:
    where = "dm" if interaction.guild is None else "guild"
    await interaction.response.send_message(f"pong from {where}")


@app_commands.command(description="DM me")
async def dmme(interaction: discord.Interaction) -> None:
    await interaction.user.send("hello in private")
    await interaction.response.send_message("sent you a DM", ephemeral=True)


def scenario(fn: Scenario, **standin_kwargs: Any) -> None:
    """Run ``fn`` with a started stand-in and a ready bot; fail on any leaked error."""
    loop_errors: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
        async with standin_session(**standin_kwargs) as standin:
            bot = StandInTestBot(standin.guild_id)
            async with running_client(bot, standin):
                await fn(standin, bot)
            assert not bot.errors, bot.errors

    run(main(), timeout=20)
    assert not loop_errors, loop_errors


def test_login_ready_guild_and_sync() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        paths = [(r["method"], r["path"]) for r in standin.requests]
        assert paths[:2] == [("GET", "users/@me"), ("GET", "oauth2/applications/@me")]
        assert (
            "PUT",
            f"applications/{standin.app_id}/guilds/{standin.guild_id}/commands",
        ) in paths
        assert (
            standin.connections[0]["query"]["compress"]
            == discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
        )
        assert standin.identifies[0]["intents"] == discord.Intents.default().value
        assert [f["t"] for f in standin.dispatched[:2]] == ["READY", "GUILD_CREATE"]
        assert [f["s"] for f in standin.dispatched[:2]] == [1, 2]
        guild = bot.get_guild(standin.guild_id)
        assert guild is not None and len(guild.text_channels) >= 2
        admin_role = guild.get_role(standin.admin_role_id)
        assert admin_role is not None and admin_role.permissions.manage_guild
        perms = guild.me.guild_permissions
        assert perms.send_messages and perms.embed_links and not perms.manage_guild
        assert bot.application_id == standin.app_id
        synced = {c["name"]: c["id"] for c in standin.commands[standin.guild_id]}
        assert {c.name: str(c.id) for c in bot.synced} == synced
        fetched = await bot.tree.fetch_commands(guild=discord.Object(standin.guild_id))
        assert {c.name for c in fetched} == set(synced)
        standin.assert_clean()

    scenario(check)


def test_slash_command_embed_and_button() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        inter = await standin.send_slash_command("ask", {"question": "what happened?"})
        out = await standin.wait_for_response(inter)
        assert out["kind"] == "callback" and out["body"]["type"] == 4
        message = out["message"]
        assert message["embeds"][0]["title"] == "Answer"
        assert "what happened?" in message["embeds"][0]["description"]
        assert out["body"]["data"]["allowed_mentions"] == {"parse": []}
        assert message["components"][0]["components"][0]["custom_id"] == "sources"
        click = await standin.click_button(message, "sources", user="admin")
        answer = await standin.wait_for_response(click)
        assert answer["message"]["content"] == "source list"
        assert answer["message"]["flags"] & 64
        assert all(a["allowed_mentions"] == {"parse": []} for a in standin.allowed_mentions)
        standin.assert_clean()

    scenario(check)


def test_deferred_edit_followup_and_dm_creation() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        inter = await standin.send_slash_command("slow", user="admin")
        follow = await standin.wait_for_response(inter, lambda o: o["kind"] == "followup")
        kinds = [o["kind"] for o in standin.outputs if o["interaction_id"] == int(inter["id"])]
        assert kinds == ["callback", "webhook_edit", "followup"]
        assert follow["message"]["content"] == "follow-up"
        original = standin.messages[standin.interactions[int(inter["id"])]["original_id"]]
        assert original["content"] == "done thinking" and not original["flags"] & 128
        inter = await standin.send_slash_command("dmme")
        dm = standin.dm_channel(standin.user("member"))
        sent = await standin.wait_for_message(channel_id=int(dm["id"]))
        assert sent["message"]["content"] == "hello in private"
        await standin.wait_for_response(inter)
        standin.assert_clean()

    scenario(check)


def test_global_command_in_guild_and_dm() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        assert [c["name"] for c in standin.commands[None]] == ["ping"]
        assert [c.name for c in bot.synced_global] == ["ping"]
        inter = await standin.send_slash_command("ping", guild=False, user="outsider")
        assert "guild_id" not in inter and inter["user"]["username"] == "carol"
        out = await standin.wait_for_response(inter)
        assert out["message"]["content"] == "pong from dm"
        inter = await standin.send_slash_command("ping")
        assert (await standin.wait_for_response(inter))["message"]["content"] == "pong from guild"
        standin.assert_clean()

    scenario(check)


def test_mention_reply_dm_and_content_intent() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        plain = await standin.send_message("no mention here")
        msg = await standin.send_message("hi bot", mentions=["bot"])
        reply = await standin.wait_for_message(reply_to=msg)
        assert reply["message"]["content"] == f"pong: <@{standin.bot_user.id}> hi bot"
        assert reply["message"]["type"] == 19
        assert reply["message"]["mentions"] == []  # AllowedMentions.none(): nobody pinged
        assert reply["body"]["allowed_mentions"] == {"parse": []}
        seen = {m.id: m for m in bot.seen}
        assert seen[int(plain["id"])].content == ""  # no message_content intent
        assert seen[int(msg["id"])].content.endswith("hi bot")
        dm = await standin.send_message("private question", dm=True, author="admin")
        answer = await standin.wait_for_message(channel_id=int(dm["channel_id"]))
        assert answer["message"]["content"] == "DM reply to: private question"
        click = await standin.click_button(reply["message"], "sources")
        assert (await standin.wait_for_response(click))["message"]["content"] == "source list"
        standin.assert_clean()

    scenario(check)


def test_rejections_oversized_embed_and_double_response() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        inter = await standin.send_slash_command("big")
        await standin.wait_for_response(inter)
        rejected = standin.rejections[0]
        assert rejected["status"] == 400 and rejected["response"]["code"] == 50035
        assert "description" in rejected["response"]["errors"]["embeds"]["0"]
        assert bot.http_errors[0].status == 400 and bot.http_errors[0].code == 50035
        inter = await standin.send_slash_command("twice")
        await standin.wait_for_response(inter)
        for _ in range(200):
            if len(bot.http_errors) == 2:
                break
            await asyncio.sleep(0.01)
        assert bot.http_errors[1].code == 40060
        assert standin.rejections[1]["response"]["code"] == 40060
        assert len(standin.rejections) == 2
        with pytest.raises(AssertionError):
            standin.assert_clean()

    scenario(check)


@pytest.mark.parametrize("code", [4000, None])
def test_resume_after_dropped_connection(code: int | None) -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        await standin.drop_connection(code, hold=True)
        inter = await standin.send_slash_command("ask", {"question": "still there?"})
        standin.release_connections()
        out = await standin.wait_for_response(inter)
        assert "still there?" in out["message"]["embeds"][0]["description"]
        assert standin.resumes and "INTERACTION_CREATE" in standin.resumes[0]["replayed"]
        assert standin.connections[-1]["path"] == "/resume-gateway"
        assert len(standin.identifies) == 1
        seqs = [f["s"] for f in standin.dispatched]
        assert seqs == list(range(1, len(seqs) + 1))
        inter = await standin.send_slash_command("ask", {"question": "next one"})
        assert (
            "next one"
            in (await standin.wait_for_response(inter))["message"]["embeds"][0]["description"]
        )
        standin.assert_clean()

    scenario(check)


def test_heartbeats_acknowledged() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        await asyncio.sleep(1.3)
        beats = standin.heartbeats
        assert len(beats) >= 2
        assert all(b["acked_at"] - b["received_at"] < 0.2 for b in beats)
        gaps = [b["received_at"] - a["received_at"] for a, b in itertools.pairwise(beats)]
        assert max(gaps) < 1.0 * 1.5
        assert bot.latency < 1.0

    scenario(check, heartbeat_interval_ms=1000)


def test_unknown_route_auth_and_validation() -> None:
    async def main() -> None:
        async with DiscordStandIn() as standin:
            auth = {"Authorization": f"Bot {standin.token}"}
            async with aiohttp.ClientSession() as http:
                async with http.get(standin.api_base + "/guilds/1/bans", headers=auth) as resp:
                    assert resp.status == 404 and (await resp.json())["message"] == "404: Not Found"
                async with http.get(standin.api_base + "/users/@me") as resp:
                    assert resp.status == 401
                url = f"{standin.api_base}/channels/{standin.general_id}/messages"
                async with http.post(url, json={"content": ""}, headers=auth) as resp:
                    assert (await resp.json())["code"] == 50006
                url = f"{standin.api_base}/channels/{standin.readonly_channel_id}/messages"
                async with http.post(url, json={"content": "hi"}, headers=auth) as resp:
                    assert resp.status == 403
            assert len(standin.unknown_routes) == 1 and len(standin.rejections) == 3

    run(main())
    standin = DiscordStandIn()
    limits: list[dict[str, Any]] = [
        {"content": "x" * 2001},
        {"embeds": [{"title": "x" * 257}]},
        {"embeds": [{"description": "x" * 4097}]},
        {"embeds": [{"fields": [{"name": "x" * 257, "value": "v"}]}]},
        {"embeds": [{"fields": [{"name": "n", "value": "x" * 1025}]}]},
        {"embeds": [{"footer": {"text": "x" * 2049}}]},
        {"embeds": [{"author": {"name": "x" * 257}}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        {"embeds": [{"description": "x" * 3000}, {"description": "x" * 3001}]},
        {"embeds": [{"title": "t"}] * 11},
    ]
    for body in limits:
        with pytest.raises(ApiError) as info:
            standin.validate(body)
        assert info.value.status == 400 and info.value.payload["code"] == 50035
    standin.validate({"embeds": [{"description": "x" * 4096}], "content": "x" * 2000})


def test_patch_discord_restores_urls() -> None:
    original_base = discord.http.Route.BASE
    original_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    standin = DiscordStandIn()
    standin.port = 12345
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_discord(standin))
        assert discord.http.Route.BASE == "http://127.0.0.1:12345/api/v10"
        assert (
            str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:12345/gateway"
        )
    assert original_base == discord.http.Route.BASE
    assert original_gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def test_admin_only_command_and_user_option() -> None:
    async def check(standin: DiscordStandIn, bot: StandInTestBot) -> None:
        with pytest.raises(PermissionError):
            await standin.send_slash_command("reindex", {"target": "admin"}, user="member")
        inter = await standin.send_slash_command("reindex", {"target": "member"}, user="admin")
        out = await standin.wait_for_response(inter)
        assert out["message"]["content"] == "reindex for alice by manage_guild=True"
        standin.assert_clean()

    scenario(check)


def test_privileged_intents_are_refused_like_discord() -> None:
    async def main() -> None:
        async with standin_session() as standin:
            intents = discord.Intents.default()
            intents.message_content = True
            client = discord.Client(intents=intents)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                async with running_client(client, standin, timeout=5):
                    pass
            assert standin.connections[0]["server_close_code"] == 4014

    run(main())


def test_interaction_token_window_and_followup_before_response() -> None:
    async def main() -> None:
        async with DiscordStandIn(callback_deadline=0.0) as standin:
            standin.commands[None] = [{"id": "1", "name": "ask", "type": 1, "options": []}]
            inter = await standin.send_slash_command("ask")  # no bot: just queued
            async with aiohttp.ClientSession() as http:
                url = f"{standin.api_base}/webhooks/{standin.app_id}/{inter['token']}"
                async with http.post(url, json={"content": "early"}) as resp:
                    assert (await resp.json())["code"] == 10015
                url = f"{standin.api_base}/interactions/{inter['id']}/{inter['token']}/callback"
                await asyncio.sleep(0.01)
                async with http.post(url, json={"type": 4, "data": {"content": "late"}}) as resp:
                    assert resp.status == 404 and (await resp.json())["code"] == 10062

    run(main())


@pytest.mark.parametrize("kind", ["zlib-stream", "zstd-stream"])
def test_gateway_compression_streams(kind: str) -> None:
    if kind == "zstd-stream":
        zstandard = pytest.importorskip("zstandard")
        decompress = zstandard.ZstdDecompressor().decompressobj().decompress
    else:
        decompress = zlib.decompressobj().decompress
    compress = compressor(kind)
    assert compress is not None
    for text in ('{"op":10}', '{"op":11}'):
        chunk = compress(text.encode())
        if kind == "zlib-stream":
            assert chunk.endswith(b"\x00\x00\xff\xff")
        assert decompress(chunk).decode() == text
