"""BM25: the idf behaviour we chose, and equivalence with rank_bm25 (the reference)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from bot.core import bm25
from bot.core.assemble import Assembler, chunk_of
from bot.core.bm25 import VARIANTS, BM25Params, Postings, _dominated, build_postings, idf, search
from tests.helpers import bm25_scores, reference_model, top_k


def test_okapi_idf_trap_and_why_lucene_is_used() -> None:
    """rank_bm25's Okapi idf is 0 at half the passages, floored above; Lucene's stays positive."""
    n = 10
    df = np.array([1, 5, 8, 10])
    okapi = idf(BM25Params(variant="okapi"), df, n)
    assert okapi[1] == pytest.approx(0.0)  # "japan" in half the passages: worth nothing
    raw = np.log(n - df + 0.5) - np.log(df + 0.5)
    floor = 0.25 * raw.mean()
    assert okapi[2] == pytest.approx(floor) and okapi[3] == pytest.approx(floor)
    lucene = idf(BM25Params(variant="lucene"), df, n)
    assert np.all(lucene > 0) and np.all(np.diff(lucene) < 0)  # positive, rarer is worth more
    assert lucene[1] == pytest.approx(np.log(2))


def test_default_is_bm25_plus_whose_idf_never_hits_zero() -> None:
    params = BM25Params()
    assert (params.variant, params.k1, params.b, params.delta) == ("plus", 1.2, 0.75, 1.0)
    plus = idf(params, np.array([1, 5, 8, 10]), 10)
    assert np.all(plus > 0) and np.all(np.diff(plus) < 0)
    assert plus[1] == pytest.approx(np.log(11 / 5))  # "japan" in half the passages still counts


def test_common_term_still_counts_with_the_default() -> None:
    """With a term in every passage, the passage that has more of it still ranks first."""
    corpus = [["japan", "russia"], ["japan", "japan", "russia", "talk"], ["japan", "russia", "tea"]]
    vocab = {t: i for i, t in enumerate(sorted({t for d in corpus for t in d}))}
    docs = [np.array([vocab[t] for t in d]) for d in corpus]
    for variant in ("plus", "lucene"):
        postings, _, _ = build_postings(docs, len(vocab), BM25Params(variant=variant))
        scores = bm25_scores(postings, [vocab["japan"]], [1.0])
        assert scores[1] > scores[0] > 0
    postings, _, _ = build_postings(docs, len(vocab), BM25Params(variant="okapi"))
    okapi = bm25_scores(postings, [vocab["japan"]], [1.0])
    assert okapi[1] < okapi[0] < 0  # the trap: the floor is negative here, so more is worse


def _random_corpus(rng: random.Random, n_docs: int, vocab_size: int) -> list[list[str]]:
    words = [f"w{i}" for i in range(vocab_size)]
    weights = [1 / (i + 1) for i in range(vocab_size)]  # Zipf-like: some terms in most docs
    return [rng.choices(words, weights, k=rng.randint(0, 40)) for _ in range(n_docs)]


def _random_case(variant: str, seed: int) -> tuple[random.Random, list[list[str]], BM25Params]:
    """A seeded generator, a random corpus and random parameters for one variant."""
    rng = random.Random(seed)
    corpus = _random_corpus(rng, rng.randint(50, 400), rng.randint(20, 300))
    params = BM25Params(variant=variant, k1=rng.choice([0.9, 1.2, 1.5]), b=rng.choice([0.3, 0.75]))
    return rng, corpus, params


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scores_match_rank_bm25(variant: str, seed: int) -> None:
    rng, corpus, params = _random_case(variant, seed)
    vocab = {t: i for i, t in enumerate(sorted({t for d in corpus for t in d}))}
    postings, _, _ = build_postings(
        [np.array([vocab[t] for t in d], dtype=np.int32) for d in corpus], len(vocab), params
    )
    reference = reference_model(corpus, params)
    for _ in range(40):
        query = rng.choices([*vocab, "unseen"], k=rng.randint(1, 6))
        counts: dict[str, int] = {}
        for term in query:
            if term in vocab:
                counts[term] = counts.get(term, 0) + 1
        ours = bm25_scores(postings, [vocab[t] for t in counts], list(counts.values()))
        theirs = np.asarray(reference.get_scores(query))
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        expected = np.lexsort((np.arange(len(theirs)), -theirs))[:10]
        got = top_k(ours, 10)
        fast, fast_scores = search(postings, [vocab[t] for t in counts], list(counts.values()), 10)
        assert list(fast) == list(got)  # the sparse path ranks exactly like the dense one
        np.testing.assert_allclose(fast_scores, theirs[fast], rtol=1e-9, atol=1e-12)
        # identical top-10, up to passages whose scores tie exactly (to 1e-12)
        assert np.allclose(theirs[got], theirs[expected], rtol=0, atol=1e-12)
        assert list(got) == list(expected) or len(set(np.round(theirs[expected], 9))) < 10


def test_top_k_orders_by_score_then_position() -> None:
    scores = np.array([1.0, 3.0, 3.0, 0.5, 2.0])
    assert list(top_k(scores, 3)) == [1, 2, 4]
    assert list(top_k(scores, 10)) == [1, 2, 4, 0, 3]
    assert list(top_k(np.zeros(0), 3)) == []


def test_search_fills_with_tied_unmatched_passages_like_the_reference() -> None:
    corpus = [["a"], ["b"], ["c"], ["a", "b"]]
    vocab = {"a": 0, "b": 1, "c": 2}
    docs = [np.array([vocab[t] for t in d]) for d in corpus]
    postings, _, _ = build_postings(docs, 3, BM25Params(variant="plus"))
    ids, scores = search(postings, [vocab["c"]], [1.0], 3)
    reference = np.asarray(reference_model(corpus, BM25Params(variant="plus")).get_scores(["c"]))
    assert list(ids) == [2, 0, 1]
    np.testing.assert_allclose(scores, reference[[2, 0, 1]], rtol=1e-12)


def _assembled(
    corpus: list[list[str]], params: BM25Params, chunk: int = 37
) -> tuple[Postings, dict[str, int]]:
    """The stored index's matrices (float32 weights), assembled in chunks as a rebuild does."""
    assembler = Assembler()
    for lo in range(0, len(corpus), chunk):
        part = corpus[lo : lo + chunk]
        assembler.add(chunk_of(part, len(part)))
    m = assembler.finish(params)
    vocab = {t: i for i, t in enumerate(m.terms)}
    assert list(vocab) == sorted(vocab)
    return Postings(m.indptr, m.docs, m.weights, m.zero, len(m.doc_len)), vocab


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [4, 5, 6])
def test_float32_index_ranks_like_rank_bm25(variant: str, seed: int) -> None:
    """float32 weights: scores within 1e-6 of rank_bm25's, the same top 10 up to closer ties."""
    rng, corpus, params = _random_case(variant, seed)
    postings, vocab = _assembled(corpus, params)
    assert postings.weights.dtype == np.float32
    reference = reference_model(corpus, params)
    for _ in range(40):
        query = rng.choices([*vocab, "unseen"], k=rng.randint(1, 6))
        counts = Counter(t for t in query if t in vocab)
        theirs = np.asarray(reference.get_scores(query))
        ids, ours = search(postings, [vocab[t] for t in counts], list(counts.values()), 10)
        np.testing.assert_allclose(ours, theirs[ids], rtol=1e-6, atol=1e-6)
        expected = np.lexsort((np.arange(len(theirs)), -theirs))[:10]
        for got, want in zip(ids, expected, strict=True):  # a swap only between near-ties
            assert got == want or abs(theirs[got] - theirs[want]) <= 1e-5 * abs(theirs[want])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [7, 8])
def test_a_dominating_term_ranks_exactly_as_the_full_pass(variant: str, seed: int) -> None:
    """One term weighed far above the rest (a typo candidate among the question's words): only
    its passages are scored, and the top k and its scores are the full pass's, ties included."""
    rng, corpus, params = _random_case(variant, seed)
    corpus = [*corpus, *corpus[:60]]  # repeated passages: exact ties, broken by position
    postings, _ = _assembled(corpus, params)
    df = np.diff(postings.indptr)
    common = [t for t in np.argsort(-df, kind="stable")[:8].tolist() if df[t] > len(corpus) // 4]
    rare = [t for t in range(len(df)) if 10 <= df[t] <= len(corpus) // 20]
    assert common and rare
    fast = 0
    for _ in range(30):
        others = rng.sample(common, rng.randint(1, len(common)))
        query = {**dict.fromkeys(others, 0.01), rng.choice(rare): 1.0}
        terms, counts = list(query), list(query.values())
        constant = sum(c * postings.zero[t] for t, c in query.items())
        fast += _dominated(postings, terms, counts, 10, constant) is not None
        ids, scores = search(postings, terms, counts, 10)
        full_ids, full_scores = search(postings, terms, counts, 10, np.ones(len(corpus)))
        assert list(ids) == list(full_ids)
        assert np.array_equal(scores, full_scores)
    assert fast > 0


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [9, 10])
def test_the_pruned_selection_keeps_the_exact_top_k(
    variant: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only entries at or above a floor (the k-th best passage of a long-enough posting list)
    are ranked: the top k and its scores stay those of scoring every passage, exact ties
    (repeated passages) and kind multipliers included, for small and large k."""
    monkeypatch.setattr(bm25, "FLOOR_MIN_ENTRIES", 0)  # the floor for these small lists too
    rng, corpus, params = _random_case(variant, seed)
    corpus = [*corpus, *corpus[:80], *corpus[:40]]  # repeated passages: exact ties
    postings, vocab = _assembled(corpus, params)
    multiplier = np.array([rng.choice([1.0, 0.5, 0.25]) for _ in corpus])
    for _ in range(30):
        counts = Counter(t for t in rng.choices([*vocab], k=rng.randint(1, 6)))
        terms, weights = [vocab[t] for t in counts], list(counts.values())
        dense = bm25_scores(postings, terms, weights)
        matched = np.unique(
            np.concatenate(
                [postings.docs[postings.indptr[t] : postings.indptr[t + 1]] for t in terms]
            )
        )
        for k in (1, 3, 10, 50):
            ids, scores = search(postings, terms, weights, k)
            assert list(ids) == list(top_k(dense, k))
            assert np.array_equal(scores, dense[ids])
            ids, scores = search(postings, terms, weights, k, multiplier)
            weighed = dense[matched] * multiplier[matched]
            assert list(ids) == list(matched[top_k(weighed, k)])
            assert np.array_equal(scores, dense[ids] * multiplier[ids])
