"""What an index's arrays must be, and the checks a load makes of them (cheap, sampled).

Every array's dtype and length (from the manifest's counts or another array's last offset), and
the range checks: offsets ascending to their data's end, ids in range — on a sample of long
arrays at every load, on everything for ``python -m bot check``.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.manifest import corrupt, data_digest
from bot.core.sources import BLOCK_KINDS
from bot.core.streams import STREAM_ARRAYS

# name → (dtype, length: "V" vocabulary, "N" passages, "S" sources, "+1", or the array whose
# last value gives the length, "*" any)
ARRAYS: dict[str, tuple[str, str]] = {
    "indptr": ("<i8", "V+1"),
    "docs": ("<i4", "indptr"),
    "weights": ("<f4", "indptr"),
    "tf": ("<i4", "indptr"),
    "zero": ("<f8", "V"),
    "idf": ("<f8", "V"),
    "doc_len": ("<i4", "N"),
    "passage_source": ("<i4", "N"),
    "passage_start": ("<i8", "N"),
    "passage_end": ("<i8", "N"),
    "passage_kind": ("|u1", "N"),
    "text_offsets": ("<i8", "N+1"),
    "source_offsets": ("<i8", "S+1"),
    "forward_indptr": ("<i8", "N+1"),
    "forward_terms": ("<i4", "forward_indptr"),
    "forward_counts": ("<i4", "forward_indptr"),
    "vocab_offsets": ("<i8", "V+1"),
    "vocab_table": ("<i4", "*"),
    **{
        name: (dtype, "N+1" if name.endswith("_indptr") else name.split("_")[0] + "_indptr")
        for name, dtype in STREAM_ARRAYS.items()
    },
}
SAMPLE = 1 << 13  # longer arrays are range-checked on a sample of this many entries at load
SAMPLE_WINDOWS = 8  # … taken as this many evenly spaced runs (a few pages each, even cold)


def _expected_length(length: str, counts: dict[str, int], arrays: dict[str, np.ndarray]) -> int:
    """How many entries an array must have, from the manifest's counts or its offsets array."""
    if length in arrays:
        return int(arrays[length][-1]) if len(arrays[length]) else -1
    base = {"V": counts["vocabulary"], "N": counts["passages"], "S": counts["sources"]}
    return base[length[0]] + (1 if length.endswith("+1") else 0)


def _sample(array: np.ndarray) -> np.ndarray:
    """The array, or ``SAMPLE`` entries of it in evenly spaced runs, first and last included.

    Contiguous runs rather than a stride: a cold load then reads a few dozen pages per array
    instead of every page of it.
    """
    if len(array) <= SAMPLE:
        return array
    run = max(1, SAMPLE // SAMPLE_WINDOWS)
    starts = np.linspace(0, len(array) - run, SAMPLE_WINDOWS).astype(np.int64)
    return np.concatenate([array[s : s + run] for s in starts])


def _prefetch(array: np.ndarray) -> None:
    """Queue the reads of an array's sample runs at once (a cold load waits for them together)."""
    view = array.base
    mapped = view.obj if isinstance(view, memoryview) else None
    if len(array) <= SAMPLE or not isinstance(mapped, mmap.mmap):
        return
    origin = np.frombuffer(mapped, dtype=np.uint8).ctypes.data
    run = max(1, SAMPLE // SAMPLE_WINDOWS)
    for start in np.linspace(0, len(array) - run, SAMPLE_WINDOWS).astype(np.int64):
        at = array[int(start) :].ctypes.data - origin
        page = at - at % mmap.PAGESIZE
        length = run * array.itemsize + at - page
        mapped.madvise(mmap.MADV_WILLNEED, page, min(length, len(mapped) - page))


def check_structure(
    gen: Path,
    manifest: dict[str, Any],
    full_arrays: dict[str, np.ndarray],
    blobs: dict[str, int],
    full: bool = False,
) -> None:
    """Shapes against the manifest's counts, offsets ascending to their data's end, ids in range.

    Sequential passes over the per-passage and per-term arrays; past ``SAMPLE`` entries (unless
    ``full``) over evenly spaced runs of them, so a load stays within milliseconds at any size
    (ends and shapes are always exact; ``python -m bot check`` reads everything).
    """
    counts = manifest["counts"]
    for name, (_, length) in ARRAYS.items():
        want = None if length == "*" else _expected_length(length, counts, full_arrays)
        if want is not None and len(full_arrays[name]) != want:
            raise corrupt(gen / f"{name}.npy", f"{len(full_arrays[name])} entries, expected {want}")
    ends = {
        "indptr": None,
        "forward_indptr": None,
        "stream_indptr": None,
        "sentence_indptr": None,
        "text_offsets": blobs["texts.bin"],
        "source_offsets": blobs["sources.jsonl"],
        "vocab_offsets": blobs["terms.bin"],
    }
    n_sources, n_terms = counts["sources"], counts["vocabulary"]
    table = full_arrays["vocab_table"]
    checks: dict[str, Callable[[np.ndarray], Any]] = {
        "passage_source": lambda a: np.all((a >= 0) & (a < n_sources)) and np.all(a[1:] >= a[:-1]),
        "passage_kind": lambda a: np.all(a < len(BLOCK_KINDS)),
        "passage_start": lambda a: np.all(a >= 0) and np.all(a <= arrays["passage_end"]),
        "doc_len": lambda a: np.all(a >= 0),
        "vocab_table": lambda a: (
            len(table) >= 2 * n_terms
            and len(table) & (len(table) - 1) == 0
            and np.all((a >= -1) & (a < n_terms))
        ),
    }
    read = {*ends, *checks, "passage_end"}  # only these are sampled: a cold load reads little
    if not full:
        for name in read:
            _prefetch(full_arrays[name])
    arrays = full_arrays if full else {k: _sample(full_arrays[k]) for k in read}
    for name, end in ends.items():
        offsets, last = arrays[name], full_arrays[name][-1]
        ascending = offsets[0] == 0 and not np.any(offsets[1:] < offsets[:-1])
        if not ascending or offsets[-1] > last or (end is not None and last != end):
            raise corrupt(gen / f"{name}.npy", "its offsets are not ascending within their data")
    for name, ok in checks.items():
        if not ok(arrays[name]):
            raise corrupt(gen / f"{name}.npy", "it holds values out of range")


def check_digests(
    gen: Path, digests: dict[str, str], maps: Mapping[str, mmap.mmap | bytes]
) -> None:
    """Every file's content against the manifest's digest, two files at a time (hashing lets go
    of the GIL), each file's pages dropped from this process once hashed."""

    def check(name: str) -> None:
        if data_digest(maps[name]) != digests[name]:
            raise corrupt(gen / name, "its content does not match the manifest's digest")
        mapped = maps[name]
        if isinstance(mapped, mmap.mmap):
            mapped.madvise(mmap.MADV_DONTNEED)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(check, maps))


def check_ids(gen: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The checks that read every posting: passage and term ids in range, weights finite."""
    n, v = manifest["counts"]["passages"], manifest["counts"]["vocabulary"]
    tokens, sentences = np.diff(arrays["stream_indptr"]), np.diff(arrays["sentence_indptr"])
    row_length = np.repeat(np.diff(arrays["forward_indptr"]).astype(np.int32), tokens)  # per token
    sentence_tokens = np.repeat(tokens, sentences)  # tokens in each sentence's passage
    checks: dict[str, Callable[[np.ndarray], Any]] = {
        "docs": lambda a: not len(a) or (a.min() >= 0 and a.max() < n),
        "forward_terms": lambda a: not len(a) or (a.min() >= 0 and a.max() < v),
        "forward_counts": lambda a: np.all(a > 0),
        "stream_ranks": lambda a: np.all((a >= 0) & (a < row_length)),
        "stream_starts": lambda a: np.all((a >= 0) & (a < arrays["stream_ends"])),
        "sentence_starts": lambda a: np.all((a >= 0) & (a <= arrays["sentence_ends"])),
        "sentence_first": lambda a: np.all((a >= 0) & (a <= sentence_tokens)),
        "tf": lambda a: np.all(a > 0),
        "weights": lambda a: np.all(np.isfinite(a)),
        "idf": lambda a: np.all(np.isfinite(a)),
        "zero": lambda a: np.all(np.isfinite(a)),
    }
    partner = {"stream_starts": "stream_ends", "sentence_starts": "sentence_ends"}
    for name, ok in checks.items():
        if not ok(arrays[name]):
            raise corrupt(gen / f"{name}.npy", "it holds values out of range")
        release(arrays[name])
        if name in partner:
            release(arrays[partner[name]])


def release(array: np.ndarray) -> None:
    """Drop a checked array's pages from this process (they stay in the page cache), so reading
    every posting of a big index holds one array at a time, not the whole index."""
    view = array.base
    mapped = view.obj if isinstance(view, memoryview) else None
    if isinstance(mapped, mmap.mmap):
        mapped.madvise(mmap.MADV_DONTNEED)
