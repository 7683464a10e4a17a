"""The limits on a request (question length, ``k``, ``offset``) and the sentence each breach gets.

Every front end asks through the service, which checks each request against the front end's
:class:`Limits`; a front end may check earlier with the same functions (Discord does, before a
cooldown is spent) and gets the same messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import BadInput, ConfigError, QuestionTooLong

MAX_QUESTION_CHARS = 1000  # what the engine will search at most, for every front end
MAX_K = 50
DEFAULT_K = 3
MAX_OFFSET = 100  # how far "More" may page

_WHOLE = re.compile(r"[0-9]{1,9}")


def whole_number(name: str, value: int | str, low: int, high: int) -> int:
    """``value`` (a number or its digits) if a whole number in [low, high], else BadInput."""
    if isinstance(value, str):
        value = int(value) if _WHOLE.fullmatch(value) else low - 1
    if isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f"{name} must be a whole number between {low} and {high}")
    return value


@dataclass(frozen=True)
class Limits:
    """What one front end accepts: at most ``max_question_chars`` characters, 1–``max_k`` quotes."""

    max_question_chars: int = MAX_QUESTION_CHARS
    max_k: int = MAX_K
    max_offset: int = MAX_OFFSET

    def __post_init__(self) -> None:
        for name, value, high in (
            ("max_question_chars", self.max_question_chars, MAX_QUESTION_CHARS),
            ("max_k", self.max_k, MAX_K),
            ("max_offset", self.max_offset, MAX_OFFSET),
        ):
            try:
                whole_number(name, value, 1 if name != "max_offset" else 0, high)
            except BadInput as exc:
                raise ConfigError(str(exc)) from None

    def question(self, question: str) -> str:
        """The question with its whitespace runs made single spaces; QuestionTooLong if too long."""
        question = normalise(question)
        if len(question) > self.max_question_chars:
            raise QuestionTooLong(
                f"the question is too long ({len(question):,} characters; the limit is "
                f"{self.max_question_chars:,}); ask it in fewer words"
            )
        return question

    def k(self, k: int | str) -> int:
        """How many quotes, checked: 1–``max_k``."""
        return whole_number("k", k, 1, self.max_k)

    def offset(self, offset: int | str) -> int:
        """How many quotes to skip ("More"), checked: 0–``max_offset``."""
        return whole_number("offset", offset, 0, self.max_offset)


def normalise(question: str) -> str:
    """The question as searched and logged: runs of whitespace made one space, ends trimmed."""
    return " ".join(question.split())


DEFAULT_LIMITS = Limits()
