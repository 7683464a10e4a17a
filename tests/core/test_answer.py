"""The structured answer: attribution with "unknown" where a source is silent, and its JSON."""

from __future__ import annotations

import json

from bot.core.answer import NOT_FOUND, Answer, Correction, Quote, attribution, stated
from bot.core.sources import SourceMeta

FULL = SourceMeta(
    "a", "a.md", title="Talks end", outlet="Daily", author="Ann Lee", date="2022-03-22", url=None
)
BARE = SourceMeta("b", "b.txt")


def test_attribution_names_what_the_source_states_and_unknown_for_the_rest() -> None:
    assert attribution(FULL) == "Daily, \u201cTalks end\u201d, Ann Lee, 2022-03-22"
    assert attribution(BARE) == "unknown outlet, untitled, unknown author, unknown date"
    assert stated(BARE, "outlet") == "unknown outlet" and stated(FULL, "author") == "Ann Lee"


def _quote(source: SourceMeta, also: tuple[SourceMeta, ...] = ()) -> Quote:
    text = "Japan protested. Tokyo said it was unjust."
    return Quote(
        7, text, 3.14159265, source, "body", (10, 10 + len(text)), ((0, 5),), ((0, 16),), also
    )


def test_a_quote_s_json_carries_the_best_sentence_and_the_one_source_shape() -> None:
    data = _quote(FULL, (BARE,)).to_json()
    assert data["best_sentences"] == ["Japan protested."]
    assert data["score"] == 3.141593 and data["span"] == [10, 52]
    assert data["source"] == FULL.to_dict() and data["also_reported_by"] == [BARE.to_dict()]
    assert data["attribution"] == attribution(FULL)


def test_agreeing_sources_counts_quotes_and_also_reported_by_once_each() -> None:
    answer = Answer("q", True, (_quote(FULL, (BARE,)), _quote(FULL)), sources_searched=5)
    assert answer.agreeing_sources == 2
    assert json.loads(json.dumps(answer.to_json()))["sources_agreeing"] == 2


def test_an_abstention_has_no_results_and_says_why() -> None:
    answer = Answer("q", False, message=NOT_FOUND, reason="Nothing matches 'sushi'.")
    data = answer.to_json()
    assert (data["answered"], data["results"], data["message"]) == (False, [], NOT_FOUND)
    assert data["reason"] == "Nothing matches 'sushi'."


def test_corrections_read_as_did_you_mean() -> None:
    answer = Answer("q", True, corrections=(Correction("ambasador", "ambassador"),))
    assert answer.did_you_mean == "Did you mean: ambassador (not ambasador)?"
    assert answer.to_json()["corrections"] == [{"from": "ambasador", "to": "ambassador"}]
    assert Answer("q", True).did_you_mean is None
