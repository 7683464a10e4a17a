"""The NumPy fast paths of the match and question stages equal the plain computations."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.core.pipeline.engine import Engine
from bot.core.pipeline.match import _proximity, contains
from bot.core.pipeline.question import nearest, parse_question, understand
from bot.errors import QuestionError


def test_contains_equals_isin() -> None:
    rng = np.random.default_rng(7)
    for size in (0, 1, 5, 40):
        wanted = np.unique(rng.integers(-1, 60, size)).astype(np.int32)
        ids = rng.integers(-1, 70, 500).astype(np.int32)
        assert np.array_equal(contains(ids, wanted), np.isin(ids, wanted))


def test_proximity_is_distinct_concepts_over_the_matched_span() -> None:
    # Two candidates: row 0 matches concepts 0, 2, 0 at tokens 1, 2, 4; row 1 one concept twice.
    row = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    matched = np.array([False, True, True, False, True, True, False, True])
    concept = np.array([0, 0, 2, 0, 0, 1, 0, 1])
    proximity = _proximity(row, matched, concept, 3)
    assert proximity.tolist() == [pytest.approx((2 - 1) / (4 - 1)), 0.0, 0.0]


def test_nearest_equals_rapidfuzz_extract_with_ties_past_the_limit() -> None:
    rng = random.Random(3)
    letters = "abcde"
    choices = sorted({"".join(rng.choice(letters) for _ in range(6)) for _ in range(3000)})
    for _ in range(50):
        term = "".join(rng.choice(letters) for _ in range(6))
        for edits in (1, 2):
            expected = process.extract(
                term, choices, scorer=OSA.distance, score_cutoff=edits, limit=20
            )
            assert nearest(term, choices, edits) == [(c, d) for c, d, _ in expected]


def test_control_characters_are_refused_but_tabs_and_newlines_are_space() -> None:
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) != "Cc":
            continue
        if char in "\t\n\r":
            assert parse_question(f"who{char}summoned")[0] == "who summoned"
        else:
            with pytest.raises(QuestionError, match="control characters"):
                parse_question(f"who{char}summoned")


def test_a_question_without_words_is_refused_once_tokenized(engine: Engine) -> None:
    with pytest.raises(QuestionError, match="no searchable words"):
        understand("?! …", engine.backend, engine.synonyms, engine.tuning.question)


def test_is_body_equals_each_passage_kind(engine: Engine) -> None:
    passages = np.arange(engine.backend.size)
    expected = [engine.backend.kind(int(p)) == "body" for p in passages]
    assert engine.backend.is_body(passages).tolist() == expected
    assert not all(expected)  # the corpus has captions or notes, so both answers occur
