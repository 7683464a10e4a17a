"""Token streams: each passage's terms in reading order, computed once at rebuild and stored.

A passage's stream holds, per token, its term as a *rank* in the passage's forward row (the
position among its distinct terms in sorted order, so the stream does not depend on the
vocabulary's numbering and an update copies it unchanged), its character span in the passage
text and flags saying what it looks like; per sentence, its character span and its first token.
The answer pipeline reads these instead of tokenizing a candidate at query time.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUMBER, DATE, CAPITAL = 1, 2, 4  # token flags
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday".split()
)
_YEAR = re.compile(r"(1[0-9]|20)[0-9]{2}s?")

# name → dtype of every stream array; the "_indptr" ones have one entry per passage plus one.
TOKEN_ARRAYS = {"stream_ranks": "<i4", "stream_starts": "<i4", "stream_ends": "<i4"}
STREAM_ARRAYS: dict[str, str] = {
    "stream_indptr": "<i8",
    **TOKEN_ARRAYS,
    "stream_flags": "|u1",
    "sentence_indptr": "<i8",
    "sentence_starts": "<i4",
    "sentence_ends": "<i4",
    "sentence_first": "<i4",
}


@dataclass
class Streams:
    """The token streams of consecutive passages (a chunk of a build, or gathered for a query).

    Passage ``i`` owns tokens ``token_indptr[i]:token_indptr[i+1]`` and sentences
    ``sentence_indptr[i]:sentence_indptr[i+1]``; ``sentence_first`` counts from the passage's
    first token, spans from the start of its text.
    """

    token_indptr: np.ndarray
    ranks: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    flags: np.ndarray
    sentence_indptr: np.ndarray
    sentence_starts: np.ndarray
    sentence_ends: np.ndarray
    sentence_first: np.ndarray

    def take(self, passages: np.ndarray) -> Streams:
        """The streams of some passages, in that order (vectorised gathers)."""
        token_indptr, tokens = gather_rows(self.token_indptr, passages)
        sentence_indptr, sentences = gather_rows(self.sentence_indptr, passages)
        return Streams(
            token_indptr,
            self.ranks[tokens],
            self.starts[tokens],
            self.ends[tokens],
            self.flags[tokens],
            sentence_indptr,
            self.sentence_starts[sentences],
            self.sentence_ends[sentences],
            self.sentence_first[sentences],
        )

    def slice(self, lo: int, hi: int) -> Streams:
        """The streams of passages ``lo…hi-1`` as views (offsets rebased to start at 0)."""
        t_lo, t_hi = int(self.token_indptr[lo]), int(self.token_indptr[hi])
        s_lo, s_hi = int(self.sentence_indptr[lo]), int(self.sentence_indptr[hi])
        return Streams(
            self.token_indptr[lo : hi + 1] - t_lo,
            self.ranks[t_lo:t_hi],
            self.starts[t_lo:t_hi],
            self.ends[t_lo:t_hi],
            self.flags[t_lo:t_hi],
            self.sentence_indptr[lo : hi + 1] - s_lo,
            self.sentence_starts[s_lo:s_hi],
            self.sentence_ends[s_lo:s_hi],
            self.sentence_first[s_lo:s_hi],
        )

    def columns(self) -> dict[str, np.ndarray]:
        """The per-token and per-sentence arrays by their stored names (offsets left out)."""
        return {
            "stream_ranks": self.ranks,
            "stream_starts": self.starts,
            "stream_ends": self.ends,
            "stream_flags": self.flags,
            "sentence_starts": self.sentence_starts,
            "sentence_ends": self.sentence_ends,
            "sentence_first": self.sentence_first,
        }


def flags_of(word: str) -> int:
    """What a word of a passage looks like: a number, a date, a capitalised word."""
    if word[0].isdigit():
        return NUMBER | (DATE if _YEAR.fullmatch(word) else 0)
    if word.casefold().rstrip(".") in _MONTHS:
        return DATE | (CAPITAL if word[0].isupper() else 0)
    return CAPITAL if word[0].isupper() else 0


class StreamWriter:
    """Writes the streams of a build's passages, in passage order, as ``.npy`` files in a folder.

    Columns are appended to their files as chunks arrive (memory stays a chunk's worth) after
    room for the header, which :meth:`close` writes once the length is known (no copy).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = {name: (folder / f"{name}.npy").open("wb") for name in _COLUMNS}
        for handle in self.files.values():
            handle.write(bytes(_HEADER))
        self.lengths = {name: 0 for name in _COLUMNS}
        self.counts: dict[str, list[np.ndarray]] = {"stream_indptr": [], "sentence_indptr": []}

    def add(self, streams: Streams) -> None:
        """Append the streams of the next passages."""
        for name, column in streams.columns().items():
            data = np.ascontiguousarray(column, dtype=STREAM_ARRAYS[name])
            self.files[name].write(data.data)
            self.lengths[name] += len(data)
        self.counts["stream_indptr"].append(np.diff(streams.token_indptr))
        self.counts["sentence_indptr"].append(np.diff(streams.sentence_indptr))

    def close(self) -> None:
        """Write every array's ``.npy`` header (and the offsets' files)."""
        for name, parts in self.counts.items():
            counts = np.concatenate([np.zeros(1, np.int64), *parts])
            np.save(self.folder / f"{name}.npy", np.cumsum(counts), allow_pickle=False)
        for name, handle in self.files.items():
            header = io.BytesIO()
            shape = {"descr": STREAM_ARRAYS[name], "fortran_order": False}
            np.lib.format.write_array_header_1_0(header, {**shape, "shape": (self.lengths[name],)})
            assert len(header.getvalue()) == _HEADER  # the room left for it at the start
            handle.seek(0)
            handle.write(header.getvalue())
            handle.close()


_HEADER = 128  # bytes of a 1-D .npy header (format 1.0, padded to 64) for any length below 10**17
_COLUMNS = [name for name in STREAM_ARRAYS if not name.endswith("_indptr")]


def offsets(counts: np.ndarray) -> np.ndarray:
    """The CSR-style indptr of rows of these lengths: ``[0, c0, c0 + c1, …]`` (int64)."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR-style ``indptr`` and some rows: the rows' own indptr and their entries' positions."""
    lo, hi = indptr[rows], indptr[rows + 1]
    lengths = hi - lo
    out = offsets(lengths)
    return out, np.repeat(lo - out[:-1], lengths) + np.arange(out[-1])
