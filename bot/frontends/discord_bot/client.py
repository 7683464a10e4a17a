"""The Discord client: a ``commands.Bot`` with default intents and no mentions allowed.

The privileged Message Content intent is asked for only with ``discord.read_messages: true``.

``setup_hook`` loads the cog and applies the command sync policy: to ``discord.guild_id`` at every
start when it is set (instant, one server); globally only on ``python -m bot run --sync-global``
(done by the runner, which then exits) — never a global sync on every start.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.service.service import Service
from bot.service.settings import Settings

from .cog import QuestionsCog
from .views import APOLOGY, Routed, ViewRegistry, reply_privately

logger = logging.getLogger(__name__)

MAX_HEALTHY_LATENCY = 10.0  # seconds: a slower heartbeat ACK means the gateway is in trouble
LATENCY_INTERVAL = 15.0  # seconds between updates of the gateway latency gauge


def intents(settings: Settings) -> discord.Intents:
    """The default intents, plus Message Content when ``discord.read_messages`` asks for it."""
    chosen = discord.Intents.default()
    chosen.message_content = settings.discord.read_messages
    return chosen


class NewsTree(app_commands.CommandTree):
    """The command tree; an error in any command is logged and becomes a short apology."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Log the traceback and apologise to the person (never silence an error)."""
        command = interaction.command.qualified_name if interaction.command else "?"
        original = getattr(error, "original", error)
        logger.error("/%s failed", command, exc_info=original)
        with contextlib.suppress(discord.HTTPException):
            await reply_privately(interaction, APOLOGY)


class NewsBot(commands.Bot):
    """newsbot on Discord: slash commands, mentions, DMs; see :class:`QuestionsCog`."""

    def __init__(
        self,
        settings: Settings,
        service: Service,
        *,
        sync_global: bool = False,
        latency_interval: float = LATENCY_INTERVAL,
        **options: Any,
    ) -> None:
        # a text-only bot: no "PyNaCl/davey is not installed, voice will NOT be supported"
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,  # no text commands; mentions go to the cog
            intents=intents(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=NewsTree,
            **options,
        )
        self.settings = settings
        self.service = service
        self.sync_global = sync_global
        self.gateway_connected = False
        self.synced: list[app_commands.AppCommand] = []
        self.views = ViewRegistry()  # live views by token; Routed components look them up here
        self.latency_gauge = service.metrics.registry.gauge(
            "newsbot_discord_gateway_latency_seconds", "Discord gateway heartbeat latency."
        )
        self._report_latency.change_interval(seconds=latency_interval)

    @property
    def cog(self) -> QuestionsCog:
        """The cog answering questions."""
        cog = self.get_cog("Questions")
        assert isinstance(cog, QuestionsCog)
        return cog

    async def setup_hook(self) -> None:
        """Load the cog; sync commands to the configured guild (the runner does global syncs)."""
        self.add_dynamic_items(Routed)  # every click on our components, even before a view is bound
        await self.add_cog(QuestionsCog(self))
        if self.sync_global:
            return
        guild_id = self.settings.discord.guild_id
        if guild_id is not None:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            self.synced = await self.tree.sync(guild=guild)
            names = ", ".join(f"/{c.name}" for c in self.synced)
            logger.info("synced %d commands to guild %s: %s", len(self.synced), guild_id, names)
        else:
            logger.info(
                "slash commands not synced at start-up (discord.guild_id is not set); after "
                "changing them run `python -m bot run --sync-global` once"
            )
        self._report_latency.start()

    async def sync_globally(self) -> list[app_commands.AppCommand]:
        """Sync the commands for every server and DMs (may take up to an hour to show)."""
        self.synced = await self.tree.sync()
        return self.synced

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: the cog's listener handles mentions and DMs."""

    async def on_ready(self) -> None:
        """Gateway session ready (after IDENTIFY)."""
        self.gateway_connected = True
        user = self.user
        logger.info(
            "connected as %s (id %s) to %d servers", user, user and user.id, len(self.guilds)
        )

    async def on_resumed(self) -> None:
        """Gateway session resumed after a dropped connection."""
        self.gateway_connected = True
        logger.info("gateway session resumed")

    async def on_disconnect(self) -> None:
        """Gateway connection lost; discord.py reconnects (and resumes) by itself."""
        self.gateway_connected = False

    def health(self) -> tuple[bool, str]:
        """(ok, reason): gateway connected and heartbeats acknowledged in time."""
        if self.is_closed():
            return False, "discord: client closed"
        if not self.gateway_connected or not self.is_ready():
            return False, "discord: gateway not connected"
        latency = self.latency
        if not math.isfinite(latency):
            return False, "discord: no heartbeat acknowledged yet"
        if latency > MAX_HEALTHY_LATENCY:
            return False, f"discord: heartbeat acknowledged after {latency:.1f} s"
        return True, f"discord: connected, heartbeat {latency * 1000:.0f} ms"

    @tasks.loop(seconds=LATENCY_INTERVAL)
    async def _report_latency(self) -> None:
        latency = self.latency
        if math.isfinite(latency):
            self.latency_gauge.set(latency)

    @_report_latency.before_loop
    async def _before_latency(self) -> None:
        await self.wait_until_ready()

    async def close(self) -> None:
        """Stop the latency task and the live views, then disconnect."""
        self._report_latency.cancel()
        await self.views.close()
        await super().close()
