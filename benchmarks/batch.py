"""Questions through ``python -m bot ask --json`` batch mode, cold, against rank-bm25's Okapi.

What a user of batch mode meets: a fresh process answering every question once (imports, index
load, nothing warm). The same command with one question gives the start-up, so
``(wall(all) − wall(1)) / (n − 1)`` is the cold cost of a question. rank-bm25 is timed as the
performance issue measured it: ``BM25Okapi`` (its default) on ``\\w\\w+`` lower-cased tokens,
``get_scores`` per question, in a worker process of its own over the same passage texts.

Usage (``performance.py`` calls :func:`measure` for every corpus size)::

    PYTHONPATH=. python benchmarks/batch.py SOURCES INDEX PASSAGES.json QUESTIONS.json
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, emit, run_worker

WORD = re.compile(r"\w\w+")


def _run_batch(sources: Path, index_dir: Path, questions: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one ``ask --json`` process answering ``questions`` from stdin."""
    cmd = [sys.executable, "-m", "bot", "ask", "--json", "--sources", str(sources)]
    cmd += ["--index", str(index_dir)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TQDM_DISABLE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        cmd,
        input="".join(q.replace("\n", " ") + "\n" for q in questions),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=1800,
        check=False,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "Rebuilding" in done.stderr:
        raise RuntimeError("ask --json rebuilt the index: it was not fresh")
    if len(done.stdout.splitlines()) != len(questions):
        raise RuntimeError(f"ask --json failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def batch_walls(
    sources: Path, index_dir: Path, questions: list[str], rounds: int = 3
) -> dict[str, float]:
    """Medians over ``rounds`` of the batch with every question and with the first only."""
    runs: dict[str, list[tuple[float, float]]] = {"all": [], "one": []}
    _run_batch(sources, index_dir, questions[:1])  # the index files in the page cache
    for _ in range(max(1, rounds)):
        runs["all"].append(_run_batch(sources, index_dir, questions))
        runs["one"].append(_run_batch(sources, index_dir, questions[:1]))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    extra = max(len(questions) - 1, 1)
    return {
        "questions": len(questions),
        "wall_all_s": wall["all"],
        "wall_one_s": wall["one"],
        "cpu_all_s": cpu["all"],
        "per_question_ms": (wall["all"] - wall["one"]) / extra * 1000,
        "cpu_per_question_ms": (cpu["all"] - cpu["one"]) / extra * 1000,
    }


def okapi_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """rank-bm25 ``BM25Okapi.get_scores`` per question (ms), on ``\\w\\w+`` tokens."""
    from rank_bm25 import BM25Okapi

    texts: list[str] = json.loads(Path(spec["passages"]).read_text(encoding="utf-8"))
    model = BM25Okapi([WORD.findall(t.lower()) for t in texts])
    del texts
    questions: list[str] = json.loads(Path(spec["questions"]).read_text(encoding="utf-8"))
    seconds = []
    for question in questions[: int(spec["max_queries"])]:
        tokens = WORD.findall(question.lower())
        began = time.perf_counter()
        model.get_scores(tokens)
        seconds.append(time.perf_counter() - began)
    return {"mean_ms": statistics.fmean(seconds) * 1000, "queries": len(seconds)}


def measure(
    sources: Path,
    index_dir: Path,
    passages: Path,
    questions: list[str],
    okapi_queries: int,
    rounds: int = 3,
) -> dict[str, Any]:
    """The batch figures, rank-bm25's, and their ratios (from this one run)."""
    batch = batch_walls(sources, index_dir, questions, rounds)
    queries = passages.parent / "batch-questions.json"
    queries.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    spec = {"passages": str(passages), "questions": str(queries), "max_queries": okapi_queries}
    okapi = run_worker("benchmarks.batch", spec)
    n = batch["questions"]
    return {
        **batch,
        "okapi_mean_ms": okapi["mean_ms"],
        "okapi_queries": okapi["queries"],
        # n questions by rank-bm25 (n × its mean) against the whole batch process
        "batch_ratio": n * okapi["mean_ms"] / (batch["wall_all_s"] * 1000),
        "per_question_ratio": okapi["mean_ms"] / batch["per_question_ms"],
    }


def main() -> None:
    """Measure one built index and print the figures as JSON."""
    sources, index_dir, passages, questions = map(Path, sys.argv[1:5])
    asked = json.loads(questions.read_text(encoding="utf-8"))
    print(json.dumps(measure(sources, index_dir, passages, asked, len(asked)), indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 2:
        emit(okapi_worker(json.loads(sys.argv[1])))
    else:
        main()
