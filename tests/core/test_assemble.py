"""Chunk tokenization for the build: the same terms as the tokenizer, passage by passage."""

from __future__ import annotations

import random

import numpy as np

from bot.core.assemble import Chunk, chunk_of
from bot.core.chunk_tokens import tokenize_chunk
from bot.core.passages import sentence_spans
from bot.core.streams import CAPITAL, flags_of
from bot.core.tokenizer import iter_tokens, tokenize

# Letters, digits, separators, accents, combining marks, apostrophes, CJK, full-width forms:
# every alternative of the tokenizer's pattern, and the places where one ends and another starts.
_ALPHABET = [*"abcxyzABCÉéü0123456789 .,%'’‘-_\n\t", *"\u0301\u0308外務省カ한１Ｆ²٣ß", "и́"]
_WORDS = ["the", "Tokyo’s", "17,000", "67%", "06.03.2023", "Café", "o'brien", "岸田", "2nd", "s"]


def _random_text(rng: random.Random) -> str:
    parts = [
        rng.choice(_WORDS) if rng.random() < 0.3 else rng.choice(_ALPHABET)
        for _ in range(rng.randint(0, 60))
    ]
    return "".join(parts)


def _passages(chunk: Chunk) -> list[dict[str, int]]:
    """Each passage's term counts, by term."""
    out: list[dict[str, int]] = []
    at = 0
    for n in chunk.entries:
        ids, counts = chunk.ids[at : at + n], chunk.counts[at : at + n]
        out.append({chunk.terms[i]: int(c) for i, c in zip(ids, counts, strict=True)})
        at += n
    return out


def test_chunk_tokenization_equals_the_tokenizer_on_random_text() -> None:
    rng = random.Random(7)
    texts = [_random_text(rng) for _ in range(3000)]
    texts += ["", "the a of", "外務省", "YouTube外務省 Café’s 17,000 67% 岸田 Ми́р 2nd o'brien"]
    fast, plain = tokenize_chunk(texts), chunk_of(map(tokenize, texts), len(texts))
    assert _passages(fast) == _passages(plain)
    assert fast.doc_len.tolist() == [len(tokenize(t)) for t in texts]
    assert sum(fast.doc_len) > 10_000  # the texts did hold terms of every kind
    assert {"17000", "67%", "外務", "cafe"} <= set(fast.terms)


def test_chunk_tokenization_equals_the_tokenizer_on_ascii_text() -> None:
    rng = random.Random(11)
    letters = [*"abcXYZ019 .,%'-_\n", "the", "17,000", "67%", "2nd", "o'brien", "1.5.", "s"]
    texts = ["".join(rng.choice(letters) for _ in range(rng.randint(0, 50))) for _ in range(3000)]
    assert all(t.isascii() for t in texts)
    fast, plain = tokenize_chunk(texts), chunk_of(map(tokenize, texts), len(texts))
    assert _passages(fast) == _passages(plain) and sum(fast.doc_len) > 10_000


def _stream_of(text: str) -> dict[str, list[int]]:
    """One passage's stream computed plainly: the tokenizer with spans, token by token."""
    found = list(iter_tokens(text))
    order = {t: i for i, t in enumerate(sorted({t for t, _, _ in found}))}
    spans = sentence_spans(text) or [(0, len(text))]
    ends = np.array([e for _, e in spans])
    sentence = [
        min(int(np.searchsorted(ends, s, side="right")), len(spans) - 1) for _, s, _ in found
    ]
    flags = [flags_of(text[s:e]) for _, s, e in found]
    for i in range(len(found)):
        if i == 0 or sentence[i] != sentence[i - 1]:
            flags[i] &= ~CAPITAL
    return {
        "ranks": [order[t] for t, _, _ in found],
        "starts": [s for _, s, _ in found],
        "ends": [e for _, _, e in found],
        "flags": flags,
        "sentence_starts": [s for s, _ in spans],
        "sentence_ends": [e for _, e in spans],
        "sentence_first": [int(np.searchsorted(sentence, k)) for k in range(len(spans))],
    }


def test_chunk_streams_equal_the_tokenizer_token_by_token_on_random_text() -> None:
    rng = random.Random(3)
    texts = [
        _random_text(rng) + rng.choice(["", ". Next One", "! 1956? Yes."]) for _ in range(2000)
    ]
    streams = tokenize_chunk(texts).streams
    assert streams is not None
    tokens, sentences = streams.token_indptr, streams.sentence_indptr
    for i, text in enumerate(texts):
        t, s = slice(tokens[i], tokens[i + 1]), slice(sentences[i], sentences[i + 1])
        got = {
            "ranks": streams.ranks[t],
            "starts": streams.starts[t],
            "ends": streams.ends[t],
            "flags": streams.flags[t],
            "sentence_starts": streams.sentence_starts[s],
            "sentence_ends": streams.sentence_ends[s],
            "sentence_first": streams.sentence_first[s],
        }
        assert {k: v.tolist() for k, v in got.items()} == _stream_of(text), text
    assert int(tokens[-1]) > 10_000 and np.any(streams.flags & CAPITAL)


def test_chunk_of_nothing_is_empty() -> None:
    chunk = tokenize_chunk([])
    assert len(chunk.entries) == 0 and len(chunk.ids) == 0 and chunk.terms == []
