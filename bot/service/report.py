"""``python -m bot report``: what people asked, what the sources could not answer, what got quoted.

Reads the question log (with its rotated files ``<log>.1`` … ``<log>.N``) and summarises it:
questions per day and per front end, the abstention rate, latency percentiles, the most-asked
questions the sources could not answer (grouped by their content words), the passages quoted
most and the answers people voted down (:mod:`bot.service.votes`). Plain text for a terminal,
``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from bot.core.printable import json_text, printable
from bot.core.tokenizer import tokenize
from bot.errors import BadInput, LogError
from bot.service.settings import load_settings
from bot.service.votes import VOTES, format_votes, summarise_votes

TOP = 10  # rows in the "could not answer" and "quoted most" lists
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # a logged time before this is impossible
FUTURE_SLACK = dt.timedelta(days=1)  # clocks drift; a day ahead is still believable


@dataclass
class _Tally:
    """Counts of one front end or one day."""

    questions: int = 0
    answered: int = 0
    abstained: int = 0
    rejected: int = 0

    def add(self, status: str) -> None:
        self.questions += 1
        setattr(self, status, getattr(self, status) + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "answered": self.answered,
            "abstained": self.abstained,
            "rejected": self.rejected,
            "abstention_rate": _rate(self.abstained, self.answered + self.abstained),
        }


@dataclass
class _Group:
    """Unanswered questions sharing their content words."""

    words: tuple[str, ...]
    count: int = 0
    phrasings: Counter[str] = field(default_factory=Counter)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def log_files(path: Path) -> list[Path]:
    """The log and its rotated files, oldest first (``log.3``, ``log.2``, ``log.1``, ``log``)."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)")
    rotated = []
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            match = pattern.fullmatch(candidate.name)
            if match and candidate.is_file():
                rotated.append((int(match.group(1)), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.is_file():
        files.append(path)
    return files


class _Passage(BaseModel):
    model_config = ConfigDict(extra="allow")  # votes keep the quote's number and opening words

    id: StrictInt = Field(ge=0)
    source: StrictStr | None = None


class LogEntry(BaseModel):
    """One question-log line (a question, or a vote when ``vote`` is set), its fields checked."""

    model_config = ConfigDict(frozen=True, extra="allow")

    time: dt.datetime
    frontend: StrictStr = "unknown"
    question: StrictStr = ""
    answered: StrictBool = False
    error: StrictStr | None = None
    latency_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    passages: list[_Passage] = []
    index: StrictStr | None = None
    vote: Literal[VOTES] | None = None  # type: ignore[valid-type]

    @field_validator("time", mode="before")
    @classmethod
    def _stamp(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("expected an ISO 8601 time")
        return value

    @field_validator("time")
    @classmethod
    def _possible(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if not EARLIEST <= value <= dt.datetime.now(dt.UTC) + FUTURE_SLACK:
            raise ValueError("a time that cannot be a logged question's")
        return value

    @property
    def day(self) -> str:
        """The UTC date, YYYY-MM-DD."""
        return self.time.astimezone(dt.UTC).date().isoformat()

    @property
    def status(self) -> str:
        """answered, abstained or rejected."""
        if self.error:
            return "rejected"
        return "answered" if self.answered else "abstained"


def read_entries(files: Iterable[Path]) -> tuple[list[LogEntry], int]:
    """The well-formed entries of the log files and how many lines were skipped.

    A line is skipped when it is torn, not JSON, or has a field of the wrong type or an
    impossible value (a list for a passage id, a NaN or negative latency, a date in the future).
    """
    entries: list[LogEntry] = []
    bad = 0
    for path in files:
        with path.open("rb") as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    entries.append(LogEntry.model_validate_json(raw))
                except ValidationError:
                    bad += 1
    return entries, bad


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), linearly interpolated as NumPy does; None for no values."""
    return float(np.percentile(values, q)) if values else None


def summarise(entries: list[LogEntry], since: dt.date | None = None) -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    if since is not None:
        entries = [e for e in entries if e.day >= since.isoformat()]
    votes = [e.model_dump(mode="json") for e in entries if e.vote is not None]
    entries = [e for e in entries if e.vote is None]
    total = _Tally()
    frontends: dict[str, _Tally] = defaultdict(_Tally)
    days: dict[str, _Tally] = defaultdict(_Tally)
    latencies: list[float] = []
    groups: dict[tuple[str, ...], _Group] = {}
    quoted: Counter[tuple[str | None, int, str | None]] = Counter()
    for entry in entries:
        status = entry.status
        total.add(status)
        frontends[entry.frontend].add(status)
        days[entry.day].add(status)
        if status != "rejected" and entry.latency_ms is not None:
            latencies.append(entry.latency_ms)
        if status == "abstained":
            question = " ".join(entry.question.split())
            words = tuple(sorted(set(tokenize(question))))
            group = groups.setdefault(words, _Group(words))
            group.count += 1
            group.phrasings[question] += 1
        if status == "answered":
            quoted.update((entry.index, p.id, p.source) for p in entry.passages)
    unanswered = sorted(groups.values(), key=lambda g: (-g.count, g.words))[:TOP]
    return {
        "since": since.isoformat() if since else None,
        "first": _stamp(min((e.time for e in entries), default=None)),
        "last": _stamp(max((e.time for e in entries), default=None)),
        "totals": total.to_json(),
        "frontends": {name: t.to_json() for name, t in sorted(frontends.items())},
        "days": {day: t.to_json() for day, t in sorted(days.items())},
        "latency_ms": {
            name: None if (v := percentile(latencies, q)) is None else round(v, 2)
            for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
        },
        "unanswered": [
            {
                "question": g.phrasings.most_common(1)[0][0],
                "count": g.count,
                "phrasings": len(g.phrasings),
                "words": list(g.words),
            }
            for g in unanswered
        ],
        "quoted": [
            {"index": index, "passage_id": pid, "source": source, "count": n}
            for (index, pid, source), n in quoted.most_common(TOP)
        ],
        "votes": summarise_votes(votes),
    }


def _stamp(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="milliseconds")


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(title: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    columns = ("questions", "answered", "abstained", "rejected")
    lines = [f"{title:<14} " + " ".join(f"{c:>9}" for c in columns) + f" {'abst.':>7}"]
    for name, row in rows.items():
        lines.append(
            f"  {name:<12} {row['questions']:>9,} {row['answered']:>9,} {row['abstained']:>9,} "
            f"{row['rejected']:>9,} {_pct(row['abstention_rate']):>7}"
        )
    return lines


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_report(report: dict[str, Any], files: list[Path], skipped: int) -> str:
    """The report as plain text for a terminal."""
    totals = report["totals"]
    span = f"{report['first'][:10]} to {report['last'][:10]}" if report["first"] else "-"
    rotated = f" (+{len(files) - 1} rotated)" if len(files) > 1 else ""
    since = f" since {report['since']}" if report["since"] else ""
    lines = [
        f"Question log: {files[-1] if files else '-'}{rotated}",
        f"{totals['questions']:,} question{_s(totals['questions'])}{since}, {span}; "
        f"abstention rate {_pct(totals['abstention_rate'])}",
    ]
    if skipped:
        lines.append(f"({skipped} unreadable line(s) skipped)")
    if not totals["questions"]:
        return "\n".join([*lines, "", "No questions to report."])
    lines += ["", *_table("Front end", report["frontends"]), "", *_table("Day", report["days"])]
    lat = report["latency_ms"]
    figures = "   ".join(f"{p} {_ms(lat[p])}" for p in ("p50", "p95", "p99"))
    lines += ["", f"Latency (ms)   {figures}"]
    lines += ["", "Most-asked questions the sources could not answer"]
    if not report["unanswered"]:
        lines.append("  (none)")
    for row in report["unanswered"]:
        others = row["phrasings"] - 1
        more = f"  (+{others} other phrasing{_s(others)})" if others else ""
        lines.append(f"  {row['count']:>5}  {_shorten(row['question'], 70)}{more}")
    lines += ["", "Passages quoted most"]
    if not report["quoted"]:
        lines.append("  (none)")
    for row in report["quoted"]:
        lines.append(f"  {row['count']:>5}  passage {row['passage_id']} of {row['source']}")
        if row.get("excerpt"):
            lines.append(f"         \u201c{_shorten(row['excerpt'], 72)}\u201d")
    lines += ["", *format_votes(report["votes"], _shorten)]
    return "\n".join(lines)


def add_excerpts(report: dict[str, Any], index_dir: Path) -> None:
    """Add each quoted passage's opening words when it comes from the index now on disk."""
    from bot.core.index import IndexUnavailable, load_index

    try:
        index = load_index(index_dir)
    except (IndexUnavailable, OSError, ValueError, KeyError):
        return
    generation = index.manifest.get("generation")
    for row in report["quoted"]:
        pid = row["passage_id"]
        if row["index"] == generation and isinstance(pid, int) and 0 <= pid < index.size:
            row["excerpt"] = " ".join(index.text(pid).split()[:30])


def _since(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def report_command(args: argparse.Namespace) -> None:
    """``python -m bot report [--since DATE] [--json] [--log PATH] [--config PATH]``."""
    since = _since(args.since)
    if args.since is not None and since is None:
        raise BadInput(f"--since {args.since!r}: expected a date, YYYY-MM-DD")
    settings = load_settings(args.config)
    path = args.log or settings.question_log.path
    if path is None:
        raise LogError("the question log is off (question_log.path: null); use --log PATH")
    files = log_files(path)
    if not files:
        raise LogError(f"no question log at {path} (nothing asked yet?)")
    try:
        entries, skipped = read_entries(files)
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror}") from None
    report = summarise(entries, since)
    add_excerpts(report, settings.index)
    if args.json:
        report["files"] = [str(p) for p in files]
        report["skipped_lines"] = skipped
        print(json_text(report, indent=1, allow_nan=False))
    else:
        print(printable(format_report(report, files, skipped)))
