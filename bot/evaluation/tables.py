"""An evaluation run as Markdown tables (what the README holds), as JSON, and as its misses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.evaluation.runner import SetRun
from bot.evaluation.scoring import EvalReport

BASELINE_LABEL = "· plain rank-bm25 (whole paragraphs, top 3, never declines)"
HEADER = (
    "set",
    "purpose",
    "corpus",
    "questions (answerable + not)",
    "hit@1",
    "hit@3",
    "MRR",
    "hit@3, gate open",
    "answered when answerable",
    "declined when unanswerable",
    "abstention accuracy",
)
CURVE_HEADER = (
    "answered when answerable",
    "declined when unanswerable",
    "abstention accuracy",
    "hit@3",
)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], text: int = 1) -> str:
    """A GitHub Markdown table; the first ``text`` columns left-aligned, the others right."""
    align = ["---" if i < text else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _counts(report: EvalReport) -> str:
    answerable = sum(r.item.answerable for r in report.results)
    return f"{answerable:,} + {len(report.results) - answerable:,}"


def _row(
    label: str,
    purpose: str,
    corpus: str,
    report: EvalReport,
    abstains: bool,
    ranking: EvalReport | None = None,
) -> list[str]:
    f = report.figures()
    cells = [label, purpose, corpus, _counts(report)]
    cells += [f"{f[key]:.3f}" for key in ("hit@1", "hit@3", "mrr")]
    cells.append(f"{ranking.hit_at(3):.3f}" if ranking is not None else "–")
    keys = ("answered_when_answerable", "abstained_when_unanswerable", "abstention_accuracy")
    cells += [f"{f[key]:.3f}" if abstains else "–" for key in keys]
    return cells


def figures_table(runs: Sequence[SetRun]) -> str:
    """One row per scored set (and one under SQuAD for rank-bm25 on the same questions)."""
    rows = []
    for run in runs:
        if run.report is None:
            continue
        corpus = f"{run.sources:,} sources, {run.passages:,} passages"
        rows.append(
            _row(
                run.set.title,
                run.set.purpose,
                corpus,
                run.report,
                abstains=True,
                ranking=run.ranking,
            )
        )
        if run.baseline is not None:
            paragraphs = f"{run.paragraphs:,} paragraphs"
            rows.append(_row(BASELINE_LABEL, run.set.purpose, paragraphs, run.baseline, False))
    return markdown_table(HEADER, rows, text=3)


def curve_table(run: SetRun) -> str:
    """The abstention trade-off of one set as the engine's gate threshold varies."""
    rows = []
    for point in run.curve:
        f = point.report.figures()
        mark = " (default)" if point.value == run.curve_default else ""
        keys = ("answered_when_answerable", "abstained_when_unanswerable", "abstention_accuracy")
        rows.append([f"{point.value:g}{mark}", *(f"{f[k]:.3f}" for k in (*keys, "hit@3"))])
    return markdown_table((run.curve_knob, *CURVE_HEADER), rows)


def misses_text(run: SetRun) -> str:
    """The questions a set missed: no hit at rank 1, or wrongly answered / declined."""
    assert run.report is not None
    lines = [f"{run.set.name}: missed (no hit at rank 1, or wrongly answered / declined):"]
    for r in run.report.results:
        if r.missed:
            item = r.item
            lines.append(f"  [{item.kind}] rank={r.rank} answered={r.answered}: {item.question}")
    return "\n".join(lines)


def to_json(runs: Sequence[SetRun], misses: bool = False) -> dict[str, Any]:
    """Every set's figures, timings and (for SQuAD) the baseline and curve, JSON-ready.

    With ``misses`` each set also lists the questions it missed, with the engine's reason.
    """
    sets: dict[str, Any] = {}
    for run in runs:
        if run.report is None:
            sets[run.set.name] = {"purpose": run.set.purpose, "skipped": run.skipped}
            continue
        entry: dict[str, Any] = {
            "purpose": run.set.purpose,
            "sources": run.sources,
            "passages": run.passages,
            **run.report.figures(),
            "seconds": {k: round(v, 3) for k, v in run.timings.items()},
        }
        if misses:
            entry["misses"] = [
                {
                    "question": r.item.question,
                    "kind": r.item.kind,
                    "answerable": r.item.answerable,
                    "answered": r.answered,
                    "rank": r.rank,
                    "reason": r.answer.reason if r.answer else None,
                }
                for r in run.report.results
                if r.missed
            ]
        if run.ranking is not None:
            entry["hit@3_gate_open"] = round(run.ranking.hit_at(3), 3)
        if run.baseline is not None:
            entry["rank_bm25"] = run.baseline.figures()
        if run.curve:
            entry["tradeoff"] = {
                "knob": run.curve_knob,
                "points": [{"value": p.value, **p.report.figures()} for p in run.curve],
            }
        sets[run.set.name] = entry
    return {"sets": sets}


def markdown(runs: Sequence[SetRun]) -> str:
    """The run as the README shows it: the figures table, then each trade-off curve."""
    parts = [figures_table(runs)]
    for run in runs:
        if run.curve:
            parts.append(f"{run.set.title}: the trade-off as `{run.curve_knob}` varies")
            parts.append(curve_table(run))
    return "\n\n".join(parts)


BEGIN, END = "<!-- eval-table:begin -->", "<!-- eval-table:end -->"


def replace_block(document: str, block: str) -> str:
    """``document`` with the text between the eval-table markers replaced by ``block``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} … {END} markers")
    return f"{document[: start + len(BEGIN)]}\n{block}\n{document[end:]}"
