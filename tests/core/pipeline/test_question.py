"""Understanding the question: question words, corrections, answer types, query weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.pipeline.engine import Engine
from bot.core.pipeline.question import (
    QUESTION_WORDS,
    Question,
    QuestionSettings,
    answer_type,
    understand,
)
from bot.core.tokenizer import tokenize
from tests.helpers import write_corpus


def _read(engine: Engine, question: str, context: str | None = None) -> Question:
    return understand(question, engine.backend, engine.synonyms, QuestionSettings(), context)


def test_question_words_are_cues_not_content(engine: Engine) -> None:
    asked = _read(engine, "name of the russian ambassador, what did he say")
    assert "name" in asked.cue_words and "say" in asked.cue_words
    assert asked.terms == ("russian", "ambassador")
    assert "say" not in asked.query  # not searched by default
    weighted = understand(
        "what did the ambassador say",
        engine.backend,
        engine.synonyms,
        QuestionSettings(question_word_weight=0.25),
    )
    assert weighted.query["say"] == 0.25 < weighted.query["ambassador"]


def test_a_question_of_only_question_words_searches_for_them(engine: Engine) -> None:
    asked = _read(engine, "what did they say")
    assert asked.terms == ("say",) and asked.cue_words == ()


def test_the_question_word_list_is_generic_english() -> None:
    for word in ("kuril", "japan", "russia", "treati"):  # nothing of today's corpus
        assert word not in QUESTION_WORDS
    assert set(tokenize("name say tell happen date year still put")) <= QUESTION_WORDS


@pytest.mark.parametrize(
    ("typed", "meant", "word"),
    [
        ("who is the russian ambasador", "ambassador", "ambasador"),
        ("what did medvedv write on telegram", "medvedev", "medvedv"),
        ("what sanctons has japan imposed", "sanction", "sanctons"),
        ("what did the rusisan side say", "russian", "rusisan"),  # two neighbours swapped
        ("what did jpan protest", "japan", "jpan"),  # four letters, a word English lacks
    ],
)
def test_a_typo_is_corrected_to_the_nearest_index_term(
    engine: Engine, typed: str, meant: str, word: str
) -> None:
    asked = _read(engine, typed)
    assert meant in asked.terms
    (fix,) = [c for c in asked.corrections if c.original == word]
    assert tokenize(fix.corrected) == [meant]  # shown as a word of the sources, not a stem
    assert fix.to_json() == {"from": word, "to": fix.corrected}


@pytest.mark.parametrize(
    "question",
    [
        "who is the russian ambassador",  # every word is in the index
        "best pizza in naples",  # common English words the sources lack: a finding, not a typo
        "what about the kurils",  # a vocabulary word
        "who is mori",  # a four-letter word English knows is never corrected (nor a shorter one)
    ],
)
def test_vocabulary_and_common_words_are_never_corrected(engine: Engine, question: str) -> None:
    assert _read(engine, question).corrections == ()


def test_a_word_beside_an_unknown_name_is_not_corrected(engine: Engine) -> None:
    # "ryodo" is one edit from the index's "kyodo", but beside "hoppo", which no passage has and
    # English does not know, the two are a phrase the sources lack, not a slip
    assert _read(engine, "what does hoppo ryodo mean").corrections == ()
    # beside a common English word the sources lack, a slip is still corrected
    fixes = _read(engine, "ryodo opinion poll").corrections
    assert [(c.original, tokenize(c.corrected)) for c in fixes] == [("ryodo", ["kyodo"])]


def test_an_unknown_word_stays_unknown(engine: Engine) -> None:
    asked = _read(engine, "what is the best pizza in naples")
    pizza = next(c for c in asked.concepts if c.term == "pizza")
    assert not pizza.known and pizza.surface == "pizza"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many Japanese lived on the islands?", "number"),
        ("how much did the deal cost", "number"),
        ("what percentage supported the sanctions", "number"),
        ("When did the talks start?", "date"),
        ("what year was the declaration signed", "date"),
        ("Who is the foreign minister?", "name"),
        ("whats the name of the ambassador", "name"),
        ("Where do the former islanders live?", "place"),
        ("which country suspended the talks", "place"),
        ("Why did Russia suspend the talks?", None),
    ],
)
def test_answer_type(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


def test_synonyms_and_context_are_added_at_their_weights(engine: Engine) -> None:
    settings = QuestionSettings()
    asked = _read(engine, "kuril islands", context="visa-free visits")
    assert asked.query["kuril"] == 1.0
    assert asked.query.get("territori") == settings.synonym_weight
    assert asked.query["visit"] == settings.context_weight
    assert "visit" not in asked.highlight  # context words are searched, not marked


_POST = {
    "a.md": "---\ntitle: Football\n---\n\nJaap Stam joined the club.\n",
    "b.md": "---\ntitle: Post\n---\n\nThe stamp collection grew.\n\nAnother stamp fair.\n",
}


def test_a_typo_goes_to_the_near_term_that_fits_the_other_words(tmp_path: Path) -> None:
    # "stamm" is one edit from "stam" and from "stamp": the question's other words decide.
    engine = Engine.open(write_corpus(tmp_path / "src", _POST), tmp_path / "index")
    assert [c.corrected for c in _read(engine, "jaap stamm club").corrections] == ["stam"]
    assert [c.corrected for c in _read(engine, "stamm collection").corrections] == ["stamp"]


def test_without_context_a_dropped_or_doubled_letter_beats_a_changed_one(tmp_path: Path) -> None:
    engine = Engine.open(write_corpus(tmp_path / "src", _POST), tmp_path / "index")
    # "stamp" is in more passages, but "stamm" → "stam" drops a letter, → "stamp" changes one
    assert [c.corrected for c in _read(engine, "stamm").corrections] == ["stam"]


_WORDS = {
    "a.md": "---\ntitle: Music\n---\n\nThe singer left.\n\nA statistical survey of fans.\n",
    "b.md": (
        "---\ntitle: Policy\n---\n\nThe researchers said the government had agreed.\n\n"
        "Their research was published.\n"
    ),
}


@pytest.mark.parametrize(
    "question",
    [
        "who was the signer",  # rare English, one swap from the far more common "singer"
        "what is it stylistically",  # two edits from "statistical" only after stemming
    ],
)
def test_a_rare_english_word_is_not_read_as_a_near_word_of_the_sources(
    tmp_path: Path, question: str
) -> None:
    engine = Engine.open(write_corpus(tmp_path / "src", _WORDS), tmp_path / "index")
    assert _read(engine, question).corrections == ()


def test_a_misspelling_english_lists_is_corrected_and_shown_in_its_nearest_form(
    tmp_path: Path,
) -> None:
    engine = Engine.open(write_corpus(tmp_path / "src", _WORDS), tmp_path / "index")
    # "goverment" and "reserch" are in wordfreq's large list, far rarer than what they stand for
    fixes = _read(engine, "what did the goverment reserch find").corrections
    # "research" and "researchers" index alike: the form shown is the one nearest the typed word
    assert [(c.original, c.corrected) for c in fixes] == [
        ("goverment", "government"),
        ("reserch", "research"),
    ]
