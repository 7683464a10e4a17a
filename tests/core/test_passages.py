"""Passages: quotable units, each a verbatim slice of its cleaned source."""

from __future__ import annotations

from bot.core.passages import MAX_CHARS, MIN_CHARS, sentence_spans, split_source, split_sources
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
