"""The retrieval interface the answer pipeline asks for candidates and statistics.

No pipeline stage reads index arrays: they ask a :class:`Retrieval` — BM25 candidates for
weighted terms, term statistics, each passage's terms (forward vectors) and its text and source.
:class:`IndexBackend` implements it over today's memory-mapped BM25 index; an external engine
(OpenSearch, Elasticsearch) could implement the same methods (see README, "How it works").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.core.index import Index
from bot.core.sources import BLOCK_KINDS, SourceMeta
from bot.core.streams import CAPITAL, DATE, NUMBER

__all__ = ["CAPITAL", "DATE", "NUMBER", "IndexBackend", "PassageTokens", "Retrieval", "TokenBatch"]


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


@dataclass(frozen=True)
class TokenBatch(PassageTokens):
    """Several passages' :class:`PassageTokens` end to end, as the match stage reads them.

    Passage ``i`` owns tokens ``token_indptr[i]:token_indptr[i+1]`` and sentences
    ``sentence_indptr[i]:sentence_indptr[i+1]``; ``sentence`` numbers sentences across the batch.
    """

    token_indptr: np.ndarray
    sentence_indptr: np.ndarray

    def __len__(self) -> int:
        return len(self.token_indptr) - 1

    def __getitem__(self, i: int) -> PassageTokens:
        lo, hi = int(self.token_indptr[i]), int(self.token_indptr[i + 1])
        first, last = int(self.sentence_indptr[i]), int(self.sentence_indptr[i + 1])
        return PassageTokens(
            ids=self.ids[lo:hi],
            starts=self.starts[lo:hi],
            ends=self.ends[lo:hi],
            sentence=(self.sentence[lo:hi] - first).astype(np.int32),
            flags=self.flags[lo:hi],
            sentences=self.sentences[first:last],
        )


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
        """Every index term (for spelling correction), alphabetically: a full build's id order;
        an updated index lists its terms in that order too, as a full rebuild would number them."""
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

    def tokens_of(self, passages: np.ndarray) -> TokenBatch:
        """:meth:`tokens` of several passages at once, end to end."""
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
            self._vocabulary = self.index.vocabulary.terms()
        return self._vocabulary

    def idf(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.idf[ids], dtype=np.float64)

    def document_frequency(self, ids: np.ndarray) -> np.ndarray:
        return self.index.document_frequency(ids)

    def search(
        self, terms: Mapping[int, float], k: int, kind_weight: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(list(terms), list(terms.values()), k, kind_weight)

    def forward(self, passages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indptr, terms, counts = self.index.forward(passages)
        return indptr, terms, counts

    def tokens(self, passage: int) -> PassageTokens:
        return self.tokens_of(np.array([passage], dtype=np.int64))[0]

    def tokens_of(self, passages: np.ndarray) -> TokenBatch:
        """Read from the token streams stored at rebuild (nothing is tokenized)."""
        passages = np.asarray(passages, dtype=np.int64)
        streams, ids = self.index.streams_of(passages)
        sentences = np.diff(streams.sentence_indptr)
        first = streams.sentence_first + np.repeat(streams.token_indptr[:-1], sentences)
        return TokenBatch(
            ids=ids,
            starts=streams.starts,
            ends=streams.ends,
            sentence=np.searchsorted(first, np.arange(len(streams.ranks)), side="right") - 1,
            flags=streams.flags,
            sentences=np.stack([streams.sentence_starts, streams.sentence_ends], axis=1),
            token_indptr=streams.token_indptr,
            sentence_indptr=streams.sentence_indptr,
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
