"""Plain rank-bm25 as the yardstick: BM25Okapi over whole paragraphs, top 3, never abstaining.

It uses the bot's own tokenizer (as the figure quoted in the issue did), so the gap between it
and the bot is the engine's doing — passage cutting, abstention, diversity — not tokenization.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.core.tokenizer import tokenize
from bot.evaluation.scoring import EvalQuestion, EvalReport, EvalResult, hit_rank


def rank_bm25_report(
    paragraphs: Sequence[str], questions: Sequence[EvalQuestion], k: int = 3
) -> EvalReport:
    """Score rank-bm25's top ``k`` paragraphs for each answerable question (ties: earlier first)."""
    import rank_bm25

    model = rank_bm25.BM25Okapi([tokenize(p) for p in paragraphs])
    results = []
    for item in questions:
        if not item.answerable:
            continue
        scores = model.get_scores(tokenize(item.question))
        top = np.argsort(-scores, kind="stable")[:k]
        results.append(EvalResult(item, True, hit_rank(item, [paragraphs[i] for i in top])))
    return EvalReport(tuple(results))
