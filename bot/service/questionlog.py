"""The question log: one JSON line per question (or vote) from every front end.

Entries go through a ``logging.handlers.QueueHandler`` to a ``QueueListener`` thread, so recording
a question never blocks the event loop; the listener's :class:`LineFileHandler` appends whole
lines, rotates by size and is safe with several processes sharing the file. User ids are never
written: only a keyed hash (HMAC-SHA256, salt from ``NEWSBOT_LOG_SALT`` or a random salt kept next
to the log with 0600 permissions). A full disk or an unwritable path loses entries (counted
exactly, logged once per interval), never the service.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import queue
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.answer import Answer
from bot.service.linefile import FAILURE_LOG_INTERVAL, LineFileHandler
from bot.service.votes import Vote, vote_entry

if TYPE_CHECKING:
    from bot.service.settings import QuestionLogSettings

logger = logging.getLogger(__name__)

MAX_LOGGED_CHARS = 2000  # longer (rejected) questions are cut to this in the log
_QUEUE_LIMIT = 10_000


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
        return secrets.token_hex(16)
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
            handle.write(secrets.token_hex(16) + "\n")
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
        return secrets.token_hex(16)


def utc_now() -> str:
    """The current time, UTC, ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class _Queue(logging.handlers.QueueHandler):
    """Hands lines to the writer thread; counts (never raises on) lines a full queue refuses."""

    def __init__(self, limit: int) -> None:
        self.pending: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=limit)
        super().__init__(self.pending)
        self.dropped = 0
        self._noticed_at: float | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # the message is already the finished line

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.pending.put_nowait(record)
        except queue.Full:
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
        self._queue = _Queue(queue_limit)
        self._file: LineFileHandler | None = None
        self._listener: logging.handlers.QueueListener | None = None
        if path is not None:
            self._file = LineFileHandler(path, max_bytes=max_bytes, backups=backups)
            self._listener = logging.handlers.QueueListener(self._queue.pending, self._file)
            self._listener.start()

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
        return self._queue.dropped + (self._file.dropped if self._file else 0)

    def hash_user(self, user_id: str | int | None) -> str | None:
        """A salted, non-reversible stand-in for a user id (stable while the salt is)."""
        if user_id is None or user_id == "":
            return None
        digest = hmac.new(self._salt, str(user_id).encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:16]

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
        if not self.enabled:
            return
        entry: dict[str, Any] = {
            "time": utc_now(),
            "frontend": frontend,
            "user": self.hash_user(user_id),
            "question": _cut(question),
            "k": k,
            "offset": offset,
            "answered": bool(answer and answer.answered),
            "passages": [
                {"id": q.passage_id, "source": q.source.id, "score": round(q.score, 4)}
                for q in (answer.quotes if answer else ())
            ],
            "latency_ms": round(latency_ms, 3),
            "cached": cached,
            "index": index,
        }
        if context:
            entry["context"] = context[:MAX_LOGGED_CHARS]
        if error is not None:
            entry["error"] = error
        self.write(entry)

    def record_vote(self, vote: Vote) -> None:
        """Queue one vote on an answer (see :mod:`bot.service.votes`; the last one counts)."""
        self.write(vote_entry(vote, time=utc_now(), user=self.hash_user(vote.user_id)))

    def write(self, entry: dict[str, Any]) -> None:
        """Queue one entry (any JSON-ready dict); never blocks, counts it if the queue is full."""
        if not self.enabled or self._closed:
            return
        record = logging.makeLogRecord({"msg": json.dumps(entry, ensure_ascii=False)})
        self._queue.handle(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every entry queued so far is written (False on timeout). Not on the loop."""
        pending = self._queue.pending
        deadline = time.monotonic() + timeout
        with pending.all_tasks_done:
            while pending.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pending.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer thread and close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            if not self.flush(timeout):
                logger.error("question log: could not write everything in %.0f s", timeout)
            self._listener.stop()
        if self._file is not None:
            self._file.close()


def _cut(question: str) -> str:
    return question if len(question) <= MAX_LOGGED_CHARS else question[:MAX_LOGGED_CHARS] + "…"
