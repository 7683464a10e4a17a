"""The vocabulary as arrays: sorted terms in one UTF-8 blob plus a stored hash table.

Term ids are the terms' positions in sorted order. Nothing is parsed at load: the blob, its
offsets and the open-addressing table (CRC-32, linear probing) are memory-mapped, so loading a
1.5-million-term vocabulary costs the same as loading ten, and a lookup is a probe or two.
"""

from __future__ import annotations

import mmap
import zlib
from collections.abc import Iterator, Mapping
from itertools import pairwise

import numpy as np

from bot.core.streams import offsets


class Vocabulary(Mapping[str, int]):
    """Term → id over memory-mapped arrays; reads like the dict it replaces."""

    def __init__(self, blob: mmap.mmap | bytes, offsets: np.ndarray, table: np.ndarray) -> None:
        self._blob = blob
        self._offsets = memoryview(np.ascontiguousarray(offsets, dtype=np.int64).data)
        self._table = memoryview(np.ascontiguousarray(table, dtype=np.int32).data)
        self._mask = len(table) - 1
        self._size = len(offsets) - 1

    def __len__(self) -> int:
        return self._size

    def term(self, term_id: int) -> str:
        """The term with this id."""
        return self._blob[self._offsets[term_id] : self._offsets[term_id + 1]].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(self.terms())

    def terms(self) -> list[str]:
        """Every term in iteration order (id order, alphabetical), decoded in one pass (a
        fiftieth of a :meth:`term` per id: the spelling correction's first typo lists them all)."""
        ends = np.frombuffer(self._offsets, dtype=np.int64).tolist()
        data = bytes(self._blob[ends[0] : ends[-1]]) if self._size else b""
        ends = [end - ends[0] for end in ends]
        if data.isascii():  # one string, sliced: characters are bytes
            text = data.decode("ascii")
            return [text[lo:hi] for lo, hi in pairwise(ends)]
        return [data[lo:hi].decode("utf-8") for lo, hi in pairwise(ends)]

    def __getitem__(self, term: str) -> int:
        found = self.get(term)
        if found is None:
            raise KeyError(term)
        return found

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) is not None

    def get(self, term: str, default: int | None = None) -> int | None:  # type: ignore[override]
        """The id of ``term``, or ``default`` when the corpus never uses it."""
        if not self._size:
            return default
        key = term.encode("utf-8")
        table, offsets, blob, mask = self._table, self._offsets, self._blob, self._mask
        slot = zlib.crc32(key) & mask
        for _ in range(len(table)):
            found = table[slot]
            if found < 0:
                return default
            if blob[offsets[found] : offsets[found + 1]] == key:
                return found
            slot = (slot + 1) & mask
        return default


def encode_vocabulary(terms: list[str]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Blob, offsets and hash table for terms already in sorted order (ids = positions)."""
    encoded = [t.encode("utf-8") for t in terms]
    starts = offsets(np.fromiter(map(len, encoded), np.int64, len(encoded)))
    size = 1 << max(1, (2 * len(encoded)).bit_length())  # load factor at most 1/2
    mask = size - 1
    table = np.full(size, -1, dtype=np.int32)
    slot = np.fromiter(map(zlib.crc32, encoded), np.int64, len(encoded)) & mask
    pending = np.arange(len(encoded), dtype=np.int64)
    while pending.size:  # linear probing, one probe step per round for every unplaced term
        want = slot[pending]
        free = table[want] < 0
        taken, first = np.unique(want[free], return_index=True)
        winners = pending[free][first]
        table[taken] = winners
        placed = np.zeros(len(encoded), dtype=bool)
        placed[winners] = True
        pending = pending[~placed[pending]]
        slot[pending] = (slot[pending] + 1) & mask
    return b"".join(encoded), starts, table


def sorted_ids(terms: list[str]) -> tuple[list[str], np.ndarray]:
    """The terms sorted, and for each old id (position in ``terms``) its new, sorted id."""
    order = sorted(range(len(terms)), key=terms.__getitem__)
    new_of_old = np.empty(len(terms), dtype=np.int32)
    new_of_old[np.asarray(order, dtype=np.int64)] = np.arange(len(terms), dtype=np.int32)
    return [terms[i] for i in order], new_of_old
