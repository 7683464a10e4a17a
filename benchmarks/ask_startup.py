"""How long `python -m bot ask` takes from a built index, interpreter start-up included.

Each run is a fresh process, as a person at a terminal would start it: with Python's default of
cached bytecode (``PYTHONDONTWRITEBYTECODE``, which some machines set, is dropped: without the
cache every run compiles the package's modules again, ~60 ms here). The baseline is a bare
`python -c pass` measured in the same run, so the ratio survives a noisy machine.

    python benchmarks/ask_startup.py [--runs 20] [--sources DIR --index DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many Japanese lived on the islands before the Soviet occupation?"
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def wall_times(command: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh runs of ``command`` (each must succeed)."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    """Warm the index once, then time the bare interpreter and `ask` alternately."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sources", default="sources")
    parser.add_argument("--index", default="index")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    ask = [sys.executable, "-m", "bot", "--sources", args.sources, "--index", args.index]
    ask += ["ask", "--json", args.question]
    # builds the index if missing or stale, and writes the bytecode cache
    subprocess.run(ask, cwd=ROOT, env=ENV, check=True, capture_output=True)
    bare = wall_times([sys.executable, "-c", "pass"], args.runs)
    answer = wall_times(ask, args.runs)
    rows = [("python -c pass (baseline)", bare), ("python -m bot ask --json …", answer)]
    print("| command | median ms | p95 ms | × baseline |\n|---|---:|---:|---:|")
    base = statistics.median(bare)
    for name, times in rows:
        p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
        median = statistics.median(times)
        print(f"| {name} | {median * 1000:.0f} | {p95 * 1000:.0f} | {median / base:.1f} |")


if __name__ == "__main__":
    main()
