"""Local Discord stand-in (REST ``/api/v10`` + gateway) for end-to-end bot tests.

Start a :class:`DiscordStandIn` (``async with standin_session() as standin``), run
the unmodified discord.py client against it (:func:`running_client`), simulate
users with ``send_slash_command``/``send_message``/``click_button`` and assert on
what it recorded (``outputs``, ``rejections``, ``unknown_routes``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Self

import discord
import yarl
from aiohttp import web

from ._rest import RestServer
from ._world import EVERYONE_PERMS, ApiError, Json, StandInUser, snowflake, validate_message

__all__ = [
    "ApiError",
    "DiscordStandIn",
    "StandInUser",
    "patch_discord",
    "run",
    "running_client",
    "standin_session",
    "validate_message",
]

UserRef = str | StandInUser


class DiscordStandIn(RestServer):
    """aiohttp server imitating Discord's REST API v10 and gateway on 127.0.0.1.

    Users: ``users["member"]`` (plain), ``["admin"]`` (Manage Server via the
    Moderators role), ``["owner"]``, ``["other_bot"]``, ``["outsider"]`` (no
    guild) and ``bot_user``. Channels: ``general_id``, ``commands_channel_id``
    and ``readonly_channel_id`` (the bot may not post there).
    """

    def __init__(
        self,
        *,
        token: str = "standin.bot.token",
        heartbeat_interval_ms: int = 1500,
        allowed_privileged_intents: int = 0,
        callback_deadline: float | None = 3.0,
        ack_delay: float = 0.02,
    ) -> None:
        super().__init__(
            token,
            callback_deadline=callback_deadline,
            heartbeat_interval_ms=heartbeat_interval_ms,
            allowed_privileged_intents=allowed_privileged_intents,
            ack_delay=ack_delay,
        )
        self._runner: web.AppRunner | None = None

    async def start(self) -> Self:
        """Listen on an ephemeral 127.0.0.1 port."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/resume-gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def close(self) -> None:
        """Close gateway sockets (1001) and stop the server."""
        await self._close_gateway()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    def validate(self, body: Json, files: Sequence[Json] = (), *, partial: bool = False) -> None:
        """Apply Discord's message checks to ``body`` (raises :class:`ApiError`)."""
        validate_message(body, files, partial=partial)

    # ---------------------------------------------------------------- driver
    def find_command(self, name: str, *, guild: bool = True) -> Json:
        """The synced chat-input command (guild scope first) or LookupError."""
        for scope in (self.guild_id, None) if guild else (None,):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd["type"] == 1:
                    return cmd
        raise LookupError(f"/{name} is not synced (guild={guild}): {self.commands}")

    def _new_interaction(self, itype: int, user: StandInUser, channel: Json, data: Json) -> Json:
        iid, in_guild = snowflake(), "guild_id" in channel
        payload: Json = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "data": data,
            "token": "itok." + secrets.token_urlsafe(24),
            "version": 1,
            "channel": channel,
            "channel_id": channel["id"],
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "context": 0 if in_guild else 1,
            "app_permissions": str(EVERYONE_PERMS),
            "authorizing_integration_owners": {"1": str(user.id)},
        }
        if in_guild:
            member = self.member_payload(user)
            member["permissions"] = str(self.permissions(user, channel))
            payload.update(
                guild_id=str(self.guild_id),
                guild_locale="en-US",
                guild={"id": str(self.guild_id), "locale": "en-US", "features": []},
                member=member,
                app_permissions=str(self.permissions(self.bot_user, channel)),
                authorizing_integration_owners={"0": str(self.guild_id)},
            )
        else:
            payload["user"] = user.payload()
        record = {"payload": payload, "token": payload["token"], "user": user}
        record.update(created=time.monotonic(), responded=False, original_id=None)
        self.interactions[iid] = record
        return payload

    async def send_slash_command(
        self,
        name: str,
        options: dict[str, Any] | list[Json] | None = None,
        *,
        user: UserRef = "member",
        channel_id: int | None = None,
        guild: bool = True,
    ) -> Json:
        """Dispatch INTERACTION_CREATE (type 2) for a synced command.

        ``options`` maps option names to values (user options take a user key or
        :class:`StandInUser`) or is a raw Discord option list. Raises
        PermissionError when Discord would hide the command from ``user``.
        """
        cmd, who = self.find_command(name, guild=guild), self.user(user)
        channel = self.channel(channel_id or self.commands_channel_id)
        if not guild:
            channel = self.dm_channel(who)
        needed = int(cmd.get("default_member_permissions") or 0)
        if guild and self.permissions(who, channel) & needed != needed:
            raise PermissionError(f"{who.username} cannot use /{name} (needs {needed})")
        if not guild and (
            cmd.get("dm_permission") is False or 1 not in (cmd.get("contexts") or [1])
        ):
            raise PermissionError(f"/{name} is not available in DMs")
        data: Json = {"id": cmd["id"], "name": name, "type": 1}
        if isinstance(options, dict):
            types = {o["name"]: o["type"] for o in cmd.get("options", [])}
            if unknown := set(options) - set(types):
                raise ValueError(f"/{name} has no options {unknown}; it has {set(types)}")
            options = [{"name": k, "type": types[k], "value": v} for k, v in options.items()]
        data["options"] = options or []
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        users = [self.user(o["value"]) for o in data["options"] if o.get("type") == 6]
        if users:
            for opt in data["options"]:
                if opt.get("type") == 6:
                    opt["value"] = str(self.user(opt["value"]).id)
            data["resolved"] = {"users": {str(u.id): u.payload() for u in users}}
            if guild:
                members = {str(u.id): self.member_payload(u, with_user=False) for u in users}
                data["resolved"]["members"] = members
        payload = self._new_interaction(2, who, channel, data)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def click_button(
        self,
        message: Json | int | str,
        custom_id: str,
        *,
        user: UserRef = "member",
        values: list[str] | None = None,
    ) -> Json:
        """Dispatch a component interaction (type 3) on a stored bot message.

        Works for select menus too (pass ``values``).
        """
        msg = self.message(message["id"] if isinstance(message, dict) else message)
        comps = [c for row in msg["components"] for c in row.get("components", [row])]
        comp = next((c for c in comps if c.get("custom_id") == custom_id), None)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {msg['id']}: {comps}")
        data: Json = {"custom_id": custom_id, "component_type": comp["type"]}
        if values is not None:
            data["values"] = values
        channel = self.channel(msg["channel_id"])
        payload = self._new_interaction(3, self.user(user), channel, data)
        payload["message"] = self.gateway_message(msg, self.intents)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def click_when_sent(
        self,
        label: str,
        *,
        user: UserRef = "member",
        hold: float = 0.1,
    ) -> asyncio.Future[Json]:
        """Click the button ``label`` (or emoji) of the bot's next message carrying it at once,
        before the REST response that tells the bot its message id (held ``hold`` seconds).

        Resolves to the click's interaction payload once the held response is let go. One-shot.
        """
        clicked: asyncio.Future[Json] = asyncio.get_running_loop().create_future()

        async def hook(msg: Json) -> None:
            comps = [c for row in msg.get("components") or [] for c in row.get("components", [])]
            named = [
                c for c in comps if label in (c.get("label"), (c.get("emoji") or {}).get("name"))
            ]
            if not named or clicked.done():
                return
            self.on_bot_message = None
            payload = await self.click_button(msg, named[0]["custom_id"], user=user)
            await asyncio.sleep(hold)  # the click reaches the bot before the response does
            clicked.set_result(payload)

        self.on_bot_message = hook
        return clicked

    async def send_message(
        self,
        content: str,
        *,
        author: UserRef = "member",
        channel_id: int | None = None,
        mentions: Sequence[UserRef] = (),
        referenced_message: Json | None = None,
        mention_author: bool = True,
        dm: bool = False,
    ) -> Json:
        """A user posts a message; the bot gets MESSAGE_CREATE as Discord sends it.

        Mentions come from ``<@id>`` in content; ``mentions`` prepends missing
        ones. A reply mentions the replied-to author unless ``mention_author`` is
        false (the client's "@ on/off" switch). DMs carry no ``guild_id`` (and no
        CHANNEL_CREATE, like Discord).
        """
        who = self.user(author)
        tags = [f"<@{self.user(m).id}>" for m in mentions]
        tags = [t for t in tags if t not in content]
        channel = self.dm_channel(who) if dm else self.channel(channel_id or self.general_id)
        body: Json = {"content": " ".join([*tags, content])}
        if referenced_message is not None:
            body["message_reference"] = {"message_id": referenced_message["id"]}
            if not mention_author:
                parse = ["users", "roles", "everyone"]
                body["allowed_mentions"] = {"parse": parse, "replied_user": False}
        msg = self.new_message(channel, who, body)
        await self._announce("MESSAGE_CREATE", msg)
        return msg

    def mark(self) -> int:
        """Current output count; pass as ``start=`` to ignore earlier outputs."""
        return len(self.outputs)

    async def wait_for_output(
        self, predicate: Callable[[Json], bool], *, timeout: float = 10.0, start: int = 0
    ) -> Json:
        """Wait (bounded) for a recorded bot output matching ``predicate``.

        Outputs are dicts: ``kind`` (message, edit, delete, callback, followup,
        webhook_edit, webhook_delete), ``message`` (snapshot), ``body`` (request
        JSON), ``files``, ``interaction_id``, ``index``.
        """
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            self._changed.clear()
            for output in self.outputs[start:]:
                if predicate(output):
                    return output
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        raise AssertionError(
            f"no matching bot output within {timeout}s; outputs={self.outputs[start:]}"
            f" rejections={self.rejections} unknown_routes={self.unknown_routes}"
            f" server_errors={self.server_errors}"
        )

    async def wait_for_message(
        self,
        predicate: Callable[[Json], bool] | None = None,
        *,
        channel_id: int | None = None,
        reply_to: Json | None = None,
        timeout: float = 10.0,
        start: int = 0,
    ) -> Json:
        """Wait for a bot output carrying a message (not a delete) matching filters."""

        def match(output: Json) -> bool:
            msg = output["message"]
            if not msg or output["kind"] in ("delete", "webhook_delete"):
                return False
            if channel_id is not None and msg["channel_id"] != str(channel_id):
                return False
            ref = msg.get("message_reference") or {}
            if reply_to is not None and ref.get("message_id") != reply_to["id"]:
                return False
            return predicate is None or predicate(output)

        return await self.wait_for_output(match, timeout=timeout, start=start)

    async def wait_for_response(
        self,
        interaction: Json,
        predicate: Callable[[Json], bool] | None = None,
        *,
        timeout: float = 10.0,
        start: int = 0,
    ) -> Json:
        """Wait for the bot's callback/follow-up/edit for ``interaction``."""
        iid = int(interaction["id"])

        def match(output: Json) -> bool:
            return output["interaction_id"] == iid and (predicate is None or predicate(output))

        return await self.wait_for_output(match, timeout=timeout, start=start)

    def assert_clean(self) -> None:
        """Fail on any rejected request, unknown route or stand-in error."""
        assert not self.rejections, f"rejected requests: {self.rejections}"
        assert not self.unknown_routes, f"unknown routes: {self.unknown_routes}"
        assert not self.server_errors, f"stand-in errors: {self.server_errors}"


# -------------------------------------------------------------------- helpers
@contextlib.contextmanager
def patch_discord(standin: DiscordStandIn) -> Iterator[None]:
    """Point ``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` at the stand-in."""
    route, ws_cls = discord.http.Route, discord.gateway.DiscordWebSocket
    old_base, old_gateway = route.BASE, ws_cls.DEFAULT_GATEWAY
    route.BASE = standin.api_base
    ws_cls.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    try:
        yield
    finally:
        route.BASE = old_base
        ws_cls.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def standin_session(**kwargs: Any) -> AsyncIterator[DiscordStandIn]:
    """Start a stand-in, patch discord.py to use it, clean both up afterwards."""
    async with DiscordStandIn(**kwargs) as standin:
        with patch_discord(standin):
            yield standin


@contextlib.asynccontextmanager
async def running_client(
    client: discord.Client,
    standin: DiscordStandIn,
    *,
    timeout: float = 10.0,
    guild_ready_timeout: float | None = None,
) -> AsyncIterator[discord.Client]:
    """Run ``client.start()`` until ready; close the client cleanly on exit.

    ``guild_ready_timeout`` optionally shortens discord.py's client-side wait
    (default 2 s after the last GUILD_CREATE) before ``on_ready``.
    """
    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    task = asyncio.create_task(client.start(standin.token))
    try:
        deadline = time.monotonic() + timeout
        while not client.is_ready():
            if task.done():
                task.result()
                raise RuntimeError("client stopped before becoming ready")
            if time.monotonic() > deadline:
                raise TimeoutError(f"client not ready within {timeout}s")
            await asyncio.sleep(0.02)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
