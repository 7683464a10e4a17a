"""The question log: one JSON line per question from every front end, with size-based rotation.

Lines are handed to a background writer thread through a queue, so recording a question never
blocks the event loop. User ids are never written: only a keyed hash (HMAC-SHA256, salt from
``NEWSBOT_LOG_SALT`` or a random salt kept next to the log with 0600 permissions). A full disk or
an unwritable path is logged once per outage and the questions are dropped, never fatal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import threading
from pathlib import Path
from typing import IO, Any

from bot.core.answer import Answer
from bot.service.settings import QuestionLogSettings, secret
from bot.service.votes import Vote, vote_entry

logger = logging.getLogger(__name__)

SALT_ENV = "NEWSBOT_LOG_SALT"
MAX_LOGGED_CHARS = 2000  # longer (rejected) questions are cut to this in the log
_QUEUE_LIMIT = 10_000
_STOP = object()


def salt_path(log_path: Path) -> Path:
    """Where the random salt of a log is kept: ``<log>.salt`` beside it."""
    return log_path.with_name(log_path.name + ".salt")


def load_salt(log_path: Path | None) -> str:
    """The hashing salt: ``NEWSBOT_LOG_SALT``, else the persisted one (created 0600 if missing)."""
    from_env = secret(SALT_ENV)
    if from_env:
        return from_env
    if log_path is None:
        return secrets.token_hex(16)
    path = salt_path(log_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
        value = secrets.token_hex(16)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        os.chmod(path, 0o600)
        return value
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


class QuestionLog:
    """Appends question entries to a JSON-lines file from a background thread, rotating by size."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 10_000_000,
        backups: int = 5,
        salt: str | None = None,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(backups, 0)
        self.dropped = 0  # entries lost to write errors or a full queue
        self._salt = (salt if salt is not None else load_salt(path)).encode("utf-8")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_LIMIT)
        self._file: IO[bytes] | None = None
        self._failing = False
        self._queue_full_logged = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if path is not None:
            self._thread = threading.Thread(target=self._run, name="question-log", daemon=True)
            self._thread.start()

    @classmethod
    def from_settings(cls, settings: QuestionLogSettings) -> QuestionLog:
        """The log the settings describe (disabled when ``path`` is null)."""
        return cls(settings.path, max_bytes=settings.max_bytes, backups=settings.backups)

    @property
    def enabled(self) -> bool:
        """Whether entries are written anywhere."""
        return self.path is not None

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
        if len(question) > MAX_LOGGED_CHARS:
            question = question[:MAX_LOGGED_CHARS] + "…"
        entry: dict[str, Any] = {
            "time": utc_now(),
            "frontend": frontend,
            "user": self.hash_user(user_id),
            "question": question,
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
        """Queue one entry (any JSON-ready dict); never blocks, drops it if the queue is full."""
        if not self.enabled or self._closed:
            return
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            if not self._queue_full_logged:
                self._queue_full_logged = True
                logger.error("question log: the writer is behind; dropping entries")

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every entry queued so far is written (False on timeout). Not on the loop."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer thread and close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                logger.error("question log: could not stop the writer in %.0f s", timeout)
                return
            self._thread.join(timeout)

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        """Write queued lines in batches; flush the file when the queue runs dry."""
        while True:
            item = self._queue.get()
            while True:
                if item is _STOP:
                    self._close_file()
                    return
                if isinstance(item, threading.Event):
                    self._flush_file()
                    item.set()
                else:
                    self._write_line(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush_file()

    def _write_line(self, line: bytes) -> None:
        try:
            handle = self._open()
            size = handle.tell()
            if self.max_bytes > 0 and size > 0 and size + len(line) > self.max_bytes:
                self._rotate()
                handle = self._open()
            handle.write(line)
        except OSError as exc:
            self._failed(exc)
        else:
            if self._failing:
                self._failing = False
                logger.warning("question log: writing to %s again", self.path)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "ab")
        return self._file

    def _rotate(self) -> None:
        """``log`` → ``log.1`` → … → ``log.<backups>`` (the oldest is dropped)."""
        assert self.path is not None
        self._close_file()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def _flush_file(self) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._failed(exc)

    def _close_file(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        """Count the lost entry; log the first failure of an outage only."""
        self.dropped += 1
        if not self._failing:
            self._failing = True
            logger.error(
                "question log: cannot write %s (%s); questions are not being logged",
                self.path,
                exc.strerror or exc,
            )
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
