"""Shared data as sources and questions: SQuAD's article documents and sample, the BBC archive."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.build import build_index
from bot.core.index import load_index
from bot.core.pipeline.engine import Tuning
from bot.evaluation import corpora
from bot.evaluation.scoring import EvalSetError
from tests.helpers import ARCHIVE_ROWS, SQUAD_ARTICLES, shared_path, write_squad


def test_squad_becomes_one_document_per_article_with_blank_line_paragraphs(tmp_path: Path) -> None:
    articles = corpora.read_squad(write_squad(tmp_path / "squad.json"))
    docs = list(corpora.squad_documents(articles))
    assert [d["id"] for d in docs] == ["Lighthouses", "Volcanoes"]
    first = SQUAD_ARTICLES["Lighthouses"]
    assert docs[0]["text"] == f"{first[0][0]}\n\n{first[1][0]}"
    assert corpora.squad_paragraphs(articles)[2] == SQUAD_ARTICLES["Volcanoes"][0][0]
    questions = {q.question: q for a in articles for q in a.questions}
    built = questions["Who built the Bell Rock Lighthouse?"]
    assert built.expect == ("Robert Stevenson",) and built.kind == "answerable"
    painted = questions["Who painted the Bell Rock Lighthouse?"]
    assert painted.expect == () and not painted.answerable  # plausible answers are not gold


def test_squad_documents_index_as_sources_whose_passages_are_its_paragraphs(
    tmp_path: Path,
) -> None:
    articles = corpora.read_squad(write_squad(tmp_path / "squad.json"))
    target = tmp_path / "sources" / "squad2.jsonl"
    assert corpora.write_jsonl(target, corpora.squad_documents(articles))
    build_index(target.parent, tmp_path / "index", Tuning().bm25)
    index = load_index(tmp_path / "index")
    assert [m.id for m in index.sources] == ["Lighthouses", "Volcanoes"]
    texts = [index.text(p) for p in range(index.size)]
    assert any("Robert Stevenson" in t for t in texts)
    assert index.sources[0].outlet is None  # nothing the data does not state


def test_unchanged_documents_are_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "out" / "docs.jsonl"
    docs = [{"id": "a", "title": "A", "text": "alpha"}]
    assert corpora.write_jsonl(target, docs)
    stamp = target.stat().st_mtime_ns
    assert not corpora.write_jsonl(target, docs)
    assert target.stat().st_mtime_ns == stamp
    assert corpora.write_jsonl(target, [*docs, {"id": "b", "title": "B", "text": "beta"}])
    assert len(target.read_text().splitlines()) == 2
    assert [p.name for p in target.parent.iterdir()] == ["docs.jsonl"]  # no temp file left


def _many(n: int) -> dict[str, list[Any]]:
    paragraphs = [
        (f"Fact number {i} is the word w{i}.", [(f"What is fact {i}?", f"w{i}")], [f"Why {i}?"])
        for i in range(n)
    ]
    return {"Facts": paragraphs}


def test_sample_is_fixed_and_calibration_is_disjoint(tmp_path: Path) -> None:
    articles = corpora.read_squad(write_squad(tmp_path / "squad.json", _many(30)))
    report, calibration = corpora.squad_split(articles, sample=10)
    again, calibration_again = corpora.squad_split(articles, sample=10)
    assert [q.id for q in report] == [q.id for q in again]
    assert [q.id for q in calibration] == [q.id for q in calibration_again]
    assert sum(q.answerable for q in report) == 10 and len(report) == 20
    assert sum(q.answerable for q in calibration) == 10 and len(calibration) == 20
    assert not {q.id for q in report} & {q.id for q in calibration}
    assert [q.id for q in report[:10]] != [f"Facts-{i}-a0" for i in range(10)]  # shuffled
    everything, none = corpora.squad_split(articles, sample=None)
    assert len(everything) == 60 and none == []


def test_real_squad_sample_is_500_plus_500_and_disjoint_from_calibration() -> None:
    squad = shared_path("data", "squad2", "dev-v2.0.json")
    report, calibration = corpora.squad_split(corpora.read_squad(squad))
    assert len(report) == len(calibration) == 1000
    assert sum(q.answerable for q in report) == 500
    assert not {q.id for q in report} & {q.id for q in calibration}
    # The published sample is pinned: a change to it changes every reported SQuAD figure.
    assert _fingerprint(report) == "2498aa8c68a9b559"
    assert _fingerprint(calibration) == "a5e39ae28ec88a77"


def _fingerprint(questions: list[Any]) -> str:
    return hashlib.sha256(" ".join(q.id for q in questions).encode()).hexdigest()[:16]


def test_a_broken_squad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "squad.json"
    bad.write_text('{"data": [{"paragraphs": []}]}')
    with pytest.raises(EvalSetError, match=r"squad.json: not in the SQuAD 2.0 layout"):
        corpora.read_squad(bad)


def test_archive_rows_become_id_title_text_documents(tmp_path: Path) -> None:
    rows = tmp_path / "articles.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in ARCHIVE_ROWS), encoding="utf-8")
    docs = list(corpora.archive_documents(rows))
    assert docs[0] == {k: ARCHIVE_ROWS[0][k] for k in ("id", "title", "text")}
    assert len(docs) == 2
    rows.write_text(rows.read_text() + "{not json\n")
    with pytest.raises(EvalSetError, match=r"articles.jsonl:3: not an archive row"):
        list(corpora.archive_documents(rows))
