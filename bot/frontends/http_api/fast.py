"""The lean connection protocol in front of aiohttp: ``GET /api/ask`` without aiohttp's machinery.

Every accepted connection starts here. A request is parsed with httptools once its head (up to
the blank line) is in; a plain HTTP/1.1 ``GET /api/ask?…`` with no body is answered directly,
through the same service call and the same policies (:mod:`.policy`) as aiohttp's route. Any
other request, or anything unusual (a body, an upgrade, ``Expect``, HTTP/1.0, a parser error, a
head too long), hands the connection to aiohttp, bytes buffered so far included, so aiohttp
answers exactly as it would have. aiohttp's per-request cost (request and response objects,
router, middlewares, its writer) was a third of the server's CPU per answer.

The connection counts in the server's cap, is closed when idle (or slow to send its headers)
for the API's idle timeout, finishes its request on shutdown, and stops reading while a client
does not read its responses.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import httptools
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.tcp_helpers import tcp_keepalive
from aiohttp.web_log import AccessLogger
from multidict import MultiDictProxy
from yarl import URL

from bot.errors import NewsbotError
from bot.frontends.http_api.policy import (
    ASK_ROUTE,
    INTERNAL_ERROR,
    JSON_TYPE,
    AnswerBodies,
    Refusal,
    RequestMetrics,
    ask_request,
    error_json,
    error_refusal,
    token_refusal,
)
from bot.service.limits import Limits
from bot.service.service import Service

if TYPE_CHECKING:
    from bot.core.answer import Answer
    from bot.core.pipeline.engine import Engine
    from bot.frontends.http_api.protocol import GuardedServer

logger = logging.getLogger(__name__)

MAX_HEAD = 65_536 + 16_384  # bytes of an unfinished head before aiohttp's limits judge it
MARGIN = 64  # a line this close to aiohttp's limits goes to aiohttp, which decides
_ASK = ASK_ROUTE.encode()
_PLAIN_ONLY = frozenset((b"content-length", b"transfer-encoding", b"upgrade", b"expect"))
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}

Reply = tuple[int, bytes, dict[str, str]]  # status, body, extra headers


@dataclass(frozen=True)
class FastRoute:
    """What the lean protocol answers ``GET /api/ask`` with: the app's service and policies."""

    service: Service
    limits: Limits
    token: str | None
    bodies: AnswerBodies
    metrics: RequestMetrics
    access: AccessLogger | None  # aiohttp's access log line, when the runner writes one

    def start(
        self, query: MultiDictProxy[str], authorization: str, remote: str | None
    ) -> Reply | asyncio.Future[tuple[Engine, Answer]]:
        """One ask handed to the service (its future, for :meth:`finish`), or the reply it gets
        at once (a bad token, a malformed request), as aiohttp's middlewares would answer."""
        refusal = token_refusal(self.token, authorization)
        if refusal is None:
            try:
                return self.service.submit(ask_request(query, remote, self.limits))
            except Exception as exc:
                refusal = _refusal(exc)
        return _error_reply(refusal)

    def finish(self, asked: asyncio.Future[tuple[Engine, Answer]]) -> Reply:
        """The reply to an ask the service has answered (or failed)."""
        try:
            return 200, self.bodies.of(asked.result()[1]), {}
        except Exception as exc:
            return _error_reply(_refusal(exc))


def _refusal(exc: Exception) -> Refusal:
    """What a failed ask gets: its error's status, or 500 (the traceback goes to the log)."""
    if isinstance(exc, NewsbotError):
        return error_refusal(exc)
    logger.error("unhandled error on GET %s", ASK_ROUTE, exc_info=exc)
    return 500, INTERNAL_ERROR, {}


def _error_reply(refusal: Refusal) -> Reply:
    status, message, headers = refusal
    return status, error_json(status, message), headers


class _Ask(NamedTuple):
    """One parsed ``GET /api/ask``: its decoded query, target, token header and keep-alive."""

    query: MultiDictProxy[str]
    target: str
    authorization: str
    keep_alive: bool


class _Dated:
    """The ``Date`` header's value, made once a second as aiohttp does."""

    second = -1
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, email.utils.formatdate(second, usegmt=True)
        return cls.value


def response_bytes(status: int, body: bytes, extra: dict[str, str], keep_alive: bool) -> bytes:
    """An HTTP/1.1 JSON response with aiohttp's headers, in aiohttp's order."""
    head = [f"HTTP/1.1 {status} {_PHRASES.get(status, '')}\r\n"]
    head += [f"{name}: {value}\r\n" for name, value in extra.items()]
    head.append(
        f"Content-Type: {JSON_TYPE}\r\nX-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\nDate: {_Dated.now()}\r\nServer: {SERVER_SOFTWARE}\r\n"
    )
    head.append("\r\n" if keep_alive else "Connection: close\r\n\r\n")
    return "".join(head).encode("latin-1") + body


class _Logged:
    """The few request and response attributes aiohttp's access log format reads (its
    ``body_length`` counts the bytes sent, head included)."""

    def __init__(self, target: str, status: int, size: int) -> None:
        self.method, self.path_qs, self.version = "GET", target, HttpVersion11
        self.status, self.body_length = status, size


class FastConnection(asyncio.Protocol):
    """One connection: ``GET /api/ask`` answered here, anything else handed to aiohttp."""

    in_request = False  # a request is being answered: the connection cap leaves it open
    _task_handler = None  # what aiohttp's Server.connection_lost looks for on its handlers

    def __init__(self, server: GuardedServer, route: FastRoute) -> None:
        self._server, self._route = server, route
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._parser = httptools.HttpRequestParser(self)
        self._remote: str | None = None
        self._closing = self._read_paused = self._write_paused = False
        self._asked: asyncio.Future[tuple[Engine, Answer]] | None = None  # the ask in progress
        self._idle_deadline = 0.0
        self._idle_handle: asyncio.TimerHandle | None = None
        self._url = b""
        self._authorization: bytes | None = None
        self._plain = self._complete = self._keep_alive = False

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        tcp_keepalive(self.transport)
        peer = self.transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self._server.connection_made(self, self.transport)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.in_request or self._write_paused:
            if len(self._buffer) > MAX_HEAD and not self._read_paused and self.transport:
                self._read_paused = True  # a client pipelining faster than it reads
                self.transport.pause_reading()
            return
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connection_lost(self, exc)
        self._stop_idle()
        self.transport = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if not self.in_request:
            self._next()

    # --- what aiohttp's server calls on its connections (cap, shutdown) -----------------------

    def close(self) -> None:
        """Close once the request in progress (if any) is answered."""
        self._closing = True
        if not self.in_request:
            self.force_close()

    def force_close(self) -> None:
        """Close now."""
        self._closing = True
        self._stop_idle()
        if self.transport is not None:
            self.transport.close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """Let the request in progress finish (for ``timeout`` seconds at most), then close."""
        self._closing = True
        asked = self._asked
        if asked is not None and not asked.done():
            done, _ = await asyncio.wait({asked}, timeout=timeout)
            if not done:
                asked.cancel()
        self.force_close()

    # --- httptools callbacks ------------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"authorization":
            if self._authorization is None:  # the first, as aiohttp's headers.get gives
                self._authorization = value
        elif lower in _PLAIN_ONLY:
            self._plain = False
        if len(name) + len(value) > self._server.field_limit - MARGIN:
            self._plain = False

    def on_headers_complete(self) -> None:
        parser = self._parser  # read now: the parser resets once the message is complete
        self._keep_alive = parser.should_keep_alive()
        self._plain = self._plain and parser.get_method() == b"GET"
        self._plain = self._plain and parser.get_http_version() == "1.1"

    def on_message_complete(self) -> None:
        self._complete = True

    # --- requests -----------------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the next request in the buffer once its head is in, or hand the connection
        to aiohttp when the request is not one this path answers."""
        buffer = self._buffer
        if not buffer or self._closing or self.transport is None:
            return
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD or b"\n\n" in buffer or b"\n\r\n" in buffer:
                self._hand_over()  # too long, or bare line feeds: aiohttp's parser judges
            return
        ask = self._parse(bytes(buffer[: end + 4]))
        if ask is None:
            self._hand_over()
            return
        del buffer[: end + 4]
        self.in_request = True
        began = time.perf_counter()
        outcome = self._route.start(ask.query, ask.authorization, self._remote)
        if isinstance(outcome, tuple):  # refused at once: answered on the next loop turn
            self._loop.call_soon(self._respond, ask, began, outcome)
            return
        # A callback, not a task, waits for the service's answer: a task and its coroutines
        # cost more than the rest of this path.
        self._asked = outcome
        outcome.add_done_callback(functools.partial(self._answered, ask, began))

    def _parse(self, head: bytes) -> _Ask | None:
        """The head as a plain ``GET /api/ask`` (None: anything else, for aiohttp)."""
        self._url, self._authorization = b"", None
        self._plain, self._complete = True, False
        try:
            self._parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # aiohttp answers
            return None
        path, _, query = self._url.partition(b"?")
        if not (
            self._plain
            and self._complete
            and path == _ASK
            and len(self._url) < self._server.line_limit - MARGIN
            and b"#" not in query
        ):
            return None
        target = self._url.decode("utf-8", "surrogateescape")  # as aiohttp decodes it
        try:
            url = URL.build(path=ASK_ROUTE, query_string=target[len(ASK_ROUTE) + 1 :], encoded=True)
            parsed = url.query
        except (ValueError, TypeError):
            return None
        authorization = (self._authorization or b"").decode("utf-8", "surrogateescape")
        return _Ask(parsed, target, authorization, self._keep_alive)

    def _answered(
        self, ask: _Ask, began: float, asked: asyncio.Future[tuple[Engine, Answer]]
    ) -> None:
        self._asked = None
        if asked.cancelled():  # shutdown gave up on it: counted, never answered
            self._route.metrics.observe(ASK_ROUTE, 500, time.perf_counter() - began)
            self.in_request = False
            return
        self._respond(ask, began, self._route.finish(asked))

    def _respond(self, ask: _Ask, began: float, reply: Reply) -> None:
        """Count the request, send its response, then go on with the next one buffered."""
        status, body, extra = reply
        self._route.metrics.observe(ASK_ROUTE, status, time.perf_counter() - began)
        self.in_request = False
        keep = ask.keep_alive and not self._closing
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        response = response_bytes(status, body, extra, keep)
        transport.write(response)
        if self._route.access is not None and self._route.access.enabled:
            logged = cast(Any, _Logged(ask.target, status, len(response)))
            self._route.access.log(logged, logged, time.perf_counter() - began)
        if not keep:
            self.force_close()
            return
        self._arm_idle()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        if not self._write_paused:
            self._next()

    def _hand_over(self) -> None:
        """Give the connection, and every byte received and not yet answered, to aiohttp."""
        transport = self.transport
        if transport is None:
            return
        self._server.connection_lost(self, None)
        self._stop_idle()
        self.transport = None
        handler = self._server.handler()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._read_paused:
            transport.resume_reading()
        data, self._buffer = bytes(self._buffer), bytearray()
        handler.data_received(data)

    # --- the idle timeout ---------------------------------------------------------------------

    def _arm_idle(self) -> None:
        """Close the connection if no request is answered within the idle timeout from now."""
        self._idle_deadline = self._loop.time() + self._server.idle_timeout
        if self._idle_handle is None and self._server.idle_timeout > 0:
            self._idle_handle = self._loop.call_at(self._idle_deadline, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_handle = None
        if self.transport is None or self.in_request:
            return  # answering: the timer starts again after the response
        if self._loop.time() < self._idle_deadline:
            self._idle_handle = self._loop.call_at(self._idle_deadline, self._on_idle)
            return
        self.force_close()

    def _stop_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
