"""Tokenizing a build's passages a chunk at a time: term counts and token streams in one pass.

Each distinct raw token (a piece of text the tokenizer's regex cuts out) is worked out once per
process — its terms, their spans in it, their flags, its letters and digits — and kept in arrays
(:class:`_Memo`), so a chunk costs one regex ``findall`` over its texts joined by newlines and one
dictionary lookup per raw token; everything else per token (where it starts, terms, spans, ranks,
counts, sentences) is NumPy over the whole chunk. Replicated corpora and real archives repeat
most words, so after the first pieces almost every raw token is a lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from bot.core.assemble import Chunk
from bot.core.chunk_sentences import chunk_sentence_spans
from bot.core.streams import CAPITAL, Streams, flags_of, offsets
from bot.core.tokenizer import find_tokens, iter_tokens

MEMO_LIMIT = 1_000_000  # distinct raw tokens remembered per process; past it the memo starts over


class _Column:
    """A NumPy array that grows at its end (capacity doubling)."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.data = np.zeros(1024, dtype=dtype)
        self.size = 0

    def extend(self, values: list[int]) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.zeros(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end


class _Memo:
    """Every raw token met in this process: its pieces (term, span in the raw token, flags)."""

    def __init__(self) -> None:
        self.raw: dict[str, int] = {}  # raw token → its number
        self.terms: list[str] = []  # term number → term
        self.term_of: dict[str, int] = {}
        self.first, self.count = _Column(np.int64), _Column(np.int64)  # per raw: its pieces
        self.alnum = _Column(np.int64)  # per raw: its letters and digits
        self.term, self.start = _Column(np.int64), _Column(np.int64)  # per piece
        self.end, self.flag = _Column(np.int64), _Column(np.uint8)

    def lookup(self, raws: list[str]) -> np.ndarray:
        """The numbers of ``raws`` (int64), working out and remembering the ones not met yet."""
        found = np.fromiter(map(self.raw.get, raws, itertools.repeat(-1)), np.int64, len(raws))
        missing = np.flatnonzero(found < 0)
        if len(missing) == 0:
            return found
        first: list[int] = []
        count: list[int] = []
        alnum: list[int] = []
        term: list[int] = []
        start: list[int] = []
        end: list[int] = []
        flag: list[int] = []
        for i in missing.tolist():
            raw = raws[i]
            number = self.raw.get(raw)
            if number is None:
                number = self.raw[raw] = len(self.raw)
                before = len(term)
                for name, s, e in iter_tokens(raw):
                    known = self.term_of.get(name)
                    if known is None:
                        known = self.term_of[name] = len(self.terms)
                        self.terms.append(name)
                    term.append(known)
                    start.append(s)
                    end.append(e)
                    flag.append(flags_of(raw[s:e]))
                first.append(self.term.size + before)
                count.append(len(term) - before)
                alnum.append(sum(map(str.isalnum, raw)))
            found[i] = number
        for column, values in zip(
            (self.first, self.count, self.alnum, self.term, self.start, self.end, self.flag),
            (first, count, alnum, term, start, end, flag),
            strict=True,
        ):
            column.extend(values)
        return found


_MEMO = _Memo()
_ASCII_ALNUM = np.array([chr(c).isalnum() for c in range(128)], dtype=bool)
_ALNUM: list[np.ndarray] = []  # str.isalnum of every code point, made when first needed


def _is_alnum(text: str) -> np.ndarray:
    """Whether each character of ``text`` is a letter or digit (``str.isalnum``)."""
    if text.isascii():
        return _ASCII_ALNUM[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if not _ALNUM:
        _ALNUM.append(np.char.isalnum(np.arange(0x110000, dtype=np.uint32).view("<U1")))
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _ALNUM[0][codes]


def tokenize_chunk(texts: Sequence[str]) -> Chunk:
    """Passages as a :class:`Chunk`: term counts over a small vocabulary of the chunk's own
    (sorted, so each passage's ids ascend as the index's will) and the token streams."""
    global _MEMO
    if len(_MEMO.raw) > MEMO_LIMIT:
        _MEMO = _Memo()
    memo = _MEMO
    n = len(texts)
    bases = offsets(np.fromiter(map(len, texts), np.int64, n) + 1)  # each text in ``joined``
    joined = "\n".join(texts)  # "\n" ends every token and no token looks past it
    raws = find_tokens(joined)
    raw_id = memo.lookup(raws)
    # A raw token starts at the first letter or digit no token before it holds.
    before = offsets(memo.alnum.data[raw_id])[:-1]
    at = np.flatnonzero(_is_alnum(joined))[before]
    text_of_raw = np.searchsorted(bases, at, side="right") - 1
    raw_start = at - bases[text_of_raw]
    count = memo.count.data[raw_id]  # tokens of each raw token: none for a stop word, some for CJK
    last = np.cumsum(count)
    raw_of_token = np.repeat(np.arange(len(raws)), count)
    piece = np.repeat(memo.first.data[raw_id] - (last - count), count) + np.arange(
        len(raw_of_token)
    )
    token_text = text_of_raw[raw_of_token]
    token_counts = np.bincount(token_text, minlength=n).astype(np.int64)
    token_starts = (raw_start[raw_of_token] + memo.start.data[piece]).astype(np.int32)
    token_ends = (raw_start[raw_of_token] + memo.end.data[piece]).astype(np.int32)
    terms, ids = _chunk_vocabulary(memo, memo.term.data[piece])
    width = max(len(terms), 1)
    keys, inverse, counts = np.unique(
        token_text * width + ids, return_inverse=True, return_counts=True
    )
    entries = np.bincount(keys // width, minlength=n).astype(np.int64)
    ranks = inverse.reshape(-1) - offsets(entries)[token_text]
    token_indptr = offsets(token_counts)
    streams = _sentences(joined, bases, token_indptr, token_starts, memo.flag.data[piece])
    streams.ranks, streams.starts, streams.ends = ranks.astype(np.int32), token_starts, token_ends
    chunk = Chunk(
        terms,
        (keys % width).astype(np.int32),
        counts.astype(np.int32),
        entries,
        token_counts.astype(np.int32),
    )
    chunk.streams = streams
    return chunk


def _chunk_vocabulary(memo: _Memo, term: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The chunk's distinct terms in sorted order, and each token's id among them."""
    present = np.zeros(len(memo.terms), dtype=bool)
    present[term] = True
    used = np.flatnonzero(present)
    names = [memo.terms[i] for i in used.tolist()]
    order = sorted(range(len(names)), key=names.__getitem__)
    local = np.zeros(len(memo.terms), dtype=np.int64)
    local[used[np.asarray(order, dtype=np.int64)]] = np.arange(len(used))
    return [names[i] for i in order], local[term]


def _sentences(
    joined: str,
    bases: np.ndarray,
    token_indptr: np.ndarray,
    token_starts: np.ndarray,
    flags: np.ndarray,
) -> Streams:
    """The streams' sentences (each text's spans, each token's sentence, each sentence's first
    token) and the tokens' flags, a capital opening a sentence cleared; ranks and spans unset."""
    sentence_starts, sentence_ends, sentence_counts = chunk_sentence_spans(joined, bases)
    sentence_indptr = offsets(sentence_counts)
    tokens = np.diff(token_indptr)
    at = token_starts + np.repeat(bases[:-1], tokens)  # texts laid end to end, apart
    ends = sentence_ends + np.repeat(bases[:-1], sentence_counts)
    found = np.searchsorted(ends, at, side="right")
    sentence = np.minimum(found, np.repeat(sentence_indptr[1:] - 1, tokens))
    opening = np.ones(len(sentence), dtype=bool)
    opening[1:] = sentence[1:] != sentence[:-1]
    flags[opening] &= ~np.uint8(CAPITAL)
    sentence_owner = np.repeat(np.arange(len(bases) - 1), sentence_counts)
    first = np.searchsorted(sentence, np.arange(len(sentence_ends)), side="left")
    empty = np.zeros(0, dtype=np.int32)
    return Streams(
        token_indptr=token_indptr,
        ranks=empty,
        starts=empty,
        ends=empty,
        flags=flags,
        sentence_indptr=sentence_indptr,
        sentence_starts=sentence_starts,
        sentence_ends=sentence_ends,
        sentence_first=(first - token_indptr[sentence_owner]).astype(np.int32),
    )
