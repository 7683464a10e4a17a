"""Score the engine on the evaluation set: hit@1, hit@3, MRR and abstention accuracy.

A quote "hits" when it contains one of the question's expected strings (case-insensitive).
Questions with no expected strings are ones the sources do not answer: the right response is to
abstain. ``sweep`` rebuilds throw-away indexes to compare BM25 variants and parameters.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.answer import Answer
from bot.core.bm25 import VARIANTS, BM25Params
from bot.core.build import build_index
from bot.core.index import load_index
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.yamlfile import read_yaml
from bot.errors import ConfigError
from bot.service.service import Request, Service
from bot.service.settings import Settings

THRESHOLD = "answerability.threshold"  # the setting --calibrate and the trade-off curve vary
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEFAULT_QUESTIONS = Path("eval/questions.yaml")


class EvalSetError(ConfigError):
    """The evaluation file is unreadable; the message names the file (and line)."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question of the set and the strings a correct quote contains."""

    question: str
    expect: tuple[str, ...]
    kind: str
    id: str = ""  # a stable id where the set has one (SQuAD's question ids)

    @property
    def answerable(self) -> bool:
        """Whether the sources answer it."""
        return bool(self.expect)


@dataclass(frozen=True)
class EvalResult:
    """One question's outcome: rank of the first hit (None if none), and whether it answered.

    ``answer`` is the engine's whole answer (quotes, scores, terms, whatever the pipeline adds),
    kept for fitting the abstention model; ``seconds`` is the time the engine took.
    """

    item: EvalQuestion
    answered: bool
    rank: int | None
    answer: Answer | None = None
    seconds: float = 0.0

    @property
    def missed(self) -> bool:
        """Wrongly answered or declined, or answered without a hit in the first quote."""
        return self.answered != self.item.answerable or (self.item.answerable and self.rank != 1)


@dataclass(frozen=True)
class EvalReport:
    """Aggregate figures over the set."""

    results: tuple[EvalResult, ...]

    def _answerable(self) -> list[EvalResult]:
        return [r for r in self.results if r.item.answerable]

    def hit_at(self, n: int) -> float:
        """Share of answerable questions with a hit among the first ``n`` quotes."""
        rows = self._answerable()
        return sum(1 for r in rows if r.rank is not None and r.rank <= n) / max(len(rows), 1)

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank of the first hit, over answerable questions."""
        rows = self._answerable()
        return sum(1 / r.rank for r in rows if r.rank) / max(len(rows), 1)

    @property
    def abstention_accuracy(self) -> float:
        """Share of all questions where "answered or not" was right."""
        right = sum(1 for r in self.results if r.answered == r.item.answerable)
        return right / max(len(self.results), 1)

    def figures(self) -> dict[str, Any]:
        """The headline numbers, JSON-ready."""
        unanswerable = [r for r in self.results if not r.item.answerable]
        return {
            "questions": len(self.results),
            "answerable": len(self._answerable()),
            "hit@1": round(self.hit_at(1), 3),
            "hit@3": round(self.hit_at(3), 3),
            "mrr": round(self.mrr, 3),
            "abstention_accuracy": round(self.abstention_accuracy, 3),
            "answered_when_answerable": round(
                sum(r.answered for r in self._answerable()) / max(len(self._answerable()), 1), 3
            ),
            "abstained_when_unanswerable": round(
                sum(not r.answered for r in unanswerable) / max(len(unanswerable), 1), 3
            ),
        }


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read the evaluation YAML (``questions:`` a list of ``{q, expect, kind}``)."""
    data = read_yaml(path, EvalSetError)
    rows = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise EvalSetError(f"{path}: expected 'questions:' with a list of questions")
    items = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("q"), str):
            raise EvalSetError(f"{path}: question #{number} has no 'q' text")
        expect = row.get("expect") or []
        if not isinstance(expect, list):
            raise EvalSetError(f"{path}: question #{number}: 'expect' must be a list")
        items.append(EvalQuestion(row["q"], tuple(map(str, expect)), str(row.get("kind", ""))))
    return items


def _normalize(text: str) -> str:
    return " ".join(text.replace("’", "'").casefold().split())


def hit_rank(item: EvalQuestion, texts: Iterable[str]) -> int | None:
    """The 1-based position of the first text holding an expected string, or None."""
    wanted = [_normalize(e) for e in item.expect]
    for position, text in enumerate(texts, start=1):
        if any(w in _normalize(text) for w in wanted):
            return position
    return None


def evaluate(engine: Engine, questions: Iterable[EvalQuestion], k: int = 3) -> EvalReport:
    """Ask every question through a service over ``engine`` (front end "eval", no question log:
    these are labelled test questions, not people's), as every front end asks, and score it."""
    service = Service(Settings(), engine=engine)
    results = []
    for item in questions:
        began = time.perf_counter()
        answer = service.answer(Request(item.question, frontend="eval", k=k))
        seconds = time.perf_counter() - began
        rank = hit_rank(item, (quote.text for quote in answer.quotes))
        results.append(EvalResult(item, answer.answered, rank, answer, seconds))
    return EvalReport(tuple(results))


def sweep_grid() -> Iterator[BM25Params]:
    """The BM25 settings compared by ``eval --sweep``."""
    for variant in VARIANTS:
        for k1 in (0.9, 1.2, 1.5):
            for b in (0.4, 0.75, 0.9):
                yield BM25Params(variant=variant, k1=k1, b=b)


def calibrate(engine: Engine, questions: list[EvalQuestion]) -> list[tuple[float, EvalReport]]:
    """Answerability thresholds (P(answerable) to answer) and what each one scores."""
    return [(p.value, p.report) for p in tradeoff(engine, questions, THRESHOLD, THRESHOLDS)]


def sweep(
    sources_dir: Path, questions: list[EvalQuestion], grid: Iterable[BM25Params], base: Tuning
) -> list[tuple[BM25Params, EvalReport]]:
    """Evaluate each BM25 setting on a throw-away index of the same sources."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        for params in grid:
            index_dir = Path(tmp) / f"{params.variant}-{params.k1}-{params.b}"
            build_index(sources_dir, index_dir, params)
            tuning = dataclasses.replace(base, bm25=params)
            engine = Engine(load_index(index_dir), tuning=tuning)
            rows.append((params, evaluate(engine, questions)))
    return rows


@dataclass(frozen=True)
class TradeoffPoint:
    """The engine with one abstention setting: how much it answers and declines."""

    value: float
    report: EvalReport


def tradeoff(
    engine: Engine, questions: list[EvalQuestion], knob: str, values: Iterable[float]
) -> list[TradeoffPoint]:
    """Declined-unanswerable against answered-answerable as one abstention setting varies.

    ``knob`` names a stage setting of the engine's :class:`Tuning` (the threshold its gate
    applies), e.g. ``"answerability.min_coverage"``.
    """
    points = []
    for value in values:
        tuning = engine.tuning.with_setting(knob, value)
        probe = Engine(engine.index, engine.synonyms, tuning, engine.semantic)
        points.append(TradeoffPoint(value, evaluate(probe, questions)))
    return points
