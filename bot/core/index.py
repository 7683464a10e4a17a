"""Build, save and load the passage index in ``index/`` — safely, atomically, without pickle.

Layout: ``index/manifest.json`` names the current generation directory ``index/build-…/``, which
holds NumPy ``.npy`` arrays (loaded memory-mapped with ``allow_pickle=False``), the passage texts
as one UTF-8 blob, and JSON for the vocabulary and source metadata. A rebuild writes a new
generation beside the old one and then replaces ``manifest.json`` in one ``os.replace``: a crash at
any point leaves the previous index usable.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import mmap
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from bot.core.bm25 import BM25Params, Forward, Postings, build_matrices
from bot.core.passages import split_source
from bot.core.sources import (
    BLOCK_KINDS,
    Problem,
    SourceMeta,
    SourcesError,
    file_sha256,
    iter_sources,
    source_base,
    source_files,
)
from bot.core.tokenizer import TOKENIZER_VERSION, tokenize
from bot.errors import CorpusError

INDEX_FORMAT = 3
MANIFEST = "manifest.json"
_ARRAYS = (
    "indptr",
    "docs",
    "weights",
    "zero",
    "idf",
    "doc_len",
    "passage_source",
    "passage_start",
    "passage_end",
    "passage_kind",
    "text_offsets",
    "source_offsets",
    "forward_indptr",
    "forward_terms",
    "forward_counts",
)
_JSON = ("vocabulary.json",)
_TEXTS = "texts.bin"
_SOURCES = "sources.jsonl"  # one JSON object per source, read lazily via source_offsets


class IndexUnavailable(CorpusError):
    """The index cannot be used; the message says which file and how to fix it."""


class IndexMissing(IndexUnavailable):
    """There is no index yet."""


class IndexCorrupt(IndexUnavailable):
    """A file of the index is unreadable or does not match the manifest."""


@dataclass(frozen=True)
class BuildReport:
    """What a rebuild did, for the person who asked for it."""

    sources: int
    passages: int
    vocabulary: int
    seconds: float
    problems: list[Problem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """How many documents were left out because of errors."""
        return sum(1 for p in self.problems if p.error)


class SourceTable(Sequence[SourceMeta]):
    """Source metadata decoded on demand from one JSON-lines blob: loading stays O(1)."""

    def __init__(self, blob: mmap.mmap | bytes, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets
        self._cache: dict[int, SourceMeta] = {}

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
        meta = self._cache.get(i)
        if meta is None:
            lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
            meta = SourceMeta.from_dict(json.loads(self._blob[lo:hi]))
            if len(self._cache) < 100_000:
                self._cache[i] = meta
        return meta


@dataclass
class Index:
    """A loaded, read-only index. Passage ids are rows, grouped by source in corpus order."""

    directory: Path
    manifest: dict[str, Any]
    vocabulary: dict[str, int]
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

    def kind_multiplier(self, weights: dict[str, float]) -> np.ndarray | None:
        """Each passage's score multiplier for its kind, or ``None`` when every one would be 1."""
        present = np.flatnonzero(np.bincount(self.passage_kind, minlength=len(BLOCK_KINDS)))
        factors = np.array([weights.get(k, 1.0) for k in BLOCK_KINDS])
        if np.all(factors[present] == 1.0):
            return None
        return factors[np.asarray(self.passage_kind)]

    def forward(self, passage_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        """Term counts of some passages without re-tokenizing them: ``(indptr, terms, counts)``.

        Passage ``passage_ids[i]`` has the term ids ``terms[indptr[i]:indptr[i+1]]`` (ascending,
        each once) occurring ``counts[…]`` times in it; ``self.doc_len`` holds the lengths and
        ``self.idf[terms]`` the idf. All NumPy arrays (int64, int32, int32), vectorised gathers.
        """
        fwd = self.forward_counts
        ids = np.asarray(passage_ids, dtype=np.int64)
        lo, hi = fwd.indptr[ids], fwd.indptr[ids + 1]
        lengths = hi - lo
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        positions = np.repeat(lo - indptr[:-1], lengths) + np.arange(indptr[-1])
        return indptr, fwd.terms[positions], fwd.counts[positions]

    @property
    def params(self) -> BM25Params:
        """The BM25 variant and parameters the index was built with."""
        return BM25Params(**self.manifest["bm25"])

    @property
    def size(self) -> int:
        """Number of passages."""
        return len(self.passage_source)

    def text(self, passage: int) -> str:
        """The verbatim text of a passage."""
        lo, hi = int(self.text_offsets[passage]), int(self.text_offsets[passage + 1])
        return self.texts[lo:hi].decode("utf-8")

    def kind(self, passage: int) -> str:
        """body, caption, references or note."""
        return BLOCK_KINDS[int(self.passage_kind[passage])]

    def source(self, passage: int) -> SourceMeta:
        """Metadata of the source a passage comes from."""
        return self.sources[int(self.passage_source[passage])]


def _stamp(path: Path, known: dict[str, Any] | None) -> dict[str, Any]:
    """Size, mtime and content hash of a source file (hash reused when size and mtime match)."""
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if known and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
        stamp["sha256"] = known["sha256"]
    else:
        stamp["sha256"] = file_sha256(path)
    return stamp


def staleness(index_dir: Path, sources_dir: Path, params: BM25Params) -> str | None:
    """Why the index no longer matches the sources or the code, or ``None`` if it is fresh.

    The sources are listed first, so a missing sources folder is reported before anything else.
    """
    base = source_base(sources_dir)
    current = {p.relative_to(base).as_posix(): p for p in source_files(sources_dir)}
    manifest = read_manifest(index_dir)
    if manifest.get("format") != INDEX_FORMAT:
        return "it was built by another version of the index format"
    if manifest.get("tokenizer") != TOKENIZER_VERSION:
        return "the tokenizer has changed"
    if manifest.get("bm25") != params.to_dict():
        return "the BM25 settings have changed"
    recorded: dict[str, Any] = manifest.get("files", {})
    added = sorted(set(current) - set(recorded))
    removed = sorted(set(recorded) - set(current))
    changed = sorted(
        rel
        for rel in set(current) & set(recorded)
        if _stamp(current[rel], recorded[rel])["sha256"] != recorded[rel]["sha256"]
    )
    parts = [
        f"{len(names)} source{'s' if len(names) != 1 else ''} {what} ({', '.join(names[:3])}"
        + (", …)" if len(names) > 3 else ")")
        for names, what in ((added, "added"), (removed, "removed"), (changed, "changed"))
        if names
    ]
    return "; ".join(parts) or None


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest as a dict; raises IndexMissing or IndexCorrupt."""
    path = index_dir / MANIFEST
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexUnavailable(f"{index_dir} is not a folder; give --index a folder for the index")
    if not path.exists():
        raise IndexMissing(f"no index in {index_dir}; run `python -m bot rebuild`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, str(exc)) from None
    if not isinstance(manifest, dict) or "generation" not in manifest:
        raise _corrupt(path, "not an index manifest")
    return manifest


def _corrupt(path: Path, why: str) -> IndexCorrupt:
    return IndexCorrupt(
        f"index file {path} is corrupt ({why}); run `python -m bot rebuild` to rebuild the index"
    )


def load_index(index_dir: Path) -> Index:
    """Load the current generation, checking every file against the manifest."""
    manifest = read_manifest(index_dir)
    gen = index_dir / str(manifest["generation"])
    sizes: dict[str, int] = manifest.get("sizes", {})
    for name in (*(f"{a}.npy" for a in _ARRAYS), *_JSON, _TEXTS, _SOURCES):
        path = gen / name
        if not path.is_file():
            raise _corrupt(path, "file missing")
        if path.stat().st_size != sizes.get(name):
            raise _corrupt(path, f"{path.stat().st_size} bytes, manifest says {sizes.get(name)}")
    arrays: dict[str, np.ndarray] = {}
    for name in _ARRAYS:
        path = gen / f"{name}.npy"
        try:
            # a plain ndarray view of the map: memmap's subclass overhead hurts per-query slicing
            arrays[name] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        except (ValueError, OSError) as exc:
            raise _corrupt(path, str(exc)) from None
    loaded: dict[str, Any] = {}
    for name in _JSON:
        path = gen / name
        try:
            loaded[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _corrupt(path, str(exc)) from None
    texts = _map(gen / _TEXTS)
    source_blob = _map(gen / _SOURCES)
    vocabulary = {term: i for i, term in enumerate(loaded["vocabulary.json"])}
    n_docs = len(arrays["passage_source"])
    if len(arrays["indptr"]) != len(vocabulary) + 1 or len(arrays["text_offsets"]) != n_docs + 1:
        raise _corrupt(gen / "indptr.npy", "array sizes do not match the vocabulary")
    if int(arrays["source_offsets"][-1]) != len(source_blob):
        raise _corrupt(gen / "source_offsets.npy", "offsets do not match sources.jsonl")
    postings = Postings(arrays["indptr"], arrays["docs"], arrays["weights"], arrays["zero"], n_docs)
    return Index(
        directory=index_dir,
        manifest=manifest,
        vocabulary=vocabulary,
        sources=SourceTable(source_blob, arrays["source_offsets"]),
        postings=postings,
        idf=arrays["idf"],
        doc_len=arrays["doc_len"],
        passage_source=arrays["passage_source"],
        passage_start=arrays["passage_start"],
        passage_end=arrays["passage_end"],
        passage_kind=arrays["passage_kind"],
        text_offsets=arrays["text_offsets"],
        texts=texts,
        forward_counts=Forward(
            arrays["forward_indptr"], arrays["forward_terms"], arrays["forward_counts"]
        ),
    )


def _map(path: Path) -> mmap.mmap | bytes:
    """A read-only memory map of a file (empty bytes for an empty file)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    """Serialise rebuilds of one index directory across processes."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_index(
    sources_dir: Path,
    index_dir: Path,
    params: BM25Params,
    *,
    progress: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
) -> BuildReport:
    """Read every source, split, tokenize, weigh and write a new index generation atomically."""
    from tqdm import tqdm

    began = time.perf_counter()
    paths = source_files(sources_dir)
    base = source_base(sources_dir)
    if not paths:
        raise SourcesError(f"no articles in {sources_dir} (add .md, .txt, .html or .jsonl files)")
    try:
        old_files = read_manifest(index_dir).get("files", {})
    except IndexUnavailable:
        old_files = {}
    problems: list[Problem] = []
    files: dict[str, Any] = {}
    metas: list[bytes] = []
    vocab: dict[str, int] = {}
    doc_terms: list[np.ndarray] = []
    table: dict[str, list[int]] = {k: [] for k in ("source", "start", "end", "kind")}
    offsets = [0]
    chunks: list[bytes] = []
    for path in paths:
        rel = path.relative_to(base).as_posix()
        files[rel] = _stamp(path, old_files.get(rel))
    bar = tqdm(desc="indexing", unit=" docs", disable=not progress, leave=False)
    for _, source, found in iter_sources(sources_dir):
        bar.update()
        for problem in found:
            problems.append(problem)
            if on_problem:
                on_problem(problem)
        if source is None:
            continue
        for passage in split_source(source, len(metas)):
            text = source.text[passage.start : passage.end]
            ids = [vocab.setdefault(term, len(vocab)) for term in tokenize(text)]
            doc_terms.append(np.array(ids, dtype=np.int32))
            table["source"].append(passage.source_index)
            table["start"].append(passage.start)
            table["end"].append(passage.end)
            table["kind"].append(BLOCK_KINDS.index(passage.kind))
            data = text.encode("utf-8")
            chunks.append(data)
            offsets.append(offsets[-1] + len(data))
        meta = {k: v for k, v in source.meta.to_dict().items() if v is not None}
        metas.append(json.dumps(meta, ensure_ascii=False).encode() + b"\n")
    bar.close()
    if not metas:
        raise SourcesError(f"no usable articles in {sources_dir}: every document was skipped")
    postings, term_idf, doc_len, forward = build_matrices(doc_terms, len(vocab), params)

    arrays = {
        "indptr": postings.indptr,
        "docs": postings.docs,
        "weights": postings.weights,
        "zero": postings.zero,
        "idf": term_idf,
        "doc_len": doc_len.astype(np.int32),
        "passage_source": np.array(table["source"], dtype=np.int32),
        "passage_start": np.array(table["start"], dtype=np.int64),
        "passage_end": np.array(table["end"], dtype=np.int64),
        "passage_kind": np.array(table["kind"], dtype=np.uint8),
        "text_offsets": np.array(offsets, dtype=np.int64),
        "source_offsets": np.cumsum([0, *map(len, metas)], dtype=np.int64),
        "forward_indptr": forward.indptr,
        "forward_terms": forward.terms,
        "forward_counts": forward.counts,
    }
    manifest = {
        "format": INDEX_FORMAT,
        "tokenizer": TOKENIZER_VERSION,
        "bm25": params.to_dict(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "counts": {"sources": len(metas), "passages": len(doc_terms), "vocabulary": len(vocab)},
        "files": files,
        "skipped": [str(p) for p in problems if p.error],
    }
    _write_generation(index_dir, manifest, arrays, list(vocab), b"".join(metas), b"".join(chunks))
    return BuildReport(
        len(metas), len(doc_terms), len(vocab), time.perf_counter() - began, problems
    )


def _write_generation(
    index_dir: Path,
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray],
    vocabulary: list[str],
    sources: bytes,
    texts: bytes,
) -> None:
    """Write files into a temp dir, rename it into place, then swap the manifest atomically."""
    with _locked(index_dir):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        generation = f"build-{stamp}-{secrets.token_hex(3)}"
        tmp = index_dir / f".tmp-{generation}"
        tmp.mkdir()
        try:
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            _write_bytes(tmp / "vocabulary.json", json.dumps(vocabulary, ensure_ascii=False))
            _write_bytes(tmp / _SOURCES, sources)
            _write_bytes(tmp / _TEXTS, texts)
            manifest["generation"] = generation
            manifest["sizes"] = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
            for path in tmp.iterdir():
                _fsync(path)
            os.replace(tmp, index_dir / generation)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_bytes(
            index_dir / f".{MANIFEST}.tmp", json.dumps(manifest, indent=1, ensure_ascii=False)
        )
        os.replace(index_dir / f".{MANIFEST}.tmp", index_dir / MANIFEST)
        _fsync(index_dir)
        for old in index_dir.iterdir():
            if old.is_dir() and old.name != generation and old.name.startswith(("build-", ".tmp-")):
                shutil.rmtree(old, ignore_errors=True)


def _write_bytes(path: Path, data: str | bytes) -> None:
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with path.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
