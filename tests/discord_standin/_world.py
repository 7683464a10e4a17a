"""Stand-in world state: ids, users, guild, channels, permissions, messages, limits."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

ALL_PERMS = (1 << 51) - 1
ADMINISTRATOR, MANAGE_GUILD = 1 << 3, 1 << 5
VIEW_CHANNEL, SEND_MESSAGES = 1 << 10, 1 << 11
CREATE_PUBLIC_THREADS, SEND_MESSAGES_IN_THREADS = 1 << 35, 1 << 38
# add reactions, view, send, embed links, attach files, history, ext. emoji, app commands,
# create public threads, send messages in threads
EVERYONE_PERMS = sum(1 << b for b in (6, 10, 11, 14, 15, 16, 18, 31, 35, 38))
PUBLIC_THREAD = 11
GUILD_MEMBERS, GUILD_PRESENCES, GUILD_MESSAGES = 1 << 1, 1 << 8, 1 << 9
DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 12, 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
EPHEMERAL, LOADING = 64, 128
JOINED = "2024-01-01T00:00:00+00:00"
_counter = itertools.count(1)


def snowflake() -> int:
    """Return a fresh, increasing Discord-style snowflake."""
    millis = int(time.time() * 1000) - 1420070400000
    return (millis << 22) | (next(_counter) % (1 << 22))


def now_iso() -> str:
    """ISO-8601 UTC timestamp like Discord's."""
    return datetime.now(UTC).isoformat()


def field_error(code: str, message: str) -> Json:
    """Discord's per-field ``{"_errors": [...]}`` entry."""
    return {"_errors": [{"code": code, "message": message}]}


def too_long(limit: int) -> Json:
    return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


class ApiError(Exception):
    """A Discord-style JSON error response (raised by route handlers)."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload: Json = {"code": code, "message": message}
        if errors:
            self.payload["errors"] = errors


def invalid_form(errors: Json) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


@dataclass(frozen=True)
class StandInUser:
    """A simulated Discord user (a guild member unless ``in_guild`` is false)."""

    id: int
    username: str
    bot: bool = False
    role_ids: tuple[int, ...] = ()
    in_guild: bool = True

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


def _embed_errors(embed: Json) -> tuple[Json, int]:
    """Per-embed limit violations and the embed's character count."""
    bad: Json = {}
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        text = str(embed.get(key) or "")
        total += len(text)
        if len(text) > limit:
            bad[key] = too_long(limit)
    for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
        text = str((embed.get(key) or {}).get(sub) or "")
        total += len(text)
        if len(text) > limit:
            bad[key] = {sub: too_long(limit)}
    fields = embed.get("fields") or []
    if len(fields) > 25:
        bad["fields"] = too_long(25)
    for j, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = str(fld.get(key) or "")
            total += len(text)
            if not text:
                error = field_error("BASE_TYPE_REQUIRED", "This field is required")
            elif len(text) > limit:
                error = too_long(limit)
            else:
                continue
            bad.setdefault("fields", {}).setdefault(str(j), {})[key] = error
    return bad, total


def validate_message(body: Json, files: Sequence[Json] = (), *, partial: bool = False) -> None:
    """Raise :class:`ApiError` for what Discord rejects (lengths, embeds, empty)."""
    errors: Json = {}
    if len(str(body.get("content") or "")) > 2000:
        errors["content"] = too_long(2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = too_long(10)
    total = 0
    for i, embed in enumerate(embeds):
        bad, size = _embed_errors(embed)
        total += size
        if bad:
            errors.setdefault("embeds", {})[str(i)] = bad
    if total > 6000:
        message = "Embed size exceeds maximum size of 6000"
        too_big = field_error("MAX_EMBED_SIZE_EXCEEDED", message)
        errors.setdefault("embeds", {}).update(too_big)
    rows = body.get("components") or []
    if len(rows) > 5:
        errors["components"] = too_long(5)
    for i, row in enumerate(rows):
        children = row.get("components", [])
        if row.get("type") == 1 and len(children) > 5:
            errors.setdefault("components", {})[str(i)] = {"components": too_long(5)}
        for j, comp in enumerate(children):
            for key, limit in (("custom_id", 100), ("label", 80)):
                if len(str(comp.get(key) or "")) > limit:
                    row_errors = errors.setdefault("components", {})
                    comp_errors = row_errors.setdefault(str(i), {}).setdefault("components", {})
                    comp_errors.setdefault(str(j), {})[key] = too_long(limit)
    if errors:
        raise invalid_form(errors)
    keys = ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    if not partial and not files and not any(body.get(k) for k in keys):
        raise ApiError(400, 50006, "Cannot send an empty message")


class World:
    """Guild, users, channels, messages and commands the stand-in serves."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.app_id, self.guild_id = snowflake(), snowflake()
        self.admin_role_id, self.bot_role_id = snowflake(), snowflake()
        bot = StandInUser(snowflake(), "standin-bot", True, (self.bot_role_id,))
        self.bot_user = bot
        self.users: dict[str, StandInUser] = {
            "bot": bot,
            "owner": StandInUser(snowflake(), "guild-owner"),
            "member": StandInUser(snowflake(), "alice"),
            "admin": StandInUser(snowflake(), "bob-admin", False, (self.admin_role_id,)),
            "other_bot": StandInUser(snowflake(), "other-bot", bot=True),
            "outsider": StandInUser(snowflake(), "carol", in_guild=False),
        }
        self.roles: list[Json] = [
            self._role(self.guild_id, "@everyone", EVERYONE_PERMS, 0),
            self._role(self.admin_role_id, "Moderators", EVERYONE_PERMS | MANAGE_GUILD, 1),
            self._role(self.bot_role_id, "standin-bot", EVERYONE_PERMS, 2),
        ]
        self.roles[2].update(managed=True, tags={"bot_id": str(bot.id)})
        self.channels: dict[int, Json] = {}
        for pos, name in enumerate(("general", "bot-commands", "announcements")):
            channel = self._text_channel(name, pos)
            self.channels[int(channel["id"])] = channel
        self.general_id, self.commands_channel_id, self.readonly_channel_id = list(self.channels)
        # @everyone may not post in #announcements (and the bot's role adds nothing)
        deny = {"id": str(self.guild_id), "type": 0, "allow": "0"}
        deny["deny"] = str(SEND_MESSAGES)
        self.channels[self.readonly_channel_id]["permission_overwrites"] = [deny]
        self.dm_channels: dict[int, Json] = {}  # user id -> DM channel
        self.threads: dict[int, Json] = {}  # thread id -> thread channel
        self.messages: dict[int, Json] = {}
        self.commands: dict[int | None, list[Json]] = {}  # guild id / None: global

    def _role(self, rid: int, name: str, perms: int, position: int) -> Json:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(perms),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _text_channel(self, name: str, position: int) -> Json:
        return {
            "id": str(snowflake()),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def user(self, who: str | int | StandInUser) -> StandInUser:
        """Resolve 'member', 'admin', 'other_bot', 'owner', 'outsider', 'bot' or an id."""
        if isinstance(who, StandInUser):
            return who
        if isinstance(who, str) and who in self.users:
            return self.users[who]
        for user in self.users.values():
            if str(user.id) == str(who):
                return user
        raise LookupError(f"unknown stand-in user {who!r}")

    def member_payload(self, user: StandInUser, *, with_user: bool = True) -> Json:
        member: Json = {
            "roles": [str(r) for r in user.role_ids],
            "joined_at": JOINED,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            member["user"] = user.payload()
        return member

    def permissions(self, user: StandInUser, channel: Json | None = None) -> int:
        """Permissions of ``user`` (owner, roles, administrator, overwrites)."""
        if user.id == self.users["owner"].id:
            return ALL_PERMS
        role_perms = {int(r["id"]): int(r["permissions"]) for r in self.roles}
        perms = role_perms[self.guild_id]
        for rid in user.role_ids:
            perms |= role_perms.get(rid, 0)
        if perms & ADMINISTRATOR:
            return ALL_PERMS
        if channel is not None and channel.get("type") == PUBLIC_THREAD:
            channel = self.channel(channel["parent_id"])  # threads follow their channel
        overwrites = (channel or {}).get("permission_overwrites", [])
        by_id = {int(o["id"]): o for o in overwrites}
        for ids in ((self.guild_id,), user.role_ids, (user.id,)):
            allow = deny = 0
            for oid in ids:
                if oid in by_id:
                    allow |= int(by_id[oid]["allow"])
                    deny |= int(by_id[oid]["deny"])
            perms = (perms & ~deny) | allow
        return perms

    def guild_payload(self, intents: int) -> Json:
        """GUILD_CREATE; without GUILD_MEMBERS only the bot's member (like Discord)."""
        members = [
            self.member_payload(u)
            for u in self.users.values()
            if u is self.bot_user or (intents & GUILD_MEMBERS and u.in_guild)
        ]
        channels = [{k: v for k, v in c.items() if k != "guild_id"} for c in self.channels.values()]
        nulls = "icon splash banner discovery_splash description afk_channel_id"
        nulls += " application_id rules_channel_id public_updates_channel_id"
        empty = "emojis stickers features voice_states presences threads"
        empty += " stage_instances guild_scheduled_events soundboard_sounds"
        zeros = "verification_level default_message_notifications mfa_level"
        zeros += " explicit_content_filter system_channel_flags premium_tier"
        zeros += " premium_subscription_count nsfw_level"
        guild: Json = {key: None for key in nulls.split()}
        guild.update({key: [] for key in empty.split()})
        guild.update({key: 0 for key in zeros.split()})
        guild.update(
            id=str(self.guild_id),
            name="Stand-in Guild",
            owner_id=str(self.users["owner"].id),
            afk_timeout=300,
            roles=self.roles,
            system_channel_id=str(self.general_id),
            max_members=500000,
            vanity_url_code=None,
            preferred_locale="en-US",
            premium_progress_bar_enabled=False,
            joined_at=JOINED,
            large=False,
            unavailable=False,
            member_count=sum(u.in_guild for u in self.users.values()),
            members=members,
            channels=channels,
            threads=list(self.threads.values()),
        )
        return guild

    def application_payload(self, privileged: int) -> Json:
        """``GET /oauth2/applications/@me``; flags advertise the enabled intents."""
        flags = 0
        for intent, flag in (
            (GUILD_PRESENCES, 1 << 13),
            (GUILD_MEMBERS, 1 << 15),
            (MESSAGE_CONTENT, 1 << 19),
        ):
            if privileged & intent:
                flags |= flag
        return {
            "id": str(self.app_id),
            "name": "standin-bot",
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.users["owner"].payload(),
            "team": None,
            "verify_key": "00" * 32,
            "flags": flags,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "bot": self.bot_user.payload(),
        }

    def channel(self, channel_id: int | str) -> Json:
        """A guild or DM channel by id, else Discord's 404 Unknown Channel."""
        cid = int(channel_id)
        if cid in self.channels:
            return self.channels[cid]
        if cid in self.threads:
            return self.threads[cid]
        for dm in self.dm_channels.values():
            if int(dm["id"]) == cid:
                return dm
        raise ApiError(404, 10003, "Unknown Channel")

    def new_thread(self, parent: Json, name: str, owner: StandInUser, thread_id: int) -> Json:
        """A public thread in ``parent`` (id: the starter message's, as Discord does)."""
        thread: Json = {
            "id": str(thread_id),
            "type": PUBLIC_THREAD,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(owner.id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
            },
        }
        self.threads[thread_id] = thread
        return thread

    def dm_channel(self, user: StandInUser) -> Json:
        """The stable DM channel between the bot and ``user``."""
        if user.id not in self.dm_channels:
            self.dm_channels[user.id] = {
                "id": str(snowflake()),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.payload()],
            }
        return self.dm_channels[user.id]

    def message(self, mid: int | str, channel_id: int | str | None = None) -> Json:
        msg = self.messages.get(int(mid))
        if msg is None or (channel_id is not None and msg["channel_id"] != str(int(channel_id))):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def mentions(self, content: str, allowed: Json | None, replied: Json | None) -> list[Json]:
        """Users a message pings: ``<@id>`` in content filtered by allowed_mentions."""
        parse = None if allowed is None else allowed.get("parse", [])
        listed = {int(x) for x in (allowed or {}).get("users", [])}
        ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        ids = [i for i in ids if parse is None or "users" in parse or i in listed]
        if replied and (allowed is None or allowed.get("replied_user")):
            ids.append(int(replied["author"]["id"]))
        known = {u.id: u for u in self.users.values()}
        return [known[i].payload() for i in dict.fromkeys(ids) if i in known]

    def attachment(self, file: Json) -> Json:
        url = f"https://cdn.invalid/attachments/{file['filename']}"
        return {
            "id": str(snowflake()),
            "filename": file["filename"],
            "size": file["size"],
            "url": url,
            "proxy_url": url,
            "content_type": file.get("content_type"),
        }

    def new_message(
        self,
        channel: Json,
        author: StandInUser,
        body: Json,
        files: Sequence[Json] = (),
        **extra: Any,
    ) -> Json:
        """Build and store a message as Discord's REST API returns it."""
        ref, replied = body.get("message_reference"), None
        if ref:
            replied = self.messages.get(int(ref.get("message_id") or 0))
            if replied is None or replied["channel_id"] != channel["id"]:
                if ref.get("fail_if_not_exists", True):
                    unknown = field_error("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                    raise invalid_form({"message_reference": unknown})
                replied = None
        content = str(body.get("content") or "")
        msg: Json = {
            "id": str(snowflake()),
            "type": 19 if replied else 0,
            "channel_id": channel["id"],
            "author": author.payload(),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mention_roles": [],
            "mentions": self.mentions(content, body.get("allowed_mentions"), replied),
            "attachments": [self.attachment(f) for f in files],
            "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
            "components": body.get("components") or [],
            "pinned": False,
            "flags": int(body.get("flags") or 0),
        }
        if replied:
            msg["message_reference"] = {
                "type": 0,
                "message_id": replied["id"],
                "channel_id": channel["id"],
            }
            if "guild_id" in channel:
                msg["message_reference"]["guild_id"] = channel["guild_id"]
            msg["referenced_message"] = {
                k: v for k, v in replied.items() if k != "referenced_message"
            }
        msg.update(extra)
        self.messages[int(msg["id"])] = msg
        channel["last_message_id"] = msg["id"]
        return msg

    def apply_edit(self, msg: Json, body: Json, files: Sequence[Json] = ()) -> None:
        """Merge an edit into ``msg`` in place, validating like Discord."""
        validate_message(body, files, partial=True)
        new = dict(msg)
        for key in ("content", "embeds", "components"):
            if key in body:
                new[key] = body[key] or ("" if key == "content" else [])
        new["embeds"] = [{"type": "rich", **e} for e in new["embeds"]]
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            new["attachments"] = [a for a in msg["attachments"] if a["id"] in keep]
        new["attachments"] = new["attachments"] + [self.attachment(f) for f in files]
        keys = ("content", "embeds", "components", "attachments")
        if not any(new.get(k) for k in keys):
            raise ApiError(400, 50006, "Cannot send an empty message")
        if "content" in body:
            allowed = body.get("allowed_mentions")
            new["mentions"] = self.mentions(new["content"], allowed, None)
        new["flags"] = int(msg["flags"]) & ~LOADING
        if not int(msg["flags"]) & LOADING:  # finishing a deferral is no "edit"
            new["edited_timestamp"] = now_iso()
        msg.update(new)

    def gateway_message(self, msg: Json, intents: int) -> Json:
        """A message as the bot receives it: guild_id/member added, content
        stripped without MESSAGE_CONTENT unless DM, own message or mention."""
        out = {**msg, "mentions": [dict(m) for m in msg["mentions"]]}
        channel = self.channel(msg["channel_id"])
        me = str(self.bot_user.id)
        if "guild_id" in channel:
            out["guild_id"] = channel["guild_id"]
            author = self._guild_user(msg["author"]["id"])
            if author is not None and "webhook_id" not in msg:
                out["member"] = self.member_payload(author, with_user=False)
            for mention in out["mentions"]:
                user = self._guild_user(mention["id"])
                if user is not None:
                    mention["member"] = self.member_payload(user, with_user=False)
            exempt = msg["author"]["id"] == me or any(m["id"] == me for m in msg["mentions"])
            if not (intents & MESSAGE_CONTENT or exempt):
                out.update(content="", embeds=[], attachments=[], components=[])
        if isinstance(out.get("referenced_message"), dict):
            out["referenced_message"] = self.gateway_message(out["referenced_message"], intents)
        return out

    def _guild_user(self, user_id: str) -> StandInUser | None:
        for user in self.users.values():
            if str(user.id) == user_id and user.in_guild:
                return user
        return None
