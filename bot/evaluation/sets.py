"""The named evaluation sets: what each asks, over which corpus, and whether it is for reporting.

Reporting sets are the figures the README publishes; calibration sets are for fitting thresholds
and models, and must never be the ones reported. Sets over shared data (``../shared``, by relative
path from the repository root) raise :class:`SetUnavailable` with the reason when it is absent;
corpora built from shared data go to a cache folder outside git, indexed like any sources folder
(so the normal staleness check rebuilds them only when they change).

Typical use, e.g. for fitting::

    prepared = SETS["squad2-calibration"].prepare(Workspace())
    engine = prepared.engine(tuning)
    report = evaluate(engine, prepared.questions)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.pipeline.engine import Engine, Tuning
from bot.errors import BadInput, NewsbotError
from bot.evaluation import corpora
from bot.evaluation.scoring import EvalQuestion, load_questions

REPORT, CALIBRATION = "report", "calibration"


class SetUnavailable(NewsbotError):
    """A set's data is not here (e.g. no ``../shared``); the message says what is missing."""


@dataclass(frozen=True)
class Workspace:
    """Where the sets find their files; every path relative to the repository root by default."""

    sources: Path = Path("sources")
    index: Path = Path("index")
    eval_dir: Path = Path("eval")
    shared: Path = Path("../shared")
    cache: Path = Path(".cache/eval")
    full: bool = False  # SQuAD: every question instead of the fixed sample


@dataclass(frozen=True)
class Prepared:
    """A set ready to score: its questions and the corpus (sources and index) they are asked of.

    ``paragraphs`` are the corpus's paragraphs whole, where a rank-bm25 baseline is measured.
    """

    questions: list[EvalQuestion]
    sources: Path
    index: Path
    paragraphs: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def engine(
        self, tuning: Tuning | None = None, notify: Callable[[str], None] = lambda _: None
    ) -> Engine:
        """The engine over this set's corpus, its index rebuilt first when stale."""
        return Engine.open(self.sources, self.index, tuning, notify)


@dataclass(frozen=True)
class EvalSet:
    """A named set: ``prepare`` loads its questions and builds its corpus."""

    name: str
    title: str
    purpose: str
    prepare: Callable[[Workspace], Prepared]
    tradeoff: bool = False  # report the abstention trade-off curve for this set


def _shared(ws: Workspace, relative: str) -> Path:
    path = ws.shared / relative
    if not path.is_file():
        where = "" if ws.shared.is_dir() else f" ({ws.shared} is absent)"
        raise SetUnavailable(f"{path} not found{where}")
    return path


def _own(questions: str) -> Callable[[Workspace], Prepared]:
    def prepare(ws: Workspace) -> Prepared:
        return Prepared(load_questions(ws.eval_dir / questions), ws.sources, ws.index)

    return prepare


def _dev(ws: Workspace) -> Prepared:
    questions = load_questions(_shared(ws, "eval/dev_questions.yaml"))
    return Prepared(questions, ws.sources, ws.index)


def _archive(questions: str) -> Callable[[Workspace], Prepared]:
    def prepare(ws: Workspace) -> Prepared:
        rows = _shared(ws, "data/bbc_news/articles.jsonl")
        folder = ws.cache / "bbc_news"
        target = folder / "sources" / "bbc_news.jsonl"
        written = corpora.write_jsonl(target, corpora.archive_documents(rows))
        notes = [f"wrote {target}"] if written else []
        items = load_questions(ws.eval_dir / questions)
        return Prepared(items, target.parent, folder / "index", notes=notes)

    return prepare


def _squad(calibration: bool) -> Callable[[Workspace], Prepared]:
    def prepare(ws: Workspace) -> Prepared:
        articles = corpora.read_squad(_shared(ws, "data/squad2/dev-v2.0.json"))
        if calibration and ws.full:
            raise SetUnavailable("with --full every SQuAD question is reported; none is left")
        report, fitting = corpora.squad_split(articles, None if ws.full else corpora.SQUAD_SAMPLE)
        folder = ws.cache / "squad2"
        target = folder / "sources" / "squad2.jsonl"
        written = corpora.write_jsonl(target, corpora.squad_documents(articles))
        notes = [f"wrote {target}"] if written else []
        paragraphs = corpora.squad_paragraphs(articles)
        questions = fitting if calibration else report
        return Prepared(questions, target.parent, folder / "index", paragraphs, notes)

    return prepare


REGISTRY: tuple[EvalSet, ...] = (
    EvalSet("own", "own (eval/questions.yaml)", REPORT, _own("questions.yaml")),
    EvalSet("dev", "dev (../shared/eval)", REPORT, _dev),
    EvalSet("squad2", "SQuAD 2.0", REPORT, _squad(calibration=False), tradeoff=True),
    EvalSet("archive", "archive (BBC News)", REPORT, _archive("archive_questions.yaml")),
    EvalSet("chat-calibration", "chat calibration", CALIBRATION, _own("chat_calibration.yaml")),
    EvalSet(
        "archive-calibration",
        "archive calibration (BBC News)",
        CALIBRATION,
        _archive("archive_calibration.yaml"),
    ),
    EvalSet("squad2-calibration", "SQuAD 2.0 calibration", CALIBRATION, _squad(calibration=True)),
)
SETS = {s.name: s for s in REGISTRY}


def select(names: str) -> list[EvalSet]:
    """Sets by comma-separated names, or every set of a purpose ("report", "calibration", "all")."""
    chosen: list[EvalSet] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "all":
            matches = list(REGISTRY)
        elif name in (REPORT, CALIBRATION):
            matches = [s for s in REGISTRY if s.purpose == name]
        elif name in SETS:
            matches = [SETS[name]]
        else:
            known = ", ".join(["report", "calibration", "all", *SETS])
            raise BadInput(f"unknown evaluation set {name!r}; choose from {known}")
        chosen.extend(s for s in matches if s not in chosen)
    if not chosen:
        raise BadInput("no evaluation set named; give --sets report, calibration, all or names")
    return chosen


def question_file(path: Path) -> EvalSet:
    """A set made of one question file, asked of the workspace's own sources (``--questions``)."""

    def prepare(ws: Workspace) -> Prepared:
        return Prepared(load_questions(path), ws.sources, ws.index)

    return EvalSet(path.stem, str(path), REPORT, prepare)
