"""The performance issue's table from one run: newsbot against rank-bm25, bm25s and tantivy.

Usage::

    PYTHONPATH=. python benchmarks/performance.py          # 10k, 124k and 1M passages (~30 min)
    PYTHONPATH=. python benchmarks/performance.py --quick  # 10k passages, fewer requests (~2 min)

Corpus: the AG News test split (``../shared/data/ag_news``), 300 titles held out as questions, the
other items replicated to each size (one passage per item). Every engine runs in its own process
(``benchmarks/engines.py``), so each peak RSS is that engine's alone. Then: one article added
to the built index (seconds until a question quotes it), the HTTP API under 50 concurrent unique
questions with 1 and N workers (``serve --workers``) against the in-process ceiling (each side
the best of three rounds: the machine is shared and noisy), and the wall time of a one-shot
``python -m bot ask`` on the five articles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ag_news import CORPUS, HELD_OUT, SEED, read_items
from benchmarks.batch import measure as measure_batch
from benchmarks.bench_http import (
    ask_requests,
    cores,
    fire,
    in_process_ceiling,
    measure,
    start_server,
    stop,
    wait_healthy,
)
from benchmarks.common import (
    ROOT,
    fmt,
    machine_description,
    markdown_table,
    percentile,
    run_worker,
)
from benchmarks.scale import ScaleConfig, ScaleRun, ask_cli_wall, run_scale
from tests.helpers import free_port

SIZES = {"10k": 10_000, "124k": 124_100, "1M": 1_000_000}
MB = 1024 * 1024


def write_corpus(items: list[tuple[str, str]], held: set[int], size: int, folder: Path) -> Path:
    """``folder/ag.jsonl`` with ``size`` items (the non-held-out ones, repeated); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [i for i in range(len(items)) if i not in held]
    with (folder / "ag.jsonl").open("w", encoding="utf-8") as handle:
        for n in range(size):
            title, desc = items[rows[n % len(rows)]]
            record = {"id": f"ag{n:07d}", "title": title, "text": f"{title}\n{desc}"}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder


def measure_size(label: str, size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Build, query and grow one corpus size; the figures of its column."""
    items = read_items(CORPUS)
    held = set(random.Random(SEED).sample(range(len(items)), HELD_OUT))
    questions = [items[i][0] for i in sorted(held)][: args.queries]
    folder = write_corpus(items, held, size, work / label / "sources")
    config = ScaleConfig(
        jsonl=folder,
        questions=questions,
        workdir=work / label,
        rounds=args.rounds,
        rank_bm25_queries=args.rank_bm25_queries if size < 500_000 else 20,
    )
    run = run_scale(config)
    batch = measure_batch(
        folder,
        work / label / "ours",
        work / label / "passages.json",
        questions,
        config.rank_bm25_queries,
        args.rounds,
    )
    added = run_worker(
        "benchmarks.engines",
        {"task": "add_one", "sources": str(folder), "index_dir": str(work / label / "ours")},
    )
    return {"run": run, "added": added, "size": size, "batch": batch}


async def _http(
    workers: int, requests: int, folder: Path, questions: list[str], rounds: int = 3
) -> tuple[float, float, int, float]:
    """(requests/s, p95 ms, errors, server CPU µs per request) for ``requests`` unique
    questions, 50 at a time: the best of ``rounds`` rounds, as the in-process ceiling is
    (the same statistic on both sides of the ratio; errors are those of every round)."""
    port = free_port()
    proc = start_server(folder, ROOT / "sources", port, workers, "WARNING")
    try:
        await wait_healthy(port, proc)
        await fire(port, questions, 400, 50, distinct=True)
        runs = [
            await measure(port, proc.pid, ask_requests(questions, requests, True), 50)
            for _ in range(rounds)
        ]
    finally:
        stop(proc)
    run = max(runs, key=lambda r: r.rate)
    per_request = run.server_cpu / max(1, len(run.latencies)) * 1e6
    errors = sum(r.errors for r in runs)
    return run.rate, percentile(run.latencies, 95), errors, per_request


def measure_http(requests: int) -> dict[str | int, Any]:
    """HTTP throughput and p95 with 1 and N workers (``serve --workers``), and the ceiling."""
    from bot.evaluation.scoring import load_questions

    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.yaml")]
    n = cores()
    result: dict[str | int, Any] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="newsbot-perf-") as tmp:
        for workers in sorted({1, n}):
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            result[workers] = asyncio.run(_http(workers, requests, folder, questions))
        index = Path(tmp) / "w1" / "index"
        rate, busy = in_process_ceiling(ROOT / "sources", index, questions)
        result["ceiling"], result["ceiling_us"] = rate, busy / rate * 1e6
    return result


def size_rows(sizes: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The per-size rows of the table: one column per corpus size."""

    def q(run: ScaleRun, engine: str, key: str, which: str = "latency") -> float | None:
        return run.query.get(engine, {}).get(which, {}).get(key)

    rows: list[list[str]] = []

    def row(name: str, values: list[str]) -> None:
        rows.append([name, *values])

    runs = {label: m["run"] for label, m in sizes.items()}
    row("passages", [f"{m['size']:,}" for m in sizes.values()])
    for key, what in (("mean_ms", "mean"), ("p95_ms", "p95")):
        row(f"ask + JSON {what} ms, warm", [fmt(q(r, "ours_ask", key), 3) for r in runs.values()])
        cold = [fmt(q(r, "ours_ask", key, "cold"), 3) for r in runs.values()]
        row(f"ask + JSON {what} ms, cold (first pass, fresh process)", cold)
    batches = [m["batch"] for m in sizes.values()]
    n = batches[0]["questions"] if batches else 0
    row(f"ask --json batch, {n} questions: wall s", [fmt(b["wall_all_s"], 2) for b in batches])
    row(
        "ask --json batch: ms per question, cold ((wall(all) − wall(1)) ÷ (n − 1))",
        [fmt(b["per_question_ms"], 3) for b in batches],
    )
    row("rank-bm25 BM25Okapi get_scores mean ms", [fmt(b["okapi_mean_ms"], 1) for b in batches])
    row(
        f"batch vs rank-bm25: {n} × get_scores ÷ batch wall",
        [f"{b['batch_ratio']:,.0f}×" for b in batches],
    )
    row(
        "… per question: get_scores ÷ cold ms per question",
        [f"{b['per_question_ratio']:,.0f}×" for b in batches],
    )
    for engine, name in (
        ("ours", "newsbot search"),
        ("tantivy", "tantivy"),
        ("bm25s", "bm25s"),
        ("rank_bm25", "rank-bm25 get_scores"),
    ):
        row(f"{name} p50 ms", [fmt(q(r, engine, "p50_ms"), 3) for r in runs.values()])
    row(
        "newsbot search / tantivy (p50)",
        [_ratio(q(r, "ours", "p50_ms"), q(r, "tantivy", "p50_ms")) for r in runs.values()],
    )
    row(
        "rank-bm25 / ask + JSON (mean)",
        [_ratio(q(r, "rank_bm25", "mean_ms"), q(r, "ours_ask", "mean_ms")) for r in runs.values()],
    )
    row("rebuild s", [fmt(r.build["ours"]["build_s"]) for r in runs.values()])
    row(
        "build peak RSS MB (main / tokenizer worker)",
        [
            f"{b['peak_rss_mb']:.0f} / {b.get('worker_peak_rss_mb', 0):.0f}"
            for b in (r.build["ours"] for r in runs.values())
        ],
    )
    row(
        "build peak bytes per passage (main process)",
        [
            f"{r.build['ours']['peak_rss_mb'] * MB / m['size']:,.0f}"
            for m, r in zip(sizes.values(), runs.values(), strict=True)
        ],
    )
    row(
        "index bytes per passage (newsbot / tantivy)",
        [
            f"{r.build['ours']['disk_bytes'] / m['size']:,.0f} / "
            + (
                f"{r.build['tantivy']['disk_bytes'] / m['size']:,.0f}"
                if "tantivy" in r.build
                else "–"
            )
            for m, r in zip(sizes.values(), runs.values(), strict=True)
        ],
    )
    row("index load ms", [fmt(r.query["ours"]["load_s"] * 1000, 1) for r in runs.values()])
    row(
        "add one article: s until quoted",
        [
            f"{m['added']['seconds']:.2f}"
            + ("" if m["added"]["quoted"] else " (NOT quoted)")
            + ("" if any("in a delta" in n for n in m["added"]["notes"]) else " (merged)")
            for m in sizes.values()
        ],
    )
    return rows


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:,.2f}×" if a and b else "–"


def http_rows(http: dict[str | int, Any]) -> list[list[str]]:
    """HTTP rows (five articles)."""
    if "error" in http:
        return [["HTTP", f"failed: {http['error']}"]]
    rows = [
        [
            "in-process ceiling (Engine.ask + JSON, no HTTP, 1 thread)",
            f"{http['ceiling']:,.0f} req/s, {http['ceiling_us']:.0f} µs CPU per answer",
        ]
    ]
    for workers in sorted(k for k in http if isinstance(k, int)):
        rate, p95, errors, per_request = http[workers]
        rows.append(
            [
                f"serve --workers {workers}, 50 concurrent unique",
                f"{rate:,.0f} req/s, p95 {p95:.1f} ms, {errors} errors, server "
                f"{per_request:.0f} µs CPU per request ({rate / http['ceiling']:.0%} of the "
                "ceiling)",
            ]
        )
    if http["n"] > 1:
        rows.append(["N workers / 1 worker", f"{http[http['n']][0] / http[1][0]:.2f}×"])
    return rows


def main() -> None:
    """Run every measurement and print the report (also saved to benchmarks/results/)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10k passages only, fewer requests")
    parser.add_argument("--workdir", type=Path, default=None, help="keep corpora and indexes here")
    parser.add_argument("--sizes", default=",".join(SIZES), help="corpus sizes (10k,124k,1M)")
    args = parser.parse_args()
    args.queries = 60 if args.quick else 300
    args.rounds = 1 if args.quick else 3
    args.rank_bm25_queries = 30 if args.quick else 300
    labels = ["10k"] if args.quick else args.sizes.split(",")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newsbot-perf-") as tmp:
        work = args.workdir or Path(tmp)
        sizes = {label: measure_size(label, SIZES[label], args, work) for label in labels}
    try:
        http = measure_http(400 if args.quick else 2000)
    except (OSError, RuntimeError, SystemExit) as exc:  # report the rest even so
        http = {"error": str(exc)}
    with tempfile.TemporaryDirectory(prefix="newsbot-ask-") as tmp:
        walls = ask_cli_wall(
            ROOT / "sources", Path(tmp) / "index", "Who is the Russian ambassador to Japan?"
        )
    lines = [
        f"`PYTHONPATH=. python benchmarks/performance.py{' --quick' if args.quick else ''}` — "
        f"{machine_description()}; {time.perf_counter() - began:.0f} s.",
        "",
        markdown_table(["", *labels], size_rows(sizes)),
        "",
        markdown_table(["HTTP (the five articles)", "measured"], http_rows(http)),
        "",
        f"One-shot `python -m bot ask` on the five articles: median "
        f"{statistics.median(walls):.2f} s wall over {len(walls)} runs.",
    ]
    report = "\n".join(lines)
    print(report)
    out = ROOT / "benchmarks" / "results" / f"performance{'-quick' if args.quick else ''}.md"
    out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
