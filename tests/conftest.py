"""Fixtures every test folder shares: real engines over the five articles and a small corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.pipeline.engine import Engine
from tests.helpers import ROOT, write_corpus


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The engine over the repository's five articles (a private index)."""
    return Engine.open(ROOT / "sources", tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The engine over the two-article test corpus of :func:`tests.helpers.write_corpus`."""
    folder: Path = tmp_path_factory.mktemp("small")
    return Engine.open(write_corpus(folder / "sources"), folder / "index")
