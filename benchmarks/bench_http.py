"""Load test of the HTTP API: GET /api/ask, C at a time, against ``python -m bot serve``.

For each worker count (1, then one per core) it starts ``serve --workers W`` as a subprocess on
127.0.0.1 (a free port, a private index and question log in a temp folder, the repository's
``sources/``), waits for /healthz, and fires the requests over keep-alive connections with a
lean asyncio client (so the client takes little of the CPU the server needs) over the questions
of ``eval/questions.yaml``. Scenarios: ``cold`` (answer cache empty), ``warm`` (same questions
again) and ``unique`` (every question unique, so every request runs the engine). It also
measures the *in-process ceiling*: the same unique questions answered and serialised to JSON in a
loop in this process, with no HTTP at all. Prints throughput, latency percentiles and errors,
the CPU the server processes got (in cores: on a busy machine N workers may get less than N),
and the ratios against the targets (1 worker ≥ 90% of the ceiling; N workers ≥ 1.6× one).
Exit status 1 when a request failed or a server did not exit cleanly.

    PYTHONPATH=. python benchmarks/bench_http.py [--requests 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks.common import machine_description, percentile
from bot.evaluation.scoring import load_questions
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
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
    """``python -m bot serve --workers W`` with a private index and question log."""
    config = folder / "config.yaml"
    config.write_text(
        f"log_level: {log_level}\nquestion_log:\n  path: {folder / 'questions.jsonl'}\n",
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


def _questions(base: list[str], distinct: bool) -> itertools.cycle[str] | object:
    return (f"{q} #{next(_UNIQUE)}" if distinct else q for q in itertools.cycle(base))


async def fire(
    port: int, questions: list[str], total: int, concurrency: int, distinct: bool = False
) -> tuple[list[float], int, float]:
    """``total`` GET /api/ask over ``concurrency`` connections: (latencies ms, errors, seconds)."""
    cycle = iter(_questions(questions, distinct))  # type: ignore[call-overload]
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next(counter) < total:
                target = "/api/ask?" + urllib.parse.urlencode({"q": next(cycle), "k": "3"})
                began = time.perf_counter()
                try:
                    status, _ = await get(reader, writer, target)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append((time.perf_counter() - began) * 1000)
                errors += status != 200
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - began


def in_process_ceiling(
    sources: Path, index: Path, questions: list[str], rounds: int = 3
) -> tuple[float, float]:
    """Unique questions answered and serialised in a loop here, no HTTP: (req/s, CPU cores).

    Warmed up as long as a server run (the engine's caches fill as questions arrive), then the
    best of ``rounds`` rounds of 1,000 (the machine is shared and noisy).
    """
    from bot.core.pipeline.engine import Engine

    engine = Engine.open(sources, index)
    unique = iter(_questions(questions, True))  # type: ignore[call-overload]

    def answer(count: int) -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        for question in itertools.islice(unique, count):
            json.dumps(engine.ask(question, 3).to_json(), ensure_ascii=False).encode()
        wall = time.perf_counter() - began
        return count / wall, (time.process_time() - cpu) / wall

    answer(2000)
    return max(answer(1000) for _ in range(rounds))


def _row(
    name: str, latencies: list[float], errors: int, seconds: float, cpu: float
) -> tuple[str, float]:
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    rate = len(latencies) / seconds
    verdict = "yes" if p95 < TARGET_P95_MS and not errors else "NO"
    return (
        f"| {name} | {len(latencies)} | {errors} | {rate:.0f} | {p50:.1f} | {p95:.1f} | "
        f"{p99:.1f} | {max(latencies):.1f} | {cpu / seconds:.2f} | {verdict} |",
        rate,
    )


async def run_server(
    args: argparse.Namespace, folder: Path, workers: int, questions: list[str]
) -> tuple[list[str], dict[str, float], int]:
    """One server with ``workers``: its table rows, req/s per scenario, failures (errors+exit)."""
    port = free_port()
    proc = start_server(folder, args.sources, port, workers, args.log_level)
    rows, rates, failed = [], {}, 0
    try:
        await wait_healthy(port, proc)
        await fire(port, questions, min(400, args.requests), args.concurrency, distinct=True)
        for name in args.scenarios:
            cpu = server_cpu_seconds(proc.pid)
            latencies, errors, seconds = await fire(
                port, questions, args.requests, args.concurrency, distinct=name == "unique"
            )
            cpu = server_cpu_seconds(proc.pid) - cpu
            failed += errors
            label = f"{workers} worker(s), {name}"
            row, rates[name] = _row(label, latencies, errors, seconds, cpu)
            rows.append(row)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
    return rows, rates, failed + (status != 0)


async def bench(args: argparse.Namespace) -> int:
    """Each worker count in turn, then the ceiling; print the tables and the verdicts."""
    questions = [q.question for q in load_questions(args.questions)]
    many = args.workers or cores()
    rows: list[str] = []
    rates: dict[int, dict[str, float]] = {}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        for workers in sorted({1, many}):
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            got, rates[workers], bad = await run_server(args, folder, workers, questions)
            rows += got
            failed += bad
        ceiling, ceiling_cpu = in_process_ceiling(
            args.sources, Path(tmp) / "w1" / "index", questions
        )
    print(machine_description())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"Load average at the end (1, 5, 15 min): {load} on {cores()} cores.")
    print(
        f"\nGET /api/ask x {args.requests} per scenario, {args.concurrency} concurrent keep-alive "
        f"connections, {len(questions)} questions from {args.questions.name}, "
        f"server log {args.log_level}\n"
    )
    print(
        "| server, scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms "
        "| CPU (cores) | p95<50 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print(
        f"| in-process ceiling (no HTTP), unique | 1000 | 0 | {ceiling:.0f} | | | | | "
        f"{ceiling_cpu:.2f} | |"
    )
    for name in args.scenarios:
        print(f"  {name}: {SCENARIOS[name]}")
    if "unique" in args.scenarios:
        one = rates[1]["unique"]
        print(f"\n1 worker / in-process ceiling: {one / ceiling:.0%} (target ≥ 90%)")
        if many > 1:
            ratio = rates[many]["unique"] / one
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
