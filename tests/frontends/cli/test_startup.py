"""A one-shot ``ask`` loads only what it needs: no settings library, no metrics library, no
asyncio, no spelling resources when every word is known (each costs tens of milliseconds at
start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, write_corpus

PROBE = """
import sys
from bot.frontends.cli.main import main
status = main(["ask", "--sources", sys.argv[1], "--index", sys.argv[2], sys.argv[3]])
heavy = (
    "pydantic", "pydantic_settings", "prometheus_client", "wordfreq", "rapidfuzz", "rich",
    "tokenizers", "safetensors", "asyncio", "yaml",
)
print(status, " ".join(sorted(m for m in heavy if m in sys.modules)) or "-", file=sys.stderr)
"""


def _loaded(tmp_path: Path, question: str) -> tuple[int, set[str]]:
    sources = write_corpus(tmp_path / "sources")
    return _asked(tmp_path, sources, question)


def _asked(tmp_path: Path, sources: Path, question: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(sources), str(tmp_path / "index"), question],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    status, modules = done.stderr.strip().splitlines()[-1].split(" ", 1)
    return int(status), set() if modules == "-" else set(modules.split())


def test_a_plain_question_loads_no_settings_metrics_or_spelling_library(tmp_path: Path) -> None:
    status, modules = _loaded(tmp_path, "How many Japanese lived on the islands?")
    assert status == 0
    assert modules <= {"yaml"}  # the first ask builds the index: the sources' front matter
    # From a built index, with the synonyms' compiled copy (bot/core/__pycache__), no YAML either
    status, modules = _asked(tmp_path, tmp_path / "sources", "Who suspended the talks?")
    assert status == 0
    assert modules == set()


def test_a_misspelt_question_loads_the_spelling_resources_only(tmp_path: Path) -> None:
    status, modules = _loaded(tmp_path, "How many Japanese lived on the ilsands?")
    assert status == 0
    assert "rapidfuzz" in modules
    assert "wordfreq" not in modules  # its English list is read directly (pipeline/wordlist.py)
    assert not modules & {"pydantic", "pydantic_settings", "prometheus_client", "asyncio"}


def test_a_number_the_index_lacks_loads_no_spelling_library(tmp_path: Path) -> None:
    # Numbers are never corrected: an unknown one beside a known word costs no word list lookup
    status, modules = _loaded(tmp_path, "How many Japanese lived on the islands in 4321?")
    assert status == 0
    assert not modules & {"wordfreq", "rapidfuzz"}
