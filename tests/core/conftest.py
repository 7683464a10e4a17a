"""Fixtures shared by the core tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.bm25 import BM25Params
from bot.core.build import build_index
from tests.helpers import write_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    """The two-article test corpus and an index built from it: (sources, index)."""
    sources = write_corpus(tmp_path / "sources")
    index_dir = tmp_path / "index"
    build_index(sources, index_dir, BM25Params())
    return sources, index_dir
