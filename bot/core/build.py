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

import errno
import functools
import itertools
import json
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.bm25 import BM25Params
from bot.core.extras import ExtraArray
from bot.core.generation import (
    current_index,
    finish_generation,
    generation_name,
    rebuild_lock,
    write_extras,
)
from bot.core.index import ARRAYS, Index, load_index
from bot.core.manifest import (
    FILES,
    MANIFEST,
    IndexMissing,
    IndexOutdated,
    IndexUnavailable,
    changed_files,
    new_manifest,
    read_files,
    read_manifest,
    settings_problem,
    stamp,
)
from bot.core.reading import (
    PARALLEL_BYTES,
    can_fork,
    pieces,
    read_ahead,
    read_piece,
    tasks_of,
    worker_pool,
)
from bot.core.segments import segment_of
from bot.core.source_files import Problem, SourcesError, scan_sources, source_base, source_files
from bot.core.streams import STREAM_ARRAYS
from bot.core.vocabulary import encode_vocabulary
from bot.core.writer import GenerationWriter

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
    unchanged: set[str] = set()
    if previous is not None:
        _, removed, changed = changed_files(sources_dir, old_files)
        unchanged = set(old_files) - set(removed) - set(changed)
    reuse = _Previous(previous, old_files, unchanged, {})
    big = sum(p.stat().st_size for p in paths) > PARALLEL_BYTES and can_fork()
    generation = generation_name()
    tmp = index_dir / f".tmp-{generation}"
    tmp.mkdir(parents=True)
    try:
        with worker_pool() if big else nullcontext() as executor:
            writer = GenerationWriter(tmp)
            files, problems, reread = _add_files(
                writer, executor, paths, base, reuse, on_problem, progress
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
        manifest = new_manifest(params, counts, [s for f in files.values() for s in f["skipped"]])
        finish_generation(index_dir, tmp, generation, manifest, arrays)
        del arrays, matrices  # the check below maps the files instead
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


@dataclass(frozen=True)
class _Previous:
    """What an update may copy from the current index: its files' stamps, the unchanged ones."""

    index: Index | None
    files: dict[str, dict[str, Any]]
    unchanged: set[str]
    terms: dict[int, list[str]]  # each segment's vocabulary, listed once

    def fits(self, rel: str) -> bool:
        """Whether ``rel`` can be copied (unchanged, nothing skipped in it)."""
        known = self.files.get(rel)
        return (
            self.index is not None
            and known is not None
            and rel in self.unchanged
            and not (known["skipped"])
        )


def _add_files(
    writer: GenerationWriter,
    executor: Executor | None,
    paths: list[Path],
    base: Path,
    previous: _Previous,
    on_problem: Callable[[Problem], None] | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, dict[str, Any]], list[Problem], int]:
    """Every source file in corpus order, reused from ``previous`` or read; their stamps.

    Files to read are cut into pieces up front and, with an ``executor``, read ahead by its
    workers; a piece holding an id already seen is read again here, so duplicates are found in
    corpus order whoever read the piece.
    """
    files: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    reread = 0
    sizes = [path.stat().st_size for path in paths]
    total = sum(sizes)

    def tell(start: int, read: int) -> None:
        if progress is not None:
            progress(min(start + read, total), total)

    rels = [path.relative_to(base).as_posix() for path in paths]
    planned = {rel: pieces(p) for rel, p in zip(rels, paths, strict=True) if not previous.fits(rel)}
    ahead, stamps = None, {}
    if executor is not None:
        ahead = read_ahead(executor, base, tasks_of(itertools.chain(*planned.values())))
        stamps = {
            rel: executor.submit(stamp, path, previous.files.get(rel))
            for rel, path in zip(rels, paths, strict=True)
            if rel in planned
        }
    starts = itertools.accumulate(sizes, initial=0)
    for path, rel, start, size in zip(paths, rels, starts, sizes, strict=False):
        tell(start, 0)
        known = previous.files.get(rel)
        first = writer.sources
        if rel not in planned and known is not None and seen.isdisjoint(known["ids"]):
            assert previous.index is not None
            segment = segment_of(previous.index, known)
            terms = previous.terms.get(id(segment))
            if terms is None:  # listed once a segment, not once a file reused from it
                terms = previous.terms[id(segment)] = segment.vocabulary.terms()
            writer.reuse(segment, known["sources"][0], known["sources"][1], terms)
            seen.update(known["ids"])
            files[rel] = {**stamp(path, known), "sources": [first, writer.sources - first]}
            files[rel] |= {"ids": known["ids"], "skipped": known["skipped"]}
            continue
        reread += 1
        ids: list[str] = []
        skipped: list[str] = []
        for piece in planned.get(rel) or pieces(path):
            read = next(ahead) if ahead is not None and rel in planned else None
            if read is None or not seen.isdisjoint(read.ids):  # in-process, or a duplicate id
                at = functools.partial(tell, start) if executor is None else None
                read = read_piece(piece, base, seen, at)
            else:
                seen.update(read.ids)
            for problem in read.problems:
                problems.append(problem)
                if problem.error:
                    skipped.append(str(problem))
                if on_problem:
                    on_problem(problem)
            ids.extend(read.ids)
            writer.add(read)
            tell(start, piece.end or size)
        stamped = stamps[rel].result() if rel in stamps else stamp(path, known)
        files[rel] = {**stamped, "sources": [first, writer.sources - first]}
        files[rel] |= {"ids": ids, "skipped": skipped}
    tell(total, 0)
    return files, problems, reread
