"""The tokenizer: what a search engineer would expect of each kind of text."""

from __future__ import annotations

import pytest

from bot.core.tokenizer import iter_tokens, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The ISLANDS were occupied", ["island", "occupi"]),
        ("Tokyo’s response and Tokyo's response", ["tokyo", "respons", "tokyo", "respons"]),
        ("the Russians' position", ["russian", "posit"]),
        ("about 17,000 Japanese", ["17000", "japanes"]),
        ("17000 people", ["17000", "peopl"]),
        ("in 1956 and 1945.", ["1956", "1945"]),
        ("67% backed it, 19% disagreed", ["67%", "back", "19%", "disagre"]),
        ("a 0.5 rise on 06.03.2023", ["0.5", "rise", "06.03.2023"]),
        ("Pokémon Café", ["pokemon", "cafe"]),
        ("ＦＵＬＬ width １２３", ["full", "width", "123"]),
        ("visa-free Japan-Russia", ["visa", "free", "japan", "russia"]),
        ("G7 2nd", ["g7", "2nd"]),
        ("Ми́р Россия", ["мир", "россия"]),
        ("O'Driscoll and odriscoll, O’Brien", ["odriscol", "odriscol", "obrien"]),
        ("don't stop rock'n'roll", ["stop", "rocknrol"]),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_stop_words_and_case_folding() -> None:
    assert tokenize("What is THE answer to it?") == ["answer"]
    assert tokenize("the of and is what who") == []


def test_cjk_is_split_into_bigrams() -> None:
    assert tokenize("外務省") == ["外務", "務省"]
    assert tokenize("岸田内閣総理大臣記者会見。")[:3] == ["岸田", "田内", "内閣"]
    assert tokenize("林") == ["林"]
    assert tokenize("YouTube外務省") == ["youtub", "外務", "務省"]


def test_spans_point_at_the_words() -> None:
    text = "Tokyo’s 17,000 islanders; 外務省"
    for _term, start, end in iter_tokens(text):
        assert start < end and text[start:end].strip() == text[start:end]
    assert [text[s:e] for _, s, e in iter_tokens(text)] == [
        "Tokyo’s",
        "17,000",
        "islanders",
        "外務",
        "務省",
    ]


@pytest.mark.parametrize(
    "text", ["", "   ", "\x00\x1b[31m", "🙂🙂", "’’’", "'s", "%%%", "\u200b\ufeff"]
)
def test_never_crashes(text: str) -> None:
    assert isinstance(tokenize(text), list)


def test_fast_path_gives_the_same_terms_as_the_span_path() -> None:
    from tests.helpers import ROOT

    for path in sorted((ROOT / "sources").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert tokenize(text) == [term for term, _, _ in iter_tokens(text)]
    odd = "YouTube外務省 Café’s 17,000 67% 岸田 Ми́р 2nd 06.03.2023 o'brien"
    assert tokenize(odd) == [term for term, _, _ in iter_tokens(odd)]
