"""Which index terms may lie within a few edits of a word: a letter-pair index of the vocabulary.

Spelling correction compares a word with every alphabetic index term of about its length
(rapidfuzz, letter by letter). One edit changes at most three of a word's letter pairs (two
for a letter added, dropped or changed, three for two neighbours swapped), so a term within
``e`` edits of a word with ``d`` distinct letter pairs shares at least ``d − 3e`` of them:
only the terms sharing that many are compared, in the same order as before, so the nearest
terms found are the same. Built once per index with NumPy over its ASCII terms; a term or word
with other letters is always compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.streams import offsets

_BASE = 128  # a letter pair's code: first byte × 128 + second (ASCII only)
_PAIRS_PER_EDIT = 3  # the most letter pairs one edit changes ("abcd" → "acbd": ab, bc, cd)


@dataclass(frozen=True)
class NearTerms:
    """The alphabetic terms of a vocabulary, their lengths, and their letter pairs."""

    terms: list[str]  # in vocabulary order
    lengths: np.ndarray  # in characters
    plain: np.ndarray  # ASCII: indexed by letter pairs (the others always compared)
    pair_indptr: np.ndarray  # letter pair code → its terms: members[indptr[c]:indptr[c+1]]
    members: np.ndarray

    @classmethod
    def of(cls, vocabulary: Sequence[str]) -> NearTerms:
        """The index of a vocabulary's alphabetic terms."""
        terms = [t for t in vocabulary if t.isalpha()]
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        plain = np.fromiter(map(str.isascii, terms), dtype=bool, count=len(terms))
        ascii_at = np.flatnonzero(plain)
        blob = np.frombuffer("".join(terms[i] for i in ascii_at.tolist()).encode("ascii"), np.uint8)
        sizes = lengths[ascii_at]
        owner = np.repeat(ascii_at, sizes)[:-1]
        codes = blob[:-1].astype(np.int64) * _BASE + blob[1:]
        last = np.cumsum(sizes) - 1  # a term's last letter pairs with nothing
        inside = np.ones(len(codes), dtype=bool)
        inside[last[last < len(codes)]] = False
        codes, owner = codes[inside], owner[inside]
        # grouped by pair, each pair's terms in vocabulary order: a stable sort of 14-bit codes
        # (NumPy's radix sort) keeps ``owner`` ascending within a pair; repeats are then adjacent
        order = np.argsort(codes.astype(np.int16), kind="stable")
        codes, owner = codes[order], owner[order]
        first = np.ones(len(codes), dtype=bool)
        first[1:] = (codes[1:] != codes[:-1]) | (owner[1:] != owner[:-1])
        indptr = offsets(np.bincount(codes[first], minlength=_BASE * _BASE))
        return cls(terms, lengths, plain, indptr, owner[first])

    def near(self, word: str, edits: int) -> list[str]:
        """The terms that may lie within ``edits`` of ``word``, of ``len(word) ± edits``
        letters: shorter first, each length in vocabulary order."""
        size = len(word)
        window = np.abs(self.lengths - size) <= edits
        pairs = _pairs(word)
        if pairs is not None and len(pairs) - _PAIRS_PER_EDIT * edits > 0:
            lists = [self.members[self.pair_indptr[c] : self.pair_indptr[c + 1]] for c in pairs]
            shared = np.bincount(np.concatenate(lists), minlength=len(self.terms))
            window &= (shared >= len(pairs) - _PAIRS_PER_EDIT * edits) | ~self.plain
        at = np.flatnonzero(window)
        at = at[np.argsort(self.lengths[at], kind="stable")]
        return [self.terms[i] for i in at.tolist()]


def _pairs(word: str) -> np.ndarray | None:
    """A word's distinct letter pair codes, or None when it is not ASCII."""
    if not word.isascii():
        return None
    data = np.frombuffer(word.encode("ascii"), np.uint8).astype(np.int64)
    return _distinct(data[:-1] * _BASE + data[1:])


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (sorting: faster here than ``np.unique``'s hashing)."""
    values = np.sort(values)
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]
