"""Votes on answers from Discord: one per person per answer, recorded through the service.

The reply is private and says what was recorded: a first vote, a changed one (which replaces
the earlier vote in the report), or the same vote again (not recorded twice).
"""

from __future__ import annotations

import discord

from bot.service.service import Service
from bot.service.votes import Vote

from .answer_view import DOWN, UP, WRONG, AnswerView
from .views import reply_privately

SHOWN = {UP: "👍", DOWN: "👎"}


def described(vote: str, quote: int | None) -> str:
    """A vote as the person sees it: 👍, 👎 or "quote 2 is from the wrong source"."""
    if vote == WRONG:
        return f"quote {quote} is from the wrong source"
    return SHOWN[vote]


async def rate(
    service: Service,
    interaction: discord.Interaction,
    view: AnswerView,
    vote: str,
    quote: int | None,
) -> None:
    """Record ``vote`` by the person who clicked unless it is the vote they already gave."""
    user = interaction.user.id
    earlier = view.vote_of(user)
    if earlier == (vote, quote):
        text = f"You already rated this answer: {described(vote, quote)}."
    else:
        view.votes[user] = (vote, quote)
        service.record_vote(
            Vote("discord", user, view.token, view.answer, vote, quote), view.engine
        )
        what = described(vote, quote)
        text = f"Changed your rating to {what}." if earlier else f"Thanks, noted: {what}."
        if vote != UP:
            text += " It helps us find what the articles are missing."
    if vote == WRONG and not interaction.response.is_done():
        await interaction.response.edit_message(content=text, view=None)  # the private select
        return
    await reply_privately(interaction, text)
