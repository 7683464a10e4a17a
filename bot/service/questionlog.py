"""The question log: one JSON line per question (or vote) from every front end.

Recording a question only appends its fields to a bounded deque (no formatting, no lock, no
thread woken per entry), so it costs the event loop next to nothing; a writer thread wakes when
entries arrive, lets a batch gather for a moment, then formats the lines and hands them to a
:class:`LineFile`, which appends whole lines, rotates by size and is safe with several processes
sharing the file. User ids are never written: only a keyed hash (HMAC-SHA256, salt from
``NEWSBOT_LOG_SALT`` or a random salt kept next to the log with 0600 permissions). A full disk or
an unwritable path loses entries (counted exactly, logged once per interval), never the service.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import logging
import math
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.core.answer import Answer
from bot.core.printable import json_bytes
from bot.service.linefile import FAILURE_LOG_INTERVAL, LineFile
from bot.service.votes import Vote, vote_entry

if TYPE_CHECKING:
    from bot.service.settings import QuestionLogSettings

logger = logging.getLogger(__name__)

MAX_LOGGED_CHARS = 2000  # longer (rejected) questions are cut to this in the log
_QUEUE_LIMIT = 10_000
BATCH_SECONDS = 0.05  # how long the writer lets entries gather before writing them together
_HASHES_KEPT = 4096  # user hashes remembered (the same users ask again and again)


def salt_path(log_path: Path) -> Path:
    """Where the random salt of a log is kept: ``<log>.salt`` beside it."""
    return log_path.with_name(log_path.name + ".salt")


def load_salt(log_path: Path | None) -> str:
    """The hashing salt: ``NEWSBOT_LOG_SALT``, else the persisted one (created 0600 if missing)."""
    from bot.service.settings import environment  # pydantic: only where a log is kept

    from_env = environment().log_salt
    if from_env:
        return from_env
    if log_path is None:
        return os.urandom(16).hex()
    path = salt_path(log_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
        # Written whole beside it, then linked into place: processes starting together (HTTP
        # workers) never read a half-written salt, and all keep the one that was linked first.
        fresh = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(os.urandom(16).hex() + "\n")
        try:
            os.link(fresh, path)
        except FileExistsError:
            if not path.read_text(encoding="utf-8").strip():  # an empty salt left by a crash
                os.replace(fresh, path)
        finally:
            fresh.unlink(missing_ok=True)
        os.chmod(path, 0o600)
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        logger.warning(
            "question log: cannot keep a salt in %s (%s); user hashes will change on restart",
            path,
            exc.strerror or exc,
        )
        return os.urandom(16).hex()


def utc_now() -> str:
    """The current time, UTC, ISO 8601 with milliseconds."""
    return iso_time(time.time())


# The last whole second written and its text: the writer formats many lines a second, and the
# date and time of day cost far more than the milliseconds after them (one tuple: thread-safe).
_second: tuple[float, str] = (math.nan, "")


def iso_time(seconds: float) -> str:
    """A Unix time as the log writes it: UTC, ISO 8601 with milliseconds (what
    ``datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")`` gives)."""
    global _second
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1e6)  # rounded to the microsecond, half to even, as datetime does
    if micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    elif micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    known, text = _second
    if whole != known:
        text = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = whole, text
    return f"{text}.{micro // 1000:03d}+00:00"


class _Asked(NamedTuple):
    """A question's fields as recorded, formatted into its line by the writer thread."""

    time: float
    frontend: str
    user_id: str | int | None
    question: str
    answer: Answer | None
    latency_ms: float
    k: int
    offset: int
    context: str | None
    error: str | None
    build: str | None  # the index generation that answered
    cached: bool


class _Pending:
    """Entries waiting for the writer: a bounded deque; a full one refuses entries and counts them.

    ``wake`` is set when entries arrive (once per batch, not per entry); ``hurry`` cuts the
    batching pause short (flush and close).
    """

    def __init__(self, limit: int) -> None:
        self.items: deque[_Asked | bytes | threading.Event] = deque()
        self.limit = limit
        self.dropped = 0
        self.wake = threading.Event()
        self.hurry = threading.Event()
        self._noticed_at: float | None = None

    def put(self, item: _Asked | bytes) -> None:
        """Queue one entry; never blocks (a full queue drops it, counted and noticed)."""
        if len(self.items) >= self.limit:
            self._refused()
            return
        self.items.append(item)
        if not self.wake.is_set():
            self.wake.set()

    def mark(self) -> threading.Event:
        """An event the writer sets once every entry queued before it is written."""
        marker = threading.Event()
        self.items.append(marker)
        self.hurry.set()
        self.wake.set()
        return marker

    def _refused(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if self._noticed_at is None or now - self._noticed_at >= FAILURE_LOG_INTERVAL:
            self._noticed_at = now
            logger.error(
                "question log: the writer is behind; %d entries dropped so far", self.dropped
            )


class QuestionLog:
    """Question and vote entries appended as JSON lines by a background thread."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 10_000_000,
        backups: int = 5,
        salt: str | None = None,
        queue_limit: int = _QUEUE_LIMIT,
    ) -> None:
        self.path = path
        self._given_salt = salt
        if path is not None:
            self._salt  # noqa: B018  # a kept log makes (or reads) its salt file at once
        self._closed = False
        self._stopping = False
        self._pending = _Pending(queue_limit)
        self._hashes: dict[str | int, str] = {}
        self._file: LineFile | None = None
        self._writer: threading.Thread | None = None
        if path is not None:
            self._file = LineFile(path, max_bytes=max_bytes, backups=backups)
            self._writer = threading.Thread(
                target=self._write_batches, name="newsbot-question-log", daemon=True
            )
            self._writer.start()

    @classmethod
    def from_settings(cls, settings: QuestionLogSettings) -> QuestionLog:
        """The log the settings describe (disabled when ``path`` is null)."""
        return cls(settings.path, max_bytes=settings.max_bytes, backups=settings.backups)

    @functools.cached_property
    def _salt(self) -> bytes:
        """The hashing salt; a disabled log reads it on its first hash (a one-shot CLI question
        then never loads the settings library)."""
        given = self._given_salt
        return (given if given is not None else load_salt(self.path)).encode("utf-8")

    @property
    def enabled(self) -> bool:
        """Whether entries are written anywhere."""
        return self.path is not None

    @property
    def dropped(self) -> int:
        """Entries lost so far: refused by a full queue or by the disk."""
        return self._pending.dropped + (self._file.dropped if self._file else 0)

    def hash_user(self, user_id: str | int | None) -> str | None:
        """A salted, non-reversible stand-in for a user id (stable while the salt is)."""
        if user_id is None or user_id == "":
            return None
        known = self._hashes.get(user_id)
        if known is None:
            digest = hmac.new(self._salt, str(user_id).encode("utf-8"), hashlib.sha256)
            known = digest.hexdigest()[:16]
            if len(self._hashes) >= _HASHES_KEPT:
                self._hashes.clear()
            self._hashes[user_id] = known
        return known

    def record(
        self,
        *,
        frontend: str,
        user_id: str | int | None,
        question: str,
        answer: Answer | None,
        latency_ms: float,
        k: int,
        offset: int = 0,
        context: str | None = None,
        error: str | None = None,
        index: str | None = None,
        cached: bool = False,
    ) -> None:
        """Queue the entry for one question (``answer`` is None when it was rejected)."""
        if self._writer is None or self._closed:
            return
        self._pending.put(
            _Asked(
                time.time(),
                frontend,
                user_id,
                question,
                answer,
                latency_ms,
                k,
                offset,
                context,
                error,
                index,
                cached,
            )
        )

    def record_vote(self, vote: Vote) -> None:
        """Queue one vote on an answer (see :mod:`bot.service.votes`; the last one counts)."""
        self.write(vote_entry(vote, time=utc_now(), user=self.hash_user(vote.user_id)))

    def write(self, entry: dict[str, Any]) -> None:
        """Queue one entry (any JSON-ready dict); never blocks, counts it if the queue is full."""
        if self._writer is None or self._closed:
            return
        self._pending.put(_line(entry))

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every entry queued so far is written (False on timeout). Not on the loop."""
        if self._writer is None or not self._writer.is_alive():
            return True
        return self._pending.mark().wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer thread and close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            if not self.flush(timeout):
                logger.error("question log: could not write everything in %.0f s", timeout)
            self._stopping = True
            self._pending.hurry.set()
            self._pending.wake.set()
            self._writer.join(timeout)
        if self._file is not None:
            self._file.close()

    def _write_batches(self) -> None:
        """The writer thread: wait for entries, let a batch gather, write it; until closed."""
        pending = self._pending
        while not self._stopping:
            pending.wake.wait()
            pending.hurry.wait(BATCH_SECONDS)
            pending.wake.clear()
            pending.hurry.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        """Format and append everything queued; set each flush marker once what precedes it is."""
        assert self._file is not None
        items = self._pending.items
        lines: list[bytes] = []
        while items:
            item = items.popleft()
            if isinstance(item, threading.Event):
                self._file.append(lines)
                lines = []
                item.set()
            elif isinstance(item, bytes):
                lines.append(item)
            else:
                try:
                    lines.append(_line(self._entry(item)))
                except Exception:  # a bad entry is lost (counted), never the writer thread
                    logger.exception("question log: cannot format an entry")
                    self._pending.dropped += 1
        self._file.append(lines)

    def _entry(self, asked: _Asked) -> dict[str, Any]:
        """The log entry of one recorded question."""
        answer = asked.answer
        entry: dict[str, Any] = {
            "time": iso_time(asked.time),
            "frontend": asked.frontend,
            "user": self.hash_user(asked.user_id),
            "question": _cut(asked.question),
            "k": asked.k,
            "offset": asked.offset,
            "answered": bool(answer and answer.answered),
            "passages": [
                {"id": q.passage_id, "source": q.source.id, "score": round(q.score, 4)}
                for q in (answer.quotes if answer else ())
            ],
            "latency_ms": round(asked.latency_ms, 3),
            "cached": asked.cached,
            "index": asked.build,
        }
        if asked.context:
            entry["context"] = asked.context[:MAX_LOGGED_CHARS]
        if asked.error is not None:
            entry["error"] = asked.error
        return entry


def _line(entry: dict[str, Any]) -> bytes:
    return json_bytes(entry) + b"\n"


def _cut(question: str) -> str:
    return question if len(question) <= MAX_LOGGED_CHARS else question[:MAX_LOGGED_CHARS] + "…"
