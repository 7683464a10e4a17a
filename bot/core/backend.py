"""The retrieval interface the answer pipeline asks for candidates and statistics.

No pipeline stage reads index arrays: they ask a :class:`Retrieval` — BM25 candidates for
weighted terms, term statistics, each passage's terms (forward vectors) and its text and source.
:class:`IndexBackend` implements it over today's memory-mapped BM25 index; an external engine
(OpenSearch, Elasticsearch) could implement the same methods (see README, "How it works").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.core import bm25
from bot.core.index import Index
from bot.core.lru import LruMap
from bot.core.passages import sentence_spans
from bot.core.sources import BLOCK_KINDS, SourceMeta
from bot.core.tokenizer import iter_tokens

_TOKENS_CACHE = 20_000  # passages whose tokens an IndexBackend keeps


@dataclass(frozen=True)
class PassageTokens:
    """A passage's terms in reading order: term id (-1 if unknown), character span, sentence.

    ``sentences`` holds each sentence's character span; ``sentence[i]`` is the sentence of token
    ``i``; ``flags[i]`` says what the token looks like (``NUMBER``, ``DATE``, ``CAPITAL``: a
    capitalised word mid-sentence, most often a name).
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    sentence: np.ndarray
    flags: np.ndarray
    sentences: np.ndarray


NUMBER, DATE, CAPITAL = 1, 2, 4
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday".split()
)
_YEAR = re.compile(r"(1[0-9]|20)[0-9]{2}s?")


class Retrieval(Protocol):
    """What the answer pipeline needs from a search backend."""

    @property
    def size(self) -> int:
        """How many passages are searched."""
        ...

    @property
    def source_count(self) -> int:
        """How many sources (articles) the passages come from."""
        ...

    @property
    def average_length(self) -> float:
        """Mean passage length in terms."""
        ...

    def term_id(self, term: str) -> int | None:
        """The id of an index term, or None when no passage contains it."""
        ...

    def vocabulary(self) -> Sequence[str]:
        """Every index term (for spelling correction), position = term id."""
        ...

    def idf(self, ids: np.ndarray) -> np.ndarray:
        """The BM25 idf of each term id."""
        ...

    def document_frequency(self, ids: np.ndarray) -> np.ndarray:
        """How many passages contain each term id."""
        ...

    def search(
        self, terms: Mapping[int, float], k: int, kind_weight: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best passages (ids, scores) for weighted term ids, by kind-weighted BM25."""
        ...

    def forward(self, passages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bag-of-terms vectors of some passages: ``(indptr, term ids, counts)``, CSR rows."""
        ...

    def tokens(self, passage: int) -> PassageTokens:
        """A passage's terms in reading order with their spans and sentences."""
        ...

    def text(self, passage: int) -> str:
        """The verbatim text of a passage."""
        ...

    def kind(self, passage: int) -> str:
        """body, caption, references or note."""
        ...

    def is_body(self, passages: np.ndarray) -> np.ndarray:
        """Whether each passage is a body paragraph (kind ``body``), as a bool array."""
        ...

    def span(self, passage: int) -> tuple[int, int]:
        """Where the passage's text lies in its source file."""
        ...

    def source_of(self, passages: np.ndarray) -> np.ndarray:
        """The source number of each passage."""
        ...

    def source(self, passage: int) -> SourceMeta:
        """Metadata of the source a passage comes from."""
        ...


class IndexBackend:
    """:class:`Retrieval` over the local memory-mapped BM25 index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._multipliers: dict[tuple[tuple[str, float], ...], np.ndarray | None] = {}
        self._tokens: LruMap[int, PassageTokens] = LruMap(_TOKENS_CACHE)
        self._vocabulary: list[str] | None = None
        self._average_length: float | None = None

    @property
    def size(self) -> int:
        return self.index.size

    @property
    def source_count(self) -> int:
        return len(self.index.sources)

    @property
    def average_length(self) -> float:
        if self._average_length is None:
            self._average_length = float(np.mean(self.index.doc_len)) if self.size else 0.0
        return self._average_length

    def term_id(self, term: str) -> int | None:
        return self.index.vocabulary.get(term)

    def vocabulary(self) -> Sequence[str]:
        if self._vocabulary is None:
            self._vocabulary = list(self.index.vocabulary)
        return self._vocabulary

    def idf(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.idf[ids], dtype=np.float64)

    def document_frequency(self, ids: np.ndarray) -> np.ndarray:
        indptr = self.index.postings.indptr
        return np.asarray(indptr[ids + 1] - indptr[ids])

    def search(
        self, terms: Mapping[int, float], k: int, kind_weight: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(sorted(kind_weight.items()))
        if key not in self._multipliers:
            self._multipliers[key] = self.index.kind_multiplier(dict(kind_weight))
        multiplier = self._multipliers[key]
        return bm25.search(
            self.index.postings, list(terms), list(terms.values()), k, multiplier, fill=False
        )

    def forward(self, passages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indptr, terms, counts = self.index.forward(passages)
        return indptr, terms, counts

    def tokens(self, passage: int) -> PassageTokens:
        cached = self._tokens.get(passage)
        if cached is None:
            cached = self._tokenize(self.text(passage))
            self._tokens[passage] = cached
        return cached

    def _tokenize(self, text: str) -> PassageTokens:
        vocab = self.index.vocabulary
        found = list(iter_tokens(text))
        spans = np.array(sentence_spans(text) or [(0, len(text))], dtype=np.int32).reshape(-1, 2)
        starts = np.array([s for _, s, _ in found], dtype=np.int32)
        sentence = np.searchsorted(spans[:, 1], starts, side="right").astype(np.int32)
        sentence = np.minimum(sentence, len(spans) - 1)
        first = np.ones(len(found), dtype=bool)
        first[1:] = sentence[1:] != sentence[:-1]
        flags = np.array([_flags(text[s:e]) for _, s, e in found], dtype=np.uint8)
        flags[first] &= ~np.uint8(CAPITAL)
        return PassageTokens(
            ids=np.array([vocab.get(t, -1) for t, _, _ in found], dtype=np.int32),
            starts=starts,
            ends=np.array([e for _, _, e in found], dtype=np.int32),
            sentence=sentence,
            flags=flags,
            sentences=spans,
        )

    def text(self, passage: int) -> str:
        return self.index.text(passage)

    def kind(self, passage: int) -> str:
        return self.index.kind(passage)

    def is_body(self, passages: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.passage_kind[passages]) == BLOCK_KINDS.index("body")

    def span(self, passage: int) -> tuple[int, int]:
        return int(self.index.passage_start[passage]), int(self.index.passage_end[passage])

    def source_of(self, passages: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.passage_source[passages])

    def source(self, passage: int) -> SourceMeta:
        return self.index.source(passage)


def _flags(word: str) -> int:
    """What a word of a passage looks like: a number, a date, a capitalised word."""
    if word[0].isdigit():
        return NUMBER | (DATE if _YEAR.fullmatch(word) else 0)
    if word.casefold().rstrip(".") in _MONTHS:
        return DATE | (CAPITAL if word[0].isupper() else 0)
    return CAPITAL if word[0].isupper() else 0
