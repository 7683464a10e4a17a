"""Shared data sets turned into a sources corpus and a question list the evaluation can score.

SQuAD 2.0 becomes one JSON Lines document per Wikipedia article (its paragraphs separated by
blank lines, so the bot cuts passages itself) and a fixed, seeded sample of its questions; the
BBC News archive becomes a sources file of ``id``/``title``/``text`` (the outlet is not stated by
the data, so it stays unknown). Files are rewritten only when their content changes, so the
index's own staleness check (size, mtime, hash) sees a rebuilt-but-equal corpus as fresh.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.evaluation.scoring import EvalQuestion, EvalSetError

SQUAD_SEED = 2018  # the sample is fixed: the same questions in every run, on every machine
SQUAD_SAMPLE = 500  # answerable and as many unanswerable questions, for reporting


@dataclass(frozen=True)
class SquadArticle:
    """One Wikipedia article of SQuAD: its title, paragraphs and questions."""

    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[EvalQuestion, ...]


def read_squad(path: Path) -> list[SquadArticle]:
    """The articles of a SQuAD 2.0 JSON file (``data[].paragraphs[].context/qas``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_squad_article(article) for article in data["data"]]
    except OSError as exc:
        raise EvalSetError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalSetError(f"{path}: not a SQuAD JSON file ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise EvalSetError(f"{path}: not in the SQuAD 2.0 layout (missing {exc})") from None


def _squad_article(article: dict[str, Any]) -> SquadArticle:
    paragraphs = []
    questions = []
    for paragraph in article["paragraphs"]:
        paragraphs.append(" ".join(paragraph["context"].split()))
        for qa in paragraph["qas"]:
            answers = () if qa.get("is_impossible") else (a["text"] for a in qa["answers"])
            expect = tuple(dict.fromkeys(a for a in answers if a.strip()))
            kind = "answerable" if expect else "unanswerable"
            questions.append(EvalQuestion(qa["question"].strip(), expect, kind, str(qa["id"])))
    return SquadArticle(article["title"], tuple(paragraphs), tuple(questions))


def squad_documents(articles: Iterable[SquadArticle]) -> Iterator[dict[str, str]]:
    """One sources document per article: paragraphs separated by blank lines."""
    for article in articles:
        title = article.title.replace("_", " ")
        yield {"id": article.title, "title": title, "text": "\n\n".join(article.paragraphs)}


def squad_paragraphs(articles: Iterable[SquadArticle]) -> list[str]:
    """Every paragraph, whole (what the rank-bm25 baseline ranks)."""
    return [p for article in articles for p in article.paragraphs]


def squad_split(
    articles: Iterable[SquadArticle], sample: int | None = SQUAD_SAMPLE
) -> tuple[list[EvalQuestion], list[EvalQuestion]]:
    """The reported questions and the calibration questions, disjoint.

    Answerable and unanswerable questions are each shuffled with a fixed seed; the first
    ``sample`` of each are reported and the next ``sample`` of each are for calibration.
    ``sample=None`` reports every question (then there is no disjoint calibration sample left).
    """
    questions = [q for article in articles for q in article.questions]
    report: list[EvalQuestion] = []
    calibration: list[EvalQuestion] = []
    for answerable in (True, False):
        group = [q for q in questions if q.answerable == answerable]
        random.Random(SQUAD_SEED).shuffle(group)
        if sample is None:
            report.extend(group)
        else:
            report.extend(group[:sample])
            calibration.extend(group[sample : 2 * sample])
    return report, calibration


def archive_documents(path: Path) -> Iterator[dict[str, str]]:
    """The BBC archive's rows as sources documents: id, title, text (no outlet: not stated)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            yield {"id": str(row["id"]), "title": row["title"], "text": row["text"]}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalSetError(f"{path}:{number}: not an archive row ({exc!r})") from None


def write_jsonl(path: Path, documents: Iterable[dict[str, str]]) -> bool:
    """Write the documents as JSON Lines, atomically, unless the file already holds exactly them.

    Returns whether the file was (re)written.
    """
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents).encode()
    if path.is_file() and path.read_bytes() == payload:
        return False
    write_atomic(path, payload)
    return True


def write_atomic(path: Path, payload: bytes) -> None:
    """Write a file so that a crash leaves the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
