"""Gateway websocket: HELLO/IDENTIFY/READY, heartbeats, dispatch sequencing, RESUME."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from ._world import PRIVILEGED, Json, World

# ops a client may send (heartbeat, identify, presence, voice, resume, members)
CLIENT_OPS = {1, 2, 3, 4, 6, 8}


@dataclass(eq=False)
class Connection:
    """One gateway websocket and its per-connection compression stream."""

    ws: web.WebSocketResponse
    request: web.Request
    info: Json
    compress: Callable[[bytes], bytes] | None
    authed: bool = field(default=False)


def compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """One stream compressor per connection, flushed per message as Discord does."""
    if kind == "zlib-stream":  # discord.py waits for the Z_SYNC_FLUSH suffix
        z = zlib.compressobj()
        return lambda b: z.compress(b) + z.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":  # chosen by discord.py when zstandard is importable
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:  # Python 3.14+ stdlib
            from compression import zstd  # type: ignore[import-not-found]

            zc = zstd.ZstdCompressor()
            return lambda b: zc.compress(b, zc.FLUSH_BLOCK)
        zo = zstandard.ZstdCompressor().compressobj()
        block = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        return lambda b: zo.compress(b) + zo.flush(block)
    if kind:
        raise ValueError(f"unsupported compress={kind}")
    return None


class GatewayServer(World):
    """Gateway half of the stand-in; records identifies, heartbeats, resumes."""

    def __init__(
        self,
        token: str,
        *,
        heartbeat_interval_ms: int,
        allowed_privileged_intents: int,
        ack_delay: float,
    ) -> None:
        super().__init__(token)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_privileged_intents = allowed_privileged_intents
        self.ack_delay = ack_delay
        self.port = 0
        self.identifies: list[Json] = []
        self.resumes: list[Json] = []
        self.heartbeats: list[Json] = []
        self.connections: list[Json] = []
        self.dispatched: list[Json] = []
        self.gateway_ops: list[Json] = []  # presence updates, member requests...
        self.server_errors: list[str] = []
        self.session_id: str | None = None
        self.intents = 0
        self.ready = asyncio.Event()
        self._seq = 0
        self._events: deque[Json] = deque(maxlen=5000)
        self._live: Connection | None = None
        self._conns: set[Connection] = set()
        self._lock = asyncio.Lock()
        self._gate = asyncio.Event()
        self._gate.set()

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume-gateway"

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        info: Json = {"path": request.path, "query": dict(request.query)}
        info["opened_at"] = time.monotonic()
        self.connections.append(info)
        try:
            conn = Connection(ws, request, info, compressor(request.query.get("compress")))
        except ValueError:
            await ws.close(code=4000, message=b"Unsupported compression")
            return ws
        self._conns.add(conn)
        try:
            await self._serve(conn)
        except TimeoutError:
            await self._close(conn, 4009, b"Session timed out.")
        except Exception:  # a stand-in bug: record it and fail loudly
            self.server_errors.append(traceback.format_exc())
            await self._close(conn, 1011)
        finally:
            self._conns.discard(conn)
            if self._live is conn:
                self._live = None
            info.update(closed_at=time.monotonic(), close_code=ws.close_code)
        return ws

    async def _serve(self, conn: Connection) -> None:
        await asyncio.wait_for(self._gate.wait(), 30)  # test hook: held reconnects
        hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["standin"]}
        await self._send(conn, {"op": 10, "s": None, "t": None, "d": hello})
        silence = max(5.0, 3 * self.heartbeat_interval_ms / 1000)
        for _ in range(1_000_000):
            msg = await conn.ws.receive(timeout=silence)
            if msg.type is not WSMsgType.TEXT:
                return
            try:
                payload = json.loads(msg.data)
            except ValueError:
                await self._close(conn, 4002, b"Error while decoding payload.")
                return
            await self._on_op(conn, payload.get("op"), payload.get("d"), payload)

    async def _close(self, conn: Connection, code: int, message: bytes = b"") -> None:
        """Close from the server side, recording ``server_close_code`` (the peer's
        reply code ends up in ``close_code``)."""
        conn.info.setdefault("server_close_code", code)
        await conn.ws.close(code=code, message=message)

    async def _send(self, conn: Connection, payload: Json) -> bool:
        if conn.ws.closed:
            return False
        raw = json.dumps(payload, separators=(",", ":"))
        try:
            if conn.compress is None:
                await conn.ws.send_str(raw)
            else:
                await conn.ws.send_bytes(conn.compress(raw.encode()))
        except ConnectionError:
            return False
        return True

    async def _on_op(self, conn: Connection, op: object, d: object, msg: Json) -> None:
        if op not in CLIENT_OPS:
            await self._close(conn, 4001, b"Unknown opcode.")
        elif op == 1:
            beat = {"received_at": time.monotonic(), "seq": d}
            beat["connection"] = self.connections.index(conn.info)
            self.heartbeats.append(beat)
            # emulated RTT: on loopback the ACK would beat discord.py's keep-alive
            # thread recording its send time and Client.latency would read ~interval
            await asyncio.sleep(self.ack_delay)
            await self._send(conn, {"op": 11, "s": None, "t": None, "d": None})
            beat["acked_at"] = time.monotonic()
        elif op in (2, 6) and conn.authed:
            await self._close(conn, 4005, b"Already authenticated.")
        elif op in (2, 6) and isinstance(d, dict) and d.get("token") != self.token:
            await self._close(conn, 4004, b"Authentication failed.")
        elif op == 2 and isinstance(d, dict):
            await self._identify(conn, d)
        elif op == 6 and isinstance(d, dict):
            await self._resume(conn, d)
        elif not conn.authed:
            await self._close(conn, 4003, b"Not authenticated.")
        else:
            self.gateway_ops.append(msg)
            if op == 8 and isinstance(d, dict):
                await self._members_chunk(d)

    async def _identify(self, conn: Connection, d: Json) -> None:
        self.identifies.append(d)
        intents = int(d.get("intents") or 0)
        if intents & PRIVILEGED & ~self.allowed_privileged_intents:
            await self._close(conn, 4014, b"Disallowed intent(s).")
            return
        conn.authed = True
        async with self._lock:
            self.intents, self.session_id = intents, secrets.token_hex(16)
            self._seq = 0
            self._events.clear()
            self._live = conn
            flags = self.application_payload(self.allowed_privileged_intents)["flags"]
            ready: Json = {
                "v": 10,
                "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": self.session_id,
                "resume_gateway_url": self.resume_gateway_url,
                "application": {"id": str(self.app_id), "flags": flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "session_type": "normal",
                "_trace": ["standin"],
            }
            if d.get("shard"):
                ready["shard"] = d["shard"]
            await self._dispatch_locked("READY", ready)
            await self._dispatch_locked("GUILD_CREATE", self.guild_payload(intents))
        self.ready.set()

    async def _resume(self, conn: Connection, d: Json) -> None:
        if d.get("session_id") != self.session_id:
            await self._send(conn, {"op": 9, "s": None, "t": None, "d": False})
            return
        conn.authed = True
        async with self._lock:
            old, self._live = self._live, conn
            seq = int(d.get("seq") or 0)
            missed = [e for e in self._events if e["s"] > seq and e["t"] != "READY"]
            for event in missed:
                await self._send(conn, event)
            replayed = [e["t"] for e in missed]
            self.resumes.append({"seq": seq, "replayed": replayed, "at": time.monotonic()})
            await self._dispatch_locked("RESUMED", {"_trace": ["standin"]})
        if old is not None and old is not conn:
            await self._close(old, 4000)

    async def _members_chunk(self, d: Json) -> None:
        members = [self.member_payload(u) for u in self.users.values() if u.in_guild]
        chunk = {"guild_id": str(self.guild_id), "members": members, "chunk_index": 0}
        chunk.update(chunk_count=1, nonce=d.get("nonce"))
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_locked(self, event: str, data: Json) -> int:
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._events.append(frame)
        self.dispatched.append(frame)
        if self._live is not None and not await self._send(self._live, frame):
            self._live = None
        return self._seq

    async def dispatch(self, event: str, data: Json) -> int:
        """Send an op 0 dispatch with the next ``s``; kept for RESUME if disconnected."""
        async with self._lock:
            return await self._dispatch_locked(event, data)

    async def drop_connection(self, code: int | None = 4000, *, hold: bool = False) -> None:
        """Drop the live gateway socket (``code=None``: abrupt TCP abort).

        With ``hold`` new connections wait (HELLO withheld) until
        :meth:`release_connections`, so dispatches queue up for the RESUME.
        """
        if hold:
            self._gate.clear()
        conn, self._live = self._live, None
        if conn is None:
            return
        if code is None:
            if conn.request.transport is not None:
                conn.request.transport.abort()
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(conn, code, b"stand-in drop"), 5)

    def release_connections(self) -> None:
        """Let held (re)connections proceed."""
        self._gate.set()

    async def _close_gateway(self) -> None:
        self._gate.set()
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._close(conn, 1001), 2)
