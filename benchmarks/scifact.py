"""SciFact (BEIR test): retrieval quality and speed of newsbot vs rank-bm25, bm25s and tantivy.

Usage::

    PYTHONPATH=. python benchmarks/scifact.py          # full run: grid, engines, ablation (~1 min)
    PYTHONPATH=. python benchmarks/scifact.py --quick  # smoke run: 50 queries, 3 settings

Whole documents (BEIR: title + " " + the abstract's sentences), one passage per document, all
engines fed the terms of ``bot.core.tokenizer.tokenize``. Reports nDCG@10 and Recall@100 over
the 300
test queries, index build time (from tokens; tokenization is timed once, separately) and query
latency (top-100, the list the metrics are computed from).
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import re
import statistics
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    DATA,
    Latency,
    available,
    fmt,
    machine_description,
    markdown_table,
    time_queries,
    timed,
    write_results,
)
from benchmarks.engines import BM25S, BM25S_METHOD, Ours, RankBM25, Tantivy
from benchmarks.proposals import clear_tokenizer_caches
from benchmarks.scale import params_text
from bot.core import bm25
from bot.core import tokenizer as tokenizer_module
from bot.core.bm25 import BM25Params

SCIFACT = DATA / "scifact"
TARGET_NDCG = 0.690
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
GRID_K1 = (0.9, 1.2, 1.5)
GRID_B = (0.5, 0.75, 0.9)
DEFAULT_LUCENE = BM25Params("lucene", 1.2, 0.75)
REFERENCE_OKAPI = BM25Params("okapi", 1.5, 0.75)  # the data README's 0.684


@dataclass(frozen=True)
class SciFact:
    """Corpus, queries and judgments."""

    doc_ids: list[str]
    docs: list[str]
    query_ids: list[str]
    queries: list[str]
    qrels: dict[str, dict[str, int]]


def parse_abstract(raw: str) -> list[str]:
    """Sentences of a numpy-repr abstract (``['s1'\\n 's2' ...]``) via string literals."""
    return [ast.literal_eval(m.group()) for m in _STRING_LITERAL.finditer(raw)]


def load_scifact(root: Path = SCIFACT) -> SciFact:
    """Read the BEIR SciFact test split from the files described in shared/data/README.md."""
    csv.field_size_limit(1 << 30)
    doc_ids: list[str] = []
    docs: list[str] = []
    with (root / "corpus_train.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            doc_ids.append(row["doc_id"])
            docs.append(row["title"] + " " + " ".join(parse_abstract(row["abstract"])))
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            if line.strip():
                qid, did, score = line.rstrip("\n").split("\t")
                qrels.setdefault(qid, {})[did] = int(score)
    claims: dict[str, str] = {}
    with (root / "claims_validation.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            claims.setdefault(row["id"], row["claim"])
    query_ids = sorted(qrels, key=int)
    return SciFact(doc_ids, docs, query_ids, [claims[q] for q in query_ids], qrels)


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with the judgment value as gain (binary here), like pytrec_eval."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the first ``k``."""
    positive = {d for d, g in relevant.items() if g > 0}
    return len(positive & set(ranked[:k])) / len(positive) if positive else 0.0


def evaluate(
    data: SciFact, rankings: Sequence[Sequence[int]], query_ids: Sequence[str]
) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@100 of document-index rankings for the given queries."""
    ndcg, recall = [], []
    for qid, ranked in zip(query_ids, rankings, strict=True):
        ids = [data.doc_ids[i] for i in ranked]
        ndcg.append(ndcg_at(ids, data.qrels[qid]))
        recall.append(recall_at(ids, data.qrels[qid]))
    return statistics.fmean(ndcg), statistics.fmean(recall)


@dataclass
class EngineResult:
    """One engine at one BM25 setting."""

    engine: str
    setting: str
    ndcg: float
    recall: float
    build_s: float
    latency: Latency
    rankings: list[list[int]]


def run_engine(
    name: str,
    setting: str,
    make: Callable[..., Any],
    build: Callable[[Any], None],
    queries: Sequence[list[str]],
    data: SciFact,
    query_ids: Sequence[str],
    rounds: int,
) -> EngineResult:
    """Build an engine from tokens, time its top-100 queries, score the rankings."""
    engine = make()
    _, build_s = timed(lambda: build(engine))
    seconds, raws = time_queries(lambda q: engine.search(q, 100), queries, rounds=rounds)
    rankings = [engine.ids(r) for r in raws]
    ndcg, recall = evaluate(data, rankings, query_ids)
    return EngineResult(name, setting, ndcg, recall, build_s, Latency.of(seconds), rankings)


def grid(
    docs: Sequence[list[str]], queries: Sequence[list[str]], data: SciFact, ids: Sequence[str]
) -> list[tuple[BM25Params, float, float]]:
    """nDCG@10 and Recall@100 of our scorer for every variant × k1 × b of the grid."""
    results = []
    for variant in bm25.VARIANTS:
        for k1 in GRID_K1:
            for b in GRID_B:
                params = BM25Params(variant, k1, b)
                ours = Ours(params)
                ours.build(docs)
                rankings = [ours.ids(ours.search(q, 100)) for q in queries]
                results.append((params, *evaluate(data, rankings, ids)))
    return results


@contextmanager
def patched_tokenizer(keep_stop_words: bool = False, stem: bool = True) -> Any:
    """Temporarily change ``bot.core.tokenizer`` *in this process only* (for the ablation table)."""
    module: Any = tokenizer_module
    saved_stop, saved_stemmer = module.STOP_WORDS, module._STEMMER

    class _Identity:
        """A stemmer that does not stem."""

        def stemWord(self, word: str) -> str:
            """The word unchanged."""
            return word

    try:
        if keep_stop_words:
            module.STOP_WORDS = frozenset()
        if not stem:
            module._STEMMER = _Identity()
        clear_tokenizer_caches()
        yield
    finally:
        module.STOP_WORDS, module._STEMMER = saved_stop, saved_stemmer
        clear_tokenizer_caches()


def ablation(data: SciFact, ids: Sequence[str], settings: Sequence[BM25Params]) -> list[list[str]]:
    """nDCG@10 with tokenizer choices changed (stop words kept; no stemming), our scorer."""
    rows = []
    variants = {
        "as shipped (stop words dropped, Snowball stemming)": {},
        "keep stop words": {"keep_stop_words": True},
        "no stemming": {"stem": False},
    }
    for label, change in variants.items():
        with patched_tokenizer(**change):
            docs = [tokenizer_module.tokenize(d) for d in data.docs]
            queries = [tokenizer_module.tokenize(q) for q in data.queries if q][: len(ids)]
        cells = [label]
        for params in settings:
            ours = Ours(params)
            ours.build(docs)
            rankings = [ours.ids(ours.search(q, 100)) for q in queries]
            ndcg, recall = evaluate(data, rankings, ids)
            cells.append(f"{ndcg:.4f} / {recall:.4f}")
        rows.append(cells)
    return rows


def agreement(ours: Sequence[Sequence[int]], reference: Sequence[Sequence[int]]) -> str:
    """How many queries have the same top-10 (in order; and as a set) in both rankings."""
    ordered = sum(1 for a, b in zip(ours, reference, strict=True) if list(a[:10]) == list(b[:10]))
    as_set = sum(1 for a, b in zip(ours, reference, strict=True) if set(a[:10]) == set(b[:10]))
    return f"{ordered}/{len(ours)} in order, {as_set}/{len(ours)} as sets"


def main() -> None:
    """Run the grid, the engine comparison and the ablation; print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="50 queries, 3 settings, no grid")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3

    data = load_scifact()
    n_queries = 50 if args.quick else len(data.query_ids)
    ids = data.query_ids[:n_queries]
    docs, tokenize_s = timed(lambda: [tokenizer_module.tokenize(d) for d in data.docs])
    queries = [tokenizer_module.tokenize(q) for q in data.queries[:n_queries]]

    sections = [machine_description()]
    project_default = BM25Params()
    if args.quick:
        best = DEFAULT_LUCENE
        grid_rows: list[tuple[BM25Params, float, float]] = []
    else:
        grid_rows, grid_s = timed(lambda: grid(docs, queries, data, ids))
        best = max(grid_rows, key=lambda r: r[1])[0]
    settings: list[BM25Params] = []
    for params in (DEFAULT_LUCENE, best, REFERENCE_OKAPI, project_default):
        if params not in settings:
            settings.append(params)

    results: list[EngineResult] = []
    for params in settings:
        setting = params_text(params)
        results.append(
            run_engine(
                "newsbot",
                setting,
                lambda p=params: Ours(p),
                lambda e: e.build(docs),
                queries,
                data,
                ids,
                rounds,
            )
        )
        results.append(
            run_engine(
                "rank-bm25",
                setting,
                lambda p=params: RankBM25(p),
                lambda e: e.build(docs),
                queries,
                data,
                ids,
                1,
            )
        )
        if available("bm25s") and params.variant in BM25S_METHOD:
            results.append(
                run_engine(
                    "bm25s",
                    setting,
                    lambda p=params: BM25S(p),
                    lambda e: e.build(docs),
                    queries,
                    data,
                    ids,
                    rounds,
                )
            )
    if available("tantivy"):
        with tempfile.TemporaryDirectory(prefix="newsbot-scifact-tantivy-") as tmp:
            results.append(
                run_engine(
                    "tantivy",
                    "Lucene BM25 k1=1.2 b=0.75 (fixed)",
                    Tantivy,
                    lambda e: e.build_at(docs, Path(tmp)),
                    queries,
                    data,
                    ids,
                    rounds,
                )
            )

    reference = {r.setting: r.rankings for r in results if r.engine == "rank-bm25"}
    ours_by_setting = {r.setting: r.rankings for r in results if r.engine == "newsbot"}
    rows = []
    for r in results:
        same = ours_by_setting.get(r.setting) if r.engine != "newsbot" else reference.get(r.setting)
        rows.append(
            [
                r.engine,
                r.setting,
                f"{r.ndcg:.4f}",
                f"{r.recall:.4f}",
                fmt(r.build_s, 3),
                fmt(r.latency.p50_ms, 3),
                fmt(r.latency.p95_ms, 3),
                fmt(r.latency.qps, 0),
                agreement(r.rankings, same) if same and r.engine != "tantivy" else "–",
            ]
        )
    sections.append(
        f"Mode: {'quick smoke run' if args.quick else 'full run'}. Corpus: {len(data.docs):,} "
        f"abstracts, {len(ids)} test queries, "
        f"{sum(len(data.qrels[q]) for q in ids)} judgments. Tokenization of the corpus with "
        f"`tokenize`: {tokenize_s:.2f} s (once, shared by all engines; the build "
        "times below start from tokens). Latency is per query, from tokens to the top-100 "
        f"(median of {rounds} runs per query; rank-bm25 1 run)."
    )
    ndcg_note = (
        f"Best newsbot setting on the grid: **{params_text(best)}** → nDCG@10 "
        f"{max(r[1] for r in grid_rows):.4f} (target ≥ {TARGET_NDCG})."
        if grid_rows
        else ""
    )
    sections.append(
        "## Engines\n\n"
        + markdown_table(
            [
                "engine",
                "BM25 setting",
                "nDCG@10",
                "Recall@100",
                "build s",
                "p50 ms",
                "p95 ms",
                "queries/s",
                "top-10 equal (newsbot vs rank-bm25; others vs newsbot)",
            ],
            rows,
        )
        + ("\n\n" + ndcg_note if ndcg_note else "")
    )
    if grid_rows:
        table = [
            [
                p.variant,
                str(p.k1),
                str(p.b),
                f"{n:.4f}",
                f"{r:.4f}",
                "**best**" if p == best else ("≥ target" if n >= TARGET_NDCG else ""),
            ]
            for p, n, r in grid_rows
        ]
        sections.append(
            f"## newsbot BM25 grid ({len(grid_rows)} settings, {grid_s:.1f} s)\n\n"
            "delta=1.0 for plus and l; epsilon=0.25 for okapi. The `l` variant reproduces "
            "rank-bm25's BM25L, whose term weight is multiplied by the raw term frequency "
            "(not Lv & Zhai's BM25L), which explains its low scores.\n\n"
            + markdown_table(["variant", "k1", "b", "nDCG@10", "Recall@100", ""], table)
        )
        ablation_settings = [DEFAULT_LUCENE, best, project_default]
        ablation_settings = list(dict.fromkeys(ablation_settings))
        sections.append(
            "## Tokenization ablation (newsbot scorer; nDCG@10 / Recall@100)\n\n"
            "`bot.core.tokenizer` patched in this process only (stop-word list emptied, or the "
            "stemmer replaced by the identity); the shipped tokenizer is not changed.\n\n"
            + markdown_table(
                ["tokenizer", *(params_text(p) for p in ablation_settings)],
                ablation(data, ids, ablation_settings),
            )
        )
    name = "scifact-quick" if args.quick else "scifact"
    write_results(name, "SciFact (BEIR test): BM25 quality and speed", sections)


if __name__ == "__main__":
    main()
