"""Soft matching: a near word counts partly as present, a word with nothing like it as missing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.semantic import STATIC, SemanticSettings
from bot.core.pipeline.softmatch import WordVectors
from bot.core.static_embedding import static_installed
from tests.helpers import write_corpus

needs_vectors = pytest.mark.skipif(not static_installed(), reason="wordllama is not installed")

ARTICLES = {
    "islands.md": (
        "---\ntitle: Visits\n---\nFormer residents were allowed to visit the graves of their "
        "ancestors on the islands.\n"
    ),
    "port.md": "---\ntitle: Port\n---\nThe harbour froze in January and ships waited a week.\n",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("soft")
    tuning = Tuning(semantic=SemanticSettings("on", model=STATIC))
    return Engine.open(write_corpus(root / "s", ARTICLES), root / "i", tuning)


@needs_vectors
def test_a_paraphrased_word_counts_less_missing_than_one_with_nothing_like_it(
    engine: Engine,
) -> None:
    held = engine.signals("Were residents allowed to visit the graves?")["soft_missing"]
    near = engine.signals("Were residents allowed to visit the tombs?")["soft_missing"]
    absent = engine.signals("Were residents allowed to visit the spreadsheets?")["soft_missing"]
    assert held == 0.0  # every word in the passage
    assert 0.0 < near < absent <= 1.0


@needs_vectors
def test_only_the_static_model_computes_it(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    lexical = Engine.open(sources, tmp_path / "i", Tuning())
    assert "soft_missing" not in lexical.signals("Who visited the graves?")


class Counting:
    """A stand-in encoder that records every batch it is asked for."""

    signature = "counting-1"
    dim = 4

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return np.eye(self.dim, dtype=np.float32)[[len(t) % self.dim for t in texts]]


def test_words_are_encoded_once_and_remembered() -> None:
    encoder = Counting()
    words = WordVectors(encoder, remembered=8)
    first = words.of(["graves", "islands", "graves"])
    again = words.of(["islands", "ancestors"])
    assert encoder.batches == [["graves", "islands"], ["ancestors"]]
    assert first.shape == (3, 4) and np.array_equal(first[1], again[0])
    assert words.of([]).shape == (0, 4)
