"""aiohttp's own floor on this machine: a minimal app whose one route answers without newsbot's
service around it — a fixed JSON body, or ``Engine.ask`` and its JSON and nothing else.

``bench_http.py`` loads it with the same client as the real server. The fixed body shows what
aiohttp itself costs per request; the bare engine shows what the least any aiohttp server can do
for these questions costs (no metrics, question log, limits, cache or token check), so the gap
to ``serve`` is newsbot's own and the gap to the in-process ceiling is aiohttp's. Run as
``python -m benchmarks.aiohttp_floor PORT BODY_BYTES`` or
``python -m benchmarks.aiohttp_floor PORT --engine SOURCES INDEX``; SIGTERM stops it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

Handle = Callable[[web.Request], Awaitable[web.Response]]


def fixed_app(body_bytes: int) -> web.Application:
    """/api/ask answering a fixed JSON body of about ``body_bytes`` bytes."""
    body = json.dumps({"text": "x" * max(0, body_bytes - 12)}).encode()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return _app(handle)


def engine_app(sources: Path, index: Path) -> web.Application:
    """/api/ask answering ``q`` with ``Engine.ask`` (k=3) and the server's JSON of the answer."""
    from bot.core.pipeline.engine import Engine
    from bot.frontends.http_api.policy import answer_json

    engine = Engine.open(sources, index)

    async def handle(request: web.Request) -> web.Response:
        body = answer_json(engine.ask(request.query.get("q", "health"), 3))
        return web.Response(body=body, content_type="application/json")

    return _app(handle)


def _app(handle: Handle) -> web.Application:
    app = web.Application()
    app.router.add_get("/api/ask", handle)
    app.router.add_get("/healthz", handle)
    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    if sys.argv[2] == "--engine":
        app = engine_app(Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        app = fixed_app(int(sys.argv[2]))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
