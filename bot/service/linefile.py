"""Appends whole lines to a file several processes may share.

A batch of lines is written with as few ``write()`` calls on an ``O_APPEND`` file as rotation
allows (one, unless the batch crosses the size limit) while holding an ``flock`` on
``<file>.lock``, so lines from several processes never interleave and a size rotation (``file`` →
``file.1`` … ``file.N``) happens once, not once per process. The file is reopened when it was
deleted or replaced (as ``WatchedFileHandler`` does). A write that fails part way is cut back so no
partial line stays, and what was left is retried line by line, so a full disk loses only the
lines that do not fit; lost lines are counted exactly and the failure is logged once per
interval, not once per line.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

FAILURE_LOG_INTERVAL = 60.0  # seconds between reminders that lines are being lost


class LineFile:
    """Appends lines (each ending in a newline) to ``path``, every one whole."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 0,
        backups: int = 5,
        failure_interval: float = FAILURE_LOG_INTERVAL,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(backups, 0)
        self.failure_interval = failure_interval
        self.dropped = 0  # lines lost to write errors
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._failing_since: float | None = None
        self._noticed_at = 0.0

    def append(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` in order; on failure count what is lost and carry on."""
        done = 0
        try:
            with self._locked():
                while done < len(lines):
                    done += self._append_run(lines, done)
        except OSError:  # nothing of the failed run was kept: retry it line by line
            for line in lines[done:]:
                self._append_line(line)
            return
        self._recovered()

    def close(self) -> None:
        """Close the file and the lock file."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the lock file shared by every process appending to this log."""
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.path.with_name(self.path.name + ".lock")
            self._lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _append_line(self, line: bytes) -> None:
        try:
            with self._locked():
                while not self._append_run((line,), 0):
                    pass
        except OSError as exc:
            self._failed(exc)
            return
        self._recovered()

    def _append_run(self, lines: Sequence[bytes], start: int) -> int:
        """Write the lines from ``start`` that fit in the current file; how many (0: it rotated).

        Under the lock. A line goes to the current file when the file is empty or the line fits
        under ``max_bytes``, as if the lines were written one at a time.
        """
        fd = self._current()
        size = os.fstat(fd).st_size
        end, length, limit = start, 0, self.max_bytes
        while end < len(lines) and (
            limit <= 0 or size + length == 0 or size + length + len(lines[end]) <= limit
        ):
            length += len(lines[end])
            end += 1
        if end == start:  # the next line does not fit: it starts the next file
            self._rotate()
            return 0
        data = lines[start] if end == start + 1 else b"".join(lines[start:end])
        try:
            written = os.write(fd, data)
        except OSError:
            self._cut_back(fd, size)
            raise
        if written != len(data):
            self._cut_back(fd, size)
            raise OSError(28, "No space left on device (lines not written whole)")
        return end - start

    def _recovered(self) -> None:
        if self._failing_since is not None:
            self._failing_since = None
            logger.warning(
                "question log: writing to %s again (%d line(s) lost in all)",
                self.path,
                self.dropped,
            )

    def _current(self) -> int:
        """The descriptor of the file now at ``path``, reopened if it was deleted or replaced."""
        fd = self._fd
        if fd is not None:
            try:
                on_disk = os.stat(self.path)
            except FileNotFoundError:
                on_disk = None
            mine = os.fstat(fd)
            if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (
                mine.st_dev,
                mine.st_ino,
            ):
                return fd
            self._fd = None
            with contextlib.suppress(OSError):
                os.close(fd)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    @staticmethod
    def _cut_back(fd: int, size: int) -> None:
        """Remove what a failed write left after ``size`` (we hold the lock: nobody else wrote)."""
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_size > size:
                os.ftruncate(fd, size)

    def _rotate(self) -> None:
        """``log`` → ``log.1`` → … → ``log.<backups>`` (the oldest is dropped). Under the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def _failed(self, exc: OSError) -> None:
        """Count the lost line; say so at the first failure and then once per interval."""
        self.dropped += 1
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        now = time.monotonic()
        first = self._failing_since is None
        if first or now - self._noticed_at >= self.failure_interval:
            if first:
                self._failing_since = now
            self._noticed_at = now
            logger.error(
                "question log: cannot write %s (%s); %d line(s) lost so far",
                self.path,
                exc.strerror or exc,
                self.dropped,
            )
