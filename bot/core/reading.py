"""Reading sources for a build, in pieces: parsed, split into passages and tokenized.

A piece is a whole source file or whole lines of a ``.jsonl`` archive (about ``PIECE_BYTES``), so
a large corpus — one big archive included — is read by worker processes while the main process
only writes what comes back, in corpus order. A piece comes back as bytes and arrays (no Python
object per passage), and what it holds does not depend on who read it: the index is the same
byte for byte whatever the number of workers.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core.assemble import Chunk
from bot.core.chunk_tokens import tokenize_chunk
from bot.core.passages import split_source
from bot.core.source_files import Problem
from bot.core.sources import BLOCK_KINDS, read_file

PIECE_BYTES = 1 << 20  # source bytes per piece (an archive is cut at the next line end)
PARALLEL_BYTES = 16 << 20  # corpora larger than this are read by worker processes
MAX_WORKERS = 8  # worker processes at most, whatever the number of cores
AHEAD = 2  # pieces in flight per worker (bounds the memory of results not yet written)
COLUMNS = ("source", "start", "end", "kind", "text_len")  # per passage, in a piece's arrays
_META_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(…, ensure_ascii=False), made once


@dataclass(frozen=True)
class Piece:
    """Whole lines ``start``…``end`` (bytes) of a ``.jsonl`` file numbered from ``line``, or a
    whole file (``end`` None)."""

    path: Path
    start: int = 0
    end: int | None = None
    line: int = 1


@dataclass
class Read:
    """One piece read: its sources' ids and the problems met, passage texts and source metadata
    as the bytes the index stores, the passage columns, the passages tokenized."""

    ids: list[str]
    problems: list[Problem]
    texts: bytes
    metas: bytes
    meta_lens: np.ndarray  # int64 bytes of each source's metadata line
    columns: dict[str, np.ndarray]  # COLUMNS as int64; "source" counts from the piece's first
    chunk: Chunk


def pieces(path: Path) -> list[Piece]:
    """A file's pieces: a large ``.jsonl`` archive cut after a newline about every PIECE_BYTES."""
    size = path.stat().st_size
    if path.suffix.lower() != ".jsonl" or size <= PIECE_BYTES:
        return [Piece(path)]
    out: list[Piece] = []
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start, line = 0, 1
        while start < size:
            cut = data.find(b"\n", start + PIECE_BYTES - 1)
            end = size if cut < 0 else cut + 1
            out.append(Piece(path, start, end, line))
            line += data[start:end].count(b"\n")
            start = end
    return out


def read_piece(
    piece: Piece, base: Path, seen: set[str], at: Callable[[int], None] | None = None
) -> Read:
    """Read, split and tokenize one piece. A source whose id is in ``seen`` is a duplicate
    (reported, left out); the ids kept are added to ``seen``. ``at`` as for ``read_file``."""
    ids: list[str] = []
    problems: list[Problem] = []
    texts: list[str] = []
    metas: list[bytes] = []
    columns: dict[str, list[int]] = {name: [] for name in COLUMNS[:-1]}
    lines = (piece.start, piece.end, piece.line)
    for source, found in read_file(piece.path, base, at, lines):
        if source is not None and source.meta.id in seen:
            found = [*found, Problem(source.meta.path, f"duplicate source id {source.meta.id!r}")]
            source = None
        problems.extend(found)
        if source is None:
            continue
        seen.add(source.meta.id)
        passages = split_source(source, len(ids))
        ids.append(source.meta.id)
        texts.extend(source.text[p.start : p.end] for p in passages)
        columns["source"].extend([p.source_index for p in passages])
        columns["start"].extend([p.start for p in passages])
        columns["end"].extend([p.end for p in passages])
        columns["kind"].extend([BLOCK_KINDS.index(p.kind) for p in passages])
        meta = {k: v for k, v in source.meta.to_dict().items() if v is not None}
        metas.append(_META_JSON.encode(meta).encode() + b"\n")
    encoded = [t.encode("utf-8") for t in texts]
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in columns.items()}
    arrays["text_len"] = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return Read(
        ids,
        problems,
        b"".join(encoded),
        b"".join(metas),
        np.fromiter(map(len, metas), np.int64, len(metas)),
        arrays,
        tokenize_chunk(texts),
    )


def read_task(task: list[Piece], base: Path) -> list[Read]:
    """Several pieces read in one worker call (small files go together)."""
    return [read_piece(piece, base, set()) for piece in task]


def tasks_of(planned: Iterable[Piece]) -> Iterator[list[Piece]]:
    """Consecutive pieces grouped into tasks of about PIECE_BYTES of source each."""
    task: list[Piece] = []
    size = 0
    for piece in planned:
        task.append(piece)
        size += (piece.end or piece.path.stat().st_size) - piece.start
        if size >= PIECE_BYTES:
            yield task
            task, size = [], 0
    if task:
        yield task


def read_ahead(executor: Executor, base: Path, tasks: Iterable[list[Piece]]) -> Iterator[Read]:
    """Every piece of ``tasks`` read by the workers, in order, a bounded number in flight."""
    todo = iter(tasks)
    first = itertools.islice(todo, AHEAD * workers())
    pending = deque(executor.submit(read_task, task, base) for task in first)
    while pending:
        reads = pending.popleft().result()
        task = next(todo, None)
        if task is not None:
            pending.append(executor.submit(read_task, task, base))
        yield from reads


def can_fork() -> bool:
    """Worker processes are forked, which is only safe while this process runs one thread.

    (Spawned workers would re-run an unguarded ``__main__``; a server rebuilding in a thread
    reads in-process instead.)
    """
    import threading

    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1 and hasattr(os, "fork")


@contextmanager
def worker_pool() -> Iterator[Executor]:
    """Forked worker processes (see :func:`workers`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers(), mp_context=context) as pool:
        yield pool


def workers() -> int:
    """How many worker processes a large build uses: one per core, at most MAX_WORKERS."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
