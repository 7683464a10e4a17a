"""The latency/memory harness shared by ``bbc_news.py`` and ``ag_news.py``.

Flow: build our index from a JSON Lines corpus (``bot.core.build.build_index``), export its passages
so every other engine indexes exactly the same texts, then run one subprocess per engine and task
(build, idle baseline, load + query) so that peak RSS belongs to one engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    available,
    fmt,
    markdown_table,
    run_worker,
    verdict,
)
from benchmarks.engines import BM25S_METHOD, LABELS
from bot.core.bm25 import VARIANTS, BM25Params

WORKER = "benchmarks.engines"
MB = 1024 * 1024


@dataclass
class ScaleConfig:
    """What to run: the corpus, the questions and how hard to measure."""

    jsonl: Path
    questions: list[str]
    workdir: Path
    rounds: int = 3  # each query is run this many times; its latency is the median
    rank_bm25_queries: int = 300  # rank-bm25 is slow: time only this many queries
    engines: list[str] = field(default_factory=lambda: ["ours", "rank_bm25", "bm25s", "tantivy"])
    ask_engine: bool = True  # also time the full Engine.ask pipeline
    params: dict[str, Any] = field(default_factory=lambda: BM25Params().to_dict())


@dataclass
class ScaleRun:
    """Everything measured, keyed by engine."""

    config: ScaleConfig
    build: dict[str, dict[str, Any]]
    idle: dict[str, float]
    query: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    texts: list[str]  # passage texts by passage id (for duplicate-aware overlap)


def add_variant_argument(parser: argparse.ArgumentParser) -> None:
    """``--variant``: the BM25 variant newsbot, rank-bm25 and bm25s are compared with."""
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default=BM25Params().variant,
        help="BM25 variant for newsbot, rank-bm25 and bm25s (default: the project's default)",
    )


def _progress(message: str) -> None:
    """A progress line on stderr (stdout is for the report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def export_passages(index_dir: Path, out: Path) -> int:
    """Write our index's passage texts as a JSON list, for the other engines to index."""
    from bot.core.index import load_index

    index = load_index(index_dir)
    texts = [index.text(i) for i in range(index.size)]
    out.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return len(texts)


def run_scale(config: ScaleConfig) -> ScaleRun:
    """Build, load and query every available engine, each in its own subprocess."""
    work = config.workdir
    work.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, str] = {}
    engines = []
    for engine in config.engines:
        lib = {"bm25s": "bm25s", "tantivy": "tantivy", "rank_bm25": "rank_bm25"}.get(engine)
        if lib and not available(lib):
            skipped[engine] = f"{lib} is not installed"
        elif engine == "bm25s" and config.params["variant"] not in BM25S_METHOD:
            skipped[engine] = f"bm25s has no {config.params['variant']!r} variant"
        else:
            engines.append(engine)
    queries_path = work / "queries.json"
    queries_path.write_text(json.dumps(config.questions, ensure_ascii=False), encoding="utf-8")
    passages_path = work / "passages.json"
    build: dict[str, dict[str, Any]] = {}
    for engine in engines:
        _progress(f"build {engine}")
        spec: dict[str, Any] = {
            "task": "build",
            "engine": engine,
            "jsonl": str(config.jsonl),
            "passages": str(passages_path),
            "index_dir": str(work / engine),
            "params": config.params,
        }
        build[engine] = run_worker(WORKER, spec)
        if engine == "ours":
            export_passages(work / "ours", passages_path)
    idle: dict[str, float] = {}
    query: dict[str, dict[str, Any]] = {}
    extra = ["ours_dense", *(["ours_ask"] if config.ask_engine else [])]
    runs = [*engines, *(extra if "ours" in engines else [])]
    for engine in runs:
        _progress(f"baseline + query {engine}")
        idle[engine] = run_worker(WORKER, {"task": "baseline", "engine": engine})["peak_rss_mb"]
        spec = {
            "task": "query",
            "engine": engine,
            "index_dir": str(work / ("ours" if engine.startswith("ours") else engine)),
            "passages": str(passages_path),
            "queries": str(queries_path),
            "rounds": 1 if engine == "rank_bm25" else config.rounds,
            "max_queries": config.rank_bm25_queries if engine == "rank_bm25" else 10**9,
            "k": 10,
            "params": config.params,
        }
        query[engine] = run_worker(WORKER, spec)
    texts = json.loads(passages_path.read_text(encoding="utf-8")) if passages_path.exists() else []
    return ScaleRun(config, build, idle, query, skipped, texts)


def params_text(params: BM25Params) -> str:
    """A BM25 setting in words, e.g. ``plus k1=1.2 b=0.75 delta=1.0``."""
    text = f"`{params.variant}` k1={params.k1} b={params.b}"
    if params.variant in ("plus", "l"):
        text += f" delta={params.delta}"
    if params.variant == "okapi":
        text += f" epsilon={params.epsilon}"
    return text


def overlap_at_10(
    ours: Sequence[Sequence[int]], other: Sequence[Sequence[int]], texts: Sequence[str]
) -> float:
    """Mean share of our top-10 *texts* the other engine also returns (queries both ran).

    Texts, not ids: the corpora hold exact duplicates (BBC has 98 duplicate articles, the
    replicated AG News 17 copies of everything) and engines break such ties differently.
    """
    shares = []
    for a, b in zip(ours, other, strict=False):
        mine: Counter[object] = Counter(texts[i] for i in a) if texts else Counter(a)
        theirs: Counter[object] = Counter(texts[i] for i in b) if texts else Counter(b)
        shares.append(sum((mine & theirs).values()) / max(len(a), 1))
    return statistics.fmean(shares) if shares else float("nan")


def main_table(run: ScaleRun) -> str:
    """Build, size, load, latency, throughput and memory per engine, in one Markdown table."""
    headers = [
        "engine",
        "build s",
        "index on disk MB",
        "load s",
        "p50 ms",
        "p95 ms",
        "queries/s",
        "queries timed",
        "peak RSS answering MB",
        "idle interpreter MB",
        "build peak RSS MB",
        "top-10 overlap with ours (texts)",
    ]
    ours_top = run.query.get("ours", {}).get("top", [])
    rows = []
    for engine, q in run.query.items():
        derived = engine in ("ours_ask", "ours_dense")  # served from the "ours" index
        b = run.build.get("ours" if derived else engine, {})
        lat = q["latency"]
        disk = b.get("disk_bytes")
        rows.append(
            [
                LABELS[engine],
                "″" if derived else fmt(b.get("build_s")),
                fmt(disk / MB, 1) if disk else "– (memory only)",
                fmt(q.get("load_s"), 3) if q.get("load_s") is not None else "– (rebuilds)",
                fmt(lat["p50_ms"], 3),
                fmt(lat["p95_ms"], 3),
                fmt(lat["qps"], 0),
                str(lat["n"]),
                fmt(q["peak_rss_mb"], 0),
                fmt(run.idle.get(engine), 0),
                "″" if derived else fmt(b.get("peak_rss_mb"), 0),
                "–"
                if engine == "ours_ask"
                else fmt(overlap_at_10(ours_top, q["top"], run.texts), 3),
            ]
        )
    return markdown_table(headers, rows)


def ratio_table(run: ScaleRun) -> str:
    """How many times faster our p50 (and mean) is than each other engine's, in this run."""
    ours = run.query.get("ours")
    if not ours:
        return ""
    rows = []
    for engine, q in run.query.items():
        if engine in ("ours", "ours_ask"):
            continue
        p50 = q["latency"]["p50_ms"] / ours["latency"]["p50_ms"]
        mean = q["latency"]["mean_ms"] / ours["latency"]["mean_ms"]
        rows.append([LABELS[engine], f"{p50:,.2f}×", f"{mean:,.2f}×"])
    return markdown_table(["compared with", "their p50 / our p50", "their mean / our mean"], rows)


def breakdown_text(run: ScaleRun) -> str:
    """Where our query and load time goes (from the ``ours`` worker)."""
    ours = run.query.get("ours", {})
    bd = ours.get("breakdown")
    if not bd:
        return ""
    load = bd["load"]
    return (
        f"Where our time goes: `bm25.search` p50 {fmt(ours['latency']['p50_ms'], 3)} ms per "
        f"query over {bd['n_docs']:,} passages ({bd['postings']:,} postings in the index; "
        f"per query a median of {bd['postings_read_p50']:,.0f} postings read and "
        f"{bd['matched_p50']:,.0f} passages matched). The dense path it replaces costs "
        f"`bm25.score` p50 {bd['dense_score_p50_ms']:.3f} ms + `bm25.top_k` p50 "
        f"{bd['dense_top_k_p50_ms']:.3f} ms (a partition over every passage). "
        f"`load_index` {fmt(ours.get('load_s'), 3)} s: {load['cheap_s']:.3f} s with the cheap "
        f"checks, {load['deep_s']:.3f} s verifying every digest (`python -m bot check`); "
        "everything is memory-mapped, the vocabulary included."
    )


def build_text(run: ScaleRun) -> str:
    """Corpus size as built, and the tokenization share of the others' build time."""
    ours = run.build.get("ours", {})
    parts = [
        f"Corpus as indexed by newsbot: {ours.get('sources', 0):,} documents → "
        f"{ours.get('passages', 0):,} passages, {ours.get('vocabulary', 0):,} terms"
        f" ({ours.get('problems', 0)} problems reported)."
    ]
    toks = [
        f"{LABELS[e]} {b['tokenize_s']:.2f} s" for e, b in run.build.items() if "tokenize_s" in b
    ]
    if toks:
        parts.append(
            "Tokenization share of the other engines' build time: " + "; ".join(toks) + "."
        )
    if run.skipped:
        parts.append(
            "Not run: " + "; ".join(f"{LABELS[e]} ({why})" for e, why in run.skipped.items()) + "."
        )
    return " ".join(parts)


def ask_cli_wall(jsonl: Path, index_dir: Path, question: str, runs: int = 5) -> list[float]:
    """Wall seconds of ``python -m bot --sources … --index … ask "…"``, a fresh process each."""
    cmd = [
        sys.executable,
        "-m",
        "bot",
        "--sources",
        str(jsonl),
        "--index",
        str(index_dir),
        "ask",
        question,
    ]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TQDM_DISABLE": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False, timeout=600)  # warm-up
    walls = []
    for _ in range(max(1, runs)):
        began = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False, timeout=600)
        walls.append(time.perf_counter() - began)
        if proc.returncode not in (0,):
            raise RuntimeError(f"ask failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        if b"Rebuilding" in proc.stderr:
            raise RuntimeError("the CLI rebuilt the index: it was not fresh")
    return walls


def targets_table(run: ScaleRun, ask_walls: list[float] | None) -> str:
    """The issue's targets at ~124k passages, measured against this run's baselines."""
    q, b = run.query, run.build
    ours = q["ours"]
    p50 = ours["latency"]["p50_ms"]
    rows: list[list[str]] = [["top-10 p50 ≤ 0.5 ms", f"{p50:.3f} ms", verdict(p50 <= 0.5)]]
    if "rank_bm25" in q:
        x = q["rank_bm25"]["latency"]["p50_ms"] / p50
        rows.append(
            ["≥ 300× faster than rank-bm25 get_scores (p50)", f"{x:,.0f}×", verdict(x >= 300)]
        )
    if "bm25s" in q:
        x = q["bm25s"]["latency"]["p50_ms"] / p50
        rows.append(["faster than bm25s (p50)", f"{x:.2f}× faster", verdict(x > 1)])
    if "tantivy" in q:
        x = p50 / q["tantivy"]["latency"]["p50_ms"]
        rows.append(["within 3× of tantivy (p50)", f"{x:.2f}× tantivy's p50", verdict(x <= 3)])
    load = ours["load_s"]
    rows.append(["index load ≤ 0.3 s", f"{load:.3f} s", verdict(load <= 0.3)])
    build_s = b["ours"]["build_s"]
    rows.append(
        ["full rebuild ≤ 15 s (tokenization included)", f"{build_s:.2f} s", verdict(build_s <= 15)]
    )
    disk_mb = b["ours"]["disk_bytes"] / MB
    for engine in ("ours", "ours_ask"):
        if engine not in q:
            continue
        over = q[engine]["peak_rss_mb"] - run.idle[engine]
        rows.append(
            [
                f"peak memory answering ≤ 2× index on disk + interpreter ({engine})",
                f"{over:,.0f} MB over idle interpreter; 2× index = {2 * disk_mb:,.0f} MB",
                verdict(over <= 2 * disk_mb),
            ]
        )
    if ask_walls:
        med = statistics.median(ask_walls)
        rows.append(
            [
                f"`ask` first answer ≤ 1 s wall (median of {len(ask_walls)})",
                f"{med:.2f} s",
                verdict(med <= 1),
            ]
        )
    return markdown_table(["target", "measured", "status"], rows)
