"""Token streams stored at rebuild: exactly what tokenizing each passage at query time gave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.core import chunk_tokens
from bot.core.backend import IndexBackend, PassageTokens
from bot.core.bm25 import BM25Params
from bot.core.build import build_index
from bot.core.index import load_index
from bot.core.passages import sentence_spans
from bot.core.pipeline import question as question_module
from bot.core.pipeline.engine import Engine
from bot.core.streams import CAPITAL, flags_of
from bot.core.tokenizer import iter_tokens
from tests.helpers import write_corpus

TRICKY = {
    "tricky.md": (
        "---\ntitle: Tricky\noutlet: Test\n---\n\n"
        "Dr. Smith met Mr. Tanaka on May 5, 2023. Then 17,000 people (67%) came.\n"
        "A second line: Tokyo’s mayor said “yes”! Was it 1956? Nobody knows.\n\n"
        "東京都の外務省は声明を発表した。Mixed東京words and café owners in Zürich met.\n\n"
        "...\n\n"
        "Short. Very short. Ends without a stop"
    )
}


def _reference(text: str, vocabulary: dict[str, int]) -> PassageTokens:
    """The passage tokenized the way the pipeline once did at query time."""
    found = list(iter_tokens(text))
    spans = np.array(sentence_spans(text) or [(0, len(text))], dtype=np.int32).reshape(-1, 2)
    starts = np.array([s for _, s, _ in found], dtype=np.int32)
    sentence = np.minimum(np.searchsorted(spans[:, 1], starts, side="right"), len(spans) - 1)
    first = np.ones(len(found), dtype=bool)
    first[1:] = sentence[1:] != sentence[:-1]
    flags = np.array([flags_of(text[s:e]) for _, s, e in found], dtype=np.uint8)
    flags[first] &= ~np.uint8(CAPITAL)
    return PassageTokens(
        ids=np.array([vocabulary[t] for t, _, _ in found], dtype=np.int32),
        starts=starts,
        ends=np.array([e for _, _, e in found], dtype=np.int32),
        sentence=sentence.astype(np.int32),
        flags=flags,
        sentences=spans,
    )


def _same(stored: PassageTokens, expected: PassageTokens) -> None:
    for name in ("ids", "starts", "ends", "sentence", "flags", "sentences"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(expected, name), name)
        assert getattr(stored, name).dtype == getattr(expected, name).dtype, name


@pytest.mark.parametrize("articles", [None, TRICKY])
def test_stored_streams_equal_tokenizing_each_passage(
    tmp_path: Path, articles: dict[str, str] | None
) -> None:
    sources = write_corpus(tmp_path / "sources", articles)
    build_index(sources, tmp_path / "index", BM25Params())
    index = load_index(tmp_path / "index", deep=True)
    backend = IndexBackend(index)
    vocabulary = {t: i for i, t in enumerate(index.vocabulary)}
    batch = backend.tokens_of(np.arange(index.size)[::-1])  # a batch, in another order
    assert len(batch) == index.size
    for passage in range(index.size):
        expected = _reference(index.text(passage), vocabulary)
        _same(backend.tokens(passage), expected)
        _same(batch[index.size - 1 - passage], expected)


def test_no_passage_is_tokenized_at_query_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = write_corpus(tmp_path / "sources", TRICKY)
    build_index(sources, tmp_path / "index", BM25Params())
    engine = Engine(load_index(tmp_path / "index"))
    question = "How many people came to meet Dr. Smith in May 2023?"
    only_the_question = iter_tokens

    def tokenize(text: str) -> Iterator[tuple[str, int, int]]:
        assert text == question, "a passage was tokenized at query time"
        return only_the_question(text)

    def refuse(*_: object) -> None:
        raise AssertionError("a passage was tokenized at query time")

    monkeypatch.setattr(question_module, "iter_tokens", tokenize)
    for name in ("iter_tokens", "chunk_sentence_spans", "tokenize_chunk"):
        monkeypatch.setattr(chunk_tokens, name, refuse)
    answer = engine.ask(question)
    assert answer.answered and answer.quotes[0].highlights and answer.quotes[0].best
