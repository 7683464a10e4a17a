"""Which files under a sources path are sources, what is passed over (and why), their hashes.

A folder is walked following folder symlinks once (a loop back into a visited folder is
reported, not walked); hidden files and folders are ignored; anything else that is not a source
file is listed as skipped with the reason. Used by the reader and by the index's staleness check.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from bot.errors import CorpusError

SUFFIXES = (".md", ".txt", ".html", ".htm", ".jsonl")


@dataclass(frozen=True)
class Problem:
    """Something wrong with one source file. Errors skip the file; warnings don't."""

    path: str
    message: str
    line: int | None = None
    error: bool = True

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{'error' if self.error else 'warning'}: {where}: {self.message}"


class SourcesError(CorpusError):
    """The sources directory as a whole is unusable (missing, empty, not a directory)."""


def source_base(root: Path) -> Path:
    """The folder source paths and ids are relative to: ``root`` itself, or a file's folder."""
    return root if root.is_dir() else root.parent


def source_files(root: Path) -> list[Path]:
    """The article files under ``root`` (a folder, or one file) in a stable order."""
    return scan_sources(root)[0]


def scan_sources(root: Path) -> tuple[list[Path], list[Problem]]:
    """The article files under ``root``, and what was passed over there, each with the reason.

    Folder symlinks are followed once (a loop back into a visited folder is reported, not
    walked); hidden files and folders are ignored. Skips are warnings: they leave nothing out
    that could have been read.
    """
    if not root.exists():
        raise SourcesError(f"sources not found: {root}")
    if root.is_file():
        if root.suffix.lower() not in SUFFIXES:
            raise SourcesError(f"{root}: not a sources folder or a {'/'.join(SUFFIXES)} file")
        return [root], []
    found: list[Path] = []
    skipped: list[Problem] = []
    _walk(root, root, {_identity(root)}, found, skipped)
    found.sort()
    return found, sorted(skipped, key=lambda p: p.path)


def _identity(folder: Path) -> tuple[int, int]:
    stat = folder.stat()
    return stat.st_dev, stat.st_ino


def _walk(
    folder: Path, root: Path, seen: set[tuple[int, int]], found: list[Path], skipped: list[Problem]
) -> None:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        rel = folder.relative_to(root).as_posix()
        skipped.append(_skip(rel, f"cannot list the folder ({exc.strerror})"))
        return
    for path in entries:
        if path.name.startswith("."):
            continue
        rel = path.relative_to(root).as_posix()
        why = _unusable(path)
        if why:
            skipped.append(_skip(rel, why))
        elif path.is_dir():
            identity = _identity(path)
            if identity in seen:
                skipped.append(_skip(rel, "a symbolic link loop"))
            else:
                _walk(path, root, seen | {identity}, found, skipped)
        elif not path.is_file():
            skipped.append(_skip(rel, "not a regular file (a pipe, socket or device)"))
        elif path.suffix.lower() in SUFFIXES:
            found.append(path)
        else:
            kind = f"{path.suffix} files are" if path.suffix else "files without an extension are"
            skipped.append(_skip(rel, f"{kind} not read (use {', '.join(SUFFIXES)})"))


def _skip(rel: str, why: str) -> Problem:
    return Problem(rel, f"skipped: {why}", None, False)


def _unusable(path: Path) -> str | None:
    """Why a folder entry cannot be followed (a broken or looping symlink), or None."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except FileNotFoundError:
        return f"a broken symbolic link (to {os.readlink(path)})"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"cannot follow the symbolic link ({exc.strerror})"
    return None


def file_sha256(path: Path) -> str | None:
    """Content hash of a file, used to tell whether the index is stale; None if unreadable.

    An unreadable file is reported (and skipped) when the sources are read, like a malformed one;
    hashing it must not fail every question first.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
