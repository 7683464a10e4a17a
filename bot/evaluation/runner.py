"""One evaluation run over several sets: prepare each, score it, time it, skip what is absent.

For a set with a whole-paragraph corpus (SQuAD) plain rank-bm25 is scored on the same questions
in the same run, and for sets marked for it the abstention trade-off curve is traced by varying
the engine's gate threshold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.core.pipeline.engine import Tuning
from bot.evaluation.baseline import rank_bm25_report
from bot.evaluation.scoring import THRESHOLD, EvalReport, TradeoffPoint, evaluate, tradeoff
from bot.evaluation.sets import EvalSet, SetUnavailable, Workspace

# The engine's abstention threshold the trade-off curve varies (the semantic stage's model has
# its own), and the values it takes.
TRADEOFF_KNOB = THRESHOLD
SEMANTIC_TRADEOFF_KNOB = "answerability.semantic_threshold"
TRADEOFF_VALUES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The gate opened wide: every question with a candidate is answered, so hit@3 measures the
# ranking alone (what quoting would find if the gate never declined).
OPEN_GATE = {
    "answerability.threshold": 0.0,
    "answerability.semantic_threshold": 0.0,
    "answerability.min_coverage": 0.0,
    "answerability.semantic_min_coverage": 0.0,
    "answerability.min_semantic": -1.0,
}


def open_gate(tuning: Tuning) -> Tuning:
    """The same settings with a gate that never declines a question it has candidates for."""
    for path, value in OPEN_GATE.items():
        tuning = tuning.with_setting(path, value)
    return tuning


@dataclass
class SetRun:
    """What one set scored, or why it was skipped, and how long each step took (seconds)."""

    set: EvalSet
    report: EvalReport | None = None
    skipped: str | None = None
    baseline: EvalReport | None = None
    ranking: EvalReport | None = None  # the answerable questions asked with the gate open
    curve: list[TradeoffPoint] = field(default_factory=list)
    curve_knob: str = TRADEOFF_KNOB
    curve_default: float | None = None  # the engine's own value of ``curve_knob``
    sources: int = 0
    passages: int = 0
    paragraphs: int = 0  # whole paragraphs the baseline ranks
    timings: dict[str, float] = field(default_factory=dict)


def run_set(
    chosen: EvalSet,
    ws: Workspace,
    notify: Callable[[str], None] = lambda _: None,
    tuning: Tuning | None = None,
    curve: bool = True,
) -> SetRun:
    """Prepare, ask and score one set; a set whose data is absent comes back ``skipped``."""
    run = SetRun(chosen)
    began = time.perf_counter()
    try:
        prepared = chosen.prepare(ws)
    except SetUnavailable as exc:
        run.skipped = str(exc)
        return run
    for note in prepared.notes:
        notify(f"{chosen.name}: {note}")
    notify(f"{chosen.name}: asking {len(prepared.questions):,} questions …")
    began = _lap(run.timings, "prepare", began)
    engine = prepared.engine(tuning, notify=lambda m: notify(f"{chosen.name}: {m}"))
    run.sources, run.passages = len(engine.index.sources), engine.index.size
    began = _lap(run.timings, "index", began)
    run.report = evaluate(engine, prepared.questions)
    began = _lap(run.timings, "ask", began)
    wide = type(engine).over(engine.index, open_gate(engine.tuning))
    run.ranking = evaluate(wide, [q for q in prepared.questions if q.answerable])
    began = _lap(run.timings, "ranking", began)
    if prepared.paragraphs is not None:
        run.baseline = rank_bm25_report(prepared.paragraphs, prepared.questions)
        run.paragraphs = len(prepared.paragraphs)
        began = _lap(run.timings, "rank-bm25", began)
    if curve and chosen.tradeoff:
        run.curve_knob = SEMANTIC_TRADEOFF_KNOB if engine.semantic else TRADEOFF_KNOB
        run.curve_default = engine.threshold()
        values = sorted({*TRADEOFF_VALUES, run.curve_default})
        notify(f"{chosen.name}: the trade-off curve, {len(values)} settings …")
        run.curve = tradeoff(engine, prepared.questions, run.curve_knob, values)
        _lap(run.timings, "curve", began)
    return run


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    """Record the seconds since ``since`` under ``name``; return now, the next lap's start."""
    now = time.perf_counter()
    timings[name] = now - since
    return now


def run_sets(
    sets: Iterable[EvalSet],
    ws: Workspace,
    notify: Callable[[str], None] = lambda _: None,
    tuning: Tuning | None = None,
    curve: bool = True,
) -> list[SetRun]:
    """Every set in turn; each skipped one is reported through ``notify`` in one line."""
    runs = []
    for chosen in sets:
        run = run_set(chosen, ws, notify, tuning, curve)
        if run.skipped:
            notify(f"{chosen.name}: skipped — {run.skipped}")
        else:
            notify(f"{chosen.name}: {describe_timings(run)}")
        runs.append(run)
    return runs


def describe_timings(run: SetRun) -> str:
    """One line: where the time of a set went."""
    questions = len(run.report.results) if run.report else 0
    asked = run.timings.get("ask", 0.0)
    each = f" ({asked / questions * 1000:.1f} ms each)" if questions else ""
    parts = [f"{questions:,} questions in {asked:.2f} s{each}"]
    parts += [f"{name} {run.timings[name]:.2f} s" for name in run.timings if name != "ask"]
    return ", ".join(parts)
