"""The HTTP API (aiohttp): ask, sources, health and Prometheus metrics over a :class:`Service`.

``python -m bot serve`` runs it alone (:mod:`bot.frontends.http_api.command`); the Discord runner
starts it in its own event loop with :func:`start_http` when ``http.enabled`` is true. Every
error is a JSON object ``{"error": ..., "status": ...}``; no traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger
from aiohttp.web_log import AccessLogger

from bot.errors import NewsbotError, StartError
from bot.frontends.http_api.fast import FastConnection, FastRoute
from bot.frontends.http_api.policy import (
    ASK_ROUTE,
    INTERNAL_ERROR,
    AnswerBodies,
    RequestMetrics,
    ask_request,
    error_json,
    error_refusal,
    json_body,
    needs_token,
    token_refusal,
)
from bot.frontends.http_api.protocol import GuardedRunner, mark_busy
from bot.service.limits import Limits
from bot.service.metrics import CONTENT_TYPE
from bot.service.service import Service
from bot.service.settings import Settings, secret

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, str]]  # (ok, reason), e.g. the Discord gateway's
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_ENV = "NEWSBOT_API_TOKEN"
MAX_URL_BYTES = 65_536  # long enough that an over-long q gets a JSON 413, not a parser error
SHUTDOWN_TIMEOUT = 10.0  # seconds requests in flight get to finish on shutdown
ACCESS_LOG_FORMAT = '"%r" %s %b %Tfs'  # no client address: the question log hashes it instead
ENDPOINTS = (ASK_ROUTE, "/api/sources", "/healthz", "/metrics")

SERVICE = web.AppKey("service", Service)
LIMITS = web.AppKey("limits", Limits)
CHECKS = web.AppKey("health_checks", tuple)
TOKEN = web.AppKey("api_token", object)
BODIES = web.AppKey("answer_bodies", AnswerBodies)
METRICS = web.AppKey("request_metrics", RequestMetrics)


class HttpStartError(StartError):
    """The HTTP server could not start (e.g. the port is in use); the message is one line."""


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON body made by the policy (:func:`~.policy.json_body`) as aiohttp's response."""
    return web.Response(
        body=body, status=status, headers=headers, content_type="application/json", charset="utf-8"
    )


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The JSON error body every failure uses."""
    return json_response(error_json(status, message), status, headers)


async def handle_ask(request: web.Request) -> web.Response:
    """``GET /api/ask?q=…&k=…&offset=…``: the answer as ``ask --json`` prints it.

    The lean protocol of :mod:`.fast` answers plain requests to this route before aiohttp
    sees them; this handler answers the others (HTTP/1.0, HEAD, a request with a body).
    """
    app = request.app
    answer = await app[SERVICE].ask(ask_request(request.query, request.remote, app[LIMITS]))
    return json_response(app[BODIES].of(answer))


async def handle_sources(request: web.Request) -> web.Response:
    """``GET /api/sources``: the metadata of every article in the index."""
    sources = request.app[SERVICE].sources()
    return json_response(json_body([m.to_dict() for m in sources]))


async def handle_health(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 when the index is loaded and every health check passes, else 503."""
    service = request.app[SERVICE]
    ok, reason = service.health()
    for check in request.app[CHECKS]:
        if not ok:
            break
        try:
            ok, reason = check()
        except Exception as exc:  # a broken check is an unhealthy service, not a 500
            logger.exception("health check failed")
            ok, reason = False, f"health check failed: {type(exc).__name__}"
    info = service.index_info()
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "reason": reason}
    if info is not None:
        body["passages"] = info.passages
        body["sources"] = info.sources
        body["index_built_at"] = info.built_at
    # X-Worker-Pid: which process answered, under ``serve --workers``.
    headers = {"Cache-Control": "no-store", "X-Worker-Pid": str(os.getpid())}
    return json_response(json_body(body), 200 if ok else 503, headers)


async def handle_metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text format."""
    body = request.app[SERVICE].metrics.registry.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _middlewares() -> list[Any]:
    """Request metrics (outermost), errors → JSON, then the bearer-token check."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        began = time.perf_counter()
        response = await handler(request)
        request.app[METRICS].observe(_route(request), response.status, time.perf_counter() - began)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except NewsbotError as exc:
            return error_response(*error_refusal(exc))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _http_error(request, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500, INTERNAL_ERROR)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        token: str | None = request.app[TOKEN]  # type: ignore[assignment]
        if needs_token(request.path):
            refusal = token_refusal(token, request.headers.get("Authorization", ""))
            if refusal is not None:
                return error_response(*refusal)
        return await handler(request)

    return [mark_busy, count, errors, auth]


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """An aiohttp HTTPException (404, 405, …) as a JSON error, keeping Allow/WWW-Authenticate."""
    headers = {h: exc.headers[h] for h in ("Allow", "WWW-Authenticate") if h in exc.headers}
    if exc.status == 404:
        message = f"not found: {request.path} (endpoints: {', '.join(ENDPOINTS)})"
    elif exc.status == 405:
        allowed = headers.get("Allow", "GET")
        message = f"method {request.method} not allowed on {request.path}; use {allowed}"
    else:
        message = exc.reason or "request failed"
    return error_response(exc.status, message, headers)


def create_app(
    service: Service, settings: Settings, health_checks: Sequence[HealthCheck] = ()
) -> web.Application:
    """The aiohttp application; /api/* needs a bearer token when NEWSBOT_API_TOKEN is set."""
    app = web.Application(middlewares=_middlewares())
    app[SERVICE] = service
    app[BODIES] = AnswerBodies()
    app[METRICS] = RequestMetrics(service.metrics.registry)
    app[LIMITS] = Limits(max_k=settings.http.max_k)
    app[CHECKS] = tuple(health_checks)
    app[TOKEN] = secret(TOKEN_ENV)
    app.router.add_get(ASK_ROUTE, handle_ask)
    app.router.add_get("/api/sources", handle_sources)
    app.router.add_get("/healthz", handle_health)
    app.router.add_get("/metrics", handle_metrics)
    return app


def make_runner(app: web.Application, settings: Settings, access_log: bool = True) -> GuardedRunner:
    """A runner with the limits this API relies on (URL size, timeouts, a connection cap) and
    the lean protocol of :mod:`.fast` in front of aiohttp for ``GET /api/ask``."""
    kwargs: dict[str, Any] = (
        {"access_log_format": ACCESS_LOG_FORMAT} if access_log else {"access_log": None}
    )
    route = FastRoute(
        app[SERVICE],
        app[LIMITS],
        app[TOKEN],  # type: ignore[arg-type]
        app[BODIES],
        app[METRICS],
        AccessLogger(access_logger, ACCESS_LOG_FORMAT) if access_log else None,
    )
    return GuardedRunner(
        app,
        cap=settings.http.max_connections or None,
        fast=functools.partial(FastConnection, route=route),
        keepalive_timeout=settings.http.idle_timeout_seconds,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        max_line_size=MAX_URL_BYTES,
        **kwargs,
    )


async def start_http(
    service: Service,
    settings: Settings,
    health_checks: Sequence[HealthCheck] = (),
    *,
    host: str | None = None,
    port: int | None = None,
    access_log: bool = True,
    reuse_port: bool = False,
) -> web.AppRunner:
    """Serve the API in the running event loop; stop it with ``await runner.cleanup()``.

    ``health_checks`` are other parts' checks that /healthz adds (a front end running beside the
    API passes its own). ``host``/``port`` default to
    ``http.host``/``http.port``; port 0 picks a free port (see :func:`bound_address`).
    ``reuse_port`` lets several processes listen on the same port (``serve --workers``).
    Raises HttpStartError when the address cannot be bound.
    """
    host = host or settings.http.host
    port = settings.http.port if port is None else port
    runner = make_runner(create_app(service, settings, health_checks), settings, access_log)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    except OSError as exc:
        await runner.cleanup()
        raise HttpStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    host_bound, port_bound = bound_address(runner)
    logger.info("HTTP API on http://%s:%d", host_bound, port_bound)
    return runner


def bound_address(runner: web.AppRunner) -> tuple[str, int]:
    """The (host, port) the runner actually listens on."""
    address = runner.addresses[0]
    return str(address[0]), int(address[1])
