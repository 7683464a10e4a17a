"""Small policies of the Discord front end: permissions, mentions, the per-question log line."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

import discord

from bot.core.answer import Answer

logger = logging.getLogger("bot.frontends.discord_bot.cog")


def channel_allowed(allowed: Iterable[int], channel: object, channel_id: int | None) -> bool:
    """Whether the allowlist admits this channel (or the channel a thread belongs to)."""
    allowed = set(allowed)
    if not allowed:
        return True
    if channel_id in allowed:
        return True
    parent = getattr(channel, "parent_id", None)
    return parent is not None and parent in allowed


def has_role(user: discord.abc.User, role: str | None) -> bool:
    """Whether ``user`` (a guild member) has the role given by name or id."""
    if not role or not isinstance(user, discord.Member):
        return False
    return any(str(r.id) == role or r.name == role for r in user.roles)


def strip_mentions(content: str, user_id: int, role_id: int | None = None) -> str:
    """The question in a message: its text without the mentions of the bot (user or role)."""
    pattern = rf"<@!?{user_id}>" + (rf"|<@&{role_id}>" if role_id is not None else "")
    return " ".join(re.sub(pattern, " ", content).split())


def as_sentence(text: str) -> str:
    """A message as one sentence: capitalised, ending with a full stop."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def log_question(
    guild: discord.Guild | None,
    channel_id: int | None,
    user: str | None,
    question: str,
    context: str | None,
    answer: Answer | None,
    began: float,
    via: str,
    error: str | None = None,
) -> None:
    """One INFO line per question (``user`` is the question log's salted hash of the id)."""
    scores = [round(q.score, 2) for q in answer.quotes] if answer else []
    logger.info(
        "question guild=%s channel=%s user=%s via=%s answered=%s top=%s latency_ms=%.1f "
        "question=%r context=%r%s",
        guild.id if guild else "dm",
        channel_id,
        user,
        via,
        bool(answer and answer.answered),
        scores,
        (time.perf_counter() - began) * 1000,
        question,
        context,
        f" rejected={error!r}" if error else "",
    )
