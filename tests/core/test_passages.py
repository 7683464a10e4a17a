"""Passages: quotable units, each a verbatim slice of its cleaned source."""

from __future__ import annotations

import random

import numpy as np

from bot.core.chunk_sentences import chunk_sentence_spans
from bot.core.passages import (
    MAX_CHARS,
    MIN_CHARS,
    sentence_spans,
    split_source,
    split_sources,
)
from bot.core.sources import Source, SourceMeta, load_sources, plain_source
from tests.helpers import ROOT


def _corpus() -> list[Source]:
    sources, _ = load_sources(ROOT / "sources")
    return sources


def test_every_passage_is_a_verbatim_slice_of_its_source() -> None:
    sources = _corpus()
    passages = split_sources(sources)
    assert len(passages) > 50
    for p in passages:
        text = sources[p.source_index].text[p.start : p.end]
        assert text and text == text.strip()
        source_file = (ROOT / "sources" / sources[p.source_index].meta.path).read_text("utf-8")
        assert source_file[p.start : p.end] == text


def test_short_paragraphs_merge_and_nothing_is_lost() -> None:
    sources = _corpus()
    for i, source in enumerate(sources):
        passages = split_source(source, i)
        body = [p for p in passages if p.kind == "body"]
        assert all(p.end - p.start >= MIN_CHARS for p in body if len(body) > 1)
        covered = "".join(source.text[p.start : p.end] for p in passages)
        for block in source.blocks:
            assert source.text[block.start : block.end] in covered or block.kind == "body"


def test_references_stay_one_per_passage_and_kinds_do_not_mix() -> None:
    sources = _corpus()
    voda = next(i for i, s in enumerate(sources) if s.meta.id.startswith("voda"))
    refs = [p for p in split_source(sources[voda], voda) if p.kind == "references"]
    assert len(refs) == 14


def test_long_paragraphs_split_at_sentence_boundaries() -> None:
    sentence = "Russia said on Monday that the talks with Japan would not go on. "
    text = (sentence * 40).strip()
    source = plain_source(SourceMeta(id="long", path="long.txt"), text)
    assert source is not None
    passages = split_source(source, 0)
    assert len(passages) > 2
    for p in passages:
        piece = text[p.start : p.end]
        assert piece.startswith("Russia") and piece.endswith("go on.")
        assert len(piece) <= MAX_CHARS


def test_sentence_splitter_respects_abbreviations_and_quotes() -> None:
    text = (
        "As Russia began its actions on Feb. 24, Japan joined the G-7. "
        "“It is unacceptable,” he said. Mr. Kishida spoke to the U.S. envoy! Then 1956 came."
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "As Russia began its actions on Feb. 24, Japan joined the G-7.",
        "“It is unacceptable,” he said.",
        "Mr. Kishida spoke to the U.S. envoy!",
        "Then 1956 came.",
    ]


def _one_by_one(texts: list[str]) -> list[list[tuple[int, int]]]:
    return [sentence_spans(text) or [(0, len(text))] for text in texts]


def _at_once(texts: list[str]) -> list[list[tuple[int, int]]]:
    bases = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts], out=bases[1:])
    starts, ends, counts = chunk_sentence_spans("\n".join(texts), bases)
    at = np.concatenate([[0], np.cumsum(counts)])
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    return [spans[at[i] : at[i + 1]] for i in range(len(texts))]


def test_sentences_of_many_texts_at_once_equal_each_text_alone() -> None:
    rng = random.Random(5)
    # Ends of every kind, abbreviations, whitespace str.strip drops (Unicode too), quotes,
    # texts starting with a period or a newline: where joining the texts could change an end.
    letters = [*"ab1 XYZ.!?…\"'”’)](“‘(\n\t\r\x0b\x1c\x85\u2028\u3000\xa0。！？Д", "\ud800"]
    words = ["Dr.", "U.S.", "e.g.", " A", ". The", "x.", "Feb. 24", "! “Да", "…) 7", '." (B']
    for _ in range(2000):
        texts = [
            "".join(rng.choice(letters + words) for _ in range(rng.randint(0, 40)))
            for _ in range(rng.randint(0, 12))
        ]
        assert _at_once(texts) == _one_by_one(texts), texts


def test_no_whitespace_lies_above_the_table_of_spaces() -> None:
    assert not any(chr(c).isspace() for c in range(0x3001, 0x110000))
