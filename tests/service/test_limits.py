"""The limits on a request and their messages: one module, the same sentence everywhere."""

from __future__ import annotations

import pytest

from bot.errors import BadInput, ConfigError, QuestionTooLong
from bot.service.limits import DEFAULT_LIMITS, MAX_K, MAX_QUESTION_CHARS, Limits, whole_number


@pytest.mark.parametrize("value", [0, -1, 51, "0", "51", "abc", "2.5", "-1", "", True])
def test_k_out_of_range_says_what_is_allowed(value: int | str) -> None:
    with pytest.raises(BadInput, match=f"^k must be a whole number between 1 and {MAX_K}$"):
        DEFAULT_LIMITS.k(value)


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("7", 7), (MAX_K, MAX_K)])
def test_k_in_range_is_the_number(value: int | str, expected: int) -> None:
    assert DEFAULT_LIMITS.k(value) == expected


def test_a_front_end_narrows_k_and_offset() -> None:
    limits = Limits(max_k=5, max_offset=10)
    assert limits.k(5) == 5
    with pytest.raises(BadInput, match="between 1 and 5"):
        limits.k(6)
    assert limits.offset("0") == 0
    with pytest.raises(BadInput, match=r"^offset must be a whole number between 0 and 10$"):
        limits.offset(11)


def test_the_question_is_normalised_then_measured() -> None:
    limits = Limits(max_question_chars=10)
    assert limits.question("  two \n\t words ") == "two words"
    assert limits.question("a" + " " * 500 + "b") == "a b"  # whitespace runs do not count
    with pytest.raises(QuestionTooLong) as caught:
        limits.question("x" * 11)
    assert str(caught.value) == (
        "the question is too long (11 characters; the limit is 10); ask it in fewer words"
    )


def test_the_default_question_limit_is_the_engine_s() -> None:
    assert DEFAULT_LIMITS.question("x" * MAX_QUESTION_CHARS)
    with pytest.raises(QuestionTooLong, match="the limit is 1,000"):
        DEFAULT_LIMITS.question("x" * (MAX_QUESTION_CHARS + 1))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_k": 0}, "max_k must be a whole number between 1 and 50"),
        ({"max_k": 51}, "max_k must be a whole number between 1 and 50"),
        ({"max_question_chars": 0}, "max_question_chars must be a whole number between 1 and"),
        ({"max_question_chars": 5000}, "max_question_chars must be"),
        ({"max_offset": -1}, "max_offset must be a whole number between 0 and 100"),
    ],
)
def test_impossible_limits_are_a_config_error(limits: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Limits(**limits)


def test_whole_number_takes_digits_only() -> None:
    assert whole_number("n", "012", 0, 20) == 12
    for bad in ("+1", " 1", "1e3", "\u0661"):  # the last: an Arabic-Indic digit one
        with pytest.raises(BadInput):
            whole_number("n", bad, 0, 20)
