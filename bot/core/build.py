"""Build the index: full rebuilds, incremental updates, one at a time, swapped in atomically.

A build streams sources into a temporary generation folder (texts and metadata written as they
come, passages tokenized in chunks — by worker processes when the corpus is large), then renames
it into place and replaces ``manifest.json`` in one ``os.replace``: a crash at any point leaves the
previous index usable. An update re-reads only the source files that changed and copies every
other file's passages, term counts and texts from the current index, then assembles exactly what
a full rebuild would (same passage ids, scores and order). One lock per index folder makes
rebuilds single-flight: a second one waits, then finds the index fresh.
"""

from __future__ import annotations

import array
import datetime as dt
import errno
import functools
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from bot.core.assemble import Assembler, Chunk, tokenize_chunk
from bot.core.bm25 import BM25Params
from bot.core.generation import (
    current_index,
    finish_generation,
    generation_name,
    rebuild_lock,
    write_extras,
)
from bot.core.index import ARRAYS, ExtraArray, Index, load_index
from bot.core.manifest import (
    FILES,
    INDEX_FORMAT,
    MANIFEST,
    IndexMissing,
    IndexOutdated,
    IndexUnavailable,
    changed_files,
    read_files,
    read_manifest,
    settings_problem,
    stamp,
)
from bot.core.passages import split_source
from bot.core.segments import segment_of
from bot.core.source_files import Problem, SourcesError, scan_sources, source_base, source_files
from bot.core.sources import BLOCK_KINDS, read_file
from bot.core.streams import STREAM_ARRAYS, Streams, StreamWriter
from bot.core.tokenizer import TOKENIZER_VERSION
from bot.core.vocabulary import encode_vocabulary

CHUNK_PASSAGES = 4000  # passages tokenized per task
PARALLEL_BYTES = 16 << 20  # corpora larger than this are tokenized by worker processes
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@dataclass(frozen=True)
class BuildReport:
    """What a rebuild did, for the person who asked for it."""

    sources: int
    passages: int
    vocabulary: int
    seconds: float
    problems: list[Problem] = field(default_factory=list)
    reread: int | None = None  # source files read again by an incremental update (None: full)
    delta: int | None = None  # passages kept in a delta over the last full build (None: merged)

    @property
    def skipped(self) -> int:
        """How many documents were left out because of errors."""
        return sum(1 for p in self.problems if p.error)


def build_index(
    sources_dir: Path,
    index_dir: Path,
    params: BM25Params,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    notify: Callable[[str], None] = lambda _: None,
    extras: Sequence[ExtraArray] = (),
) -> BuildReport:
    """Read every source, split, tokenize, weigh and write a new index generation atomically.

    ``progress`` is called with the bytes of source files read so far and their total.
    """
    with rebuild_lock(index_dir, notify):
        return _build(sources_dir, index_dir, params, None, progress, on_problem, extras)


def ensure_index(
    sources_dir: Path,
    index_dir: Path,
    params: BM25Params,
    notify: Callable[[str], None] = lambda _: None,
    extras: Sequence[ExtraArray] = (),
) -> Index:
    """Load the index, first updating it (and saying so) when it is missing or stale.

    Stale sources are applied incrementally; a changed tokenizer or BM25 setting rebuilds in
    full. A stale index that cannot be written (read-only) answers as built, with a warning.
    """
    reason = _reason(index_dir, sources_dir, params, extras)
    if reason is None:
        return load_index(index_dir)
    try:
        with rebuild_lock(index_dir, notify):
            reason = _reason(index_dir, sources_dir, params, extras)  # another process did it?
            if reason:
                notify(f"Rebuilding the index: {reason}.")
                previous = _previous(index_dir, params)
                report = None
                if previous is not None and not extras:
                    from bot.core.update import apply_delta

                    report = apply_delta(sources_dir, index_dir, params, previous)
                if report is None:
                    report = _build(sources_dir, index_dir, params, previous, None, None, extras)
                for problem in report.problems:
                    notify(str(problem))
                notify(describe_build(report))
    except OSError as exc:
        if exc.errno not in _READ_ONLY or not (index_dir / MANIFEST).exists():
            raise
        index = load_index(index_dir)
        notify(
            f"warning: the index is out of date ({reason}) and {index_dir} cannot be written "
            f"({exc.strerror}); answering from the index built {index.manifest['built_at']}."
        )
        return index
    return load_index(index_dir)


def _reason(
    index_dir: Path, sources_dir: Path, params: BM25Params, extras: Sequence[ExtraArray]
) -> str | None:
    from bot.core.manifest import staleness

    try:
        stale = staleness(index_dir, sources_dir, params)
        sizes = read_manifest(index_dir)["sizes"]
        lacking = [e.what for e in extras if e.required and f"{e.name}.npy" not in sizes]
        return stale or (f"it has no {', '.join(lacking)} yet" if lacking else None)
    except IndexMissing:
        source_files(sources_dir)
        return f"there is no index in {index_dir} yet"
    except IndexOutdated:
        return "it was built by another version of the index format"


def _previous(index_dir: Path, params: BM25Params) -> Index | None:
    """The current index if an update can start from it (same format and settings)."""
    try:
        manifest = read_manifest(index_dir)
        return None if settings_problem(manifest, params) else load_index(index_dir)
    except IndexUnavailable:
        return None


def describe_build(report: BuildReport) -> str:
    """One line saying what a rebuild did."""
    n = report.skipped
    skipped = f"; {n} document{'s' if n != 1 else ''} skipped (see above)" if n else ""
    how = "" if report.reread is None else f", {report.reread} file(s) read again"
    if report.delta is not None:
        how += f", {report.delta} passage(s) in a delta over the last full build"
    return (
        f"Indexed {report.sources} sources: {report.passages} passages, "
        f"{report.vocabulary} terms in {report.seconds:.2f} s{how}{skipped}."
    )


class _Writer:
    """Streams one generation's passages, texts and source metadata into a temporary folder."""

    def __init__(self, tmp: Path, executor: Executor | None) -> None:
        self.texts: IO[bytes] = (tmp / "texts.bin").open("wb")
        self.metas: IO[bytes] = (tmp / "sources.jsonl").open("wb")
        self.assembler = Assembler()
        self.streams = StreamWriter(tmp)
        self.queued: list[Streams | Future[Chunk]] = []  # streams not yet written, in order
        self.executor = executor
        self.pending: list[str] = []
        self.table: dict[str, array.array[int]] = {  # compact columns, not small arrays
            k: array.array("q") for k in ("source", "start", "end", "kind", "text_len", "meta_len")
        }
        self.sources = 0

    def add_source(self, source: Any) -> None:
        """Split a freshly read source and queue its passages for tokenization."""
        passages = split_source(source, self.sources)
        texts = [source.text[p.start : p.end] for p in passages]
        encoded = [t.encode("utf-8") for t in texts]
        self.texts.write(b"".join(encoded))
        columns = (
            [self.sources] * len(passages),
            [p.start for p in passages],
            [p.end for p in passages],
            [BLOCK_KINDS.index(p.kind) for p in passages],
            list(map(len, encoded)),
        )
        for key, values in zip(
            ("source", "start", "end", "kind", "text_len"), columns, strict=True
        ):
            self.table[key].extend(values)
        meta = {k: v for k, v in source.meta.to_dict().items() if v is not None}
        self._meta(json.dumps(meta, ensure_ascii=False).encode() + b"\n")
        self.pending.extend(texts)
        if len(self.pending) >= CHUNK_PASSAGES:
            self.flush()

    def _meta(self, line: bytes) -> None:
        self.metas.write(line)
        self.table["meta_len"].append(len(line))
        self.sources += 1

    def reuse(self, old: Index, first: int, count: int, old_terms: list[str]) -> None:
        """Copy sources ``first…first+count`` of the previous index, passages and all."""
        self.flush()
        lo, hi = np.searchsorted(old.passage_source, [first, first + count])
        text_lo, text_hi = int(old.text_offsets[lo]), int(old.text_offsets[hi])
        self.texts.write(old.texts[text_lo:text_hi])
        shift = self.sources - first
        self.table["source"].frombytes(
            (old.passage_source[lo:hi].astype(np.int64) + shift).astype(np.int64).tobytes()
        )
        self.table["start"].frombytes(
            (old.passage_start[lo:hi].astype(np.int64)).astype(np.int64).tobytes()
        )
        self.table["end"].frombytes(
            (old.passage_end[lo:hi].astype(np.int64)).astype(np.int64).tobytes()
        )
        self.table["kind"].frombytes(
            (old.passage_kind[lo:hi].astype(np.int64)).astype(np.int64).tobytes()
        )
        self.table["text_len"].frombytes(
            (np.diff(old.text_offsets[lo : hi + 1])).astype(np.int64).tobytes()
        )
        offsets = old.sources._offsets[first : first + count + 1]
        self.metas.write(old.sources._blob[int(offsets[0]) : int(offsets[-1])])
        self.table["meta_len"].frombytes(np.diff(offsets).astype(np.int64).tobytes())
        self.sources += count
        self._queue(old.streams.slice(int(lo), int(hi)))
        fwd = old.forward_counts
        e_lo, e_hi = int(fwd.indptr[lo]), int(fwd.indptr[hi])
        self.assembler.add(
            Chunk(
                old_terms,
                np.asarray(fwd.terms[e_lo:e_hi]),
                np.asarray(fwd.counts[e_lo:e_hi]),
                np.diff(fwd.indptr[lo : hi + 1]),
                np.asarray(old.doc_len[lo:hi]),
            )
        )

    def flush(self) -> None:
        """Send the queued passages to be tokenized (to a worker when there is a pool)."""
        if not self.pending:
            return
        texts, self.pending = self.pending, []
        if self.executor is None:
            chunk = tokenize_chunk(texts)
            self.assembler.add(chunk)
            self._queue(chunk)
        else:
            future = self.executor.submit(tokenize_chunk, texts)
            self.assembler.add(future)
            self.assembler.settle(keep_pending=4)
            self._queue(future)

    def _queue(self, part: Streams | Chunk | Future[Chunk]) -> None:
        """Queue a part's streams (in passage order) and write out those ready."""
        if isinstance(part, Chunk):
            assert part.streams is not None
            part = part.streams
        self.queued.append(part)
        self._drain()

    def _drain(self, wait: bool = False) -> None:
        """Write the queued streams from the head until one is still being tokenized (or all,
        waiting, when ``wait``)."""
        while self.queued:
            head = self.queued[0]
            if isinstance(head, Future) and not (wait or head.done()):
                return
            streams = head.result().streams if isinstance(head, Future) else head
            assert streams is not None
            self.streams.add(streams)
            self.queued.pop(0)

    def close(self) -> dict[str, np.ndarray]:
        """Finish the files; the passage table as arrays."""
        self.flush()
        self._drain(wait=True)
        self.streams.close()
        self.texts.close()
        self.metas.close()
        cat = {
            k: np.frombuffer(v, dtype=np.int64) if v else np.zeros(0, np.int64)
            for k, v in self.table.items()
        }
        return {
            "passage_source": cat["source"].astype(np.int32),
            "passage_start": cat["start"],
            "passage_end": cat["end"],
            "passage_kind": cat["kind"].astype(np.uint8),
            "text_offsets": np.concatenate([[0], np.cumsum(cat["text_len"])]).astype(np.int64),
            "source_offsets": np.concatenate([[0], np.cumsum(cat["meta_len"])]).astype(np.int64),
        }


def _build(
    sources_dir: Path,
    index_dir: Path,
    params: BM25Params,
    previous: Index | None,
    progress: Callable[[int, int], None] | None,
    on_problem: Callable[[Problem], None] | None,
    extras: Sequence[ExtraArray] = (),
) -> BuildReport:
    """Write a new generation (reusing unchanged files of ``previous``) and swap it in."""
    began = time.perf_counter()
    paths, passed_over = scan_sources(sources_dir)
    base = source_base(sources_dir)
    for problem in passed_over:
        if on_problem:
            on_problem(problem)
    if not paths:
        raise SourcesError(f"no articles in {sources_dir} (add .md, .txt, .html or .jsonl files)")
    old_files = read_files(index_dir, previous.manifest) if previous is not None else {}
    reusable: set[str] = set()
    if previous is not None:
        _, removed, changed = changed_files(sources_dir, old_files)
        reusable = set(old_files) - set(removed) - set(changed)
    old_terms: dict[int, list[str]] = {}  # each segment's vocabulary, listed once
    big = sum(p.stat().st_size for p in paths) > PARALLEL_BYTES and _can_fork()
    generation = generation_name()
    tmp = index_dir / f".tmp-{generation}"
    tmp.mkdir(parents=True)
    try:
        with _pool() if big else nullcontext() as executor:
            writer = _Writer(tmp, executor)
            files, problems, reread = _add_files(
                writer,
                paths,
                base,
                old_files,
                reusable,
                previous,
                old_terms,
                on_problem,
                progress,
            )
            arrays = writer.close()
            matrices = writer.assembler.finish(params)
        if not writer.sources:
            raise SourcesError(f"no usable articles in {sources_dir}: every document was skipped")
        blob, vocab_offsets, table = encode_vocabulary(matrices.terms)
        arrays |= {
            name: getattr(matrices, name)
            for name in ARRAYS
            if name not in arrays
            and name not in STREAM_ARRAYS
            and name not in ("vocab_offsets", "vocab_table")
        }
        arrays |= {"vocab_offsets": vocab_offsets, "vocab_table": table}
        arrays["doc_len"] = arrays["doc_len"].astype(np.int32)
        (tmp / "terms.bin").write_bytes(blob)
        (tmp / FILES).write_text(json.dumps(files, ensure_ascii=False), encoding="utf-8")
        write_extras(tmp, arrays["text_offsets"], extras, previous or current_index(index_dir))
        counts = {
            "sources": writer.sources,
            "passages": len(arrays["passage_source"]),
            "vocabulary": len(matrices.terms),
        }
        manifest = {
            "format": INDEX_FORMAT,
            "tokenizer": TOKENIZER_VERSION,
            "bm25": params.to_dict(),
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "skipped": [s for f in files.values() for s in f["skipped"]],
        }
        finish_generation(index_dir, tmp, generation, manifest, arrays)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    load_index(index_dir, deep=True)  # what reached the disk is what was built
    return BuildReport(
        counts["sources"],
        counts["passages"],
        counts["vocabulary"],
        time.perf_counter() - began,
        passed_over + problems,
        reread if previous is not None else None,
    )


def _add_files(
    writer: _Writer,
    paths: list[Path],
    base: Path,
    old_files: dict[str, dict[str, Any]],
    reusable: set[str],
    previous: Index | None,
    old_terms: dict[int, list[str]],
    on_problem: Callable[[Problem], None] | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, dict[str, Any]], list[Problem], int]:
    """Every source file in corpus order, reused from ``previous`` or read; their stamps."""
    files: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    reread = 0
    sizes = [path.stat().st_size for path in paths]
    total = sum(sizes)

    def tell(start: int, read: int) -> None:
        if progress is not None:
            progress(min(start + read, total), total)

    for path, start in zip(paths, itertools.accumulate(sizes, initial=0), strict=False):
        tell(start, 0)
        rel = path.relative_to(base).as_posix()
        known = old_files.get(rel)
        first = writer.sources
        if (
            previous is not None
            and known is not None
            and rel in reusable
            and not known["skipped"]
            and seen.isdisjoint(known["ids"])
        ):
            segment = segment_of(previous, known)
            terms = old_terms.setdefault(id(segment), list(segment.vocabulary))
            writer.reuse(segment, known["sources"][0], known["sources"][1], terms)
            seen.update(known["ids"])
            files[rel] = {
                **stamp(path, known),
                "sources": [first, writer.sources - first],
                "ids": known["ids"],
                "skipped": known["skipped"],
            }
            continue
        reread += 1
        ids: list[str] = []
        skipped: list[str] = []
        for source, found in read_file(path, base, functools.partial(tell, start)):
            if source is not None and source.meta.id in seen:
                found = [
                    *found,
                    Problem(source.meta.path, f"duplicate source id {source.meta.id!r}"),
                ]
                source = None
            for problem in found:
                problems.append(problem)
                if problem.error:
                    skipped.append(str(problem))
                if on_problem:
                    on_problem(problem)
            if source is not None:
                seen.add(source.meta.id)
                ids.append(source.meta.id)
                writer.add_source(source)
        files[rel] = {
            **stamp(path, known),
            "sources": [first, writer.sources - first],
            "ids": ids,
            "skipped": skipped,
        }
    tell(total, 0)
    return files, problems, reread


def _can_fork() -> bool:
    """Worker processes are forked, which is only safe while this process runs one thread.

    (Spawned workers would re-run an unguarded ``__main__``; a server rebuilding in a thread
    tokenizes in-process instead.)
    """
    import threading

    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1 and hasattr(os, "fork")


@contextmanager
def _pool() -> Iterator[Executor]:
    """Forked worker processes for tokenization, one per core."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=context) as pool:
        yield pool
