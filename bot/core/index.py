"""Load the passage index from ``index/`` safely: memory-mapped, checked, without pickle.

Layout: ``index/manifest.json`` names the current generation folder ``index/build-…/`` (written
by :mod:`bot.core.build`), which holds ``.npy`` arrays (mapped straight into memory, never
unpickled), the passage texts and sorted vocabulary as UTF-8 blobs, and the source metadata as
JSON lines. Every load checks what is cheap — sizes, dtypes, shapes, offsets monotone and in
range, ids in range — and a small index (or any, with ``load_index(deep=True)``, as
``python -m bot check`` does) also checks every file's digest, so damage is one line naming the
file and the fix, never a traceback or a wrong answer.
"""

from __future__ import annotations

import io
import json
import mmap
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from bot.core import bm25
from bot.core.bm25 import BM25Params, Forward, Postings
from bot.core.extras import EXTRA
from bot.core.index_checks import ARRAYS, check_digests, check_ids, check_structure
from bot.core.lru import LruMap
from bot.core.manifest import (
    IndexCorrupt,
    IndexMissing,
    IndexUnavailable,
    corrupt,
    member_path,
    open_member,
    read_manifest,
)
from bot.core.sources import BLOCK_KINDS, SourceMeta
from bot.core.streams import Streams, gather_rows
from bot.core.vocabulary import Vocabulary

__all__ = ["ARRAYS", "Index", "IndexCorrupt", "IndexMissing", "IndexUnavailable", "load_index"]

BLOBS = ("texts.bin", "sources.jsonl", "terms.bin")
SOURCE_CACHE = 100_000  # decoded source metadata kept, most recently shown first
DEEP_CHECK_BYTES = 1 << 20  # indexes up to this size are digest-checked at every load


class SourceTable(Sequence[SourceMeta]):
    """Source metadata decoded on demand from one JSON-lines blob: loading stays O(1)."""

    def __init__(self, blob: mmap.mmap | bytes, offsets: np.ndarray, path: Path) -> None:
        self._blob = blob
        self._offsets = offsets
        self._path = path
        self._cache: LruMap[int, SourceMeta] = LruMap(SOURCE_CACHE)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> SourceMeta: ...
    @overload
    def __getitem__(self, i: slice) -> list[SourceMeta]: ...
    def __getitem__(self, i: int | slice) -> SourceMeta | list[SourceMeta]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._item(i)

    def _item(self, i: int) -> SourceMeta:
        """Source ``i`` (in range), decoded once and then kept."""
        meta = self._cache.get(i)
        if meta is None:
            lo, hi = self._offsets[i : i + 2].tolist()  # one NumPy call, not two scalars
            try:
                data = _json_line(self._blob[lo:hi])
                if not isinstance(data, dict):  # a JSON object's keys are strings
                    raise ValueError("not a JSON object")
                meta = SourceMeta.from_dict(data)
            except (ValueError, TypeError, RecursionError) as exc:
                raise corrupt(self._path, f"source {i}: {exc}") from None
            self._cache[i] = meta
        return meta


_JSON = json.JSONDecoder()


def _json_line(line: bytes) -> Any:
    """The JSON value a UTF-8 line holds: ``json.loads`` without its encoding detection and
    whitespace scans (a few microseconds a source; an answer shows a dozen or more)."""
    text = line.decode("utf-8").strip()
    value, end = _JSON.raw_decode(text)
    if end != len(text):
        raise ValueError(f"extra data after the JSON value at {end}")
    return value


@dataclass
class Index:
    """A loaded, read-only index. Passage ids are rows, grouped by source in corpus order."""

    directory: Path
    manifest: dict[str, Any]
    vocabulary: Vocabulary
    sources: SourceTable
    postings: Postings
    idf: np.ndarray
    doc_len: np.ndarray
    passage_source: np.ndarray
    passage_start: np.ndarray
    passage_end: np.ndarray
    passage_kind: np.ndarray
    text_offsets: np.ndarray
    texts: mmap.mmap | bytes
    forward_counts: Forward
    streams: Streams  # each passage's terms in reading order, with spans and sentences
    extras: dict[str, mmap.mmap | bytes] = field(default_factory=dict)
    _multipliers: dict[tuple[tuple[str, float], ...], np.ndarray | None] = field(
        default_factory=dict, repr=False
    )

    @property
    def params(self) -> BM25Params:
        """The BM25 variant and parameters the index was built with."""
        return BM25Params(**self.manifest["bm25"])

    @property
    def generation(self) -> Path:
        """The folder this index was loaded from."""
        return self.directory / self.manifest["generation"]

    @property
    def size(self) -> int:
        """Number of passages."""
        return len(self.passage_source)

    def text(self, passage: int) -> str:
        """The verbatim text of a passage."""
        lo, hi = int(self.text_offsets[passage]), int(self.text_offsets[passage + 1])
        try:
            return self.texts[lo:hi].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise corrupt(self.generation / "texts.bin", f"passage {passage}: {exc}") from None

    def kind(self, passage: int) -> str:
        """body, caption, references or note."""
        return BLOCK_KINDS[int(self.passage_kind[passage])]

    def source(self, passage: int) -> SourceMeta:
        """Metadata of the source a passage comes from."""
        return self.sources[int(self.passage_source[passage])]

    def kind_multiplier(self, weights: dict[str, float]) -> np.ndarray | None:
        """Each passage's score multiplier for its kind, or ``None`` when every one would be 1."""
        present = np.flatnonzero(np.bincount(self.passage_kind, minlength=len(BLOCK_KINDS)))
        factors = np.array([weights.get(k, 1.0) for k in BLOCK_KINDS])
        if np.all(factors[present] == 1.0):
            return None
        return factors[np.asarray(self.passage_kind)]

    def search(
        self, term_ids: Sequence[int], counts: Sequence[float], k: int, kinds: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best passages matching a weighted query, scores multiplied by kind weight."""
        return bm25.search(self.postings, term_ids, counts, k, self.multiplier(kinds), fill=False)

    def multiplier(self, kinds: Mapping[str, float]) -> np.ndarray | None:
        """:meth:`kind_multiplier`, kept per kind weighting."""
        key = tuple(sorted(kinds.items()))
        if key not in self._multipliers:
            self._multipliers[key] = self.kind_multiplier(dict(kinds))
        return self._multipliers[key]

    def document_frequency(self, term_ids: np.ndarray) -> np.ndarray:
        """How many passages contain each term."""
        indptr = self.postings.indptr
        return np.asarray(indptr[term_ids + 1] - indptr[term_ids])

    def streams_of(self, passage_ids: np.ndarray) -> tuple[Streams, np.ndarray]:
        """The token streams of some passages, and the term id of each of their tokens."""
        streams = self.streams.take(passage_ids)
        fwd = self.forward_counts
        rows = np.repeat(fwd.indptr[passage_ids], np.diff(streams.token_indptr))
        return streams, np.asarray(fwd.terms[rows + streams.ranks])

    def forward(self, passage_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        """Term counts of some passages without re-tokenizing them: ``(indptr, terms, counts)``.

        Passage ``passage_ids[i]`` has the term ids ``terms[indptr[i]:indptr[i+1]]`` (ascending,
        each once) occurring ``counts[…]`` times in it; ``self.doc_len`` holds the lengths and
        ``self.idf[terms]`` the idf. All NumPy arrays (int64, int32, int32), vectorised gathers.
        """
        fwd = self.forward_counts
        ids = np.asarray(passage_ids, dtype=np.int64)
        indptr, positions = gather_rows(fwd.indptr, ids)
        return indptr, fwd.terms[positions], fwd.counts[positions]

    def health(self) -> str | None:
        """Cheap re-check of the loaded arrays (milliseconds): the problem in one line, or None."""
        try:
            check_structure(self.generation, self.manifest, _arrays_of(self), self._blobs())
        except IndexCorrupt as exc:
            return str(exc)
        return None

    def extra(self, name: str, dtype: str) -> np.ndarray | None:
        """An :class:`ExtraArray`'s 1-D array of ``dtype`` (checked), or None when not built."""
        data = self.extras.get(f"{name}.npy")
        return None if data is None else _array(self.generation / f"{name}.npy", data, dtype)

    def _blobs(self) -> dict[str, int]:
        return {
            "texts.bin": len(self.texts),
            "sources.jsonl": len(self.sources._blob),
            "terms.bin": len(self.vocabulary._blob),
        }


def _arrays_of(index: Index) -> dict[str, np.ndarray]:
    p, f = index.postings, index.forward_counts
    vocab = index.vocabulary
    return {
        "indptr": p.indptr,
        "docs": p.docs,
        "weights": p.weights,
        "tf": p.tf if p.tf is not None else np.zeros(0, np.int32),
        "zero": p.zero,
        "idf": index.idf,
        "doc_len": index.doc_len,
        "passage_source": index.passage_source,
        "passage_start": index.passage_start,
        "passage_end": index.passage_end,
        "passage_kind": index.passage_kind,
        "text_offsets": index.text_offsets,
        "source_offsets": index.sources._offsets,
        "forward_indptr": f.indptr,
        "forward_terms": f.terms,
        "forward_counts": f.counts,
        "vocab_offsets": np.frombuffer(vocab._offsets, dtype=np.int64),
        "vocab_table": np.frombuffer(vocab._table, dtype=np.int32),
        "stream_indptr": index.streams.token_indptr,
        "sentence_indptr": index.streams.sentence_indptr,
        **index.streams.columns(),
    }


def load_index(index_dir: Path, *, deep: bool | None = None) -> Index:
    """Load the current generation, checked; a load that races a rebuild's swap retries once.

    ``deep`` also checks digests and every id (default: only for indexes up to 16 MB).
    """
    manifest = read_manifest(index_dir)
    try:
        return _load(index_dir, manifest, deep)
    except IndexCorrupt:
        again = read_manifest(index_dir)
        if again["generation"] == manifest["generation"]:
            raise
        return _load(index_dir, again, deep)  # swapped while loading: the new one is complete


def _load(index_dir: Path, manifest: dict[str, Any], deep: bool | None) -> Index:
    if "base" in manifest:  # a full build and a delta over it (bot.core.segments)
        from bot.core.segments import load_segments

        return load_segments(index_dir, manifest, deep)
    return load_segment(index_dir, manifest, deep, (EXTRA,))


def load_segment(
    index_dir: Path, manifest: dict[str, Any], deep: bool | None, prefixes: tuple[str, ...]
) -> Index:
    """One generation folder as an :class:`Index`; files named with ``prefixes`` kept as extras."""
    gen_name = manifest["generation"]
    gen = member_path(index_dir, gen_name)
    sizes: dict[str, int] = manifest["sizes"]
    expected = {f"{a}.npy" for a in ARRAYS} | set(BLOBS) | {"files.json"}
    extras = {n for n in sizes if n.startswith(prefixes) and n.endswith(".npy")}
    if set(sizes) - extras != expected:
        raise corrupt(index_dir / "manifest.json", "it does not list the index's files")
    expected |= extras
    maps = {name: _map(index_dir, gen_name, name, sizes[name]) for name in sorted(expected)}
    if deep is None:
        deep = sum(sizes.values()) <= DEEP_CHECK_BYTES
    if deep:
        check_digests(gen, manifest["digests"], {name: maps[name] for name in sorted(expected)})
    arrays = {
        name: _array(gen / f"{name}.npy", maps[f"{name}.npy"], dtype)
        for name, (dtype, _) in ARRAYS.items()
    }
    check_structure(gen, manifest, arrays, {name: len(maps[name]) for name in BLOBS}, deep)
    if deep:
        check_ids(gen, manifest, arrays)
    _advise(maps.values(), mmap.MADV_NORMAL)  # queries read posting lists ahead again
    n_docs = len(arrays["passage_source"])
    postings = Postings(
        arrays["indptr"], arrays["docs"], arrays["weights"], arrays["zero"], n_docs, arrays["tf"]
    )
    return Index(
        directory=index_dir,
        manifest=manifest,
        vocabulary=Vocabulary(maps["terms.bin"], arrays["vocab_offsets"], arrays["vocab_table"]),
        sources=SourceTable(maps["sources.jsonl"], arrays["source_offsets"], gen / "sources.jsonl"),
        postings=postings,
        idf=arrays["idf"],
        doc_len=arrays["doc_len"],
        passage_source=arrays["passage_source"],
        passage_start=arrays["passage_start"],
        passage_end=arrays["passage_end"],
        passage_kind=arrays["passage_kind"],
        text_offsets=arrays["text_offsets"],
        texts=maps["texts.bin"],
        forward_counts=Forward(
            arrays["forward_indptr"], arrays["forward_terms"], arrays["forward_counts"]
        ),
        streams=Streams(
            arrays["stream_indptr"],
            arrays["stream_ranks"],
            arrays["stream_starts"],
            arrays["stream_ends"],
            arrays["stream_flags"],
            arrays["sentence_indptr"],
            arrays["sentence_starts"],
            arrays["sentence_ends"],
            arrays["sentence_first"],
        ),
        extras={name: maps[name] for name in extras},
    )


def _map(index_dir: Path, gen: str, name: str, size: int) -> mmap.mmap | bytes:
    """A read-only map of one file of the index (symlinks refused), its size checked."""
    fd = open_member(index_dir, gen, name)
    try:
        actual = os.fstat(fd).st_size
        if actual != size:
            raise corrupt(index_dir / gen / name, f"{actual} bytes, manifest says {size}")
        if not actual:
            return b""
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        _advise([mapped], mmap.MADV_RANDOM)  # the load's checks read a few pages, not megabytes
        mapped.madvise(mmap.MADV_WILLNEED, 0, min(actual, mmap.PAGESIZE))  # the header, queued
        return mapped
    finally:
        os.close(fd)


def _advise(maps: Iterable[mmap.mmap | bytes], advice: int) -> None:
    """Tell the kernel how the maps will be read (a cold page fault otherwise reads ahead)."""
    for mapped in maps:
        if isinstance(mapped, mmap.mmap):
            mapped.madvise(advice)


def _array(path: Path, data: mmap.mmap | bytes, dtype: str) -> np.ndarray:
    """The 1-D array a ``.npy`` file holds, viewed in place; anything else is refused."""
    header = io.BytesIO(data[: _header_end(data)])
    try:
        version = np.lib.format.read_magic(header)
        read_header = _HEADER_READERS.get(version)
        if read_header is None:
            raise ValueError(f"format version {version}")
        shape, fortran, found = read_header(header)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise corrupt(path, f"not a NumPy array file: {str(exc).splitlines()[0][:80]}") from None
    if found.hasobject:
        raise corrupt(path, "it holds Python objects, which the index never stores")
    if found.str != dtype or len(shape) != 1 or fortran:
        raise corrupt(path, f"array of {found.str} {shape}, expected 1-D {dtype}")
    offset = header.tell()
    if offset + shape[0] * found.itemsize != len(data):
        raise corrupt(path, "its length does not match its header")
    return np.frombuffer(data, dtype=found, count=shape[0], offset=offset)


def _header_end(data: mmap.mmap | bytes) -> int:
    """Where a ``.npy`` header ends (read just that: a cold page costs a disk read)."""
    major = data[6] if len(data) > 6 else 0
    width = 2 if major == 1 else 4
    start = 8 + width
    end = start + int.from_bytes(data[8:start], "little") if len(data) >= start else len(data)
    return min(end, 1 << 16)


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
