"""Shared helpers of the benchmark scripts: paths, timing, percentiles, memory, Markdown output.

The benchmarks print numbers; they are not tests. Every script compares engines *in one run* on
the same machine, so the ratios between engines are what to read (the machine may be noisy).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TypeVar

from bot.service.report import percentile as report_percentile

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
WORKER_MARK = "@@BENCH-RESULT@@ "  # prefix of the JSON line a worker subprocess prints

T = TypeVar("T")


def available(module: str) -> bool:
    """Whether an optional library (bm25s, tantivy, …) can be imported."""
    return find_spec(module) is not None


def version_of(distribution: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> str:
    """One Markdown paragraph describing the machine, the interpreter and the library versions."""
    cpu = platform.processor() or platform.machine()
    model = _cpu_model()
    libs = ", ".join(
        f"{name} {version_of(name)}"
        for name in ("numpy", "rank-bm25", "bm25s", "tantivy", "PyStemmer")
    )
    return (
        f"Machine: {platform.system()} {platform.release()} ({platform.machine()}), "
        f"{model or cpu}, {os.cpu_count()} logical CPUs; Python {platform.python_version()} "
        f"({platform.python_implementation()}); {libs}. "
        f"Run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    )


def _cpu_model() -> str | None:
    """The CPU model name from /proc/cpuinfo (Linux), if readable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Timing


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn`` once; return its result and the wall time in seconds."""
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def time_queries(
    run: Callable[[T], Any], queries: Sequence[T], *, rounds: int = 1, warmup: int = 5
) -> tuple[list[float], list[Any]]:
    """Per-query latency in seconds (median over ``rounds`` runs) and the first run's results.

    The first ``warmup`` queries are run once, untimed, so lazy imports and caches do not land
    in the first measurement.
    """
    for query in queries[: max(0, warmup)]:
        run(query)
    samples: list[list[float]] = [[] for _ in queries]
    results: list[Any] = []
    for round_number in range(max(1, rounds)):
        for i, query in enumerate(queries):
            began = time.perf_counter()
            result = run(query)
            samples[i].append(time.perf_counter() - began)
            if round_number == 0:
                results.append(result)
    return [statistics.median(s) for s in samples], results


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) as the report computes it; NaN for no values."""
    found = report_percentile(list(values), q)
    return float("nan") if found is None else found


@dataclass(frozen=True)
class Latency:
    """Summary of per-query latencies."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    qps: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        """Summarise per-query times given in seconds (queries/s = n / total time)."""
        total = sum(seconds)
        return cls(
            n=len(seconds),
            p50_ms=percentile(seconds, 50) * 1000,
            p95_ms=percentile(seconds, 95) * 1000,
            mean_ms=total / len(seconds) * 1000 if seconds else float("nan"),
            qps=len(seconds) / total if total else float("nan"),
        )

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form (worker → parent)."""
        return {
            "n": self.n,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "mean_ms": self.mean_ms,
            "qps": self.qps,
        }


# ---------------------------------------------------------------------------------------------
# Memory and disk


def _status_kb(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (VmHWM; getrusage where /proc is missing)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        if sys.platform == "darwin":
            kb /= 1024
    return kb / 1024


def current_rss_mb() -> float:
    """Current resident set size of this process (VmRSS), or the peak where unavailable."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else peak_rss_mb()


def dir_size_bytes(path: Path) -> int:
    """Total size of the regular files under ``path`` (or of ``path`` itself if it is a file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# ---------------------------------------------------------------------------------------------
# Worker subprocesses: one engine per process, so peak RSS is per engine


def run_worker(module: str, spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m <module> <spec-json>`` and return the JSON dict the worker emitted.

    The worker's stderr is passed through; a failing worker raises RuntimeError with its output.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT), TQDM_DISABLE="1")
    proc = subprocess.run(
        [sys.executable, "-m", module, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(WORKER_MARK):
            return dict(json.loads(line[len(WORKER_MARK) :]))
    raise RuntimeError(
        f"worker {module} {spec.get('task')}/{spec.get('engine')} failed "
        f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result for :func:`run_worker` to pick up."""
    print(WORKER_MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Output


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; "–" for missing values."""
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:,.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; numeric-looking columns are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]

    def numeric(column: int) -> bool:
        values = [r[column] for r in cells if r[column] and not r[column].startswith(("–", "″"))]
        return bool(values) and all(
            v.replace(",", "")
            .replace(".", "")
            .replace("×", "")
            .replace("%", "")
            .lstrip("-≤≥<>~")
            .isdigit()
            for v in values
        )

    align = ["---:" if numeric(i) else "---" for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines)


def write_results(name: str, title: str, sections: Sequence[str]) -> Path:
    """Print the report and save it as ``benchmarks/results/<name>.md``."""
    text = f"# {title}\n\n" + "\n\n".join(s.strip() for s in sections if s.strip()) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    partial = path.with_suffix(".md.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)  # an interrupted run leaves the previous results whole
    print(f"(written to {path.relative_to(ROOT)})", file=sys.stderr)
    return path


def verdict(ok: bool) -> str:
    """✅/❌ for a target table."""
    return "met" if ok else "**missed**"
