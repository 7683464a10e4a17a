"""The components under an answer: "More", "Full passage", 👍 / 👎 and "Wrong source".

"Wrong source" asks privately which quote, with a select whose custom id names the answer's
view, so the pick is routed back to it like any click (see :mod:`.views`). Each view remembers
the vote of each person on its answer: one vote per person per answer, a changed vote replaces
the earlier one (and the report counts only the last, see :mod:`bot.service.votes`).
"""

from __future__ import annotations

import textwrap
from typing import Any, Protocol

import discord

from bot.core.answer import Answer
from bot.core.pipeline.engine import Engine

from .views import ExpiringView, Routed

UP, DOWN, WRONG = "up", "down", "wrong_source"
MAX_PASSAGE_BUTTONS = 19  # with More: four rows of five; the votes get the last row
VOTE_ROW = 4
OPTION_LABEL, OPTION_DESCRIPTION = 100, 100  # Discord's limits for select options


class AnswerHandler(Protocol):
    """What the answer's components call back into (the cog)."""

    async def show_more(self, interaction: discord.Interaction, view: AnswerView) -> None:
        """Answer with the next quotes for the same question."""

    async def show_passage(
        self, interaction: discord.Interaction, view: AnswerView, number: int
    ) -> None:
        """Show the full passage of quote ``number`` (0-based) privately."""

    async def rate(
        self, interaction: discord.Interaction, view: AnswerView, vote: str, quote: int | None
    ) -> None:
        """Record a vote on the answer (``quote``: the quote named as the wrong source)."""


class AnswerView(ExpiringView):
    """The buttons under an answer; keeps the Engine that produced it and the votes on it."""

    def __init__(
        self,
        handler: AnswerHandler,
        answer: Answer,
        engine: Engine | None,
        *,
        context: str | None,
        lifetime: float,
    ) -> None:
        super().__init__(lifetime)
        self.answer = answer
        self.engine = engine  # passage ids belong to this index, even after a reindex
        self.context = context
        self.votes: dict[int, tuple[str, int | None]] = {}  # user id → (vote, quote)
        self.more_button: discord.ui.Button[Any] | None = None
        if answer.more:
            self.more_button = self.add_button(
                "more",
                lambda i, _n, _b: handler.show_more(i, self),
                label="More",
                style=discord.ButtonStyle.primary,
            )
        single = len(answer.quotes) == 1
        for number, _ in enumerate(answer.quotes[:MAX_PASSAGE_BUTTONS]):
            label = "Full passage" if single else f"Full passage {answer.offset + number + 1}"
            self.add_button(
                "passage",
                lambda i, n, _b: handler.show_passage(i, self, n or 0),
                label=label,
                number=number,
            )
        self.add_button(
            "up", lambda i, _n, _b: handler.rate(i, self, UP, None), emoji="👍", row=VOTE_ROW
        )
        self.add_button(
            "down", lambda i, _n, _b: handler.rate(i, self, DOWN, None), emoji="👎", row=VOTE_ROW
        )
        self.add_button(
            "wrong", lambda i, _n, _b: self.ask_which(i), label="Wrong source", row=VOTE_ROW
        )
        self.handlers["which"] = lambda i, _n, select: handler.rate(i, self, WRONG, picked(select))

    def vote_of(self, user_id: int) -> tuple[str, int | None] | None:
        """This person's vote on the answer, if any."""
        return self.votes.get(user_id)

    async def ask_which(self, interaction: discord.Interaction) -> None:
        """Privately: which quote is from the wrong source (a select routed back here)."""
        view = discord.ui.View(timeout=None)
        view.add_item(Routed(which_select(self.answer, self.custom_id("which"))))
        await interaction.response.send_message(
            "Which quote is from the wrong source?", view=view, ephemeral=True
        )


def which_select(answer: Answer, custom_id: str) -> discord.ui.Select[Any]:
    """A select of the answer's quotes by their number, outlet or title and opening words."""
    options = []
    for number, quote in enumerate(answer.quotes[:25], answer.offset + 1):
        meta = quote.source
        name = meta.outlet or meta.title or meta.id
        options.append(
            discord.SelectOption(
                label=_cut(f"{number}. {name}", OPTION_LABEL),
                value=str(number),
                description=_cut(quote.text, OPTION_DESCRIPTION),
            )
        )
    return discord.ui.Select(custom_id=custom_id, placeholder="Pick the quote", options=options)


def picked(item: discord.ui.Item[Any]) -> int | None:
    """The quote number chosen in the select (None if nothing usable was picked)."""
    values = item.values if isinstance(item, discord.ui.Select) else []
    return int(values[0]) if values and values[0].isdigit() else None


def _cut(text: str, limit: int) -> str:
    """Plain text (select options show no markdown) cut at a word to ``limit`` with "…"."""
    return textwrap.shorten(text, limit, placeholder="…") or text[: limit - 1] + "…"
