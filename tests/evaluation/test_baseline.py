"""The rank-bm25 yardstick: BM25Okapi over whole paragraphs, top 3, answerable questions only."""

from __future__ import annotations

from bot.evaluation.baseline import rank_bm25_report
from bot.evaluation.scoring import EvalQuestion

PARAGRAPHS = [
    "The lighthouse keeper lit the lamp every evening at dusk.",
    "Volcanoes erupt when magma rises through the crust of the earth.",
    "The harbour master counted forty fishing boats in the bay.",
    "Bread rises because yeast makes bubbles of gas in the dough.",
    "Tides follow the moon; the harbour empties twice a day.",
]


def test_ranks_the_answering_paragraph_and_ignores_unanswerable_questions() -> None:
    questions = [
        EvalQuestion("When did the keeper light the lamp?", ("at dusk",), "answerable"),
        EvalQuestion("How many boats were in the harbour?", ("forty fishing boats",), "answerable"),
        EvalQuestion("What makes magma cold?", ("never there",), "answerable"),
        EvalQuestion("Who owns the bakery?", (), "unanswerable"),
    ]
    report = rank_bm25_report(PARAGRAPHS, questions)
    assert [r.item.question for r in report.results] == [q.question for q in questions[:3]]
    assert [r.rank for r in report.results] == [1, 1, None]
    figures = report.figures()
    assert figures["hit@3"] == round(2 / 3, 3) and figures["mrr"] == round(2 / 3, 3)


def test_only_the_top_k_paragraphs_count() -> None:
    # "harbour" is in two paragraphs; the answer is in the one ranked second.
    item = EvalQuestion("harbour", ("twice a day",), "answerable")
    assert rank_bm25_report(PARAGRAPHS, [item], k=1).results[0].rank is None
    assert rank_bm25_report(PARAGRAPHS, [item], k=3).results[0].rank == 2
