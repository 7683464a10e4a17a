"""``python -m bot serve``: the HTTP API alone, in one process or in one worker per core.

Start-up problems (bad settings or token, port in use, missing sources) are one ``error:`` line
and a non-zero exit; SIGTERM or SIGINT stops accepting, finishes requests in flight (up to 10 s),
flushes the question log and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from typing import Any

from bot.core.printable import PrintableLogs
from bot.errors import BadInput, NewsbotError, exit_status
from bot.frontends.http_api.server import start_http
from bot.frontends.http_api.workers import (
    default_workers,
    prepare_index,
    report_ready,
    run_workers,
)
from bot.service.service import Service
from bot.service.settings import Settings, environment, load_settings

logger = logging.getLogger(__name__)


async def serve(
    service: Service,
    settings: Settings,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    ready_fd: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish requests in flight and return."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = await start_http(service, settings, host=host, port=port, reuse_port=reuse_port)
        report_ready(ready_fd, "ok")
        try:
            await stop.wait()
            logger.info("shutting down: finishing requests in flight")
        finally:
            loop.set_exception_handler(_closed_listener_retry)
            await runner.cleanup()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _closed_listener_retry(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Once shutting down, a retry of ``accept`` asyncio scheduled after running out of file
    descriptors (a flood of connections) may fire on the listening socket already closed
    (``ValueError: Invalid file descriptor: -1`` in ``_start_serving``): nothing is lost, so it
    is a debug line, not a traceback; anything else goes to the default handler."""
    where = f"{context.get('message', '')} {context.get('handle', '')!r}"
    if isinstance(context.get("exception"), ValueError) and "_start_serving" in where:
        logger.debug("accept retry on the closed listening socket ignored")
        return
    loop.default_exception_handler(context)


def _setup_logging(settings: Settings, worker: int | None) -> None:
    where = f" [worker {worker}]" if worker else ""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s{where} %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(PrintableLogs())


def serve_command(args: argparse.Namespace) -> int:
    """``python -m bot serve [--workers N]``: the HTTP API alone, until SIGTERM/SIGINT."""
    ready_fd: int | None = getattr(args, "ready_fd", None)
    try:
        settings = load_settings(args.config)
        environment()  # a bad token is refused now, before the index is opened
        _setup_logging(settings, getattr(args, "worker_number", None))
        host = args.host or settings.http.host
        port = settings.http.port if args.port is None else args.port
        if not 0 <= port <= 65535:
            raise BadInput(f"--port {port}: must be between 0 and 65535")
        workers = default_workers() if args.workers is None else args.workers
        if workers < 1:
            raise BadInput(f"--workers {workers}: must be 1 or more")
        if workers > 1:
            if port == 0:
                raise BadInput("--port 0 needs --workers 1")
            prepare_index(
                args.sources or settings.sources, args.index or settings.index, settings.semantic
            )
            args.host, args.port = host, port
            return run_workers(args, workers)
        service = Service.open(settings, args.sources, args.index)
        # What start-up made (the engine, its vocabulary, the libraries) lives as long as the
        # process: the collector need not walk it again at every full collection.
        gc.freeze()
        try:
            asyncio.run(
                serve(service, settings, host, port, reuse_port=args.reuse_port, ready_fd=ready_fd)
            )
        finally:
            service.close()
    except (NewsbotError, OSError) as exc:
        if ready_fd is None:
            raise
        # A worker: the parent prints the one line; say it there, not twice.
        report_ready(ready_fd, f"error: {exc}")
        return exit_status(exc)
    logger.info("stopped")
    return 0
