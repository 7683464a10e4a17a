"""Votes on answers (up, down, "wrong source"): their question-log entry and their report count.

A vote is one line in the question log, beside the questions, with the same salted user hash;
it carries the question and the quotes it was about, so the report can show them after a
reindex. A person has one vote per answer: a changed vote is a new line, and the report counts
the last line per (front end, answer, user) — so the rule holds across restarts and rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.answer import Answer

VOTES = ("up", "down", "wrong_source")
DOWN = ("down", "wrong_source")  # what counts against an answer
EXCERPT_WORDS = 30
TOP = 10  # answers listed in the report


def is_vote(entry: dict[str, Any]) -> bool:
    """Whether a question-log entry is a vote (not a question)."""
    return "vote" in entry


@dataclass(frozen=True)
class Vote:
    """One person's vote on one answer; ``quote`` is the number of the quote named as wrong."""

    frontend: str
    user_id: str | int | None
    answer_id: str  # unique per answer shown (a Discord answer's view token)
    answer: Answer
    vote: str  # one of VOTES
    quote: int | None = None
    index: str | None = None  # the index generation the answer came from

    def __post_init__(self) -> None:
        if self.vote not in VOTES:
            raise ValueError(f"vote must be one of {', '.join(VOTES)}, not {self.vote!r}")


def vote_entry(vote: Vote, *, time: str, user: str | None) -> dict[str, Any]:
    """The log entry of ``vote`` (``user`` is the salted hash of its user id)."""
    answer = vote.answer
    entry: dict[str, Any] = {
        "time": time,
        "frontend": vote.frontend,
        "user": user,
        "vote": vote.vote,
        "answer": vote.answer_id,
        "question": answer.question,
        "passages": [
            {
                "number": answer.offset + n,
                "id": q.passage_id,
                "source": q.source.id,
                "excerpt": " ".join(q.text.split()[:EXCERPT_WORDS]),
            }
            for n, q in enumerate(answer.quotes, 1)
        ],
        "index": vote.index,
    }
    if vote.quote is not None:
        entry["quote"] = vote.quote
    return entry


def last_votes(votes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One vote per (front end, answer, user): the latest (a vote without a user stands alone)."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for n, entry in enumerate(sorted(votes, key=lambda e: str(e.get("time")))):
        user = entry.get("user")
        key = (entry.get("frontend"), entry.get("answer"), user if user else n)
        latest.pop(key, None)  # re-insert: the order stays by time
        latest[key] = entry
    return [e for e in latest.values() if e.get("vote") in VOTES]


def summarise_votes(votes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The votes part of the report: totals, and the answers voted down with their quotes."""
    counted = last_votes(votes)
    totals = {vote: sum(e["vote"] == vote for e in counted) for vote in VOTES}
    answers: dict[tuple[Any, Any], dict[str, Any]] = {}
    for entry in counted:
        key = (entry.get("frontend"), entry.get("answer"))
        row = answers.setdefault(
            key, {"question": None, "frontend": key[0], "answer": key[1], "flagged": {}}
        )
        row.update(question=entry.get("question"), quotes=_quotes(entry))
        row[entry["vote"]] = row.get(entry["vote"], 0) + 1
        if entry["vote"] == "wrong_source" and isinstance(entry.get("quote"), int):
            row["flagged"][entry["quote"]] = row["flagged"].get(entry["quote"], 0) + 1
    down = []
    for row in answers.values():
        counts = {vote: row.pop(vote, 0) for vote in VOTES}
        row.update(counts, down=counts["down"] + counts["wrong_source"])
        for quote in row["quotes"]:
            quote["flagged"] = row["flagged"].get(quote["number"], 0)
        del row["flagged"]
        if row["down"]:
            down.append(row)
    down.sort(key=lambda r: (-r["down"], r["up"], str(r["question"])))
    return {"totals": totals, "voted_down": down[:TOP]}


def _quotes(entry: dict[str, Any]) -> list[dict[str, Any]]:
    quotes = []
    for passage in entry.get("passages") or ():
        if isinstance(passage, dict) and isinstance(passage.get("number"), int):
            quotes.append(
                {
                    "number": passage["number"],
                    "passage_id": passage.get("id"),
                    "source": passage.get("source"),
                    "excerpt": str(passage.get("excerpt") or ""),
                }
            )
    return quotes


def format_votes(summary: dict[str, Any], shorten: Callable[[str, int], str]) -> list[str]:
    """The report's votes section as text lines (``shorten(text, width)`` cuts long lines)."""
    totals = summary["totals"]
    lines = [
        f"Votes on answers (the last per person per answer): {totals['up']:,} up, "
        f"{totals['down']:,} down, {totals['wrong_source']:,} wrong source",
        "",
        "Answers voted down",
    ]
    if not summary["voted_down"]:
        lines.append("  (none)")
    for row in summary["voted_down"]:
        counts = f"{row['down']} down, {row['up']} up"
        lines.append(f"  {counts:>14}  {shorten(str(row['question']), 60)}")
        for quote in row["quotes"]:
            flag = f"  ← wrong source ×{quote['flagged']}" if quote["flagged"] else ""
            where = f"passage {quote['passage_id']} of {quote['source']}"
            lines.append(f"      {quote['number']}. {where}{flag}")
            if quote["excerpt"]:
                lines.append(f"         \u201c{shorten(quote['excerpt'], 72)}\u201d")
    return lines
