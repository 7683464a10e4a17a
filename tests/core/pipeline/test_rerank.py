"""Reranking: proximity, answer type and an optional semantic scorer on top of BM25."""

from __future__ import annotations

from typing import cast

import numpy as np

from bot.core.pipeline.match import Evidence, RowTokens
from bot.core.pipeline.rerank import RerankSettings, rerank


def _evidence(proximity: list[float], typed: list[bool]) -> Evidence:
    n = len(proximity)
    return Evidence(
        passages=np.arange(10, 10 + n),
        tokens=cast(RowTokens, ()),  # rerank never reads the rows' tokens
        presence=np.ones((n, 1), bool),
        weights=np.ones(1),
        best_sentence=np.zeros(n, int),
        sentence_coverage=np.ones(n),
        proximity=np.array(proximity),
        typed=np.array(typed),
    )


class Semantic:
    def __init__(self, values: dict[int, float]) -> None:
        self.values = values

    def similarity(self, question: str, passages: np.ndarray) -> np.ndarray:
        return np.array([self.values[int(p)] for p in passages])


def test_without_weights_bm25_order_stands() -> None:
    ranked = rerank(
        "q", np.array([3.0, 2.0, 1.0]), _evidence([0, 1, 1], [False, True, True]), RerankSettings()
    )
    assert list(ranked.order) == [0, 1, 2] and ranked.semantic is None


def test_close_words_and_the_asked_for_type_lift_a_passage() -> None:
    scores = np.array([3.0, 2.9, 2.8])
    evidence = _evidence([0.1, 1.0, 0.1], [False, False, True])
    by_proximity = rerank("q", scores, evidence, RerankSettings(proximity_weight=0.2))
    assert int(by_proximity.order[0]) == 1
    by_type = rerank("q", scores, evidence, RerankSettings(type_weight=0.2))
    assert int(by_type.order[0]) == 2
    assert list(by_type.scores) == sorted(by_type.scores, reverse=True)


def test_a_semantic_scorer_plugs_in() -> None:
    scores = np.array([3.0, 2.9])
    semantic = Semantic({10: 0.1, 11: 0.9})
    ranked = rerank(
        "q",
        scores,
        _evidence([0, 0], [False, False]),
        RerankSettings(semantic_weight=0.5),
        semantic,
    )
    assert list(ranked.order) == [1, 0]
    assert ranked.semantic is not None and list(ranked.semantic) == [0.9, 0.1]
