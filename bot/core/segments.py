"""An index in two segments: the last full build (the base) and a delta of what changed since.

Adding one article to a million passages must not rewrite the million: an update writes only a
small delta segment (the sources added or changed since the base was built, tokenized into its own
postings) with the collection's new statistics, and marks the base's passages of removed or
changed sources as gone. This module reads such a generation as one :class:`Index` that answers
exactly as a full rebuild would: passage and source numbers in corpus order, the same idf
(``mix-idf``: N, df and the average length of the whole collection, terms in alphabetical
order), the same float32 weights — the base's are re-weighed from its stored term frequencies at
query time, one posting list at a time, and kept (``REWEIGHED_POSTINGS``) — and the same top k,
ties to the earlier passage in corpus order. Term ids: the base's, then the delta's new terms.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.core import bm25
from bot.core.assemble import average_length
from bot.core.index import Index, SourceTable, _array, load_segment
from bot.core.manifest import corrupt
from bot.core.sources import SourceMeta
from bot.core.streams import Streams, gather_rows, offsets
from bot.core.vocabulary import Vocabulary

MIX = "mix-"  # the delta folder's arrays that join it to its base
# name → dtype; lengths: "T" combined terms, "D" delta terms, "B" base passages, "N" passages
MIX_ARRAYS: dict[str, tuple[str, str]] = {
    "term_map": ("<i4", "D"),  # delta term id → combined term id
    "new_terms": ("<i4", "*"),  # combined id (past the base's) → delta term id
    "df": ("<i8", "T"),  # passages holding each combined term (0: no longer in the corpus)
    "idf": ("<f8", "T"),
    "zero": ("<f8", "T"),
    "alphabetical": ("<i4", "*"),  # combined ids of the terms in use, alphabetical
    "live": ("|u1", "B"),  # 1 where a base passage is still in the corpus
    "runs": ("<i8", "*"),  # per run of corpus order: segment, passages lo, hi, sources lo, hi
    "passage_source": ("<i4", "N"),
    "passage_start": ("<i8", "N"),
    "passage_end": ("<i8", "N"),
    "passage_kind": ("|u1", "N"),
    "doc_len": ("<i4", "N"),
}
REWEIGHED_POSTINGS = 1 << 24  # base postings re-weighed for the current statistics and kept


def segment_of(index: Index, entry: Mapping[str, Any]) -> Index:
    """The segment holding a source file's passages (``entry``: its row of ``read_files``)."""
    if isinstance(index, SegmentedIndex):
        return index.delta if entry.get("segment") == "delta" else index.base
    return index


def load_segments(index_dir: Path, manifest: dict[str, Any], deep: bool | None) -> Index:
    """A base and delta generation as one index (``deep``: every digest of both)."""
    base = load_segment(index_dir, {**manifest, **manifest["base"]}, deep, ())
    delta_manifest = {**manifest, "counts": manifest["delta"]["counts"]}
    delta = load_segment(index_dir, delta_manifest, deep, (MIX,))
    mix: dict[str, np.ndarray] = {}
    for name, (dtype, _) in MIX_ARRAYS.items():
        file = f"{MIX}{name}.npy"
        if file not in delta.extras:
            raise corrupt(delta.generation / file, "file missing")
        mix[name] = _array(delta.generation / file, delta.extras[file], dtype)
    sizes = {
        "T": len(base.vocabulary) + len(mix["new_terms"]),
        "D": len(delta.vocabulary),
        "B": base.size,
        "N": manifest["counts"]["passages"],
    }
    for name, (_, length) in MIX_ARRAYS.items():
        if length in sizes and len(mix[name]) != sizes[length]:
            raise corrupt(delta.generation / f"{MIX}{name}.npy", "its length does not fit")
    return SegmentedIndex(index_dir, manifest, base, delta, mix)


class SegmentedIndex(Index):
    """A base and a delta segment read as the one index a full rebuild would have written."""

    def __init__(
        self,
        directory: Path,
        manifest: dict[str, Any],
        base: Index,
        delta: Index,
        mix: dict[str, np.ndarray],
    ) -> None:
        self.base, self.delta, self._mix = base, delta, mix
        self._pair = (base, delta)
        runs = mix["runs"].reshape(-1, 5)
        if len(mix["runs"]) % 5 or not _runs_fit(runs, (base, delta), len(mix["doc_len"])):
            raise corrupt(delta.generation / f"{MIX}runs.npy", "its runs do not fit the segments")
        self._runs = runs
        self._starts = np.concatenate([[0], np.cumsum(runs[:, 2] - runs[:, 1])])
        self._source_starts = np.concatenate([[0], np.cumsum(runs[:, 4] - runs[:, 3])])
        order = np.argsort(mix["term_map"], kind="stable")
        self._delta_terms = (mix["term_map"][order], order.astype(np.int64))
        self._reweighed = _PostingsCache(REWEIGHED_POSTINGS)
        self._live = mix["live"].view(bool)
        super().__init__(
            directory=directory,
            manifest=manifest,
            vocabulary=_Vocabulary(base.vocabulary, delta.vocabulary, mix),
            sources=_Sources(self),
            postings=base.postings,  # the base's own; searches go through :meth:`search`
            idf=mix["idf"],
            doc_len=mix["doc_len"],
            passage_source=mix["passage_source"],
            passage_start=mix["passage_start"],
            passage_end=mix["passage_end"],
            passage_kind=mix["passage_kind"],
            text_offsets=base.text_offsets,
            texts=base.texts,
            forward_counts=base.forward_counts,
            streams=base.streams,
        )
        self._average = average_length(self.doc_len)

    def locate(self, passage_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For passage ids: the segment holding each (0 base, 1 delta) and its id there."""
        run = np.searchsorted(self._starts, passage_ids, side="right") - 1
        return self._runs[run, 0], passage_ids - self._starts[run] + self._runs[run, 1]

    def _segment(self, passage: int) -> tuple[Index, int]:
        which, local = self.locate(np.array([passage], dtype=np.int64))
        return (self.delta if which[0] else self.base), int(local[0])

    def text(self, passage: int) -> str:
        segment, local = self._segment(passage)
        return segment.text(local)

    def forward(self, passage_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        ids = np.asarray(passage_ids, dtype=np.int64)
        which, local = self.locate(ids)
        parts = [(which == n, s.forward(local[which == n])) for n, s in enumerate(self._pair)]
        lengths = np.zeros(len(ids), dtype=np.int64)
        for mask, (seg_indptr, _, _) in parts:
            lengths[mask] = np.diff(seg_indptr)
        indptr = offsets(lengths)
        terms, counts = np.empty(indptr[-1], np.int32), np.empty(indptr[-1], np.int32)
        owner = np.repeat(np.arange(len(ids)), lengths)
        for n, (mask, (_, seg_terms, seg_counts)) in enumerate(parts):
            entries = mask[owner]
            terms[entries] = self._mix["term_map"][seg_terms] if n else seg_terms
            counts[entries] = seg_counts
        order = np.lexsort((terms, owner))  # combined ids ascending within each passage
        return indptr, terms[order], counts[order]

    def streams_of(self, passage_ids: np.ndarray) -> tuple[Streams, np.ndarray]:
        ids = np.asarray(passage_ids, dtype=np.int64)
        which, local = self.locate(ids)
        (a, a_ids), (b, b_ids) = (s.streams_of(local[which == n]) for n, s in enumerate(self._pair))
        cat = [np.concatenate([x, y]) for x, y in zip(_columns(a), _columns(b), strict=True)]
        joined = Streams(
            _stacked(a.token_indptr, b.token_indptr),
            cat[0],
            cat[1],
            cat[2],
            cat[3],
            _stacked(a.sentence_indptr, b.sentence_indptr),
            cat[4],
            cat[5],
            cat[6],
        )
        terms = np.concatenate([a_ids, self._mix["term_map"][b_ids]]).astype(np.int32)
        order = np.empty(len(ids), dtype=np.int64)  # where each asked passage lies in ``joined``
        order[which == 0] = np.arange(int(np.sum(which == 0)))
        order[which == 1] = len(a.token_indptr) - 1 + np.arange(int(np.sum(which == 1)))
        _, tokens = gather_rows(joined.token_indptr, order)
        return joined.take(order), terms[tokens]

    def document_frequency(self, term_ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._mix["df"][term_ids])

    def extra(self, name: str, dtype: str) -> np.ndarray | None:
        return None  # an index with extra arrays is always merged (bot.core.update)

    def health(self) -> str | None:
        return self.base.health() or self.delta.health()

    def search(
        self, term_ids: Sequence[int], counts: Sequence[float], k: int, kinds: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """What :func:`bm25.search` over a full rebuild returns (``fill=False``)."""
        constant = 0.0
        for term, count in zip(term_ids, counts, strict=True):
            constant += count * self._mix["zero"][term]
        found: list[tuple[int, np.ndarray, np.ndarray]] = []
        floors: list[float] = []  # each a score the k-th best passage reaches for certain
        for which, segment in enumerate(self._pair):
            parts, weighted, used = [], [], []
            for term, count in zip(term_ids, counts, strict=True):
                row = self._row(which, int(term))
                if row is not None:
                    parts.append(row[0])
                    used.append(count)
                    weighted.append(row[1] if count == 1 else count * row[1])  # as bm25.search
            if parts:  # every posting added to its passage in query-term order, as bm25.search
                candidates = np.concatenate(parts)
                scores = np.bincount(candidates, np.concatenate(weighted), minlength=segment.size)
                multiplier = segment.multiplier(kinds)
                found.append(
                    (which, candidates, bm25.finished(scores, candidates, constant, multiplier))
                )
                floor = bm25.score_floor(scores, parts, used, k, constant, multiplier)
                if floor is not None:
                    floors.append(floor)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        floor = max(floors, default=None)
        ids, best = [], []
        for which, candidates, values in found:  # passage ids only for the entries kept
            keep = slice(None) if floor is None else values >= floor
            ids.append(self._logical(which, candidates[keep]))
            best.append(values[keep])
        entries = bm25.best_entries(
            np.concatenate(ids), np.concatenate(best), None, k * max(len(term_ids), 1)
        )
        return bm25.ranked(*entries, k)

    def _logical(self, which: int, local: np.ndarray) -> np.ndarray:
        """Passage ids of one segment's passages (only those still in the corpus)."""
        runs = np.flatnonzero(self._runs[:, 0] == which)
        at = runs[np.searchsorted(self._runs[runs, 1], local, side="right") - 1]
        return local - self._runs[at, 1] + self._starts[at]

    def _row(self, which: int, term: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One segment's postings of a combined term: its passages and their current weights."""
        if which == 1:
            sorted_terms, local_of = self._delta_terms
            at = int(np.searchsorted(sorted_terms, term))
            if at == len(sorted_terms) or sorted_terms[at] != term:
                return None
            p, t = self.delta.postings, int(local_of[at])
            lo, hi = int(p.indptr[t]), int(p.indptr[t + 1])
            return np.asarray(p.docs[lo:hi]), np.asarray(p.weights[lo:hi])
        if term >= len(self.base.vocabulary):
            return None
        cached = self._reweighed.get(term)
        if cached is None:
            cached = self._reweigh(term)
            self._reweighed.put(term, cached)
        return cached if len(cached[0]) else None

    def _reweigh(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The base's postings of a term weighed for the whole collection's statistics."""
        p = self.base.postings
        lo, hi = int(p.indptr[term]), int(p.indptr[term + 1])
        docs = np.asarray(p.docs[lo:hi])
        keep = self._live[docs]
        docs = docs if keep.all() else docs[keep]
        assert p.tf is not None
        tf = np.asarray(p.tf[lo:hi]) if keep.all() else np.asarray(p.tf[lo:hi])[keep]
        params = self.params
        weights = bm25.weights(
            params, tf, self.base.doc_len[docs], self._average, self._mix["idf"][term]
        ).astype(np.float32)
        return docs, weights


def _stacked(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two CSR offset arrays, the second's rows after the first's."""
    return np.concatenate([a, b[1:] + a[-1]])


def _columns(s: Streams) -> tuple[np.ndarray, ...]:
    """A stream's per-token then per-sentence arrays, in :class:`Streams` order."""
    return (
        s.ranks,
        s.starts,
        s.ends,
        s.flags,
        s.sentence_starts,
        s.sentence_ends,
        s.sentence_first,
    )


def _runs_fit(runs: np.ndarray, segments: tuple[Index, Index], passages: int) -> bool:
    """Every run names a segment and ranges inside it; together they hold ``passages``."""
    if not len(runs):
        return passages == 0
    which = runs[:, 0]
    if not np.all((which == 0) | (which == 1)):
        return False
    sizes = np.array([s.size for s in segments])[which]
    source_counts = np.array([len(s.sources) for s in segments])[which]
    lo, hi, slo, shi = runs[:, 1], runs[:, 2], runs[:, 3], runs[:, 4]
    return bool(
        np.all((lo >= 0) & (lo <= hi) & (hi <= sizes))
        and np.all((slo >= 0) & (slo <= shi) & (shi <= source_counts))
        and int((hi - lo).sum()) == passages
    )


class _PostingsCache:
    """Re-weighed posting lists, least recently used dropped past ``budget`` postings."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._rows: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, term: int) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            row = self._rows.get(term)
            if row is not None:
                self._rows.move_to_end(term)
            return row

    def put(self, term: int, row: tuple[np.ndarray, np.ndarray]) -> None:
        with self._lock:
            if term in self._rows:
                return
            self._rows[term] = row
            self._held += len(row[0])
            while self._held > self.budget and len(self._rows) > 1:
                _, dropped = self._rows.popitem(last=False)
                self._held -= len(dropped[0])


class _Vocabulary(Vocabulary):
    """Base terms keep their ids, the delta's new terms follow; iterated alphabetically."""

    def __init__(self, base: Vocabulary, delta: Vocabulary, mix: dict[str, np.ndarray]) -> None:
        self._base_terms, self._delta_terms = base, delta
        self._map, self._new, self._df = mix["term_map"], mix["new_terms"], mix["df"]
        self._order = mix["alphabetical"]
        self._size = len(self._order)
        self._blob = b""

    def term(self, term_id: int) -> str:
        base = len(self._base_terms)
        if term_id < base:
            return self._base_terms.term(term_id)
        return self._delta_terms.term(int(self._new[term_id - base]))

    def terms(self) -> list[str]:
        return [self.term(i) for i in self._order.tolist()]

    def get(self, term: str, default: int | None = None) -> int | None:  # type: ignore[override]
        found = self._base_terms.get(term)
        if found is None:
            local = self._delta_terms.get(term)
            found = None if local is None else int(self._map[local])
        return found if found is not None and self._df[found] > 0 else default


class _Sources(SourceTable):
    """Source metadata by corpus-order number, read from the segment that holds each source."""

    def __init__(self, index: SegmentedIndex) -> None:
        self._index = index
        self._blob = b""

    def __len__(self) -> int:
        return int(self._index._source_starts[-1])

    def _item(self, i: int) -> SourceMeta:
        """Source ``i`` from the segment that holds it (each segment keeps its own cache)."""
        index = self._index
        run = int(np.searchsorted(index._source_starts, i, side="right")) - 1
        which, _, _, first, _ = (int(v) for v in index._runs[run])
        segment = index.delta if which else index.base
        return segment.sources[i - int(index._source_starts[run]) + first]
