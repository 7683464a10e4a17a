"""The build's chunk tokenizer: what it remembers across chunks never changes what it returns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bot.core import chunk_tokens
from bot.core.assemble import Chunk
from bot.core.chunk_tokens import tokenize_chunk

TEXTS = [
    "Tokyo’s mayor met 17,000 people. Then Café owners in Zürich said “yes”!",
    "外務省は声明を発表した。Mixed東京words, 67% and 1956.",
    "The the THE tokyo Tokyo's o'brien 2nd",
    "",
    "   ",
]


def _plain(chunk: Chunk) -> dict[str, object]:
    """Every array of a chunk and its streams as lists, for comparing."""
    assert chunk.streams is not None
    streams = {k: v.tolist() for k, v in dataclasses.asdict(chunk.streams).items()}
    arrays = {k: np.asarray(getattr(chunk, k)).tolist() for k in ("ids", "counts", "entries")}
    return {"terms": list(chunk.terms), **arrays, "doc_len": chunk.doc_len.tolist(), **streams}


def test_a_warm_memo_gives_what_a_fresh_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_tokens, "_MEMO", chunk_tokens._Memo())
    cold = _plain(tokenize_chunk(TEXTS))
    tokenize_chunk(["Other words first: Osaka, 2024, café"])
    assert _plain(tokenize_chunk(TEXTS)) == cold
    reversed_lengths = tokenize_chunk(TEXTS[::-1]).doc_len.tolist()
    assert reversed_lengths == tokenize_chunk(TEXTS).doc_len.tolist()[::-1]


def test_the_memo_starts_over_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_tokens, "_MEMO", chunk_tokens._Memo())
    expected = _plain(tokenize_chunk(TEXTS))
    monkeypatch.setattr(chunk_tokens, "MEMO_LIMIT", 5)
    first = chunk_tokens._MEMO
    assert _plain(tokenize_chunk(TEXTS)) == expected
    assert chunk_tokens._MEMO is not first and len(chunk_tokens._MEMO.raw) > 5
    many = [f"word{i} number {i}" for i in range(3000)]  # the memo's arrays grow past their start
    assert tokenize_chunk(many).doc_len.tolist() == [3] * 3000


def test_letters_and_digits_are_told_apart_as_str_isalnum_does() -> None:
    text = "".join(map(chr, range(0x110000)))  # lone surrogates included
    expected = [c.isalnum() for c in text]
    assert chunk_tokens._is_alnum(text).tolist() == expected
    assert chunk_tokens._is_alnum("ab 1_").tolist() == [True, True, False, True, False]
