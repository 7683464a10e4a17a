"""Writing one index generation atomically, and the lock that makes rebuilds single-flight.

The arrays are saved and every file digested and fsynced in a temporary folder, which is renamed
into place; then ``manifest.json`` is replaced in one ``os.replace`` and older generations are
removed (processes still reading them keep their memory maps). One ``fcntl`` lock per index
folder holds the pid of the process rebuilding, so a second one can say whom it waits for.
Extra arrays (another stage's, per passage) are written into the folder before it is digested.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.extras import ExtraArray, PassageStore
from bot.core.index import ARRAYS, load_index
from bot.core.manifest import MANIFEST, IndexUnavailable, file_digest
from bot.core.previous import previous_passages

LOCK_WAIT_SECONDS = 3600.0


@contextmanager
def rebuild_lock(index_dir: Path, notify: Callable[[str], None]) -> Iterator[None]:
    """Hold the index's rebuild lock; if another process holds it, say whose and wait."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            notify(f"Waiting for the rebuild started by pid {holder}.")
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise IndexUnavailable(
                            f"gave up waiting for the rebuild started by pid {holder} in "
                            f"{index_dir}; try again when it has finished"
                        ) from None
                    time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def generation_name() -> str:
    """A fresh generation folder name: the time it was built and a random suffix."""
    return f"build-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(3).hex()}"


def finish_generation(
    index_dir: Path,
    tmp: Path,
    generation: str,
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Save the arrays, digest every file, rename the folder into place, swap the manifest."""

    def save(name: str, array: np.ndarray) -> None:
        dtype = ARRAYS[name][0] if name in ARRAYS else array.dtype
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(array, dtype=dtype))

    def digest(name: str) -> str:
        found = file_digest(tmp / name)
        _fsync(tmp / name)
        return found

    with ThreadPoolExecutor(2) as pool:  # writing, hashing and fsync let go of the GIL
        list(pool.map(save, arrays, arrays.values()))
        names = sorted(p.name for p in tmp.iterdir())
        manifest["generation"] = generation
        manifest["sizes"] = {n: (tmp / n).stat().st_size for n in names}
        manifest["digests"] = dict(zip(names, pool.map(digest, names), strict=True))
    os.replace(tmp, index_dir / generation)
    _fsync(index_dir / generation)
    staged = index_dir / f".{MANIFEST}.tmp"
    with staged.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest, indent=1, ensure_ascii=False))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, index_dir / MANIFEST)
    _fsync(index_dir)
    keep = {generation, manifest.get("base", {}).get("generation")}  # a delta keeps its base
    for old in index_dir.iterdir():
        if old.is_dir() and old.name not in keep and old.name.startswith(("build-", ".tmp-")):
            shutil.rmtree(old, ignore_errors=True)


def current_index(index_dir: Path) -> PassageStore | None:
    """The index being replaced, whatever its settings (extras reuse what still fits); of an
    older format only its texts and extra arrays (see :mod:`bot.core.previous`)."""
    try:
        return load_index(index_dir)
    except IndexUnavailable:
        return previous_passages(index_dir)


def write_extras(
    tmp: Path, offsets: np.ndarray, extras: Sequence[ExtraArray], current: PassageStore | None
) -> None:
    """Write each extra array for the new generation's passage texts."""
    if not extras:
        return
    blob = (tmp / "texts.bin").read_bytes()
    texts = [blob[a:b].decode("utf-8") for a, b in pairwise(offsets.tolist())]
    for extra in extras:
        array = extra.compute(texts, current)
        if array is not None:
            np.save(tmp / f"{extra.name}.npy", array, allow_pickle=False)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
