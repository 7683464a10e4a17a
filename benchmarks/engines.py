"""The engines under comparison, behind one small interface, and the per-engine worker process.

Every engine sees the *same* terms: ``bot.core.tokenizer.tokenize``. bm25s gets the token ids and
vocabulary directly; tantivy indexes the tokens joined by spaces with its ``whitespace`` tokenizer
(no lower-casing, no stemming, no length filter) and is queried with one term query per token.

Run as ``python -m benchmarks.engines '<json spec>'`` (see :func:`worker`): one engine per
process, so the peak RSS reported is that engine's alone.
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    Latency,
    dir_size_bytes,
    emit,
    peak_rss_mb,
    time_queries,
    timed,
)
from bot.core import bm25
from bot.core.tokenizer import tokenize
from tests.helpers import bm25_scores, reference_model, top_k

ENGINES = ("ours", "rank_bm25", "bm25s", "tantivy")
LABELS = {
    "ours": "newsbot (bot.core.bm25.search)",
    "ours_dense": "newsbot dense path (bm25.score + bm25.top_k)",
    "ours_ask": "newsbot Engine.ask + JSON (full answer)",
    "rank_bm25": "rank-bm25 get_scores + argsort",
    "bm25s": "bm25s (numba backend where installed, else numpy)",
    "tantivy": "tantivy (Rust, via tantivy-py)",
}
BM25S_METHOD = {"lucene": "lucene", "plus": "bm25+"}


def term_ids(docs: Sequence[Sequence[str]]) -> tuple[list[np.ndarray], dict[str, int]]:
    """Documents as arrays of term ids, with the vocabulary (term → id, in order of first use)."""
    vocab: dict[str, int] = {}
    ids = [np.array([vocab.setdefault(t, len(vocab)) for t in d], dtype=np.int32) for d in docs]
    return ids, vocab


class Ours:
    """This project's query path: ``bm25.search`` (top-k over the postings read).

    Falls back to ``top_k(bm25_scores(...))`` (tests.helpers) on a ``bot`` without ``bm25.search``.
    """

    name = "ours"

    def __init__(self, params: bm25.BM25Params) -> None:
        self.params = params
        self.postings: bm25.Postings | None = None
        self.vocabulary: Mapping[str, int] = {}

    def build(self, docs: Sequence[Sequence[str]]) -> None:
        """Postings straight from tokenized documents (one passage per document)."""
        doc_terms, self.vocabulary = term_ids(docs)
        self.postings, _, _ = bm25.build_postings(doc_terms, len(self.vocabulary), self.params)

    def use(self, postings: bm25.Postings, vocabulary: Mapping[str, int]) -> None:
        """Serve from a loaded index's postings and vocabulary."""
        self.postings, self.vocabulary = postings, vocabulary

    def query(self, query: Sequence[str]) -> tuple[list[int], list[int]]:
        """Term ids and counts of the query's known terms (what ``Engine.search`` passes on)."""
        vocab = self.vocabulary
        counts = Counter(t for t in query if t in vocab)
        return [vocab[t] for t in counts], list(counts.values())

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 scores of every passage (the dense path)."""
        assert self.postings is not None, "build() or use() first"
        return bm25_scores(self.postings, *self.query(query))

    def search(self, query: Sequence[str], k: int) -> np.ndarray:
        """Top ``k`` passage ids, best first."""
        assert self.postings is not None, "build() or use() first"
        if hasattr(bm25, "search"):
            return bm25.search(self.postings, *self.query(query), k)[0]
        return top_k(self.scores(query), k)

    def matched(self, query: Sequence[str]) -> tuple[int, int]:
        """(postings read, distinct passages containing a query term) for one query."""
        assert self.postings is not None, "build() or use() first"
        indptr, docs = self.postings.indptr, self.postings.docs
        rows = [self.vocabulary[t] for t in set(query) if t in self.vocabulary]
        parts = [docs[indptr[r] : indptr[r + 1]] for r in rows]
        if not parts:
            return 0, 0
        joined = np.concatenate(parts)
        return len(joined), len(np.unique(joined))

    def ids(self, raw: Any) -> list[int]:
        """Passage ids of a search result."""
        return [int(i) for i in raw]


class OursDense(Ours):
    """The dense path, ``top_k(bm25_scores(...))``: a score per passage, then a partition."""

    name = "ours_dense"

    def search(self, query: Sequence[str], k: int) -> np.ndarray:
        """Top ``k`` passage ids, best first, by scoring every passage."""
        return top_k(self.scores(query), k)


class RankBM25:
    """rank-bm25's ``get_scores`` (the reference scorer) and a full argsort for the top k."""

    name = "rank_bm25"

    def __init__(self, params: bm25.BM25Params) -> None:
        self.params = params
        self.model: Any = None

    def build(self, docs: Sequence[Sequence[str]]) -> None:
        """The rank_bm25 model for the variant (``bot.core.bm25.reference_model``)."""
        self.model = reference_model([list(d) for d in docs], self.params)

    def search(self, query: Sequence[str], k: int) -> np.ndarray:
        """Top ``k`` by a stable argsort (ties: earlier document first, like ``bm25.top_k``)."""
        scores = self.model.get_scores(list(query))
        return np.argsort(-scores, kind="stable")[:k]

    def ids(self, raw: Any) -> list[int]:
        """Document ids of a search result."""
        return [int(i) for i in raw]


class BM25S:
    """bm25s with its numpy backend, given our token ids; queried one at a time via ``retrieve``."""

    name = "bm25s"

    def __init__(self, params: bm25.BM25Params) -> None:
        method = BM25S_METHOD.get(params.variant)
        if method is None:
            raise ValueError(f"bm25s has no variant matching {params.variant!r}")
        self.params = params
        self.method = method
        self.retriever: Any = None

    def build(self, docs: Sequence[Sequence[str]]) -> None:
        """Index pre-tokenized documents (ids + vocabulary, no bm25s tokenizer involved)."""
        import bm25s
        from bm25s.tokenization import Tokenized

        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in docs]
        kwargs: dict[str, Any] = {"method": self.method, "k1": self.params.k1, "b": self.params.b}
        if self.method == "bm25+":
            kwargs["delta"] = self.params.delta
        self.retriever = bm25s.BM25(**kwargs, backend=_bm25s_backend())
        self.retriever.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)

    def save(self, directory: Path) -> None:
        """bm25s's own on-disk format (no corpus stored)."""
        self.retriever.save(str(directory))

    def load(self, directory: Path) -> None:
        """Load memory-mapped, the fastest way bm25s offers."""
        import bm25s

        self.retriever = bm25s.BM25.load(str(directory), mmap=True)
        self.retriever.backend = _bm25s_backend()
        if self.retriever.backend == "numba":
            self.retriever.activate_numba_scorer()

    def search(self, query: Sequence[str], k: int) -> np.ndarray:
        """Top ``k`` via the public ``retrieve``, one query at a time (no threads, no progress)."""
        known = [t for t in query if t in self.retriever.vocab_dict] or [""]
        docs, _ = self.retriever.retrieve([known], k=k, show_progress=False, n_threads=0)
        return docs[0]

    def ids(self, raw: Any) -> list[int]:
        """Document ids of a search result."""
        return [int(i) for i in raw]


def _bm25s_backend() -> str:
    """bm25s's numba backend when numba is installed (its fastest), else numpy."""
    from benchmarks.common import available

    return "numba" if available("numba") else "numpy"


class Tantivy:
    """tantivy (Lucene-like BM25, k1=1.2 b=0.75 fixed) over our terms; one segment, freqs only."""

    name = "tantivy"

    def __init__(self, params: bm25.BM25Params | None = None) -> None:
        self.index: Any = None
        self.searcher: Any = None
        self.schema: Any = None

    def build_at(self, docs: Sequence[Sequence[str]], directory: Path, threads: int = 1) -> None:
        """Write the index to ``directory`` (one writer thread, one commit, merges awaited)."""
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field(
            "body", stored=False, tokenizer_name="whitespace", index_option="freq"
        )
        builder.add_integer_field("pid", fast=True)
        self.schema = builder.build()
        directory.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(directory), reuse=False)
        writer = self.index.writer(heap_size=512_000_000, num_threads=threads)
        for pid, doc in enumerate(docs):
            writer.add_document(tantivy.Document(body=" ".join(doc), pid=pid))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def load(self, directory: Path) -> None:
        """Open the index and a searcher."""
        import tantivy

        self.index = tantivy.Index.open(str(directory))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()

    def search(self, query: Sequence[str], k: int) -> list[Any]:
        """Top ``k`` hits of a disjunction of term queries (a repeated term counts twice)."""
        import tantivy

        should = tantivy.Occur.Should
        clauses = [(should, tantivy.Query.term_query(self.schema, "body", t)) for t in query]
        return list(self.searcher.search(tantivy.Query.boolean_query(clauses), k, count=False).hits)

    def ids(self, raw: Any) -> list[int]:
        """Our passage ids of the hits (from the ``pid`` fast field; done outside the timing)."""
        if not raw:
            return []
        return [int(v) for v in self.searcher.fast_field_values("pid", [a for _, a in raw])]


# ---------------------------------------------------------------------------------------------
# Worker: one task for one engine in this process


def _import_engine_libs(engine: str) -> None:
    """Import what an engine needs (for the baseline RSS of an idle interpreter with it loaded)."""
    if engine in ("ours", "ours_ask", "ours_dense"):
        pass
    elif engine == "rank_bm25":
        import rank_bm25  # noqa: F401
    elif engine == "bm25s":
        import bm25s  # noqa: F401
    elif engine == "tantivy":
        import tantivy  # noqa: F401


def _read_json(path: str) -> Any:
    """A JSON file's content."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _task_build(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one engine's index; tokenization is inside the timing."""
    engine = spec["engine"]
    params = bm25.BM25Params(**spec.get("params", {}))
    out = Path(spec["index_dir"])
    shutil.rmtree(out, ignore_errors=True)
    result: dict[str, Any] = {"engine": engine}
    if engine == "ours":
        from bot.core.build import build_index

        report, seconds = timed(lambda: build_index(Path(spec["jsonl"]), out, params))
        result.update(
            build_s=seconds,
            passages=report.passages,
            sources=report.sources,
            vocabulary=report.vocabulary,
            problems=len(report.problems),
        )
    else:
        texts: list[str] = _read_json(spec["passages"])
        began = time.perf_counter()
        docs = [tokenize(t) for t in texts]
        tokenized = time.perf_counter()
        if engine == "rank_bm25":
            RankBM25(params).build(docs)
        elif engine == "bm25s":
            model = BM25S(params)
            model.build(docs)
            model.save(out)
        elif engine == "tantivy":
            Tantivy().build_at(docs, out, threads=int(spec.get("threads", 1)))
        else:
            raise ValueError(f"unknown engine {engine!r}")
        result.update(build_s=time.perf_counter() - began, tokenize_s=tokenized - began)
    import resource

    result["disk_bytes"] = dir_size_bytes(out) if out.exists() else None
    result["peak_rss_mb"] = peak_rss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["worker_peak_rss_mb"] = children  # tokenizer worker processes, if any
    return result


def _task_add_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Add one article to a built index's sources; seconds until a question quotes it."""
    from bot.core.pipeline.engine import Engine

    folder = Path(spec["sources"])
    article = folder / "zz-added-article.md"
    article.write_text(
        "---\ntitle: Added article\noutlet: Benchmark Times\n---\n\n"
        "Quokkas on Rottnest Island were counted by volunteers this week.\n",
        encoding="utf-8",
    )
    notes: list[str] = []
    began = time.perf_counter()
    answer = Engine.open(folder, Path(spec["index_dir"]), notify=notes.append).ask("quokka count")
    seconds = time.perf_counter() - began
    article.unlink()
    quoted = any(q.source.title == "Added article" for q in answer.quotes)
    return {"seconds": seconds, "quoted": quoted, "notes": notes, "peak_rss_mb": peak_rss_mb()}


def _ours_load_breakdown(index_dir: Path) -> dict[str, float]:
    """Seconds of ``load_index`` with only the cheap checks, and with every digest verified."""
    from bot.core.index import load_index

    _, cheap_s = timed(lambda: load_index(index_dir, deep=False))
    _, deep_s = timed(lambda: load_index(index_dir, deep=True))
    return {"cheap_s": cheap_s, "deep_s": deep_s}


def _task_query(spec: dict[str, Any]) -> dict[str, Any]:
    """Load one engine's index, then time the queries (tokenized beforehand, untimed)."""
    engine = spec["engine"]
    params = bm25.BM25Params(**spec.get("params", {}))
    k = int(spec.get("k", 10))
    rounds = int(spec.get("rounds", 1))
    questions: list[str] = _read_json(spec["queries"])[: int(spec.get("max_queries", 10**9))]
    index_dir = Path(spec["index_dir"])
    result: dict[str, Any] = {"engine": engine}
    if engine == "ours_ask":
        from bot.core.index import load_index
        from bot.core.pipeline.engine import Engine

        (index, index_s) = timed(lambda: load_index(index_dir))
        answerer, engine_s = timed(lambda: Engine(index))

        # Timed twice: cold (the first pass), then warm (medians of rounds after a warm-up).
        def ask_json(question: str) -> Any:  # what `ask --json` does per question
            answer = answerer.ask(question, k=3)
            json.dumps(answer.to_json(), ensure_ascii=False)
            return answer

        cold = []  # the first pass: every question new to this process, nothing warm
        for question in questions:
            began = time.perf_counter()
            ask_json(question)
            cold.append(time.perf_counter() - began)
        seconds, answers = time_queries(ask_json, questions, rounds=rounds, warmup=5)
        result.update(
            load_s=index_s + engine_s,
            cold=Latency.of(cold).to_dict(),
            latency=Latency.of(seconds).to_dict(),
            answered=sum(1 for a in answers if a.answered),
            top=[[q.passage_id for q in a.quotes] for a in answers],
            peak_rss_mb=peak_rss_mb(),
        )
        return result
    queries = [tokenize(q) for q in questions]
    searcher: Any
    load_s: float | None
    if engine in ("ours", "ours_dense"):
        from bot.core.index import load_index

        index, load_s = timed(lambda: load_index(index_dir))
        searcher = Ours(index.params) if engine == "ours" else OursDense(index.params)
        searcher.use(index.postings, index.vocabulary)
    elif engine == "rank_bm25":
        texts: list[str] = _read_json(spec["passages"])
        searcher = RankBM25(params)
        searcher.build([tokenize(t) for t in texts])
        del texts
        load_s = None  # in-memory only: rank-bm25 has no index file to load
    elif engine == "bm25s":
        searcher = BM25S(params)
        _, load_s = timed(lambda: searcher.load(index_dir))
    elif engine == "tantivy":
        searcher = Tantivy()
        _, load_s = timed(lambda: searcher.load(index_dir))
    else:
        raise ValueError(f"unknown engine {engine!r}")
    gc.collect()
    seconds, raws = time_queries(lambda q: searcher.search(q, k), queries, rounds=rounds)
    result.update(
        load_s=load_s,
        latency=Latency.of(seconds).to_dict(),
        top=[searcher.ids(r) for r in raws],
        peak_rss_mb=peak_rss_mb(),
    )
    if engine == "ours":
        dense = OursDense(index.params)
        dense.use(index.postings, index.vocabulary)
        score_s, _ = time_queries(dense.scores, queries, rounds=rounds)
        all_scores = [dense.scores(q) for q in queries[:50]]
        topk_s, _ = time_queries(lambda s: top_k(s, k), all_scores, rounds=rounds)
        matched = [searcher.matched(q) for q in queries]
        result["breakdown"] = {
            "dense_score_p50_ms": Latency.of(score_s).p50_ms,
            "dense_top_k_p50_ms": Latency.of(topk_s).p50_ms,
            "postings_read_p50": float(np.median([m[0] for m in matched])) if matched else 0.0,
            "matched_p50": float(np.median([m[1] for m in matched])) if matched else 0.0,
            "n_docs": index.size,
            "postings": len(index.postings.docs),
            "load": _ours_load_breakdown(index_dir),
        }
    return result


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one task: ``baseline`` (idle, engine imported), ``build`` or ``query``."""
    task = spec["task"]
    if task == "baseline":
        _import_engine_libs(spec["engine"])
        return {"engine": spec["engine"], "peak_rss_mb": peak_rss_mb()}
    if task == "build":
        return _task_build(spec)
    if task == "query":
        return _task_query(spec)
    if task == "add_one":
        return _task_add_one(spec)
    raise ValueError(f"unknown task {task!r}")


if __name__ == "__main__":
    emit(worker(json.loads(sys.argv[1])))
