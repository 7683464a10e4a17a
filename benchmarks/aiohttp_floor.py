"""aiohttp's own floor on this machine: a minimal app whose one route returns a fixed JSON body.

``bench_http.py`` loads it with the same client as the real server, so the difference between
the two is what newsbot adds per request (the answer, metrics, question log, checks) and the
floor is what no aiohttp server here can go below. Run as
``python -m benchmarks.aiohttp_floor PORT BODY_BYTES``; SIGTERM stops it.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


def make_app(body_bytes: int) -> web.Application:
    """One GET route, /api/ask, answering a JSON body of about ``body_bytes`` bytes."""
    body = json.dumps({"text": "x" * max(0, body_bytes - 12)}).encode()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/ask", handle)
    app.router.add_get("/healthz", handle)
    return app


if __name__ == "__main__":
    web.run_app(
        make_app(int(sys.argv[2])),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
    )
