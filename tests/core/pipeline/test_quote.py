"""Quotes: verbatim slices, matched words and best sentence marked, corrections reported."""

from __future__ import annotations

from bot.core.pipeline.diversify import Choice
from bot.core.pipeline.engine import Engine
from bot.core.pipeline.match import concept_weights, gather
from bot.core.pipeline.question import QuestionSettings, understand
from bot.core.pipeline.quote import quotes
from bot.core.pipeline.retrieve import RetrieveSettings, retrieve
from bot.core.tokenizer import tokenize
from tests.helpers import ROOT

QS = QuestionSettings()


def test_quotes_are_verbatim_with_marks_inside_them(engine: Engine) -> None:
    answer = engine.ask("who summoned the russian ambasador in tokyo", k=5)
    assert answer.answered
    asked = set(answer.terms)
    for quote in answer.quotes:
        source_file = (ROOT / "sources" / quote.source.path).read_text(encoding="utf-8")
        assert source_file[quote.span[0] : quote.span[1]] == quote.text
        for start, end in quote.highlights:
            assert tokenize(quote.text[start:end])[0] in asked | {"summon", "tokyo", "japan"}
        for start, end in quote.best:
            assert 0 <= start < end <= len(quote.text)


def test_corrections_are_in_the_answer_and_its_json(engine: Engine) -> None:
    answer = engine.ask("who is the russian ambasador to japan")
    assert answer.answered and "Galuzin" in answer.quotes[0].text
    assert answer.to_json()["corrections"] == [{"from": "ambasador", "to": "ambassador"}]
    assert answer.did_you_mean == "Did you mean: ambassador (not ambasador)?"
    assert engine.ask("who is the russian ambassador to japan").to_json()["corrections"] == []


def test_rows_read_late_in_one_batch_quote_as_rows_read_by_the_match(engine: Engine) -> None:
    asked = understand("russian ambassador summoned tokyo", engine.backend, engine.synonyms, QS)
    found = retrieve(asked, engine.backend, RetrieveSettings())
    weights = concept_weights(asked, engine.backend)
    read = gather(asked, found.passages, weights, engine.backend)  # every row sentence by sentence
    unread = gather(asked, found.passages, weights, engine.backend, detail=0)
    page = [Choice(row, [row + 1]) for row in range(min(4, len(found.passages) - 1))]
    assert len(page) >= 2 and unread.tokens[0] is None
    late = quotes(page, found.scores, unread, asked, engine.backend, 5)
    assert late == quotes(page, found.scores, read, asked, engine.backend, 5)
    assert any(q.highlights for q in late) and any(q.best for q in late)
