"""BM25 as precomputed term×passage weights, scored exactly as ``rank_bm25`` would score them.

``rank_bm25`` is the reference: the tests (``tests.helpers.reference_model``) prove that the
scores here match its ``get_scores``. Serving from precomputed weights is what keeps a query fast
on a large archive (``get_scores`` walks every document per term).

Every variant is written as ``score(q, d) = Σ_t count_q(t) · (zero[t] + W[t, d])``, where ``W`` is
sparse (non-zero only where ``t`` occurs in ``d``) and ``zero[t]`` is what a passage *without* the
term still gets (non-zero only for BM25+), a constant for every passage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from bot.core.streams import offsets

VARIANTS = ("lucene", "okapi", "plus", "l")


@dataclass(frozen=True)
class BM25Params:
    """Which BM25 and its parameters; stored in the index manifest."""

    variant: str = "plus"  # chosen by `python -m bot eval --sweep` (README, "Evaluation")
    k1: float = 1.2
    b: float = 0.75
    delta: float = 1.0  # BM25+ / BM25L lower bound
    epsilon: float = 0.25  # Okapi's idf floor, as a fraction of the mean idf

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(
                f"unknown BM25 variant {self.variant!r} (one of {', '.join(VARIANTS)})"
            )

    def to_dict(self) -> dict[str, float | str]:
        """JSON-ready form for the manifest."""
        return asdict(self)


def idf(params: BM25Params, df: np.ndarray, n_docs: int) -> np.ndarray:
    """Inverse document frequency per term, as the chosen ``rank_bm25`` variant computes it.

    ``okapi`` is rank_bm25's BM25Okapi: ln((N−n+0.5)/(n+0.5)) is zero for a term in half the
    passages and negative above, floored to epsilon·mean. ``lucene`` uses Lucene's
    ln(1 + (N−n+0.5)/(n+0.5)), which stays positive and keeps common terms worth a little.
    """
    df = df.astype(np.float64)
    if params.variant == "okapi":
        values = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        floor = params.epsilon * (float(values.sum()) / len(values)) if len(values) else 0.0
        return np.where(values < 0, floor, values)
    if params.variant == "lucene":
        return np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    if params.variant == "plus":
        return np.log((n_docs + 1) / df)
    return np.log(n_docs + 1) - np.log(df + 0.5)


def weights(
    params: BM25Params, tf: np.ndarray, doc_len: np.ndarray, avgdl: float, term_idf: np.ndarray
) -> np.ndarray:
    """``W[t, d]`` for postings with term frequency ``tf`` in passages of length ``doc_len``."""
    k1, b = params.k1, params.b
    tf = tf.astype(np.float64)
    norm = 1 - b + b * doc_len / avgdl
    if params.variant in ("okapi", "lucene"):
        return term_idf * (tf * (k1 + 1) / (tf + k1 * norm))
    if params.variant == "plus":
        return term_idf * (tf * (k1 + 1)) / (k1 * norm + tf)
    ctd = tf / norm
    return term_idf * tf * (k1 + 1) * (ctd + params.delta) / (k1 + ctd + params.delta)


def zero_weights(params: BM25Params, term_idf: np.ndarray) -> np.ndarray:
    """What a passage lacking the term scores for it (BM25+'s idf·delta; zero otherwise)."""
    if params.variant == "plus":
        return term_idf * params.delta
    return np.zeros_like(term_idf)


@dataclass(frozen=True)
class Postings:
    """Term-major sparse matrix (CSR): row ``t`` holds ``docs[indptr[t]:indptr[t+1]]``."""

    indptr: np.ndarray  # int64, vocabulary size + 1
    docs: np.ndarray  # int32 passage ids, ascending within a row
    weights: np.ndarray  # W[t, d]: float32 in a stored index, float64 from build_postings
    zero: np.ndarray  # float64 per term
    n_docs: int
    tf: np.ndarray | None = None  # int32 term frequencies (a stored index has them)
    # each term's smallest and largest weight, found when a query first needs them
    extremes: dict[int, tuple[float, float]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Forward:
    """Passage-major term counts (CSR): passage ``d`` has ``terms[indptr[d]:indptr[d+1]]``.

    Term ids ascend within a passage; ``counts`` are their frequencies in it. Built beside the
    postings so the answer pipeline never re-tokenizes a candidate passage.
    """

    indptr: np.ndarray  # int64, passages + 1
    terms: np.ndarray  # int32 term ids
    counts: np.ndarray  # int32 term frequencies


def build_postings(
    doc_terms: Sequence[np.ndarray], vocab_size: int, params: BM25Params
) -> tuple[Postings, np.ndarray, np.ndarray]:
    """Weights for passages given as arrays of term ids; also returns idf and passage lengths."""
    n_docs = len(doc_terms)
    doc_len = np.fromiter((len(t) for t in doc_terms), dtype=np.int64, count=n_docs)
    if n_docs == 0 or vocab_size == 0:
        empty = Postings(
            np.zeros(vocab_size + 1, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros(0), 0
        )
        return empty, np.zeros(vocab_size), doc_len
    terms = np.concatenate(doc_terms).astype(np.int64)
    owners = np.repeat(np.arange(n_docs, dtype=np.int64), doc_len)
    pairs, tf = np.unique(terms * n_docs + owners, return_counts=True)
    term_of = pairs // n_docs
    docs = (pairs % n_docs).astype(np.int32)
    df = np.bincount(term_of, minlength=vocab_size)
    indptr = offsets(df)
    avgdl = float(doc_len.sum()) / n_docs
    term_idf = idf(params, df, n_docs)
    w = weights(params, tf, doc_len[docs], avgdl, term_idf[term_of])
    postings = Postings(indptr, docs, w, zero_weights(params, term_idf), n_docs)
    return postings, term_idf, doc_len


DOMINANT = 10.0  # query weights this far apart: try the dominating term's passages alone
FLOOR_MIN_ENTRIES = 3000  # fewer posting entries than this: partitioning them all costs less


def search(
    postings: Postings,
    term_ids: Sequence[int],
    counts: Sequence[float],
    k: int,
    multiplier: np.ndarray | None = None,
    *,
    fill: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best passages and their scores: every passage's score, multiplied by ``m``, then
    the ``k`` best (ties to the earlier passage), computed over the matched passages only.

    Only passages in the query terms' postings are ranked (the rest all score the BM25+
    constant), so the cost follows the postings read, not the size of the archive. With
    ``fill=False`` (or a multiplier) passages matching no query term are never returned.
    Only the entries at or above :func:`score_floor` are ranked. When one term outweighs all
    the others together, only its passages are scored (:func:`_dominated`).
    """
    constant = 0.0
    parts, weighted = [], []
    indptr = postings.indptr
    for term, count in zip(term_ids, counts, strict=True):
        constant += count * postings.zero[term]
    if multiplier is None and len(term_ids) > 1 and max(counts) > DOMINANT * min(counts):
        dominated = _dominated(postings, term_ids, counts, k, constant)
        if dominated is not None:
            return dominated
    for term, count in zip(term_ids, counts, strict=True):
        lo, hi = indptr[term], indptr[term + 1]
        parts.append(postings.docs[lo:hi])
        weights = postings.weights[lo:hi]
        weighted.append(weights if count == 1 else count * weights)  # 1 × w is w: no copy
    candidates = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    # One pass adds every posting to its passage, in query-term order (as term-by-term adds do)
    scores = np.bincount(
        candidates, np.concatenate(weighted) if weighted else None, minlength=postings.n_docs
    )
    values = finished(scores, candidates, constant, multiplier)
    candidates, values = best_entries(
        candidates,
        values,
        score_floor(scores, parts, counts, k, constant, multiplier),
        k * max(len(parts), 1),
    )
    ids, best = ranked(candidates, values, k)
    missing = min(k, postings.n_docs) - len(ids)
    if missing > 0 and fill and multiplier is None:  # the rest tie at the constant, earliest first
        rest = np.setdiff1d(np.arange(postings.n_docs), ids, assume_unique=True)[:missing]
        ids = np.concatenate([ids, rest])
        best = np.concatenate([best, np.full(len(rest), constant)])
    return ids, best


def finished(
    scores: np.ndarray, ids: np.ndarray, constant: float, multiplier: np.ndarray | None
) -> np.ndarray:
    """The finished score of passages ``ids`` from their summed weights in ``scores``."""
    values = scores[ids]
    values += constant
    if multiplier is not None:
        values *= multiplier[ids]
    return values


def score_floor(
    scores: np.ndarray,
    parts: Sequence[np.ndarray],
    counts: Sequence[float],
    k: int,
    constant: float,
    multiplier: np.ndarray | None,
) -> float | None:
    """A score the ``k``-th best passage reaches for certain, or None when no posting list
    holds ``k`` passages.

    A term's passages are distinct, so the ``k``-th best finished score among them is one.
    Read from the (at most) two lists of ``k`` or more passages whose terms weigh most for their
    rarity (``count × ln(N / df)``, an idf's shape: their passages score high) and the higher
    taken. Keeping only the entries at or above it is cheaper than partitioning every entry
    once a query reads :data:`FLOOR_MIN_ENTRIES` (callgrind, the benchmark's 300 queries: at 10k
    passages, ~700 entries a query, the floor cost 12% more instructions; at 124k, 9,000, it saves
    8%, 10% with the threshold, flat from 1,500 to 6,000).
    """
    if sum(map(len, parts)) < FLOOR_MIN_ENTRIES:
        return None  # partitioning so few entries costs less than finding the floor
    n_docs = len(scores)
    rows = [
        (count * math.log(n_docs / len(part)), j)
        for j, (part, count) in enumerate(zip(parts, counts, strict=True))
        if len(part) >= max(k, 1)
    ]
    floors = []
    for _, j in sorted(rows, reverse=True)[:2]:
        values = finished(scores, parts[j], constant, multiplier)
        floors.append(float(np.partition(values, len(values) - k)[len(values) - k]))
    return max(floors) if floors and k > 0 else None


def best_entries(
    candidates: np.ndarray, values: np.ndarray, floor: float | None, want: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (passage, score) entries that can be among the best: those at or above ``floor``
    (a score the ``k``-th best reaches), and of those the :func:`contenders` of ``want``."""
    if floor is not None:
        above = values >= floor
        candidates, values = candidates[above], values[above]
    keep = contenders(values, want)
    return candidates[keep], values[keep]


def contenders(values: np.ndarray, want: int) -> np.ndarray | slice:
    """Which score entries can be among the best: the ``want`` highest and every tie with them.

    A passage appears once per query term it contains, so ``k`` times the number of terms
    entries always hold the ``k`` best passages.
    """
    if want >= len(values):
        return slice(None)
    threshold = np.partition(values, len(values) - want)[len(values) - want]
    return values >= threshold


def ranked(candidates: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best distinct passages of (passage, score) entries, ties to the earlier passage."""
    order = np.lexsort((candidates, -values))
    candidates, values = candidates[order], values[order]
    first = np.ones(len(candidates), dtype=bool)
    first[1:] = candidates[1:] != candidates[:-1]
    return candidates[first][:k].astype(np.int64), values[first][:k]


def _dominated(
    postings: Postings, term_ids: Sequence[int], counts: Sequence[float], k: int, constant: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`search`'s top ``k`` when one term's smallest weight beats the others' largest
    all added up (a typo candidate among the question's other words, weighed 1 against 0.01):
    every passage holding it outscores every passage without it, so only its passages are
    scored, the others' weights looked up (binary search) and added in the same order. None
    when no term does, when it holds fewer than ``k`` passages, or when they are not few."""
    if min(counts) <= 0:
        return None
    indptr = postings.indptr
    spread = [_extremes(postings, int(term)) for term in term_ids]
    if min(low for low, _ in spread) < 0:
        return None
    bounds = [count * high for count, (_, high) in zip(counts, spread, strict=True)]
    heavy = max(range(len(counts)), key=lambda j: counts[j] * spread[j][0])
    others = (sum(bounds) - bounds[heavy]) * (1 + 1e-6) + 1e-12
    lo, hi = int(indptr[term_ids[heavy]]), int(indptr[term_ids[heavy] + 1])
    read = sum(int(indptr[t + 1] - indptr[t]) for t in term_ids)
    if counts[heavy] * spread[heavy][0] * (1 - 1e-6) <= others or not k <= hi - lo <= read // 4:
        return None
    docs = np.asarray(postings.docs[lo:hi])
    scores = np.zeros(len(docs))
    for term, count in zip(term_ids, counts, strict=True):  # query order, as the full pass adds
        t_lo, t_hi = int(indptr[term]), int(indptr[term + 1])
        held = np.asarray(postings.docs[t_lo:t_hi])
        if not len(held):
            continue
        at = np.minimum(np.searchsorted(held, docs), len(held) - 1)
        hit = held[at] == docs
        scores[hit] += count * np.asarray(postings.weights[t_lo:t_hi])[at[hit]]
    values = scores + constant
    keep = contenders(values, k)
    return ranked(docs[keep], values[keep], k)


def _extremes(postings: Postings, term: int) -> tuple[float, float]:
    """A term's smallest and largest weight (0, 0 for none), computed once per term."""
    found = postings.extremes.get(term)
    if found is None:
        weights = np.asarray(postings.weights[postings.indptr[term] : postings.indptr[term + 1]])
        found = (float(weights.min()), float(weights.max())) if len(weights) else (0.0, 0.0)
        postings.extremes[term] = found
    return found
