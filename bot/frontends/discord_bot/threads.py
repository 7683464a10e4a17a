"""Follow-ups without a ping: threads the bot starts, and messages meant for it without a mention.

Without the privileged Message Content intent Discord sends the bot the text of a server message
only when it mentions the bot, so a reply with the mention switched off arrives empty. With
``discord.read_messages: true`` (the intent enabled in the Developer Portal) the bot also answers,
without a mention, replies to its messages and messages in threads it started. With
``discord.answer_in_thread: true`` each question in a channel is answered in a new thread named
from the question, so its follow-ups stay together.
"""

from __future__ import annotations

import logging
import textwrap

import discord

logger = logging.getLogger(__name__)

THREAD_NAME_LIMIT = 100  # Discord's limit for a thread name


def thread_name(question: str) -> str:
    """The question as a thread name: plain text cut at a word to Discord's 100 characters."""
    name = textwrap.shorten(question, THREAD_NAME_LIMIT, placeholder="…")
    return name or question[: THREAD_NAME_LIMIT - 1] + "…"


def started_by(channel: object, user_id: int) -> bool:
    """Whether ``channel`` is a thread ``user_id`` (the bot) started."""
    return isinstance(channel, discord.Thread) and channel.owner_id == user_id


def replies_to(message: discord.Message, user_id: int) -> bool:
    """Whether ``message`` is a reply to a message by ``user_id`` (the bot)."""
    ref = message.reference
    if ref is None:
        return False
    earlier = ref.resolved if isinstance(ref.resolved, discord.Message) else ref.cached_message
    return earlier is not None and earlier.author.id == user_id


def meant_for(message: discord.Message, user_id: int) -> bool:
    """A server message for the bot without a mention: a reply to it, or in a thread it started."""
    return replies_to(message, user_id) or started_by(message.channel, user_id)


def can_start_thread(channel: object) -> bool:
    """Whether questions asked in ``channel`` get their own thread (server text channels only)."""
    return isinstance(channel, discord.TextChannel)


async def start_thread(
    message: discord.Message | discord.PartialMessage, question: str
) -> discord.Thread | None:
    """A public thread on ``message`` named from ``question``; None (logged) if Discord refuses."""
    try:
        return await message.create_thread(name=thread_name(question))
    except discord.HTTPException as exc:  # no permission, a thread already there, …
        logger.warning("could not start a thread on message %s: %s", message.id, exc)
        return None
