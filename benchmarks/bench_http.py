"""Load test of the HTTP API: GET /api/ask N times, C at a time, against ``python -m bot serve``.

Starts the server as a subprocess on 127.0.0.1 (a free port, a private index and question log in a
temp folder, the repository's ``sources/``), waits for /healthz, fires the requests with aiohttp
over the questions of ``eval/questions.yaml`` and prints throughput, latency percentiles and the
error count per scenario: ``cold`` (answer cache empty), ``warm`` (same questions again) and
``unique`` (every question unique, so every request runs the engine). Exit status 1 when a request
failed or the server did not exit cleanly.

    PYTHONPATH=. python benchmarks/bench_http.py [--requests 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import percentile
from bot.evaluation.scoring import load_questions

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, sources: Path, port: int, log_level: str) -> subprocess.Popen[bytes]:
    """``python -m bot serve`` with a private index and question log under ``folder``."""
    config = folder / "config.yaml"
    config.write_text(
        f"log_level: {log_level}\nquestion_log:\n  path: {folder / 'questions.jsonl'}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NEWSBOT_API_TOKEN", None)
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
    command += ["--sources", str(sources), "--index", str(folder / "index"), "--port", str(port)]
    with (folder / "server.log").open("wb") as log:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Poll /healthz until it answers 200 (bounded in time)."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with status {proc.returncode}")
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url}/healthz did not answer within {seconds:.0f} s")


_UNIQUE = itertools.count()


async def fire(
    url: str, questions: list[str], total: int, concurrency: int, distinct: bool = False
) -> tuple[list[float], int, float]:
    """Send ``total`` GET /api/ask, ``concurrency`` at a time: (latencies ms, errors, seconds).

    With ``distinct`` every question gets a unique suffix, so none is answered from the cache.
    """
    cycle = (f"{q} #{next(_UNIQUE)}" if distinct else q for q in itertools.cycle(questions))
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while next(counter) < total:
                params = {"q": next(cycle), "k": "3"}
                began = time.perf_counter()
                try:
                    async with session.get(f"{url}/api/ask", params=params) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - began) * 1000)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - began


SCENARIOS = {
    "cold": "the eval questions, answer cache empty at the start",
    "warm": "the same questions again, answer cache warm",
    "unique": "every question made unique: no cache hits, all engine",
}


def _row(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    verdict = "yes" if p95 < TARGET_P95_MS and not errors else "NO"
    return (
        f"{name:<7} {len(latencies):>8} {errors:>6} {seconds:>7.2f} "
        f"{len(latencies) / seconds:>7.0f} {p50:>7.1f} {p95:>7.1f} {p99:>7.1f} "
        f"{max(latencies):>7.1f} {verdict:>6}"
    )


async def bench(args: argparse.Namespace) -> int:
    """Start the server, warm it up, run each scenario, stop it with SIGTERM, print the table."""
    questions = [q.question for q in load_questions(args.questions)]
    rows: list[str] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        port = free_port()
        proc = start_server(Path(tmp), args.sources, port, args.log_level)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url, proc)
            # Warm up with unique questions: code paths are hot, the answer cache stays cold.
            await fire(url, questions, min(200, args.requests), args.concurrency, distinct=True)
            for name in args.scenarios:
                latencies, errors, seconds = await fire(
                    url, questions, args.requests, args.concurrency, distinct=name == "unique"
                )
                failed += errors
                rows.append(_row(name, latencies, errors, seconds))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = proc.wait()
        logged = sum(1 for _ in (Path(tmp) / "questions.jsonl").open(encoding="utf-8"))
    print(
        f"GET /api/ask x {args.requests} per scenario, {args.concurrency} concurrent, "
        f"{len(questions)} questions from {args.questions.name}, server log {args.log_level}"
    )
    print(
        f"{'scenario':<7} {'requests':>8} {'errors':>6} {'seconds':>7} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p95<50':>6}"
    )
    print("\n".join(rows))
    for name in args.scenarios:
        print(f"  {name}: {SCENARIOS[name]}")
    print(f"server exit status {status} after SIGTERM; {logged} questions logged")
    return 1 if failed or status else 0


def main() -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sources", type=Path, default=ROOT / "sources")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.yaml")
    parser.add_argument("--log-level", default="INFO", help="server log level (INFO logs access)")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        default=list(SCENARIOS),
        help="which scenarios to run, in order (default: all)",
    )
    return asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
