"""The query handler on the real corpus: quotes, attribution, abstention, diversity, synonyms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.pipeline.engine import Engine
from bot.core.sources import META_FIELDS
from bot.core.synonyms import load_synonyms
from bot.errors import QuestionError
from tests.helpers import ROOT


def test_the_17000_question_is_answered_with_attribution(engine: Engine) -> None:
    answer = engine.ask("How many Japanese lived on the islands before the Soviet occupation?")
    assert answer.answered
    top = answer.quotes[0]
    assert "17,000" in top.text
    assert top.source.id == "japan-russia-peace-talks-suspended"
    assert top.source.title == "Japan-Russia peace talks suspended"
    assert top.source.outlet is None and top.source.date is None  # not stated: stays unknown
    best = [top.text[s:e] for s, e in top.best]
    assert best == [
        "According to the Japanese government, about 17,000 Japanese lived on the islands "
        "before the Soviet Union occupied them in 1945."
    ]
    assert {top.text[s:e] for s, e in top.highlights} >= {"Japanese", "lived", "islands", "Soviet"}


def test_every_quote_is_a_verbatim_slice_of_its_source_file(engine: Engine) -> None:
    for question in [
        "Why did Russia pull out of the peace talks with Japan?",
        "What did Kishida say?",
        "Who is the Russian ambassador?",
    ]:
        for quote in engine.ask(question, k=5).quotes:
            source_file = (ROOT / "sources" / quote.source.path).read_text(encoding="utf-8")
            start, end = quote.span
            assert source_file[start:end] == quote.text


@pytest.mark.parametrize(
    "question",
    [
        "What is the best pizza topping in Naples?",
        "How do I bake sourdough bread?",
        "Who won the 2018 World Cup?",
        "What is the capital of Australia?",
    ],
)
def test_off_topic_questions_get_no_quotes(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert not answer.answered and answer.quotes == ()
    assert answer.message == "I couldn't find that in the sources."


def test_diversity_prefers_different_sources(engine: Engine) -> None:
    answer = engine.ask("Why did Russia pull out of the peace talks with Japan?", k=3)
    assert len(answer.quotes) == 3
    assert len({q.source.id for q in answer.quotes}) == 3
    assert answer.agreeing_sources >= 3


def test_repeats_are_folded_and_other_sources_named_as_also_reporting(engine: Engine) -> None:
    answer = engine.ask("Japan marched in lockstep with allies in the Group of Seven", k=5)
    texts = [q.text for q in answer.quotes]
    assert sum("marched in lockstep" in t for t in texts) == 1  # caption and body say the same
    answer = engine.ask("Moscow suspends visa-free visits for Japanese", k=3)
    assert answer.answered
    reported = {m.id for q in answer.quotes for m in q.also_reported_by}
    quoted = {q.source.id for q in answer.quotes}
    assert reported, "several articles report the visa-free suspension"
    for quote in answer.quotes:
        assert quote.source.id not in {m.id for m in quote.also_reported_by}
    assert answer.agreeing_sources == len(quoted | reported)


def test_more_pages_through_the_quotes(engine: Engine) -> None:
    first = engine.ask("What did Kishida say about Russia?", k=2)
    second = engine.ask("What did Kishida say about Russia?", k=2, offset=2)
    assert first.more and second.answered
    assert not {q.passage_id for q in first.quotes} & {q.passage_id for q in second.quotes}


def test_synonyms_find_the_other_name(engine: Engine) -> None:
    expanded = load_synonyms().expand(["kuril", "island"])
    assert {"northern", "territori"} <= expanded["kuril"]
    answer = engine.ask("What are the Kuril Islands called in Japan?")
    assert answer.answered
    assert any("Northern Territories" in q.text for q in answer.quotes)


def test_follow_up_uses_the_earlier_question_as_context(engine: Engine) -> None:
    alone = engine.ask("and what about the former residents?")
    follow = engine.ask(
        "and what about the former residents?", context="Will the visa-free visits continue?"
    )
    assert follow.answered
    assert "visa-free" in follow.quotes[0].text
    assert (
        alone.quotes[0].passage_id != follow.quotes[0].passage_id or "visa" in alone.quotes[0].text
    )


def test_references_rank_below_body_text(engine: Engine) -> None:
    answer = engine.ask("Mikhail Galuzin Russian ambassador to Japan", k=3)
    kinds = [q.kind for q in answer.quotes]
    assert kinds[0] != "references"


@pytest.mark.parametrize(
    ("question", "fragment"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("what is the of and", "no searchable words"),
        ("islands\x1b[31m", "control characters (U+001B)"),
        ("islands\x00", "control characters (U+0000)"),
    ],
)
def test_bad_questions_are_refused_with_a_reason(
    engine: Engine, question: str, fragment: str
) -> None:
    with pytest.raises(QuestionError, match=re.escape(fragment)):
        engine.ask(question)


def test_json_shape(engine: Engine) -> None:
    answer = engine.ask("Who is the Russian ambassador to Japan?")
    data = answer.to_json()
    assert data["question"] == "Who is the Russian ambassador to Japan?"
    assert data["answered"] is True
    result = data["results"][0]
    assert isinstance(result["text"], str) and isinstance(result["score"], float)
    assert result["source"] == answer.quotes[0].source.to_dict()  # the one shape of a source
    assert {"id", "path", *META_FIELDS} <= set(result["source"])


def test_surrounding_passages_stay_in_one_source(engine: Engine) -> None:
    quote = engine.ask("How many Japanese lived on the islands?").quotes[0]
    around = engine.surrounding(quote.passage_id)
    assert quote.passage_id in [i for i, _ in around]
    ids = {engine.index.source(i).id for i, _ in around}
    assert ids == {quote.source.id}


def test_engine_works_on_any_corpus(tmp_path: Path) -> None:
    from tests.helpers import write_corpus

    engine = Engine.open(write_corpus(tmp_path / "s"), tmp_path / "i")
    answer = engine.ask("How long does pizza dough ferment in Naples?")
    assert answer.answered and answer.quotes[0].source.outlet == "Kitchen Weekly"


def test_also_reported_by_names_a_few_sources_and_counts_the_rest(tmp_path: Path) -> None:
    from tests.helpers import write_corpus

    copy = "Heavy snow closed the mountain pass on Sunday, stranding two hundred drivers.\n"
    articles = {f"wire{n}.md": f"---\ntitle: Wire {n}\n---\n\n{copy}" for n in range(9)}
    engine = Engine.open(write_corpus(tmp_path / "src", articles), tmp_path / "index")
    answer = engine.ask("Why was the mountain pass closed?", k=1)
    (first,) = answer.quotes
    named = engine.tuning.diversify.also_named
    assert len(first.also_reported_by) == named and first.also_reported_more == 8 - named
    assert answer.agreeing_sources == 9
    assert first.to_json()["also_reported_more"] == 8 - named
