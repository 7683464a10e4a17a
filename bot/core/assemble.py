"""From tokenized passages to the index's matrices, in bounded memory.

Passages arrive in chunks (a piece of the sources tokenized in-process or by a worker process,
or reused as-is from the previous index by an incremental update) as compact
passage-major term counts. :meth:`Assembler.finish` sorts the vocabulary, places every posting
with one counting pass per chunk (no global sort, no million small arrays) that also computes
their BM25 weights (:func:`weigh` re-weighs stored postings), so peak memory stays a few hundred
bytes per passage.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bot.core.bm25 import BM25Params, idf, weights, zero_weights
from bot.core.streams import Streams, offsets
from bot.core.vocabulary import sorted_ids

_WEIGH_STEP = 1 << 20  # postings re-weighed per slice (bounds the float64 temporaries)


@dataclass
class Chunk:
    """Consecutive passages as term counts: passage ``i`` owns ``entries[i]`` (id, count) pairs."""

    terms: Sequence[str]  # what the ids in ``ids`` stand for
    ids: np.ndarray  # int32 indices into ``terms``, passage-major
    counts: np.ndarray  # int32 term frequencies
    entries: np.ndarray  # int64 pairs per passage
    doc_len: np.ndarray  # int32 tokens per passage
    streams: Streams | None = None  # the passages' token streams, when freshly tokenized


def chunk_of(passages: Iterable[list[str]], n: int) -> Chunk:
    """A :class:`Chunk` for ``n`` passages given as their terms in order."""
    local: dict[str, int] = {}
    ids: list[int] = []
    lengths = np.zeros(n, dtype=np.int64)
    for i, terms in enumerate(passages):
        lengths[i] = len(terms)
        ids.extend([local.setdefault(t, len(local)) for t in terms])
    return _counted(list(local), np.asarray(ids, dtype=np.int64), lengths)


def _counted(terms: list[str], ids: np.ndarray, lengths: np.ndarray) -> Chunk:
    """Term counts per passage from each passage's term ids in order (``lengths`` per passage)."""
    n = len(lengths)
    width = max(len(terms), 1)
    owners = np.repeat(np.arange(n, dtype=np.int64), lengths)
    keys, counts = np.unique(owners * width + ids, return_counts=True)
    entries = np.bincount(keys // width, minlength=n).astype(np.int64)
    return Chunk(
        terms,
        (keys % width).astype(np.int32),
        counts.astype(np.int32),
        entries,
        lengths.astype(np.int32),
    )


@dataclass
class Matrices:
    """Everything :class:`Assembler` computes: sorted vocabulary, postings, forward counts."""

    terms: list[str]
    indptr: np.ndarray
    docs: np.ndarray
    weights: np.ndarray
    tf: np.ndarray  # int32 term frequency of each posting (re-weighing needs no re-tokenizing)
    zero: np.ndarray
    idf: np.ndarray
    doc_len: np.ndarray
    forward_indptr: np.ndarray
    forward_terms: np.ndarray
    forward_counts: np.ndarray


class Assembler:
    """Collects chunks in passage order and builds the matrices."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._mapped: dict[int, np.ndarray] = {}  # id(terms) → global ids, for shared vocabularies

    def add(self, chunk: Chunk) -> None:
        """Append the next passages."""
        mapping = self._mapped.get(id(chunk.terms))
        if mapping is None:
            vocab, terms = self._vocab, chunk.terms
            mapping = np.fromiter(map(vocab.get, terms, itertools.repeat(-1)), np.int32, len(terms))
            for i in np.flatnonzero(mapping < 0).tolist():  # terms not met before
                mapping[i] = vocab.setdefault(terms[i], len(vocab))
            if len(chunk.terms) > 100_000:  # a whole previous vocabulary: mapped once, reused
                self._mapped[id(chunk.terms)] = mapping
        self._parts.append((mapping[chunk.ids], chunk.counts, chunk.entries, chunk.doc_len))

    def finish(self, params: BM25Params) -> Matrices:
        """Sorted vocabulary (only terms in use), postings with BM25 weights, forward counts."""
        parts, self._parts = self._parts, []
        n_terms = len(self._vocab)
        passages = np.cumsum([len(p[3]) for p in parts])
        half = int(np.searchsorted(passages, passages[-1] // 2)) + 1 if len(parts) > 1 else 0
        halves = [parts[:half], parts[half:]]  # placed by two threads, each from its own cursor
        df_first = np.zeros(n_terms, dtype=np.int64)
        for gids, _, _, _ in halves[0]:
            df_first += np.bincount(gids, minlength=n_terms)
        df = df_first.copy()
        for gids, _, _, _ in halves[1]:
            df += np.bincount(gids, minlength=n_terms)
        used = np.flatnonzero(df)
        names = list(self._vocab)
        terms, new_of_used = sorted_ids([names[i] for i in used])
        new_of_old = np.full(n_terms, -1, dtype=np.int32)
        new_of_old[used] = new_of_used
        df_sorted = np.zeros(len(terms), dtype=np.int64)
        df_sorted[new_of_used] = df[used]
        indptr = offsets(df_sorted)
        doc_len = np.concatenate([p[3] for p in parts] or [np.zeros(0, np.int32)])
        n_docs, total = len(doc_len), int(indptr[-1])
        term_idf = idf(params, df_sorted, n_docs)
        out = Matrices(
            terms,
            indptr,
            np.empty(total, dtype=np.int32),
            np.empty(total, dtype=np.float32),
            np.empty(total, dtype=np.int32),
            zero_weights(params, term_idf),
            term_idf,
            doc_len,
            np.zeros(n_docs + 1, dtype=np.int64),
            np.empty(total, dtype=np.int32),
            np.empty(total, dtype=np.int32),
        )
        del parts
        second = indptr[:-1].copy()
        second[new_of_used] += df_first[used]
        starts = [(indptr[:-1].copy(), 0, 0)]
        starts.append((second, sum(len(p[3]) for p in halves[0]), int(df_first.sum())))
        place = functools.partial(_place, params, out, new_of_old, average_length(doc_len))
        with ThreadPoolExecutor(2) as pool:  # NumPy lets go of the GIL: both cores work
            list(pool.map(place, halves, starts))
        return out


def _place(
    params: BM25Params,
    out: Matrices,
    new_of_old: np.ndarray,
    avgdl: float,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    start: tuple[np.ndarray, int, int],
) -> None:
    """Write the postings (passages ascending per term, weighed) and forward rows of consecutive
    chunks into ``out``, from each term's ``cursor`` and the chunks' first passage and entry."""
    cursor, first_doc, first_entry = start
    width = max(len(out.terms), 1)
    while parts:
        gids, counts, entries, lengths = parts.pop(0)
        n, size = len(lengths), len(gids)
        owners = np.repeat(np.arange(n, dtype=np.int64), entries)
        term = new_of_old[gids].astype(np.int64)
        ascending = (term[1:] > term[:-1]) | (owners[1:] != owners[:-1])
        if not np.all(ascending):  # within a passage, terms ascending (reused rows already are)
            order = np.argsort(owners * width + term)  # keys unique: no ties
            term, counts = term[order], counts[order]
        out.forward_terms[first_entry : first_entry + size] = term
        out.forward_counts[first_entry : first_entry + size] = counts
        out.forward_indptr[first_doc + 1 : first_doc + n + 1] = first_entry + np.cumsum(entries)
        if size:
            by_term = np.argsort(term * max(n, 1) + owners)  # passages ascending per term
            grouped, owner = term[by_term], owners[by_term]
            begins = np.flatnonzero(np.concatenate([[True], grouped[1:] != grouped[:-1]]))
            sizes = np.diff(np.append(begins, size))
            place = cursor[grouped] + np.arange(size) - np.repeat(begins, sizes)
            out.docs[place] = first_doc + owner
            out.tf[place] = tfs = counts[by_term]
            out.weights[place] = weights(params, tfs, lengths[owner], avgdl, out.idf[grouped])
            cursor[grouped[begins]] += sizes
        first_doc, first_entry = first_doc + n, first_entry + size


def average_length(doc_len: np.ndarray) -> float:
    """Mean passage length as every weight uses it (an exact integer sum, then one division)."""
    return float(doc_len.sum(dtype=np.int64)) / len(doc_len) if len(doc_len) else 1.0


def weigh(
    params: BM25Params,
    indptr: np.ndarray,
    docs: np.ndarray,
    tf: np.ndarray,
    doc_len: np.ndarray,
    avgdl: float,
    term_idf: np.ndarray,
) -> np.ndarray:
    """float32 BM25 weights of term-major postings, slice by slice (bounded temporaries)."""
    total = len(docs)
    weight = np.empty(total, dtype=np.float32)
    for lo in range(0, total, _WEIGH_STEP):
        hi = min(total, lo + _WEIGH_STEP)
        term_of = np.searchsorted(indptr, np.arange(lo, hi), side="right") - 1
        weight[lo:hi] = weights(params, tf[lo:hi], doc_len[docs[lo:hi]], avgdl, term_idf[term_of])
    return weight
