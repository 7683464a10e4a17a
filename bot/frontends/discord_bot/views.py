"""Our message components, how a click finds its view, and how views expire.

Every button and select we send is a :class:`Routed` item: discord.py dispatches any click whose
custom id matches ``newsbot:<kind>:<token>[:<n>]`` to it (registered once, at start-up), and it
looks the view up by token in the :class:`ViewRegistry`. Views are registered *before* their
message is sent, so a click that arrives within milliseconds of the answer — before discord.py
or we know the message id — is answered; a click on a view that is gone (expired, or from before
a restart) always gets "this answer has expired", never silence.

Every view lives for a fixed time (``discord.button_timeout_seconds``) from when it was made —
clicks do not extend it. Then its components are disabled by editing the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import discord

logger = logging.getLogger(__name__)

PREFIX = "newsbot"
TEMPLATE = re.compile(rf"{PREFIX}:(?P<kind>[a-z-]+):(?P<token>[0-9a-f]+)(?::(?P<number>\d+))?")
EXPIRED = "This answer has expired (its buttons stop working after a while); please ask again."
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
MAX_LIVE_VIEWS = 5000

Handler = Callable[[discord.Interaction, int | None, discord.ui.Item[Any]], Awaitable[None]]


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral message, whether or not the interaction was answered already."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


class Routed(discord.ui.DynamicItem[discord.ui.Item[Any]], template=TEMPLATE):
    """One of our buttons or selects; a click runs its live view's handler, else says "expired"."""

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Routed:
        """Wrap the clicked component (discord.py rebuilds it from the message)."""
        return cls(item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Find the view by token and run the handler for this kind of component."""
        match = TEMPLATE.fullmatch(self.custom_id)
        assert match is not None  # discord.py only routes matching custom ids here
        registry = getattr(interaction.client, "views", None)
        view = registry.get(match["token"]) if isinstance(registry, ViewRegistry) else None
        try:
            if view is None or not view.live():
                if view is not None and registry is not None:
                    registry.expire_later(view)
                await reply_privately(interaction, EXPIRED)
                return
            number = int(match["number"]) if match["number"] else None
            await view.handle(match["kind"], interaction, number, self.item)
        except Exception as exc:
            logger.error("component %s failed", self.custom_id, exc_info=exc)
            with contextlib.suppress(discord.HTTPException):
                await reply_privately(interaction, APOLOGY)


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
        """Track ``view`` (before its message is sent) and schedule its expiry."""
        view.registry = self
        self._views[view.token] = view
        delay = max(0.0, view.expires_at - time.monotonic())
        loop = asyncio.get_running_loop()
        self._timers[view.token] = loop.call_later(delay, self.expire_later, view)
        while len(self._views) > self.limit:
            self.expire_later(next(iter(self._views.values())))

    def get(self, token: str) -> ExpiringView | None:
        """The live view with this token, if any."""
        return self._views.get(token)

    def remove(self, view: ExpiringView) -> None:
        """Forget ``view`` (it expired or stopped)."""
        self._views.pop(view.token, None)
        timer = self._timers.pop(view.token, None)
        if timer is not None:
            timer.cancel()

    def expire_later(self, view: ExpiringView) -> None:
        """Retire ``view`` now and disable its components on the message in a task."""
        if view.retire():
            self.spawn(view.refresh())

    def spawn(self, edit: Coroutine[Any, Any, None]) -> None:
        """Run a message edit in a task that shutdown waits for."""
        task = asyncio.get_running_loop().create_task(edit)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Retire every view without editing messages (shutdown); let pending edits finish."""
        for view in list(self._views.values()):
            view.retire()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


class ExpiringView(discord.ui.View):
    """Components that stop working ``lifetime`` seconds after the view was made."""

    def __init__(self, lifetime: float) -> None:
        super().__init__(timeout=None)
        self.token = secrets.token_hex(8)
        self.expires_at = time.monotonic() + lifetime
        self.expired = False
        self.registry: ViewRegistry | None = None
        self.client: discord.Client | None = None
        self.location: tuple[int, int] | None = None  # (channel id, message id)
        self.handlers: dict[str, Handler] = {}
        self.stale = False  # changed before its message id was known: edit once bound

    def custom_id(self, kind: str, number: int | None = None) -> str:
        """A custom id naming this view and the component's kind (and number)."""
        suffix = "" if number is None else f":{number}"
        return f"{PREFIX}:{kind}:{self.token}{suffix}"

    def bind(self, client: discord.Client, channel_id: int, message_id: int | None) -> None:
        """Remember the message carrying the view, to edit its components later."""
        self.client = client
        if message_id is not None:
            self.location = (channel_id, message_id)
            if self.stale and self.registry is not None:
                self.registry.spawn(self.refresh())

    def live(self) -> bool:
        """Whether clicks still work (not retired, lifetime not over)."""
        return not self.expired and time.monotonic() < self.expires_at

    async def handle(
        self,
        kind: str,
        interaction: discord.Interaction,
        number: int | None,
        item: discord.ui.Item[Any],
    ) -> None:
        """Run the handler registered for ``kind`` (an unknown kind is a stale message)."""
        handler = self.handlers.get(kind)
        if handler is None:
            await reply_privately(interaction, EXPIRED)
            return
        await handler(interaction, number, item)

    def retire(self) -> bool:
        """Stop answering clicks at once and mark the components disabled; False if done already."""
        if self.expired:
            return False
        self.expired = True
        if self.registry is not None:
            self.registry.remove(self)
        self.stop()
        for item in self.children:
            inner = item.item if isinstance(item, Routed) else item
            if isinstance(inner, discord.ui.Button | discord.ui.Select):
                inner.disabled = True
        return True

    async def refresh(self) -> None:
        """Edit the message to show the components as they are now (disabled, once retired);
        a view not bound to its message yet is edited when it is."""
        if self.location is None:
            self.stale = True
            return
        self.stale = False
        if self.client is None or self.client.is_closed():
            return
        channel_id, message_id = self.location
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(view=self)
        except discord.HTTPException as exc:  # deleted message, lost access: nothing to disable
            logger.info("could not update the buttons of message %s: %s", message_id, exc)

    def add_button(
        self,
        kind: str,
        handler: Handler,
        *,
        label: str | None = None,
        emoji: str | None = None,
        number: int | None = None,
        row: int | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> discord.ui.Button[Any]:
        """Add a button of ``kind`` whose clicks run ``handler(interaction, number, button)``."""
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label, emoji=emoji, custom_id=self.custom_id(kind, number), style=style
        )
        self.handlers[kind] = handler
        self.add_item(Routed(button, row=row))
        return button


class SourcesView(ExpiringView):
    """Previous/Next buttons paging through /sources."""

    def __init__(self, pages: Sequence[discord.Embed], lifetime: float) -> None:
        super().__init__(lifetime)
        self.pages = list(pages)
        self.page = 0
        self.previous = self.add_button("page-prev", self._previous, label="Previous")
        self.next = self.add_button("page-next", self._next, label="Next")
        self._update()

    def _update(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = max(0, min(len(self.pages) - 1, self.page + step))
        self._update()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self)

    async def _previous(self, interaction: discord.Interaction, *_: object) -> None:
        await self._turn(interaction, -1)

    async def _next(self, interaction: discord.Interaction, *_: object) -> None:
        await self._turn(interaction, 1)
