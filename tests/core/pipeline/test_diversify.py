"""Score-aware diversity: another source goes first only when nearly as good."""

from __future__ import annotations

import numpy as np

from bot.core.pipeline.diversify import DiversifySettings, diversify, note_agreement

SCORES = np.array([10.0, 9.5, 9.2, 3.0])
SOURCES = np.array([0, 0, 1, 2])
APART = np.eye(4)


def test_a_far_weaker_source_does_not_jump_the_queue() -> None:
    chosen = diversify([0, 1, 2, 3], SCORES, SOURCES, APART, 4, DiversifySettings(near=0.9))
    assert [c.row for c in chosen] == [0, 2, 1, 3]  # 9.2 ≥ 0.9 × 9.5 goes first; 3.0 does not


def test_near_zero_is_best_of_each_source_first() -> None:
    chosen = diversify([0, 1, 2, 3], SCORES, SOURCES, APART, 4, DiversifySettings(near=0.0))
    assert [c.row for c in chosen] == [0, 2, 3, 1]


def test_a_repeat_is_folded_into_the_quote_it_repeats() -> None:
    similar = APART.copy()
    similar[0, 2] = similar[2, 0] = 0.9
    chosen = diversify([0, 1, 2, 3], SCORES, SOURCES, similar, 4, DiversifySettings(near=0.9))
    assert [c.row for c in chosen] == [0, 1, 3]
    assert chosen[0].also == [2]  # another source, so named as also reporting


def test_similar_passages_of_other_sources_are_noted_as_agreeing() -> None:
    similar = APART.copy()
    similar[0, 3] = similar[3, 0] = 0.3
    page = diversify([0, 1], SCORES, SOURCES, similar, 2, DiversifySettings(near=0.9))
    note_agreement(page, [2, 3], SOURCES, similar, DiversifySettings())
    assert page[0].also == [3] and page[1].also == []


def test_a_source_is_named_once_however_many_of_its_passages_agree() -> None:
    sources = np.array([0, 1, 1, 2])
    similar = np.eye(4)
    similar[0, 1:] = similar[1:, 0] = 0.3  # rows 1 and 2 (one source) and 3 all resemble row 0
    page = diversify([0], SCORES, sources, similar, 1, DiversifySettings())
    note_agreement(page, [1, 2, 3], sources, similar, DiversifySettings())
    assert page[0].also == [1, 3]
