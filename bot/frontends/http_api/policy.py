"""The policies of the HTTP API that both of its request paths apply, each in one place.

Requests reach the API through aiohttp's routes and middlewares (:mod:`.server`) or, for
``GET /api/ask``, through the lean connection protocol in front of them (:mod:`.fast`). Both
check the bearer token, read the question's parameters, map :class:`NewsbotError` to a status,
make the JSON bodies and count the request with the functions here, so they answer alike.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from multidict import MultiMapping

from bot.core.answer import Answer
from bot.core.lru import LruMap
from bot.core.printable import json_bytes
from bot.errors import BadInput, NewsbotError, QuestionTooLong, Unavailable
from bot.service.limits import DEFAULT_K, Limits
from bot.service.metrics import Registry
from bot.service.service import DEFAULT_CACHE_SIZE, Request

logger = logging.getLogger(__name__)

ASK_ROUTE = "/api/ask"
JSON_TYPE = "application/json; charset=utf-8"
NOSNIFF = ("X-Content-Type-Options", "nosniff")  # on every response

# (status, message, extra headers): a refusal, before it is made a response
Refusal = tuple[int, str, dict[str, str]]

# JSON as the API writes it: UTF-8 text, not \u escapes, but DEL and C1 controls escaped as the
# CLI's ``ask --json`` has them (a body piped to a terminal runs no control sequence).
json_body = json_bytes


def answer_json(answer: Answer) -> bytes:
    """The body of ``GET /api/ask``: the answer's JSON as ``ask --json`` prints it, UTF-8."""
    return json_body(answer.to_json())


def error_json(status: int, message: str) -> bytes:
    """The JSON error body every failure uses: ``{"error": ..., "status": ...}``."""
    return json_body({"error": message, "status": status})


class AnswerBodies:
    """The JSON bytes of recent answers, made once per answer: a cached answer goes out as is."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        # Keyed by identity; each entry holds its answer, so the id cannot be reused meanwhile.
        self._bodies: LruMap[int, tuple[Answer, bytes]] = LruMap(size)

    def of(self, answer: Answer) -> bytes:
        """The body for ``answer``."""
        found = self._bodies.get(id(answer))
        if found is not None and found[0] is answer:
            return found[1]
        body = answer_json(answer)
        self._bodies[id(answer)] = (answer, body)
        return body


def needs_token(path: str) -> bool:
    """Whether a path is under ``/api``, where the bearer token is checked."""
    return path == "/api" or path.startswith("/api/")


def token_refusal(token: str | None, authorization: str) -> Refusal | None:
    """Why the ``Authorization`` header does not carry ``token`` (None: it does, or no token)."""
    if not token:
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return (
            401,
            "authorization required: send Authorization: Bearer <token>",
            {"WWW-Authenticate": 'Bearer realm="newsbot"'},
        )
    # Header bytes that are not UTF-8 arrive as surrogates: compare them as raw bytes.
    sent = given.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(sent, token.encode("utf-8")):
        return (
            401,
            "invalid token",
            {"WWW-Authenticate": 'Bearer realm="newsbot", error="invalid_token"'},
        )
    return None


def ask_request(query: MultiMapping[str], remote: str | None, limits: Limits) -> Request:
    """The service request of ``GET /api/ask?q=…&k=…&offset=…`` (BadInput when malformed)."""
    questions = query.getall("q", [])
    if not questions:
        raise BadInput("missing query parameter q (the question): /api/ask?q=...")
    if len(questions) > 1:
        raise BadInput("give the question (q) only once")
    return Request(
        questions[0],
        frontend="http",
        k=limits.k(_one(query, "k", min(DEFAULT_K, limits.max_k))),
        user_id=remote,
        offset=limits.offset(_one(query, "offset", 0)),
        limits=limits,
    )


def _one(query: MultiMapping[str], name: str, default: int) -> int | str:
    """A query parameter given at most once (its raw text, checked by the limits)."""
    raw = query.getall(name, [])
    if len(raw) > 1:
        raise BadInput(f"give {name} only once")
    return raw[0] if raw else default


def error_refusal(exc: NewsbotError) -> Refusal:
    """The one mapping of the error hierarchy to HTTP statuses."""
    if isinstance(exc, QuestionTooLong):
        return 413, str(exc), {}
    if isinstance(exc, BadInput):
        return 400, str(exc), {}
    if isinstance(exc, Unavailable):
        return 503, str(exc), {"Retry-After": "5"}
    logger.error("request failed: %s", exc)
    return 500, str(exc), {}


INTERNAL_ERROR = "internal server error; the server log has the details"


class RequestMetrics:
    """``newsbot_http_requests_total{route,status}`` and the handling-time histogram."""

    def __init__(self, registry: Registry) -> None:
        self._requests = registry.counter(
            "newsbot_http_requests_total",
            "HTTP requests by route and status.",
            ("route", "status"),
        )
        self._seconds = registry.histogram(
            "newsbot_http_request_duration_seconds", "HTTP request handling time.", ("route",)
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}  # labels() once each

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request to ``route`` answered with ``status`` after ``seconds``."""
        counted = self._children.get((route, status))
        if counted is None:
            counted = self._children[route, status] = (
                self._requests.labels(route, str(status)),
                self._seconds.labels(route),
            )
        counted[0].inc()
        counted[1].observe(seconds)
