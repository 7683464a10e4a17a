"""Engines over the real five articles and the small generated corpus, for the stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.pipeline.engine import Engine
from tests.helpers import ROOT, write_corpus


@pytest.fixture(scope="package")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.open(ROOT / "sources", tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="package")
def small(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder: Path = tmp_path_factory.mktemp("small")
    return Engine.open(write_corpus(folder / "sources"), folder / "index")
