"""``python -m bot run``: settings, token, logging, signals, the bot and (optionally) the HTTP API.

Errors a person can fix (no token, a token Discord rejects — at start or after a reset while
running —, a privileged intent not enabled, a port in use, bad settings) end with one sentence on
stderr and exit status 1, never a traceback.
SIGTERM and SIGINT close the gateway connection, stop the HTTP API, flush the question log and
exit 0. The token is never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import discord

from bot.core.printable import PrintableLogs
from bot.errors import ConfigError, StartError
from bot.service.service import Service
from bot.service.settings import Settings, load_settings, secret

from .client import NewsBot

Stop = Callable[[], Awaitable[None]]
# Something started beside the bot in its event loop (the HTTP API), given the bot's health
# check; it returns how to stop it.
Companion = Callable[[Callable[[], tuple[bool, str]]], Awaitable[Stop]]

logger = logging.getLogger(__name__)

TOKEN_ENV = "DISCORD_TOKEN"
MISSING_TOKEN = (
    "DISCORD_TOKEN is not set; put the bot token from the Discord Developer Portal in the "
    "environment or in a .env file (DISCORD_TOKEN=...)."
)
BAD_TOKEN = (
    "Discord rejected the token in DISCORD_TOKEN; copy the bot token again from the "
    "Developer Portal (Bot → Reset Token)."
)
PRIVILEGED = (
    "Discord refused the Message Content intent that discord.read_messages: true needs; "
    "enable it in the Developer Portal (Bot → Privileged Gateway Intents → Message Content "
    "Intent) or set discord.read_messages: false."
)

AUTHENTICATION_FAILED = 4004  # gateway close code: the token was reset or revoked


def closed_message(exc: discord.ConnectionClosed) -> str:
    """The one sentence for a gateway close discord.py does not recover from."""
    if exc.code == AUTHENTICATION_FAILED:
        return BAD_TOKEN
    reason = f": {exc.reason}" if exc.reason else ""
    return (
        f"Discord closed the gateway connection (code {exc.code}{reason}) and newsbot "
        "cannot reconnect."
    )


def setup_logging(settings: Settings) -> logging.Handler:
    """discord.py's logging set-up on the root logger at ``log_level``; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PrintableLogs())
    level = logging.getLevelName(settings.log_level.upper())
    discord.utils.setup_logging(handler=handler, level=level, root=True)
    return handler


async def run_bot(
    settings: Settings,
    service: Service,
    token: str,
    *,
    sync_global: bool = False,
    companions: Sequence[Companion] = (),
) -> None:
    """Run the bot (and its companions) until closed or signalled.

    A failure a person can fix (a rejected token, no network, a port in use) is a StartError.
    """
    bot = NewsBot(settings, service, sync_global=sync_global)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop(name: str) -> None:
        if not closing:
            logger.info("%s received: shutting down", name)
            closing.append(loop.create_task(bot.close()))

    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop, sig.name)
            handled.append(sig)
    stops: list[Stop] = []
    try:
        async with bot:
            if sync_global:
                await bot.login(token)
                synced = await bot.sync_globally()
                names = ", ".join(f"/{c.name}" for c in synced)
                print(
                    f"Synced {len(synced)} commands globally ({names}); they may take up to "
                    "an hour to appear."
                )
                return
            for start in companions:
                stops.append(await start(bot.health))
            await bot.start(token)
        if closing:
            await asyncio.gather(*closing)
    except discord.LoginFailure:
        raise StartError(BAD_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise StartError(PRIVILEGED) from None
    except discord.ConnectionClosed as exc:  # e.g. 4004 after a token reset while running
        raise StartError(closed_message(exc)) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise StartError(f"cannot reach Discord ({exc}); check the network") from None
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        for stop_companion in stops:
            await stop_companion()
        await service.aclose()
    logger.info("stopped")


def run_command(
    args: argparse.Namespace,
    companions: Callable[[Service, Settings], Sequence[Companion]] = lambda s, st: (),
) -> None:
    """``python -m bot run [--sync-global]``: the Discord bot, until SIGTERM/SIGINT; what
    ``companions`` returns starts beside it (see :mod:`bot.frontends.launch`)."""
    settings = load_settings(args.config)
    token = secret(TOKEN_ENV)
    if not token:
        raise ConfigError(MISSING_TOKEN)
    handler = setup_logging(settings)
    try:
        service = Service.open(settings, args.sources, args.index)
        beside = companions(service, settings)
        asyncio.run(
            run_bot(settings, service, token, sync_global=args.sync_global, companions=beside)
        )
    finally:
        logging.getLogger().removeHandler(handler)
