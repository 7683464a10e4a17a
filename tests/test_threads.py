"""Importing bot keeps OpenBLAS to one thread, unless the environment chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT

PROBE = "import bot, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_one_blas_thread_by_default() -> None:
    assert _probe() == "1"


def test_the_environment_wins() -> None:
    assert _probe(OPENBLAS_NUM_THREADS="2") == "2"
