"""Retrieving candidates through the Retrieval interface, never the index arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bot.core.backend import IndexBackend, Retrieval
from bot.core.pipeline.engine import Engine
from bot.core.pipeline.question import QuestionSettings, understand
from bot.core.pipeline.retrieve import RetrieveSettings, retrieve


class CountingBackend:
    """Wraps the real backend and records what the stage asked for."""

    def __init__(self, inner: IndexBackend) -> None:
        self.inner = inner
        self.searches: list[tuple[dict[int, float], int, dict[str, float]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def search(
        self, terms: Mapping[int, float], k: int, kind_weight: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        self.searches.append((dict(terms), k, dict(kind_weight)))
        return self.inner.search(terms, k, kind_weight)


def test_the_stage_asks_the_backend_with_weighted_term_ids(engine: Engine) -> None:
    backend = CountingBackend(engine.backend)
    asked = understand("kurils pizza", backend, engine.synonyms, QuestionSettings())
    settings = RetrieveSettings(pool=7)
    found = retrieve(asked, backend, settings)
    ((terms, k, kinds),) = backend.searches
    assert k == 7 and kinds == dict(settings.kind_weight)
    assert engine.backend.term_id("kuril") in terms
    assert None not in terms and len(terms) == len(asked.query) - 1  # "pizza" is in no passage
    assert 0 < len(found.passages) <= 7
    assert list(found.scores) == sorted(found.scores, reverse=True)


def test_no_known_word_gives_no_candidates(engine: Engine) -> None:
    asked = understand("pizza", engine.backend, engine.synonyms, QuestionSettings())
    assert len(retrieve(asked, engine.backend, RetrieveSettings()).passages) == 0


def test_the_index_backend_is_a_retrieval(engine: Engine) -> None:
    backend: Retrieval = engine.backend
    tid = backend.term_id("kuril")
    assert tid is not None and backend.term_id("pizza") is None
    assert backend.vocabulary()[tid] == "kuril"
    assert int(backend.document_frequency(np.array([tid]))[0]) >= 1
    indptr, ids, counts = backend.forward(np.array([0, 1]))
    assert len(indptr) == 3 and len(ids) == len(counts) == indptr[-1]
    tokens = backend.tokens(0)
    text = backend.text(0)
    assert all(text[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=True))
    assert set(ids[: indptr[1]]) == set(tokens.ids[tokens.ids >= 0])  # same terms, stored or not
