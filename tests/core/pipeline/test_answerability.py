"""Answer or decline, and the one-line reason when declining."""

from __future__ import annotations

import pytest

from bot.core.pipeline.engine import Engine


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        (
            "What is the best sushi in Rome?",
            "Nothing in the sources matches 'best', 'sushi' or 'Rome'.",
        ),
        ("What did Lavrov say about the islands?", "No source mentions Lavrov."),
    ],
)
def test_declining_says_why(small: Engine, question: str, reason: str) -> None:
    answer = small.ask(question)
    assert not answer.answered and answer.quotes == ()
    assert answer.reason == reason
    assert answer.to_json()["reason"] == reason


def test_an_answer_has_no_reason(small: Engine) -> None:
    answer = small.ask("How many Japanese lived on the islands?")
    assert answer.answered and answer.reason is None and answer.to_json()["reason"] is None
