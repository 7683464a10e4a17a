"""Pieces every chat-style front end needs, whatever its platform: cut text to a size at a
sentence or word boundary, one question per user per interval, the question an answer was for
(follow-ups), and pages of a long list. Discord uses them; a Slack or Matrix front end would too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from bot.core.lru import LruMap
from bot.core.passages import sentence_spans

ELLIPSIS = "…"
SENTENCE_SHARE = 0.6  # cut at a sentence end when it keeps this share of what a word cut keeps
_WORD = re.compile(r"\S+")


def last_fitting(candidates: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The largest candidate for which ``fits`` holds (it is monotonic: binary search)."""
    low, high, found = 0, len(candidates) - 1, None
    while low <= high:
        mid = (low + high) // 2
        if fits(candidates[mid]):
            found, low = candidates[mid], mid + 1
        else:
            high = mid - 1
    return found


def cut_point(
    text: str, start: int, end: int, fits: Callable[[int, str], bool]
) -> tuple[int, str] | None:
    """Where to cut ``text[start:end]`` and the tail to add so that ``fits(cut, tail)`` holds.

    At the last sentence end when that keeps most of what the last word end keeps, else at the
    last word end (tail "…"); inside a word only when one word alone is too long; None when not
    even one character fits.
    """
    words = [m.end() for m in _WORD.finditer(text, start, end)]
    best = last_fitting(words, lambda e: fits(e, ELLIPSIS))
    if best is None:
        chars = list(range(start + 1, end + 1))
        found = last_fitting(chars, lambda e: fits(e, ELLIPSIS))
        return None if found is None else (found, ELLIPSIS)
    sentences = [e for _, e in sentence_spans(text, start, end) if e <= best]
    if (
        sentences
        and sentences[-1] - start >= SENTENCE_SHARE * (best - start)
        and fits(sentences[-1], " " + ELLIPSIS)
    ):
        return sentences[-1], " " + ELLIPSIS
    return best, ELLIPSIS


def fit_text(text: str, limit: int, width: Callable[[str], int] = len) -> str:
    """Plain text with its whitespace made single spaces, cut to ``limit`` (as ``width``
    measures) at a sentence or word boundary with "…"."""
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    where = cut_point(text, 0, len(text), lambda e, tail: width(text[:e] + tail) <= limit)
    if where is None:
        return ELLIPSIS[: max(limit, 0)]
    cut, tail = where
    return text[:cut] + tail


class Cooldowns:
    """One question per ``seconds`` per user; remembers only users seen within the window."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: dict[int | str, float] = {}

    def acquire(self, user_id: int | str) -> float:
        """0.0 and the user's turn is taken, or the seconds left before they may ask again."""
        if self.seconds <= 0:
            return 0.0
        now = self.clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            return self.seconds - (now - last)
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget users whose cooldown is over
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
        return 0.0


class FollowUps:
    """The question each recent answer message was for, so a reply to it is asked in context."""

    def __init__(self, size: int = 4096) -> None:
        self._questions: LruMap[int | str, str] = LruMap(size)

    def remember(self, message_id: int | str, question: str) -> None:
        """``message_id`` (an answer sent) answered ``question``."""
        self._questions[message_id] = question

    def question_for(self, message_id: int | str) -> str | None:
        """The question the answer ``message_id`` was for, if it is still remembered."""
        return self._questions.get(message_id)


def pages(
    entries: Sequence[str], per_page: int, max_width: int, width: Callable[[str], int] = len
) -> list[list[str]]:
    """``entries`` in pages of at most ``per_page`` entries and ``max_width`` (entries joined by
    a blank line); an entry wider than a page gets a page of its own. Always one page at least."""
    chunks: list[list[str]] = []
    size = 0
    for entry in entries:
        if not chunks or len(chunks[-1]) >= per_page or size + width(entry) > max_width:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += width(entry) + 2
    return chunks or [[]]
