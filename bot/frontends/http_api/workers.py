"""``serve --workers N``: N HTTP processes sharing one port (SO_REUSEPORT), one per core.

The parent builds the index if it is missing or stale (so workers do not race to rebuild it),
then starts each worker as ``python -m bot serve --workers 1 --reuse-port`` with a pipe on which
the worker reports ``ok`` once it listens, or its one-line error. The kernel spreads connections
over the workers' sockets; a worker that exits is started again (at most 5 times a minute).
SIGTERM or SIGINT to the parent is passed to every worker, which finishes its requests in flight
and flushes its question log (shared safely, see :mod:`bot.service.linefile`); the parent exits 0
when they all did.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.errors import StartError

logger = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds a worker may take to load the index and listen
STOP_TIMEOUT = 20.0  # seconds workers get to finish requests in flight after SIGTERM
MAX_RESTARTS, RESTART_WINDOW = 5, 60.0  # a worker that exits is restarted, this often at most


class WorkerStartError(StartError):
    """A worker could not start; the message is its one-line error."""


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def report_ready(fd: int | None, message: str) -> None:
    """Tell the parent (if any) that this worker listens (``ok``) or why it cannot."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, (message.replace("\n", " ") + "\n").encode("utf-8"))
        os.close(fd)


def _worker_command(args: argparse.Namespace, number: int, ready_fd: int) -> list[str]:
    command = [sys.executable, "-m", "bot", "serve", "--workers", "1", "--reuse-port"]
    command += ["--worker-number", str(number), "--ready-fd", str(ready_fd)]
    for flag, value in (
        ("--config", args.config),
        ("--sources", args.sources),
        ("--index", args.index),
        ("--host", args.host),
        ("--port", args.port),
    ):
        if value is not None:
            command += [flag, str(value)]
    return command


def _read_ready(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """The worker's first line on its ready pipe (or why none came)."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return "error: a worker did not start listening in time"
        readable, _, _ = select.select([fd], [], [], min(left, 0.5))
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    line = data.decode("utf-8", "replace").strip()
    return line or f"error: a worker exited with status {proc.wait()} before listening"


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM every worker, wait for them (bounded), kill any left; their exit statuses."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    statuses = []
    for proc in procs:
        try:
            statuses.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.kill()
            statuses.append(proc.wait())
    return statuses


def run_workers(args: argparse.Namespace, count: int) -> int:
    """Start ``count`` workers, wait for SIGTERM/SIGINT, stop them; 0 when all stopped cleanly.

    Raises WorkerStartError with a worker's one-line error when one cannot start.
    """
    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pipes = []
        for number in range(1, count + 1):
            proc, read_fd = _spawn(args, number)
            procs.append(proc)
            pipes.append(read_fd)
        deadline = time.monotonic() + START_TIMEOUT
        for read_fd, proc in zip(pipes, procs, strict=True):
            answer = _read_ready(read_fd, proc, deadline)
            os.close(read_fd)
            if answer != "ok":
                raise WorkerStartError(answer.removeprefix("error: "))
        logger.info("HTTP API: %d workers on port %s", count, args.port)
        restarts: list[float] = []
        while not stop_requested:
            for number, proc in enumerate(procs, 1):
                if proc.poll() is None or stop_requested:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
                if len(restarts) > MAX_RESTARTS:
                    logger.error(
                        "HTTP workers keep exiting (%d in a minute): stopping", MAX_RESTARTS
                    )
                    return 1
                logger.error(
                    "HTTP worker %d exited with status %s: starting it again",
                    number,
                    proc.returncode,
                )
                procs[number - 1], read_fd = _spawn(args, number)
                os.close(read_fd)  # it says "ok" to nobody; the others serve meanwhile
            time.sleep(0.2)
        logger.info("shutting down %d workers", count)
    finally:
        statuses = _stop(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if all(status == 0 for status in statuses) else 1


def _spawn(args: argparse.Namespace, number: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start worker ``number``: the process and the read end of its ready pipe."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(_worker_command(args, number, write_fd), pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    return proc, read_fd


def prepare_index(sources: Path, index: Path, semantic: str = "auto") -> None:
    """Build the index now if it is missing or stale, so the workers only load it."""
    from bot.core.pipeline.engine import Engine, Tuning
    from bot.core.pipeline.semantic import SemanticSettings

    Engine.open(
        sources, index, Tuning(semantic=SemanticSettings(semantic, rank=False)), logger.info
    )
