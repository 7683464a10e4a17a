"""Load test of the HTTP API: GET /api/ask, C at a time, against ``python -m bot serve``.

For each worker count (1, then one per core) it starts ``serve --workers W`` as a subprocess on
127.0.0.1 (a free port, a private index and question log in a temp folder, the repository's
``sources/``), waits for /healthz, and fires the requests over keep-alive connections, one
outstanding on each, over the questions of ``eval/questions.yaml``. The client is an
``asyncio.Protocol`` sending requests encoded in advance and reading only the status and
Content-Length, so it takes a small fraction of the CPU the server needs (its own column says
how much). Scenarios: ``cold`` (answer cache empty), ``warm`` (same questions again) and
``unique`` (every question unique, so every request runs the engine). It also loads aiohttp's
minimal app (:mod:`benchmarks.aiohttp_floor`) the same way, once with a fixed body (what aiohttp
itself costs here) and once answering with ``Engine.ask`` + JSON and nothing else (the least any
aiohttp server can do for these questions), and measures the *in-process ceiling*: the same
unique questions answered and serialised to JSON in a loop in this process, with no HTTP at all.
Prints throughput, latency percentiles and errors, the CPU the server processes got (in cores —
on a busy machine N workers may get less than N — and per request), and the ratios against the
targets (1 worker ≥ 90% of the ceiling; N workers ≥ 1.6× one), also by CPU per request.
Exit status 1 when a request failed or a server did not exit cleanly.

    PYTHONPATH=. python benchmarks/bench_http.py [--requests 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import machine_description, percentile
from bot.evaluation.scoring import load_questions
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
FLOOR_BODY = 2000  # bytes: about the size of an answer to the eval questions (1.9 kB)
SCENARIOS = {
    "cold": "the eval questions, answer cache empty at the start",
    "warm": "the same questions again, answer cache warm",
    "unique": "every question made unique: no cache hits, all engine",
}
_UNIQUE = itertools.count()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def start_server(
    folder: Path, sources: Path, port: int, workers: int, log_level: str
) -> subprocess.Popen[bytes]:
    """``python -m bot serve --workers W`` with a private index and question log, lexical (the
    in-process ceiling is the lexical engine; with the semantic stage installed ``serve`` would
    encode every new question, ~10 ms of CPU each: README, "Semantic stage")."""
    config = folder / "config.yaml"
    config.write_text(
        f'log_level: {log_level}\nsemantic: "off"\n'
        f"question_log:\n  path: {folder / 'questions.jsonl'}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NEWSBOT_API_TOKEN", None)
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
    command += ["--sources", str(sources), "--index", str(folder / "index")]
    command += ["--port", str(port), "--workers", str(workers)]
    with (folder / f"server-{workers}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log)


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
) -> tuple[int, bytes]:
    """One keep-alive GET on an open connection: (status, body)."""
    writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def wait_healthy(port: int, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    """Poll /healthz until it answers 200 (bounded in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status, _ = await get(reader, writer, "/healthz")
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"port {port}: /healthz did not answer within {seconds:.0f} s")


def server_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a server process and its worker processes."""
    tick = os.sysconf("SC_CLK_TCK")
    pids, total = [pid], 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _questions(base: list[str], distinct: bool) -> Iterator[str]:
    return (f"{q} #{next(_UNIQUE)}" if distinct else q for q in itertools.cycle(base))


def ask_requests(questions: list[str], total: int, distinct: bool) -> list[bytes]:
    """``total`` GET /api/ask requests, encoded before the clock starts (the client stays cheap)."""
    asked = itertools.islice(_questions(questions, distinct), total)
    return [
        f"GET /api/ask?{urllib.parse.urlencode({'q': q, 'k': '3'})} HTTP/1.1\r\n"
        "Host: bench\r\n\r\n".encode()
        for q in asked
    ]


class _Load:
    """What the connections of one run share: the requests left, and what came back."""

    def __init__(self, requests: list[bytes], connections: int) -> None:
        self.requests = iter(requests)
        self.latencies: list[float] = []
        self.errors = 0
        self.open = connections
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _Client(asyncio.Protocol):
    """One keep-alive connection with one request outstanding: the next goes out as soon as the
    last response is complete. Parses only the status and Content-Length, so a client core can
    drive many server cores (``CPU client`` in the table shows what it took)."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.buffer = b""
        self.began = 0.0
        self.waiting = False  # a request is out and its response not complete
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        request = next(self.load.requests, None)
        assert self.transport is not None
        if request is None:
            self.transport.close()
            return
        self.began, self.waiting = time.perf_counter(), True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            at = buffer[:end].lower().find(b"\r\ncontent-length:") + 17
            length = int(buffer[at : buffer.find(b"\r\n", at)])
            if len(buffer) < end + 4 + length:
                break
            self.waiting = False
            self.load.latencies.append((time.perf_counter() - self.began) * 1000)
            self.load.errors += buffer[9:12] != b"200"
            buffer = buffer[end + 4 + length :]
            self.send()
        self.buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        load = self.load
        load.errors += self.waiting or exc is not None
        load.open -= 1
        if load.open == 0 and not load.done.done():
            load.done.set_result(None)


async def fire_requests(
    port: int, requests: list[bytes], concurrency: int
) -> tuple[list[float], int, float, float]:
    """Send ``requests`` over ``concurrency`` keep-alive connections, one outstanding on each:
    (latencies ms, errors, wall seconds, client CPU seconds). A connection the server closes
    counts as an error and is not reopened (its share goes to the others)."""
    load = _Load(requests, concurrency)
    loop = asyncio.get_running_loop()
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(concurrency):
        await loop.create_connection(lambda: _Client(load), "127.0.0.1", port)
    await asyncio.wait_for(load.done, timeout=600)
    return load.latencies, load.errors, time.perf_counter() - began, time.process_time() - cpu


async def fire(
    port: int, questions: list[str], total: int, concurrency: int, distinct: bool = False
) -> tuple[list[float], int, float]:
    """``total`` GET /api/ask over ``concurrency`` connections: (latencies ms, errors, seconds)."""
    requests = ask_requests(questions, total, distinct)
    latencies, errors, seconds, _ = await fire_requests(port, requests, concurrency)
    return latencies, errors, seconds


def in_process_ceiling(
    sources: Path, index: Path, questions: list[str], rounds: int = 3
) -> tuple[float, float]:
    """Unique questions answered and serialised in a loop here, no HTTP: (req/s, CPU cores).

    Each is ``Engine.ask`` and the server's own serialisation of the answer
    (:func:`~bot.frontends.http_api.policy.answer_json`). Warmed up as long as a server run (the
    engine's caches fill as questions arrive), then the best of ``rounds`` rounds of 1,000 (the
    machine is shared and noisy).
    """
    from bot.core.pipeline.engine import Engine
    from bot.frontends.http_api.policy import answer_json

    engine = Engine.open(sources, index)
    unique = _questions(questions, True)

    def answer(count: int) -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        for question in itertools.islice(unique, count):
            answer_json(engine.ask(question, 3))
        wall = time.perf_counter() - began
        return count / wall, (time.process_time() - cpu) / wall

    answer(2000)
    return max(answer(1000) for _ in range(rounds))


@dataclass
class Measured:
    """One scenario's run: latencies, errors, wall time and the CPU each side used."""

    latencies: list[float]
    errors: int
    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return len(self.latencies) / self.seconds

    def row(self, name: str) -> str:
        """The scenario's line of the table."""
        p50, p95, p99 = (percentile(self.latencies, q) for q in (50, 95, 99))
        verdict = "yes" if p95 < TARGET_P95_MS and not self.errors else "NO"
        per_request = self.server_cpu / max(1, len(self.latencies)) * 1e6
        return (
            f"| {name} | {len(self.latencies)} | {self.errors} | {self.rate:.0f} | {p50:.1f} | "
            f"{p95:.1f} | {p99:.1f} | {max(self.latencies):.1f} | "
            f"{self.server_cpu / self.seconds:.2f} | {per_request:.0f} | "
            f"{self.client_cpu / self.seconds:.2f} | {verdict} |"
        )


async def measure(port: int, pid: int, requests: list[bytes], concurrency: int) -> Measured:
    """Fire ``requests`` at the server ``pid`` listening on ``port``; what it took."""
    cpu = server_cpu_seconds(pid)
    latencies, errors, seconds, client = await fire_requests(port, requests, concurrency)
    return Measured(latencies, errors, seconds, server_cpu_seconds(pid) - cpu, client)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM a server and wait for it (bounded); its exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


async def run_server(
    args: argparse.Namespace, folder: Path, workers: int, questions: list[str]
) -> tuple[dict[str, Measured], int]:
    """One server with ``workers``: each scenario's measurement, and failures (errors + exit)."""
    port = free_port()
    proc = start_server(folder, args.sources, port, workers, args.log_level)
    runs: dict[str, Measured] = {}
    try:
        await wait_healthy(port, proc)
        await fire(port, questions, min(400, args.requests), args.concurrency, distinct=True)
        for name in args.scenarios:
            requests = ask_requests(questions, args.requests, distinct=name == "unique")
            runs[name] = await measure(port, proc.pid, requests, args.concurrency)
    finally:
        status = stop(proc)
    return runs, sum(r.errors for r in runs.values()) + (status != 0)


async def run_floor(
    args: argparse.Namespace, questions: list[str], how: list[str], total: int
) -> Measured:
    """The same load against aiohttp's minimal app (:mod:`benchmarks.aiohttp_floor`)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "benchmarks.aiohttp_floor", str(port), *how]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        await wait_healthy(port, proc)
        requests = ask_requests(questions, total, distinct=True)
        await fire_requests(port, requests[:400], args.concurrency)
        return await measure(port, proc.pid, requests, args.concurrency)
    finally:
        stop(proc)


HEADER = (
    "| server, scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms "
    "| server CPU (cores) | server CPU µs/request | client CPU (cores) | p95<50 |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


async def bench(args: argparse.Namespace) -> int:
    """Each worker count in turn, aiohttp's floor, then the ceiling; the tables and verdicts."""
    questions = [q.question for q in load_questions(args.questions)]
    many = args.workers or cores()
    runs: dict[int, dict[str, Measured]] = {}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        for workers in sorted({1, many}):
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            runs[workers], bad = await run_server(args, folder, workers, questions)
            failed += bad
        # The fixed body takes far less time: four times the requests (CPU is counted in ticks).
        floor = await run_floor(args, questions, [str(FLOOR_BODY)], 4 * args.requests)
        index = Path(tmp) / "w1" / "index"
        engine_only = ["--engine", str(args.sources), str(index)]
        bare = await run_floor(args, questions, engine_only, args.requests)
        ceiling, ceiling_cpu = in_process_ceiling(args.sources, index, questions)
    print(machine_description())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"Load average at the end (1, 5, 15 min): {load} on {cores()} cores.")
    print(
        f"\nGET /api/ask x {args.requests} per scenario, {args.concurrency} concurrent keep-alive "
        f"connections (one request outstanding on each), {len(questions)} questions from "
        f"{args.questions.name}, server log {args.log_level}\n"
    )
    print(HEADER)
    for workers, measured in runs.items():
        for name, run in measured.items():
            print(run.row(f"{workers} worker(s), {name}"))
    print(floor.row(f"aiohttp's minimal app, a fixed {FLOOR_BODY:,}-byte body"))
    print(bare.row("aiohttp's minimal app, Engine.ask + JSON only, unique"))
    print(
        f"| in-process ceiling (no HTTP), unique | 1000 | 0 | {ceiling:.0f} | | | | | "
        f"{ceiling_cpu:.2f} | {ceiling_cpu / ceiling * 1e6:.0f} | | |"
    )
    for name in args.scenarios:
        print(f"  {name}: {SCENARIOS[name]}")
    if "unique" in args.scenarios:
        one = runs[1]["unique"].rate
        print(f"\n1 worker / in-process ceiling: {one / ceiling:.0%} (target ≥ 90%)")
        # What that ratio would be with a whole core for each: CPU per answer, ceiling / server.
        per_answer = ceiling_cpu / ceiling
        served = runs[1]["unique"].server_cpu / len(runs[1]["unique"].latencies)
        print(f"  by CPU per request (ceiling / 1 worker): {per_answer / served:.0%}")
        least = bare.server_cpu / len(bare.latencies)
        print(
            "aiohttp's minimal app with Engine.ask + JSON only / ceiling: "
            f"{bare.rate / ceiling:.0%} (by CPU per request {per_answer / least:.0%}); "
            f"1 worker / that app: {one / bare.rate:.0%} (by CPU per request "
            f"{least / served:.0%})"
        )
        if many > 1:
            ratio = runs[many]["unique"].rate / one
            print(f"{many} workers / 1 worker: {ratio:.2f}× (target ≥ 1.6×)")
    print(f"failed requests or unclean exits: {failed}")
    return 1 if failed else 0


def main() -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None, help="N (default: the cores)")
    parser.add_argument("--sources", type=Path, default=ROOT / "sources")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.yaml")
    parser.add_argument("--log-level", default="WARNING", help="server log level")
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
