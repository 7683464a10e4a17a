"""The connection level of the HTTP API: timeouts, a connection cap, JSON for protocol errors.

aiohttp answers requests its parser rejects (an over-long URL or header, a bad method or
Content-Length) from its ``RequestHandler.handle_error``, before any middleware runs, as plain
text and with an ERROR traceback. :class:`_Connection` answers them with the API's JSON error
and one WARNING line. :class:`GuardedServer` caps open connections: at the cap the oldest connection
with no request in progress (one still sending its headers, or idle between requests) is closed
to make room, so clients that open connections and never finish a request cannot lock others
out; it counts the lean connections of :mod:`.fast` too, which start every connection when the
runner is given one. Exhausted resources (``socket.accept()`` failing for want of file
descriptors) are logged once per interval, not once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from bot.frontends.http_api.policy import error_json

logger = logging.getLogger(__name__)

IDLE_TIMEOUT = 10.0  # seconds a connection may take to send a request's headers, or sit idle
NOTICE_INTERVAL = 60.0  # seconds between log lines about the same exhausted resource
DEFAULT_LINE_LIMIT = 8190  # aiohttp's default max_line_size and max_field_size
FD_RESERVE = 32  # descriptors kept free for the log, rebuilds and the process itself

_REASONS: dict[type[Exception], str] = {
    LineTooLong: "request line or header too long",
    BadHttpMethod: "invalid HTTP method",
}


def connection_cap() -> int:
    """How many connections to keep open at once: what the file-descriptor limit leaves free."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: assume a modest number of files open
        in_use = 64
    return max(8, min(4096, soft - in_use - FD_RESERVE))


class Notices:
    """Logs a recurring problem once per interval, with how often it happened meanwhile."""

    def __init__(self, interval: float = NOTICE_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def warn(self, key: str, message: str) -> None:
        """Log ``message`` unless ``key`` was logged less than an interval ago (then count it)."""
        now = time.monotonic()
        self._count[key] = self._count.get(key, 0) + 1
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return
        times = self._count.pop(key)
        self._last[key] = now
        logger.warning("%s%s", message, f" ({times} times since the last notice)" if last else "")


def _error_body(status: int, message: str) -> web.Response:
    body = error_json(status, message)
    response = web.Response(
        status=status, body=body, content_type="application/json", charset="utf-8"
    )
    response.force_close()
    return response


class _Connection(RequestHandler):
    """aiohttp's connection handler, answering what its parser rejects with JSON."""

    in_request = False  # set by the ``mark_busy`` middleware while a request is handled

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # part of a response went out: nothing to fix
            raise ConnectionError("the response was already started")
        if status >= 500 or not isinstance(exc, HttpProcessingError):
            logger.error("error while handling a request", exc_info=exc)
            return _error_body(500, "internal server error; the server log has the details")
        reason = next((r for kind, r in _REASONS.items() if isinstance(exc, kind)), None)
        reason = reason or "malformed HTTP request"
        logger.warning(
            "refused a malformed request: %d %s (%s)", status, reason, type(exc).__name__
        )
        return _error_body(status, reason)


class Connection(Protocol):
    """What the cap and shutdown need of a connection: aiohttp's handler or a lean one."""

    in_request: bool

    def force_close(self) -> None: ...


class GuardedServer(web.Server):
    """aiohttp's server with JSON protocol errors and a cap on open connections.

    With ``fast`` set, each accepted connection starts with the protocol it makes, which hands
    the connection to :meth:`handler` (aiohttp's) for whatever it does not answer itself.
    """

    cap: int
    notices: Notices
    idle_timeout: float
    line_limit: int  # aiohttp's limits on the request line and a header line, in bytes
    field_limit: int
    fast: Callable[[GuardedServer], asyncio.Protocol] | None

    def __call__(self) -> RequestHandler:
        if self.fast is not None:
            return self.fast(self)  # type: ignore[return-value]  # asyncio needs a Protocol
        return self.handler()

    def handler(self) -> RequestHandler:
        """aiohttp's connection handler, answering protocol errors with JSON."""
        return _Connection(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: Connection, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(handler, transport)  # type: ignore[arg-type]
        if len(self.connections) > self.cap:
            self.close_idle(1, keep=handler)
            self.notices.warn(
                "cap", f"HTTP connection limit reached ({self.cap}): closing idle connections"
            )

    def connection_lost(self, handler: Connection, exc: BaseException | None = None) -> None:  # type: ignore[override]
        super().connection_lost(handler, exc)  # type: ignore[arg-type]

    def close_idle(self, count: int, keep: Connection | None = None) -> None:
        """Close the ``count`` oldest connections that have no request in progress."""
        connections: list[Connection] = list(self._connections)  # type: ignore[arg-type]
        for old in connections:
            if count <= 0:
                return
            if old is not keep and not getattr(old, "in_request", False):
                old.force_close()
                count -= 1


@web.middleware
async def mark_busy(request: web.Request, handler: Any) -> web.StreamResponse:
    """Mark the connection as handling a request, so the connection cap never closes it."""
    protocol = request.protocol
    if not isinstance(protocol, _Connection):
        return await handler(request)
    protocol.in_request = True
    try:
        return await handler(request)
    finally:
        protocol.in_request = False


class GuardedRunner(web.AppRunner):
    """An AppRunner whose server is a :class:`GuardedServer` (JSON protocol errors, a connection
    cap, and the lean protocol ``fast`` in front of aiohttp's when given)."""

    def __init__(
        self,
        app: web.Application,
        *,
        cap: int | None = None,
        fast: Callable[[GuardedServer], asyncio.Protocol] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("keepalive_timeout", IDLE_TIMEOUT)
        super().__init__(app, **kwargs)
        self.cap = cap or connection_cap()
        self.fast = fast
        self.idle_timeout = float(kwargs["keepalive_timeout"])
        self.line_limit = int(kwargs.get("max_line_size", DEFAULT_LINE_LIMIT))
        self.field_limit = int(kwargs.get("max_field_size", DEFAULT_LINE_LIMIT))
        self.guarded: GuardedServer | None = None

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = GuardedServer  # same state, our connection handler and cap
        guarded: GuardedServer = server  # type: ignore[assignment]
        guarded.cap, guarded.notices = self.cap, Notices()
        guarded.idle_timeout, guarded.fast = self.idle_timeout, self.fast
        guarded.line_limit, guarded.field_limit = self.line_limit, self.field_limit
        self.guarded = guarded
        _on_accept_errors(asyncio.get_running_loop(), guarded)
        return server


def _on_accept_errors(loop: asyncio.AbstractEventLoop, server: GuardedServer) -> None:
    """When ``accept()`` runs out of file descriptors: free some and say so once per interval.

    asyncio retries the accept a second later and, by default, logs a traceback every time.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            server.close_idle(max(1, len(server.connections) // 4))
            error = context.get("exception")
            server.notices.warn("accept", f"HTTP: cannot accept connections: {error or message}")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
