"""REST API v10 routes: login, commands, messages, DMs, interaction callbacks, webhooks."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ._gateway import GatewayServer
from ._world import (
    CREATE_PUBLIC_THREADS,
    DIRECT_MESSAGES,
    EPHEMERAL,
    GUILD_MESSAGES,
    LOADING,
    PUBLIC_THREAD,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    ApiError,
    Json,
    field_error,
    invalid_form,
    snowflake,
    too_long,
    validate_message,
)

Route = tuple[str, str, Callable[..., Any], bool]
# which callback types each interaction type accepts (2 command, 3 component, ...)
CALLBACKS = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,), 5: (4, 5, 6, 7)}


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


class RestServer(GatewayServer):
    """REST half of the stand-in; records requests, rejections and bot outputs."""

    def __init__(self, token: str, *, callback_deadline: float | None, **kw: Any) -> None:
        super().__init__(token, **kw)
        self.callback_deadline = callback_deadline
        self.interactions: dict[int, Json] = {}
        self.requests: list[Json] = []
        self.rejections: list[Json] = []
        self.unknown_routes: list[Json] = []
        self.allowed_mentions: list[Json] = []
        self.outputs: list[Json] = []
        self.suppressed: list[Json] = []  # dispatches the bot's intents exclude
        # test hook: awaited with each new bot message before the REST response is returned
        self.on_bot_message: Callable[[Json], Awaitable[None]] | None = None
        self._changed = asyncio.Event()
        self._route_table = self._routes()

    def _routes(self) -> list[Route]:
        apps, msgs = r"applications/(\d+)", r"channels/(\d+)/messages"
        hook = r"webhooks/(\d+)/([^/]+)"
        hook_msg = hook + r"/messages/(@original|\d+)"
        return [
            ("GET", "users/@me", lambda c: self.bot_user.payload(), True),
            ("GET", "oauth2/applications/@me", self._app_info, True),
            ("GET", "gateway", lambda c: {"url": self.gateway_url}, False),
            ("GET", "gateway/bot", self._gateway_bot, True),
            ("GET", apps + "/commands", self._get_commands, True),
            ("PUT", apps + "/commands", self._put_commands, True),
            ("GET", apps + r"/guilds/(\d+)/commands", self._get_commands, True),
            ("PUT", apps + r"/guilds/(\d+)/commands", self._put_commands, True),
            ("GET", r"channels/(\d+)", lambda c, cid: self.channel(cid), True),
            ("POST", r"channels/(\d+)/typing", self._typing, True),
            ("POST", msgs, self._post_message, True),
            ("GET", msgs + r"/(\d+)", lambda c, ch, mid: self.message(mid, ch), True),
            ("PATCH", msgs + r"/(\d+)", self._patch_message, True),
            ("DELETE", msgs + r"/(\d+)", self._delete_message, True),
            ("POST", msgs + r"/(\d+)/threads", self._start_thread, True),
            ("POST", "users/@me/channels", self._create_dm, True),
            ("POST", r"interactions/(\d+)/([^/]+)/callback", self._callback, False),
            ("POST", hook, self._followup, False),
            ("GET", hook_msg, self._webhook_get, False),
            ("PATCH", hook_msg, self._webhook_edit, False),
            ("DELETE", hook_msg, self._webhook_delete, False),
        ]

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        rec: Json = {"method": request.method, "path": tail, "query": dict(request.query)}
        rec.update(at=time.monotonic(), json=None, files=[])
        self.requests.append(rec)
        try:
            rec["json"], rec["files"] = await self._read_body(request)
            rec["status"], rec["response"] = 200, await self._route(request, rec)
            if rec["response"] is None:
                rec["status"] = 204
        except ApiError as exc:
            rec["status"], rec["response"] = exc.status, exc.payload
            if not any(r is rec for r in self.unknown_routes):
                self.rejections.append(rec)
        except Exception as exc:  # a stand-in bug: fail fast (no 5xx retry loop)
            self.server_errors.append(traceback.format_exc())
            rec["status"] = 400
            rec["response"] = {"code": 0, "message": f"stand-in internal error: {exc!r}"}
        if rec["status"] == 204:
            return web.Response(status=204)
        # discord.py's json_or_text() only parses exactly "application/json"
        body = json.dumps(rec["response"]).encode()
        headers = {"Content-Type": "application/json"}
        return web.Response(body=body, status=rec["status"], headers=headers)

    async def _route(self, request: web.Request, rec: Json) -> Any:
        for method, pattern, handler, auth in self._route_table:
            match = re.fullmatch(pattern, rec["path"])
            if method != request.method or not match:
                continue
            if auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            result = handler(rec, *match.groups())
            return await result if asyncio.iscoroutine(result) else result
        self.unknown_routes.append(rec)
        raise ApiError(404, 0, "404: Not Found")

    async def _read_body(self, request: web.Request) -> tuple[Any, list[Json]]:
        """JSON body, or multipart ``payload_json`` plus ``files[n]`` parts."""
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            body = json.loads(raw) if isinstance(raw, (str, bytes, bytearray)) else {}
            files = [
                {
                    "field": key,
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": len(value.file.read()),
                }
                for key, value in form.items()
                if isinstance(value, web.FileField)
            ]
            return body, files
        text = await request.text()
        try:
            return (json.loads(text) if text else None), []
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None

    # ---------------------------------------------------------------- login & misc
    def _app_info(self, call: Json) -> Json:
        return self.application_payload(self.allowed_privileged_intents)

    def _gateway_bot(self, call: Json) -> Json:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    def _typing(self, call: Json, channel_id: str) -> None:
        self.channel(channel_id)

    def _create_dm(self, call: Json) -> Json:
        rid = str((call["json"] or {}).get("recipient_id"))
        for user in self.users.values():
            if str(user.id) == rid and user is not self.bot_user:
                return self.dm_channel(user)
        raise ApiError(404, 10013, "Unknown User")

    # ---------------------------------------------------------------- app commands
    def _scope(self, app_id: str, guild_id: str | None) -> int | None:
        if int(app_id) != self.app_id:
            message = "You are not authorized to perform this action on this application"
            raise ApiError(403, 20012, message)
        if guild_id is not None and int(guild_id) != self.guild_id:
            raise ApiError(403, 50001, "Missing Access")
        return int(guild_id) if guild_id else None

    def _get_commands(self, call: Json, app_id: str, guild_id: str | None = None) -> Any:
        return self.commands.get(self._scope(app_id, guild_id), [])

    def _put_commands(self, call: Json, app_id: str, guild_id: str | None = None) -> Any:
        """Bulk overwrite; ids stay stable per (name, type) like Discord's."""
        scope = self._scope(app_id, guild_id)
        body: list[Json] = call["json"] or []
        errors: Json = {}
        for i, cmd in enumerate(body):
            bad = _command_errors(cmd)
            if bad:
                errors[str(i)] = bad
        if len(body) > 100:
            errors["_errors"] = too_long(100)["_errors"]
        if errors:
            raise invalid_form(errors)
        old = {(c["name"], c["type"]): c["id"] for c in self.commands.get(scope, [])}
        stored = []
        for cmd in body:
            entry: Json = {"type": 1, "default_member_permissions": None, "options": []}
            entry.update(cmd, application_id=str(self.app_id), version=str(snowflake()))
            entry["id"] = old.get((entry["name"], entry["type"])) or str(snowflake())
            if guild_id:
                entry["guild_id"] = guild_id
            stored.append(entry)
        self.commands[scope] = stored
        return stored

    # ---------------------------------------------------------------- messages
    def _record(self, kind: str, call: Json, msg: Json | None, iid: int | None = None) -> None:
        body = call.get("json")
        if isinstance(body, dict):
            data = body.get("data") if kind == "callback" else body
            if isinstance(data, dict) and "allowed_mentions" in data:
                entry = {"kind": kind, "allowed_mentions": data["allowed_mentions"]}
                self.allowed_mentions.append(entry)
        output = {"kind": kind, "message": copy.deepcopy(msg), "body": body}
        output.update(files=call.get("files", []), interaction_id=iid)
        output["index"] = len(self.outputs)
        self.outputs.append(output)
        self._changed.set()

    async def _sent(self, msg: Json) -> None:
        """Run the ``on_bot_message`` hook (e.g. a click before the bot hears back)."""
        if self.on_bot_message is not None:
            await self.on_bot_message(msg)

    async def _announce(self, event: str, msg: Json) -> None:
        """MESSAGE_CREATE/UPDATE for non-ephemeral messages, if intents allow."""
        if int(msg.get("flags") or 0) & EPHEMERAL:
            return
        dm = "guild_id" not in self.channel(msg["channel_id"])
        if self.intents & (DIRECT_MESSAGES if dm else GUILD_MESSAGES):
            await self.dispatch(event, self.gateway_message(msg, self.intents))
        else:
            self.suppressed.append({"t": event, "d": msg})

    async def _post_message(self, call: Json, channel_id: str) -> Json:
        channel, body = self.channel(channel_id), call["json"] or {}
        if "guild_id" in channel:
            thread = channel["type"] == PUBLIC_THREAD
            needed = VIEW_CHANNEL | (SEND_MESSAGES_IN_THREADS if thread else SEND_MESSAGES)
            if self.permissions(self.bot_user, channel) & needed != needed:
                raise ApiError(403, 50013, "Missing Permissions")
        elif channel["recipients"][0]["bot"]:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        validate_message(body, call["files"])
        msg = self.new_message(channel, self.bot_user, body, call["files"])
        self._record("message", call, msg)
        await self._announce("MESSAGE_CREATE", msg)
        await self._sent(msg)
        return msg

    async def _start_thread(self, call: Json, channel_id: str, mid: str) -> Json:
        """``POST /channels/{id}/messages/{id}/threads``: a public thread from a message."""
        channel, body = self.channel(channel_id), call["json"] or {}
        msg = self.message(mid, channel_id)
        if channel.get("type") != 0:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        needed = VIEW_CHANNEL | CREATE_PUBLIC_THREADS
        if self.permissions(self.bot_user, channel) & needed != needed:
            raise ApiError(403, 50013, "Missing Permissions")
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            message = "Must be between 1 and 100 in length."
            raise invalid_form({"name": field_error("BASE_TYPE_BAD_LENGTH", message)})
        if int(mid) in self.threads:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = self.new_thread(channel, name, self.bot_user, int(mid))
        msg["thread"] = thread
        self._record("thread", call, None)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def _patch_message(self, call: Json, channel_id: str, mid: str) -> Json:
        msg = self.message(mid, channel_id)
        if msg["author"]["id"] != str(self.bot_user.id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self.apply_edit(msg, call["json"] or {}, call["files"])
        self._record("edit", call, msg)
        await self._announce("MESSAGE_UPDATE", msg)
        return msg

    async def _delete_message(self, call: Json, channel_id: str, mid: str) -> None:
        msg = self.message(mid, channel_id)
        if msg["author"]["id"] != str(self.bot_user.id):
            raise ApiError(403, 50013, "Missing Permissions")
        await self._remove(msg, call, "delete")

    async def _remove(self, msg: Json, call: Json, kind: str, iid: int | None = None) -> None:
        del self.messages[int(msg["id"])]
        self._record(kind, call, msg, iid)
        if not int(msg["flags"]) & EPHEMERAL:
            event = {"id": msg["id"], "channel_id": msg["channel_id"]}
            guild_id = self.channel(msg["channel_id"]).get("guild_id")
            if guild_id:
                event["guild_id"] = guild_id
            await self.dispatch("MESSAGE_DELETE", event)

    # ---------------------------------------------------------------- interactions
    def _by_token(self, app_id: str, token: str) -> Json:
        for inter in self.interactions.values():
            # no follow-ups before the initial response (Discord: Unknown Webhook)
            if inter["token"] == token and int(app_id) == self.app_id and inter["responded"]:
                return inter
        raise ApiError(404, 10015, "Unknown Webhook")

    def _bot_reply(self, inter: Json, body: Json, files: Any = (), flags: int = 0) -> Json:
        """A message authored by the bot on behalf of an interaction."""
        p = inter["payload"]
        meta = {"id": p["id"], "type": p["type"], "user": inter["user"].payload()}
        meta["authorizing_integration_owners"] = p["authorizing_integration_owners"]
        extra: Json = {"webhook_id": str(self.app_id), "application_id": str(self.app_id)}
        extra.update(interaction_metadata=meta, type=20 if p["type"] == 2 else 0)
        extra["flags"] = flags | int(body.get("flags") or 0)
        channel = self.channel(p["channel_id"])
        return self.new_message(channel, self.bot_user, body, files, **extra)

    async def _callback(self, call: Json, iid: str, token: str) -> Json | None:
        """``POST /interactions/{id}/{token}/callback`` (``?with_response=1``)."""
        inter = self.interactions.get(int(iid))
        if inter is None or inter["token"] != token:
            raise ApiError(404, 10062, "Unknown interaction")
        age = time.monotonic() - inter["created"]
        if self.callback_deadline is not None and age > self.callback_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter["responded"]:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = call["json"] or {}
        rtype, data, itype = body.get("type"), body.get("data") or {}, inter["payload"]["type"]
        has_message = "message" in inter["payload"]
        if rtype not in CALLBACKS.get(itype, ()) or (rtype in (6, 7) and not has_message):
            raise invalid_form({"type": field_error("BASE_TYPE_CHOICES", "Invalid type")})
        msg: Json | None = None
        if rtype == 4:
            validate_message(data, call["files"])
            msg = self._bot_reply(inter, data, call["files"])
        elif rtype == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            msg = self._bot_reply(inter, {}, flags=flags)
        elif rtype in (6, 7):
            msg = self.message(inter["payload"]["message"]["id"])
            if rtype == 7:
                self.apply_edit(msg, data, call["files"])
        inter.update(responded=True, response_type=rtype)
        inter["original_id"] = int(msg["id"]) if msg else None
        self._record("callback", call, msg, int(iid))
        if msg is not None and rtype != 6:
            await self._announce("MESSAGE_UPDATE" if rtype == 7 else "MESSAGE_CREATE", msg)
        if msg is not None and rtype == 4:
            await self._sent(msg)
        if not _flag(call["query"].get("with_response")):
            return None
        flags = int(msg["flags"]) if msg else 0
        info = {"id": iid, "type": itype, "response_message_id": msg and msg["id"]}
        info["response_message_loading"] = rtype == 5
        info["response_message_ephemeral"] = bool(flags & EPHEMERAL)
        resource: Json = {"type": rtype}
        if msg is not None:
            resource["message"] = copy.deepcopy(msg)
        return {"interaction": info, "resource": resource}

    async def _followup(self, call: Json, app_id: str, token: str) -> Json | None:
        inter, body = self._by_token(app_id, token), call["json"] or {}
        validate_message(body, call["files"])
        msg = self._bot_reply(inter, body, call["files"])
        self._record("followup", call, msg, int(inter["payload"]["id"]))
        await self._announce("MESSAGE_CREATE", msg)
        return msg if _flag(call["query"].get("wait")) else None

    def _hook_message(self, app_id: str, token: str, mid: str) -> tuple[Json, Json]:
        inter = self._by_token(app_id, token)
        target = inter.get("original_id") if mid == "@original" else int(mid)
        if target is None:
            raise ApiError(404, 10008, "Unknown Message")
        return inter, self.message(target)

    def _webhook_get(self, call: Json, app_id: str, token: str, mid: str) -> Json:
        return self._hook_message(app_id, token, mid)[1]

    async def _webhook_edit(self, call: Json, app_id: str, token: str, mid: str) -> Json:
        inter, msg = self._hook_message(app_id, token, mid)
        self.apply_edit(msg, call["json"] or {}, call["files"])
        self._record("webhook_edit", call, msg, int(inter["payload"]["id"]))
        await self._announce("MESSAGE_UPDATE", msg)
        await self._sent(msg)
        return msg

    async def _webhook_delete(self, call: Json, app_id: str, token: str, mid: str) -> None:
        inter, msg = self._hook_message(app_id, token, mid)
        await self._remove(msg, call, "webhook_delete", int(inter["payload"]["id"]))


def _command_errors(cmd: Json) -> Json:
    """Name/description/option-count checks Discord applies to app commands."""
    bad: Json = {}
    for j, item in enumerate([cmd, *cmd.get("options", [])]):
        errors: Json = {}
        name, desc = str(item.get("name", "")), str(item.get("description", ""))
        lower = j or cmd.get("type", 1) == 1  # chat-input names are lowercase
        if not re.fullmatch(r"[-_\w]{1,32}", name) or (lower and name != name.lower()):
            errors["name"] = field_error("APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if (j or cmd.get("type", 1) == 1) and not 1 <= len(desc) <= 100:
            message = "Must be between 1 and 100 in length."
            errors["description"] = field_error("BASE_TYPE_BAD_LENGTH", message)
        if errors and j:
            bad.setdefault("options", {})[str(j - 1)] = errors
        elif errors:
            bad.update(errors)
    if len(cmd.get("options", [])) > 25:
        bad["options"] = too_long(25)
    return bad
