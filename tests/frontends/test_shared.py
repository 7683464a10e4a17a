"""The front-end pieces any chat platform shares: cutting text, cooldowns, follow-ups, pages."""

from __future__ import annotations

import pytest

from bot.frontends.shared import (
    ELLIPSIS,
    Cooldowns,
    FollowUps,
    cut_point,
    fit_text,
    last_fitting,
    pages,
)

TEXT = "The talks were suspended on Monday. Japan protested at once. Tokyo said it was unjust."


def test_short_text_is_kept_with_its_whitespace_normalised() -> None:
    assert fit_text("  two \n words  ", 50) == "two words"


def test_a_cut_falls_at_the_last_sentence_end_that_keeps_most_of_the_text() -> None:
    cut = fit_text(TEXT, 64)
    assert cut == "The talks were suspended on Monday. Japan protested at once. …"
    assert len(cut) <= 64


def test_a_cut_falls_at_a_word_end_when_a_sentence_end_would_lose_too_much() -> None:
    text = "Short one. " + "then a long sentence that goes on and on without a stop " * 3
    cut = fit_text(text, 60)
    assert cut.endswith(ELLIPSIS) and not cut.endswith(" " + ELLIPSIS)
    assert len(cut) <= 60 and len(cut) > 50
    assert text.startswith(cut.removesuffix(ELLIPSIS))
    assert text[len(cut) - 1] == " "  # the cut is at the end of a word


def test_one_word_longer_than_the_limit_is_cut_inside() -> None:
    assert fit_text("x" * 50, 10) == "x" * 9 + ELLIPSIS
    assert fit_text("xyz", 0) == ""


@pytest.mark.parametrize("limit", range(1, len(TEXT) + 5))
def test_every_cut_fits_and_is_a_prefix(limit: int) -> None:
    cut = fit_text(TEXT, limit)
    assert len(cut) <= limit
    assert TEXT.startswith(cut.removesuffix(ELLIPSIS).rstrip())


def test_a_width_function_measures_what_the_platform_counts() -> None:
    def utf16(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    emoji = "😀 " * 20
    assert utf16(fit_text(emoji, 11, utf16)) <= 11


def test_cut_point_says_where_and_what_tail() -> None:
    assert cut_point(TEXT, 0, len(TEXT), lambda e, tail: e + len(tail) <= 40) == (35, " …")
    assert cut_point("abc", 0, 3, lambda e, tail: False) is None


def test_last_fitting_is_the_largest_candidate_that_fits() -> None:
    assert last_fitting([1, 3, 5, 7], lambda n: n <= 5) == 5
    assert last_fitting([1, 3], lambda n: n > 9) is None
    assert last_fitting([], lambda n: True) is None


def test_cooldowns_allow_one_question_per_interval_per_user() -> None:
    now = [100.0]
    cooldowns = Cooldowns(5.0, clock=lambda: now[0])
    assert cooldowns.acquire(1) == 0.0
    assert cooldowns.acquire(1) == pytest.approx(5.0)
    assert cooldowns.acquire("other") == 0.0  # per user
    now[0] += 4.0
    assert cooldowns.acquire(1) == pytest.approx(1.0)
    now[0] += 1.0
    assert cooldowns.acquire(1) == 0.0
    assert Cooldowns(0.0).acquire(1) == Cooldowns(0.0).acquire(1) == 0.0


def test_cooldowns_forget_users_whose_window_is_over() -> None:
    now = [0.0]
    cooldowns = Cooldowns(1.0, clock=lambda: now[0])
    for user in range(10_001):
        cooldowns.acquire(user)
    now[0] += 2.0
    cooldowns.acquire("late")
    assert len(cooldowns._last) == 1


def test_follow_ups_remember_the_recent_answers_questions() -> None:
    follow = FollowUps(size=2)
    follow.remember(1, "first?")
    follow.remember(2, "second?")
    follow.remember(3, "third?")
    assert follow.question_for(1) is None  # the oldest is forgotten
    assert (follow.question_for(2), follow.question_for(3)) == ("second?", "third?")


def test_pages_hold_at_most_n_entries_and_a_width() -> None:
    entries = [f"entry {n}" for n in range(7)]
    assert pages(entries, 3, 1000) == [entries[0:3], entries[3:6], entries[6:]]
    assert pages(["a" * 10, "b" * 10, "c" * 10], 10, 25) == [["a" * 10, "b" * 10], ["c" * 10]]
    assert pages(["x" * 50], 3, 10) == [["x" * 50]]  # too wide: a page of its own
    assert pages([], 3, 100) == [[]]
