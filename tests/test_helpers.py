"""The shared test helpers: tests needing ../shared skip, with a reason, on a lone clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, SHARED_ENV, shared_path


def test_shared_path_skips_with_the_reason_when_the_folder_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SHARED_ENV, str(tmp_path / "absent"))
    with pytest.raises(pytest.skip.Exception, match="needs the shared data folder"):
        shared_path("seeds")


def test_shared_path_returns_the_path_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "seeds").mkdir()
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    assert shared_path("seeds") == tmp_path / "seeds"


def test_the_suite_needs_no_shared_folder(tmp_path: Path) -> None:
    """Every test that reads ../shared skips (none fails) when it is not there."""
    env = {**os.environ, SHARED_ENV: str(tmp_path / "absent")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/core",
            "tests/evaluation",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "needs the shared data folder" in result.stdout
