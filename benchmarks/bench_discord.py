"""Latency of the Discord bot under load: /ask questions against the local Discord stand-in.

The real NewsBot (discord.py) and Service run in this process's main event loop; the stand-in
(tests/discord_standin) serves REST and the gateway from its own loop in a thread, as Discord's
servers would be elsewhere. It measures, per question, the time from the INTERACTION_CREATE
dispatch to the request carrying the answer (the interaction callback, or the edit after a
deferral) reaching the stand-in, over N questions C at a time (cooldown 0; the questions of
``eval/questions.yaml`` in turn; the repository's five articles, a private index and question
log), and checks that heartbeats kept being sent and acknowledged on time meanwhile.

    PYTHONPATH=. python benchmarks/bench_discord.py [--questions 200] [--concurrency 20]

Prints a Markdown table. Exit status 1 when a question was not answered or a request rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import percentile
from bot.evaluation.scoring import load_questions as load_eval_set
from bot.frontends.discord_bot.client import NewsBot
from bot.service.service import Service
from bot.service.settings import DiscordSettings, QuestionLogSettings, Settings
from tests.discord_standin import DiscordStandIn
from tests.helpers import standin_in_thread

ROOT = Path(__file__).resolve().parent.parent

TARGET_P95_MS = 150.0
WARM_UP = 10


async def drive(standin: DiscordStandIn, questions: list[str], concurrency: int) -> list[int]:
    """Fire the questions (in the stand-in's loop), ``concurrency`` at a time; interaction ids."""
    gate = asyncio.Semaphore(concurrency)
    users = ["member", "admin", "owner"]

    async def one(question: str, user: str) -> int:
        async with gate:
            start = standin.mark()
            inter = await standin.send_slash_command("ask", {"question": question}, user=user)
            await standin.wait_for_response(
                inter,
                lambda o: bool(o["message"] and o["message"].get("embeds")),
                timeout=30,
                start=start,
            )
            return int(inter["id"])

    jobs = [one(q, u) for q, u in zip(questions, itertools.cycle(users), strict=False)]
    return list(await asyncio.gather(*jobs))


def answer_latencies(standin: DiscordStandIn, ids: list[int]) -> list[float]:
    """Milliseconds from dispatch to the request carrying each answer."""
    sent: dict[str, float] = {}
    for request in standin.requests:
        path, body = request["path"], request["json"] or {}
        if path.startswith("interactions/") and body.get("type") == 4:
            sent.setdefault(path.split("/")[2], request["at"])  # token
        elif path.startswith("webhooks/") and request["method"] == "PATCH":
            sent.setdefault(path.split("/")[2], request["at"])
    latencies = []
    for iid in ids:
        record = standin.interactions[iid]
        latencies.append((sent[record["token"]] - record["created"]) * 1000)
    return latencies


def heartbeat_report(standin: DiscordStandIn, began: float, ended: float) -> dict[str, float]:
    """Heartbeats during the run (and the ones just around it): count, largest gap, slowest ACK."""
    during = [b for b in standin.heartbeats if began <= b["received_at"] <= ended]
    before = [b for b in standin.heartbeats if b["received_at"] < began][-1:]
    after = [b for b in standin.heartbeats if b["received_at"] > ended][:1]
    beats = before + during + after
    gaps = [(b["received_at"] - a["received_at"]) * 1000 for a, b in itertools.pairwise(beats)]
    acks = [(b["acked_at"] - b["received_at"]) * 1000 for b in beats if "acked_at" in b]
    return {
        "count": len(during),
        "max_gap_ms": max(gaps, default=math.nan),
        "max_ack_ms": max(acks, default=math.nan),
    }


async def benchmark(args: argparse.Namespace) -> int:
    """Start everything, run the load, print the table; the exit status."""
    questions = [q.question for q in load_eval_set(ROOT / "eval" / "questions.yaml")]
    workload = list(itertools.islice(itertools.cycle(questions), args.questions))
    standin_scope = standin_in_thread(heartbeat_interval_ms=args.heartbeat_ms)
    with tempfile.TemporaryDirectory() as tmp, standin_scope as (standin, loop):
        folder = Path(tmp)
        settings = Settings(
            sources=ROOT / "sources",
            index=folder / "index",
            log_level="WARNING",
            semantic=args.semantic,
            discord=DiscordSettings(cooldown_seconds=0, guild_id=standin.guild_id),
            question_log=QuestionLogSettings(path=folder / "questions.jsonl"),
        )
        service = await asyncio.to_thread(Service.open, settings)
        bot = NewsBot(settings, service)
        bot._connection.guild_ready_timeout = 0.05
        task = asyncio.create_task(bot.start(standin.token))
        try:
            while not bot.is_ready():
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)

            def fire(batch: list[str], concurrency: int) -> asyncio.Future[list[int]]:
                coro = drive(standin, batch, concurrency)
                return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

            await fire(questions[:WARM_UP], 5)
            samples: list[float] = []

            async def sample() -> None:  # bot.latency as the bot sees it, during the run
                while True:
                    samples.append(bot.latency)
                    await asyncio.sleep(0.01)

            sampler = asyncio.create_task(sample())
            began = time.monotonic()
            ids = await fire(workload, args.concurrency)
            elapsed = time.monotonic() - began
            sampler.cancel()
        finally:
            await bot.close()
            await asyncio.wait_for(task, 10)
            await service.aclose()
        latencies = answer_latencies(standin, ids)
        beats = heartbeat_report(standin, began, began + elapsed)
        rejected = len(standin.rejections) + len(standin.server_errors)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    rows = [
        ("questions (concurrent)", f"{len(ids)} ({args.concurrency} at a time)"),
        ("answer latency p50", f"{p50:.1f} ms"),
        ("answer latency p95", f"{p95:.1f} ms"),
        ("answer latency p99 / max", f"{percentile(latencies, 99):.1f} / {max(latencies):.1f} ms"),
        ("throughput", f"{len(ids) / elapsed:.0f} questions/s"),
        ("heartbeat interval", f"{args.heartbeat_ms} ms"),
        ("heartbeats during the run", f"{beats['count']:.0f}"),
        ("largest gap between heartbeats", f"{beats['max_gap_ms']:.0f} ms"),
        ("latest heartbeat (gap − interval)", f"{beats['max_gap_ms'] - args.heartbeat_ms:.0f} ms"),
        ("slowest heartbeat ACK", f"{beats['max_ack_ms']:.0f} ms"),
        ("largest bot.latency seen", f"{max(samples) * 1000:.0f} ms"),
        ("rejected requests", str(rejected)),
        (f"p95 < {TARGET_P95_MS:.0f} ms", "yes" if p95 < TARGET_P95_MS else "NO"),
    ]
    print("| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if beats["max_gap_ms"] > 2 * args.heartbeat_ms:  # a heartbeat was missed altogether
        print(f"\nheartbeats were late: a gap of {beats['max_gap_ms']:.0f} ms", file=sys.stderr)
    return 1 if rejected or len(ids) != len(workload) else 0


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200, help="questions measured (200)")
    parser.add_argument("--concurrency", type=int, default=20, help="at a time (20)")
    parser.add_argument("--heartbeat-ms", type=int, default=100, help="gateway heartbeat (100)")
    parser.add_argument(
        "--semantic", choices=("auto", "on", "off"), default="auto", help="semantic stage (auto)"
    )
    return asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
