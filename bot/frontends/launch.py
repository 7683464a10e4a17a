"""``python -m bot run``: the Discord bot, with the HTTP API beside it when ``http.enabled``.

The one place where two front ends share a process: neither imports the other. The API is
started as a companion of the bot and gets the bot's health check through its generic
``health_checks`` hook.
"""

from __future__ import annotations

import argparse

from bot.frontends.discord_bot.runner import Companion, Stop
from bot.frontends.discord_bot.runner import run_command as run_discord
from bot.frontends.http_api.server import HealthCheck, start_http
from bot.service.service import Service
from bot.service.settings import Settings


def companions(service: Service, settings: Settings) -> list[Companion]:
    """What runs beside the bot: the HTTP API when ``http.enabled``."""
    if not settings.http.enabled:
        return []

    async def start(health: HealthCheck) -> Stop:
        runner = await start_http(service, settings, [health])
        return runner.cleanup

    return [start]


def run_command(args: argparse.Namespace) -> None:
    """``python -m bot run [--sync-global]``: the bot (and the API), until SIGTERM/SIGINT."""
    run_discord(args, companions)
