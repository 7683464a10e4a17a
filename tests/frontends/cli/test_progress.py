"""Rebuild progress: a bar with a total and an ETA on a terminal, warnings on their own line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import run_cli, run_in_pty


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .jsonl archive big enough to draw a bar, with one broken line early on."""
    path = tmp_path_factory.mktemp("archive") / "big.jsonl"
    lines = [
        json.dumps({"id": f"d{i}", "text": f"Ferry {i} left Wakkanai harbour at {i % 24} o'clock."})
        for i in range(20_000)
    ]
    lines[3] = "{broken"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_on_a_terminal_the_bar_has_a_total_and_an_eta(archive: Path, tmp_path: Path) -> None:
    screen = run_in_pty(["--sources", str(archive), "--index", str(tmp_path / "i"), "rebuild"])
    bars = [part for part in re.split(r"[\r\n]", screen) if part.startswith("indexing:")]
    assert bars, screen
    total = f"{archive.stat().st_size / 1024 / 1024:.2f}M"
    assert all(f"/{total} [" in bar for bar in bars), bars  # bytes read of the total
    assert any(re.search(r"\[\d\d:\d\d<\d\d:\d\d", bar) for bar in bars)  # elapsed<remaining
    warning = [part for part in re.split(r"[\r\n]", screen) if "invalid JSON" in part]
    assert warning == [
        "error: big.jsonl:4: invalid JSON (Expecting property name enclosed in double quotes); "
        "the line is skipped"
    ]
    assert screen.rstrip().endswith("1 document skipped (see above).")


def test_off_a_terminal_there_is_no_bar(archive: Path, tmp_path: Path) -> None:
    result = run_cli("--sources", str(archive), "--index", str(tmp_path / "i"), "rebuild")
    assert result.returncode == 0, result.stderr
    assert "indexing" not in result.stderr and "\r" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: big.jsonl:4: invalid JSON (Expecting property name enclosed in double quotes); "
        "the line is skipped"
    ]
