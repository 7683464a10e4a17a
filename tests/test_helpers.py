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


def _test_files() -> list[Path]:
    skip = {ROOT / "tests" / "helpers.py", Path(__file__).resolve()}
    return [p for p in sorted((ROOT / "tests").rglob("*.py")) if p not in skip]


def test_tests_reach_the_shared_folder_only_through_shared_path() -> None:
    """``ROOT.parent`` (the folder ../shared sits in) appears in no test but through the helper."""
    offenders = [p.name for p in _test_files() if "ROOT.parent" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_the_tests_that_need_shared_data_skip_without_it(tmp_path: Path) -> None:
    """Every test that reads ../shared skips (none fails) when it is not there."""
    users = [str(p) for p in _test_files() if "shared_path(" in p.read_text(encoding="utf-8")]
    assert users, "no test uses shared_path: this check would prove nothing"
    env = {**os.environ, SHARED_ENV: str(tmp_path / "absent")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *users],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "needs the shared data folder" in result.stdout
