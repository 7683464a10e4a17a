"""Chunk tokenization for the build: the same terms as the tokenizer, passage by passage."""

from __future__ import annotations

import random

from bot.core.assemble import Chunk, chunk_of, tokenize_chunk
from bot.core.tokenizer import tokenize

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


def test_chunk_of_nothing_is_empty() -> None:
    chunk = tokenize_chunk([])
    assert len(chunk.entries) == 0 and len(chunk.ids) == 0 and chunk.terms == []
