"""Buttons under answers ("More", "Full passage") and under /sources (pages), and their expiry.

Every view lives for a fixed time (``discord.button_timeout_seconds``) from when it was sent —
clicks do not extend it. Then its buttons are disabled by editing the message, and a click that
still arrives (or one on a message from before a restart) gets "this answer has expired".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import discord

from bot.core.answer import Answer
from bot.core.pipeline.engine import Engine

logger = logging.getLogger(__name__)

PREFIX = "newsbot"
EXPIRED = "This answer has expired (its buttons stop working after a while); please ask again."
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
MAX_LIVE_VIEWS = 5000
HANDLED = "newsbot_view_handled"


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral message, whether or not the interaction was answered already."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


def token_of(custom_id: str) -> str | None:
    """The view token in one of our custom ids (``newsbot:<kind>:<token>[:<n>]``), else None."""
    parts = custom_id.split(":")
    return parts[2] if len(parts) >= 3 and parts[0] == PREFIX else None


class ViewRegistry:
    """The live views by token; expires each one when its time is up (bounded in number)."""

    def __init__(self, limit: int = MAX_LIVE_VIEWS) -> None:
        self.limit = limit
        self._views: OrderedDict[str, ExpiringView] = OrderedDict()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._views)

    def add(self, view: ExpiringView) -> None:
        """Track ``view`` and schedule its expiry."""
        view.registry = self
        self._views[view.token] = view
        delay = max(0.0, view.expires_at - time.monotonic())
        loop = asyncio.get_running_loop()
        self._timers[view.token] = loop.call_later(delay, self.expire_later, view)
        while len(self._views) > self.limit:
            self.expire_later(next(iter(self._views.values())))

    def is_live(self, token: str) -> bool:
        """Whether a view with this token still answers clicks."""
        return token in self._views

    def remove(self, view: ExpiringView) -> None:
        """Forget ``view`` (it expired or stopped)."""
        self._views.pop(view.token, None)
        timer = self._timers.pop(view.token, None)
        if timer is not None:
            timer.cancel()

    def expire_later(self, view: ExpiringView) -> None:
        """Retire ``view`` now and disable its buttons on the message in a task."""
        if not view.retire():
            return
        task = asyncio.get_running_loop().create_task(view.show_disabled())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Retire every view without editing messages (shutdown); let pending edits finish."""
        for view in list(self._views.values()):
            view.retire()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


class ExpiringView(discord.ui.View):
    """A view that stops working ``lifetime`` seconds after it was made."""

    def __init__(self, lifetime: float) -> None:
        super().__init__(timeout=None)
        self.token = secrets.token_hex(8)
        self.expires_at = time.monotonic() + lifetime
        self.expired = False
        self.registry: ViewRegistry | None = None
        self.client: discord.Client | None = None
        self.location: tuple[int, int] | None = None  # (channel id, message id)

    def custom_id(self, kind: str, number: int | None = None) -> str:
        """A custom id naming this view, so clicks after expiry can be recognised."""
        suffix = "" if number is None else f":{number}"
        return f"{PREFIX}:{kind}:{self.token}{suffix}"

    def bind(self, client: discord.Client, channel_id: int, message_id: int | None) -> None:
        """Remember the message carrying the view, to disable its buttons on expiry."""
        self.client = client
        if message_id is not None:
            self.location = (channel_id, message_id)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Refuse clicks after the view's lifetime, saying so."""
        interaction.extras[HANDLED] = True  # tells the cog's fallback this click is taken
        if self.expired or time.monotonic() >= self.expires_at:
            if self.registry is not None:
                self.registry.expire_later(self)
            else:
                self.retire()
            await reply_privately(interaction, EXPIRED)
            return False
        return True

    def retire(self) -> bool:
        """Stop answering clicks at once and mark the buttons disabled; False if done already."""
        if self.expired:
            return False
        self.expired = True
        if self.registry is not None:
            self.registry.remove(self)
        self.stop()
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        return True

    async def expire(self) -> None:
        """Retire the view and show its buttons disabled on the message."""
        if self.retire():
            await self.show_disabled()

    async def show_disabled(self) -> None:
        """Edit the message so its (retired) buttons show as disabled."""
        if self.client is None or self.location is None or self.client.is_closed():
            return
        channel_id, message_id = self.location
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(view=self)
        except discord.HTTPException as exc:  # deleted message, lost access: nothing to disable
            logger.info("could not disable the buttons of message %s: %s", message_id, exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        """A failing button: log the traceback, apologise to the person who clicked."""
        logger.error("button %s failed", getattr(item, "custom_id", item), exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await reply_privately(interaction, APOLOGY)

    def add_button(
        self,
        label: str,
        custom_id: str,
        callback: Callable[[discord.Interaction], Awaitable[None]],
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> discord.ui.Button[Any]:
        """Add a button whose click runs ``callback``."""
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label, custom_id=custom_id, style=style
        )

        async def run(interaction: discord.Interaction) -> None:
            await callback(interaction)

        button.callback = run  # type: ignore[method-assign]
        self.add_item(button)
        return button


class AnswerHandler(Protocol):
    """What the answer buttons call back into (the cog)."""

    async def show_more(self, interaction: discord.Interaction, view: AnswerView) -> None:
        """Answer with the next quotes for the same question."""

    async def show_passage(
        self, interaction: discord.Interaction, view: AnswerView, number: int
    ) -> None:
        """Show the full passage of quote ``number`` (0-based) privately."""


class AnswerView(ExpiringView):
    """ "More" and "Full passage" under an answer; keeps the Engine that produced it."""

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
        self.more_button: discord.ui.Button[Any] | None = None
        if answer.more:
            self.more_button = self.add_button(
                "More",
                self.custom_id("more"),
                lambda i: handler.show_more(i, self),
                discord.ButtonStyle.primary,
            )
        single = len(answer.quotes) == 1
        for number, _ in enumerate(answer.quotes[:20]):
            label = "Full passage" if single else f"Full passage {answer.offset + number + 1}"
            self.add_button(
                label,
                self.custom_id("passage", number),
                lambda i, n=number: handler.show_passage(i, self, n),
            )


class SourcesView(ExpiringView):
    """Previous/Next buttons paging through /sources."""

    def __init__(self, pages: Sequence[discord.Embed], lifetime: float) -> None:
        super().__init__(lifetime)
        self.pages = list(pages)
        self.page = 0
        self.previous = self.add_button("Previous", self.custom_id("page-prev"), self._previous)
        self.next = self.add_button("Next", self.custom_id("page-next"), self._next)
        self._update()

    def _update(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = max(0, min(len(self.pages) - 1, self.page + step))
        self._update()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self)

    async def _previous(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, -1)

    async def _next(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, 1)
