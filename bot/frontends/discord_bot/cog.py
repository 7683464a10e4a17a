"""The commands (/ask, /sources, /help, /reindex), mentions, DMs, replies and answer buttons.

Everything goes through :class:`bot.service.service.Service` (retrieval in worker threads,
metrics, the question log). Answers are embeds from :mod:`.formatting`; every message is sent
with no mentions allowed (set on the bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.answer import Answer
from bot.core.build import describe_build
from bot.core.pipeline.engine import Engine
from bot.errors import BadInput, NewsbotError, Unavailable
from bot.frontends.shared import Cooldowns, FollowUps
from bot.service.limits import Limits
from bot.service.service import Request

from .answer_view import AnswerView
from .formatting import (
    answer_embed,
    cooldown_message,
    help_embed,
    passage_embed,
    question_from_title,
    sources_pages,
)
from .guards import (
    as_sentence,
    channel_allowed,
    has_role,
    log_question,
    strip_mentions,
)
from .rating import rate
from .threads import can_start_thread, meant_for, start_thread, started_by
from .views import APOLOGY, SourcesView, reply_privately

if TYPE_CHECKING:
    from .client import NewsBot

logger = logging.getLogger(__name__)

DEFER_AFTER = 1.5  # seconds: a slower answer is deferred ("thinking…") within Discord's 3 s
REMEMBERED_ANSWERS = 4096  # answer message id → question, for follow-up replies
UNAVAILABLE = "The index is not available right now (it may be rebuilding); try again shortly."
EMPTY_MENTION = "Ask me a question after the mention, e.g. “@me who is the Russian ambassador?”"


def error_reply(exc: NewsbotError) -> str:
    """The one mapping of the error hierarchy to what the bot replies."""
    if isinstance(exc, BadInput):
        return as_sentence(str(exc))
    if isinstance(exc, Unavailable):
        return UNAVAILABLE
    return APOLOGY


class QuestionsCog(commands.Cog, name="Questions"):
    """Answers questions from slash commands, mentions, DMs and replies to earlier answers."""

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.service = bot.service
        self.config = bot.settings.discord
        self.limits = Limits(
            max_question_chars=self.config.max_question_chars, max_k=self.config.quotes_per_answer
        )
        self.cooldowns = Cooldowns(self.config.cooldown_seconds)
        self.follow_ups = FollowUps(REMEMBERED_ANSWERS)  # answer message id → its question
        self.threads = FollowUps(REMEMBERED_ANSWERS)  # thread id → its question
        self.views = bot.views

    async def cog_unload(self) -> None:
        """Stop every live view (bot shutting down)."""
        await self.views.close()

    # ------------------------------------------------------------------ slash commands
    @app_commands.command(
        name="ask", description="Ask the news articles; get the passages that answer"
    )
    @app_commands.describe(question="Your question about the articles")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        """/ask: the answer as an embed with "More" and "Full passage" buttons."""
        if not await self._channel_ok(interaction):
            return
        if problem := self._question_problem(question):
            await reply_privately(interaction, problem)
            return
        if wait := self.cooldowns.acquire(interaction.user.id):
            await reply_privately(interaction, cooldown_message(wait))
            return
        await self._answer_interaction(interaction, question, None, 0, "slash")

    @app_commands.command(name="sources", description="The articles the answers come from")
    async def sources(self, interaction: discord.Interaction) -> None:
        """/sources: the corpus metadata, in pages with buttons when long."""
        if not await self._channel_ok(interaction):
            return
        pages = sources_pages(self.service.sources())
        if len(pages) == 1:
            await interaction.response.send_message(embed=pages[0])
            return
        view = SourcesView(pages, self.config.button_timeout_seconds)
        self.views.add(view)  # before sending: a click may come back before the response does
        response = await interaction.response.send_message(embed=pages[0], view=view)
        self._bind(view, interaction.channel_id, response.message_id)

    @app_commands.command(name="help", description="What this bot does and how to ask")
    async def help(self, interaction: discord.Interaction) -> None:
        """/help, privately."""
        name = self.bot.user.name if self.bot.user else "newsbot"
        embed = help_embed(
            self.config.max_question_chars,
            self.config.quotes_per_answer,
            name,
            self.config.read_messages,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="reindex", description="Rebuild the index from the articles")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        """/reindex: rebuild and swap the index (owner, Manage Server or the admin role only)."""
        if not await self._may_reindex(interaction):
            role = f", or the {self.config.admin_role} role," if self.config.admin_role else ""
            await reply_privately(
                interaction,
                f"Sorry, only the bot's owner and members with Manage Server{role} "
                "may rebuild the index.",
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = self.service.question_log.hash_user(interaction.user.id)
        logger.info("reindex requested by user=%s", user)
        try:
            report = await self.service.reindex()
        except Exception as exc:
            logger.exception("reindex failed")
            text = f"The rebuild failed ({exc}); the previous index is still in use."
            await interaction.followup.send(text[:1900], ephemeral=True)
            return
        summary = describe_build(report).replace("(see above)", "(see the bot's log)")
        await interaction.followup.send(summary, ephemeral=True)

    async def _may_reindex(self, interaction: discord.Interaction) -> bool:
        user = interaction.user
        perms = interaction.permissions
        if perms.manage_guild or perms.administrator:
            return True
        if has_role(user, self.config.admin_role):
            return True
        return await self.bot.is_owner(user)

    # ------------------------------------------------------------------ mentions and DMs
    @commands.Cog.listener("on_message")
    async def answer_message(self, message: discord.Message) -> None:
        """A question in a DM, or a mention (or a reply to an answer) in an allowed channel."""
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.webhook_id or message.type not in (
            discord.MessageType.default,
            discord.MessageType.reply,
        ):
            return
        if message.guild is not None:
            role = message.guild.self_role
            mentioned = any(u.id == me.id for u in message.mentions) or (
                role is not None and role in message.role_mentions
            )
            if not mentioned and not (self.config.read_messages and meant_for(message, me.id)):
                return
            if not channel_allowed(
                self.config.allowed_channels, message.channel, message.channel.id
            ):
                return  # outside the allowlist the bot stays silent
        try:
            await self._answer_message(message)
        except Exception:
            logger.exception("answering message %s failed", message.id)
            with contextlib.suppress(discord.HTTPException):
                await message.reply(APOLOGY, mention_author=False)

    async def _answer_message(self, message: discord.Message) -> None:
        assert self.bot.user is not None
        role = message.guild.self_role if message.guild else None
        question = strip_mentions(message.content, self.bot.user.id, role.id if role else None)
        if not question:
            await message.reply(EMPTY_MENTION, mention_author=False)
            return
        if problem := self._question_problem(question):
            await message.reply(problem, mention_author=False)
            return
        if wait := self.cooldowns.acquire(message.author.id):
            await message.reply(cooldown_message(wait), mention_author=False)
            return
        context = await self._context_for(message)
        via = "dm" if message.guild is None else "mention"
        where = (message.guild, message.channel.id, message.author.id)
        outcome = await self._ask(question, context, 0, where, via)
        if isinstance(outcome, str):
            await message.reply(outcome, mention_author=False)
            return
        engine, answer = outcome
        view = self._answer_view(answer, engine, context)
        embed = answer_embed(answer)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        thread = await self._thread_for(message.channel, message, answer.question)
        if thread is not None:
            sent = await thread.send(embed=embed, **extra)
        else:
            sent = await message.reply(embed=embed, mention_author=False, **extra)
        self._remember(sent.id, answer.question, view, sent.channel.id)

    async def _context_for(self, message: discord.Message) -> str | None:
        """The earlier question when ``message`` replies to one of the bot's answers, or the
        question a thread the bot started was named from."""
        ref = message.reference
        if self.bot.user is None:
            return None
        if ref is None or ref.message_id is None:
            if started_by(message.channel, self.bot.user.id):
                thread = message.channel
                return self.threads.question_for(thread.id) or getattr(thread, "name", None)
            return None
        remembered = self.follow_ups.question_for(ref.message_id)
        if remembered:
            return remembered
        earlier = ref.resolved if isinstance(ref.resolved, discord.Message) else None
        earlier = earlier or ref.cached_message
        if earlier is None:
            try:
                earlier = await message.channel.fetch_message(ref.message_id)
            except discord.HTTPException:
                return None
        if earlier.author.id != self.bot.user.id:
            return None
        for embed in earlier.embeds:
            if question := question_from_title(embed.title):
                return question
        return None

    # ------------------------------------------------------------------ buttons
    async def show_more(self, interaction: discord.Interaction, view: AnswerView) -> None:
        """ "More": the next quotes for the same question, as a new answer; "More" then retires."""
        answer = view.answer
        offset = answer.offset + len(answer.quotes)
        await self._answer_interaction(interaction, answer.question, view.context, offset, "more")
        if view.more_button is not None and not view.expired:
            view.more_button.disabled = True
            await view.refresh()

    async def show_passage(
        self, interaction: discord.Interaction, view: AnswerView, number: int
    ) -> None:
        """ "Full passage": the quoted passage with its neighbours, from the answer's own index."""
        quote = view.answer.quotes[number]
        if view.engine is not None:
            paragraphs = await asyncio.to_thread(
                self.service.surrounding, view.engine, quote.passage_id
            )
        else:
            paragraphs = [(quote.passage_id, quote.text)]
        embed = passage_embed(quote, paragraphs)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def rate(
        self, interaction: discord.Interaction, view: AnswerView, vote: str, quote: int | None
    ) -> None:
        """👍 / 👎 / "Wrong source": one vote per person per answer, through the service."""
        await rate(self.service, interaction, view, vote, quote)

    # ------------------------------------------------------------------ shared steps
    async def _ask(
        self,
        question: str,
        context: str | None,
        offset: int,
        where: tuple[discord.Guild | None, int | None, int],
        via: str,
    ) -> tuple[Engine, Answer] | str:
        """Ask the service and log the question: the engine that answered (its passage ids) and
        the answer, or the reply saying why there is none. ``where`` is (guild, channel, user)."""
        guild, channel_id, user_id = where
        request = Request(
            question,
            frontend="discord",
            k=self.config.quotes_per_answer,
            user_id=user_id,
            context=context,
            offset=offset,
            limits=self.limits,
        )
        began = time.perf_counter()
        logged = (guild, channel_id, self._user(user_id), question, context)
        try:
            engine, answer = await self.service.ask_with_engine(request)
        except NewsbotError as exc:
            log_question(*logged, None, began, via, str(exc))
            return error_reply(exc)
        log_question(*logged, answer, began, via)
        return engine, answer

    async def _answer_interaction(
        self,
        interaction: discord.Interaction,
        question: str,
        context: str | None,
        offset: int,
        via: str,
    ) -> None:
        """Answer an interaction; defer first if the answer takes more than DEFER_AFTER."""
        where = (interaction.guild, interaction.channel_id, interaction.user.id)
        task = asyncio.ensure_future(self._ask(question, context, offset, where, via))
        done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
        if not done:
            await interaction.response.defer(thinking=True)
        outcome = await task
        if isinstance(outcome, str):
            if interaction.response.is_done():
                await interaction.edit_original_response(content=outcome)
            else:
                await interaction.response.send_message(outcome, ephemeral=True)
            return
        engine, answer = outcome
        view = self._answer_view(answer, engine, context)
        embed = answer_embed(answer)
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        if interaction.response.is_done():
            sent = await interaction.edit_original_response(embed=embed, view=view)
            message_id: int | None = sent.id
        else:
            response = await interaction.response.send_message(embed=embed, **extra)
            message_id = response.message_id
        self._remember(message_id, answer.question, view, interaction.channel_id)
        channel = interaction.channel
        if via == "slash" and message_id is not None and isinstance(channel, discord.TextChannel):
            starter = channel.get_partial_message(message_id)  # the answer starts the thread
            await self._thread_for(channel, starter, answer.question)

    async def _thread_for(
        self,
        channel: object,
        starter: discord.Message | discord.PartialMessage,
        question: str,
    ) -> discord.Thread | None:
        """A new thread on ``starter`` when answer_in_thread is on and ``channel`` allows one."""
        if not (self.config.answer_in_thread and can_start_thread(channel)):
            return None
        thread = await start_thread(starter, question)
        if thread is not None:
            self.threads.remember(thread.id, question)
        return thread

    def _answer_view(
        self, answer: Answer, engine: Engine | None, context: str | None
    ) -> AnswerView | None:
        if not answer.answered:
            return None
        lifetime = self.config.button_timeout_seconds
        view = AnswerView(self, answer, engine, context=context, lifetime=lifetime)
        self.views.add(view)  # before sending: a click may come back before the response does
        return view

    def _remember(
        self,
        message_id: int | None,
        question: str,
        view: AnswerView | None,
        channel_id: int | None,
    ) -> None:
        """Keep the question of an answer message (for replies) and where its view is shown."""
        if message_id is not None:
            self.follow_ups.remember(message_id, question)
        if view is not None:
            self._bind(view, channel_id, message_id)

    def _bind(
        self, view: SourcesView | AnswerView, channel_id: int | None, message_id: int | None
    ) -> None:
        if channel_id is not None:
            view.bind(self.bot, channel_id, message_id)

    def _user(self, user_id: int) -> str | None:
        """The salted hash that stands for a user in logs (never the id itself)."""
        return self.service.question_log.hash_user(user_id)

    def _question_problem(self, question: str) -> str | None:
        """Why a question cannot be taken before searching (too long), else None."""
        try:
            self.limits.question(question)
        except BadInput as exc:
            return error_reply(exc)
        return None

    async def _channel_ok(self, interaction: discord.Interaction) -> bool:
        """Whether the allowlist admits the interaction's channel; if not, say where to ask."""
        if interaction.guild_id is None:
            return True  # DMs are not server channels; the allowlist does not cover them
        allowed = self.config.allowed_channels
        if channel_allowed(allowed, interaction.channel, interaction.channel_id):
            return True
        where = ", ".join(f"<#{c}>" for c in allowed[:10])
        await reply_privately(interaction, f"I only answer in {where}; please ask there.")
        return False
