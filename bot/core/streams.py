"""Token streams: each passage's terms in reading order, computed once at rebuild and stored.

A passage's stream holds, per token, its term as a *rank* in the passage's forward row (the
position among its distinct terms in sorted order, so the stream does not depend on the
vocabulary's numbering and an update copies it unchanged), its character span in the passage
text and flags saying what it looks like; per sentence, its character span and its first token.
The answer pipeline reads these instead of tokenizing a candidate at query time.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core.passages import sentence_spans
from bot.core.tokenizer import cut_tokens, iter_tokens

NUMBER, DATE, CAPITAL = 1, 2, 4  # token flags
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday".split()
)
_YEAR = re.compile(r"(1[0-9]|20)[0-9]{2}s?")

# name → dtype of every stream array; the "_indptr" ones have one entry per passage plus one.
TOKEN_ARRAYS = {"stream_ranks": "<i4", "stream_starts": "<i4", "stream_ends": "<i4"}
STREAM_ARRAYS: dict[str, str] = {
    "stream_indptr": "<i8",
    **TOKEN_ARRAYS,
    "stream_flags": "|u1",
    "sentence_indptr": "<i8",
    "sentence_starts": "<i4",
    "sentence_ends": "<i4",
    "sentence_first": "<i4",
}


@dataclass
class Streams:
    """The token streams of consecutive passages (a chunk of a build, or gathered for a query).

    Passage ``i`` owns tokens ``token_indptr[i]:token_indptr[i+1]`` and sentences
    ``sentence_indptr[i]:sentence_indptr[i+1]``; ``sentence_first`` counts from the passage's
    first token, spans from the start of its text.
    """

    token_indptr: np.ndarray
    ranks: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    flags: np.ndarray
    sentence_indptr: np.ndarray
    sentence_starts: np.ndarray
    sentence_ends: np.ndarray
    sentence_first: np.ndarray

    def take(self, passages: np.ndarray) -> Streams:
        """The streams of some passages, in that order (vectorised gathers)."""
        token_indptr, tokens = gather_rows(self.token_indptr, passages)
        sentence_indptr, sentences = gather_rows(self.sentence_indptr, passages)
        return Streams(
            token_indptr,
            self.ranks[tokens],
            self.starts[tokens],
            self.ends[tokens],
            self.flags[tokens],
            sentence_indptr,
            self.sentence_starts[sentences],
            self.sentence_ends[sentences],
            self.sentence_first[sentences],
        )

    def slice(self, lo: int, hi: int) -> Streams:
        """The streams of passages ``lo…hi-1`` as views (offsets rebased to start at 0)."""
        t_lo, t_hi = int(self.token_indptr[lo]), int(self.token_indptr[hi])
        s_lo, s_hi = int(self.sentence_indptr[lo]), int(self.sentence_indptr[hi])
        return Streams(
            self.token_indptr[lo : hi + 1] - t_lo,
            self.ranks[t_lo:t_hi],
            self.starts[t_lo:t_hi],
            self.ends[t_lo:t_hi],
            self.flags[t_lo:t_hi],
            self.sentence_indptr[lo : hi + 1] - s_lo,
            self.sentence_starts[s_lo:s_hi],
            self.sentence_ends[s_lo:s_hi],
            self.sentence_first[s_lo:s_hi],
        )

    def columns(self) -> dict[str, np.ndarray]:
        """The per-token and per-sentence arrays by their stored names (offsets left out)."""
        return {
            "stream_ranks": self.ranks,
            "stream_starts": self.starts,
            "stream_ends": self.ends,
            "stream_flags": self.flags,
            "sentence_starts": self.sentence_starts,
            "sentence_ends": self.sentence_ends,
            "sentence_first": self.sentence_first,
        }


def flags_of(word: str) -> int:
    """What a word of a passage looks like: a number, a date, a capitalised word."""
    if word[0].isdigit():
        return NUMBER | (DATE if _YEAR.fullmatch(word) else 0)
    if word.casefold().rstrip(".") in _MONTHS:
        return DATE | (CAPITAL if word[0].isupper() else 0)
    return CAPITAL if word[0].isupper() else 0


def read_streams(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray, Streams]:
    """The passages' terms and token streams: a vocabulary of the texts' own, each passage's
    term ids into it in reading order (concatenated, int64), the number per passage, streams.

    No Python work per token: each text is cut into raw tokens by one regex call, each distinct
    raw token is normalised once (its terms, spans and flags memoised), and everything per token
    — terms, spans, ranks (the position among the passage's distinct terms in sorted order:
    the forward row's order, term ids being the terms' sorted positions), sentences — is
    computed with NumPy for all the texts at once.
    """
    raws: list[str] = []
    lengths: list[int] = []
    per_text = np.zeros(len(texts), dtype=np.int64)  # raw tokens of each text
    spans: list[tuple[int, int]] = []
    sentence_counts: list[int] = []
    bases: list[int] = []
    base = 0
    for i, text in enumerate(texts):
        parts = cut_tokens(text)
        raws += parts[1::2]
        lengths += map(len, parts)
        per_text[i] = len(parts) >> 1
        sentences = sentence_spans(text) or [(0, len(text))]
        spans.extend(sentences)
        sentence_counts.append(len(sentences))
        bases.append(base)
        base += len(text) + 1
    n = len(texts)
    text_of_raw = np.repeat(np.arange(n), per_text)
    raw_first = _offsets(per_text)  # each text's first raw token
    part_first = 2 * raw_first[:-1] + np.arange(n)  # each text's first part (a gap)
    at = _offsets(np.fromiter(lengths, np.int64, len(lengths)))  # where each part starts
    part = part_first[text_of_raw] + 1 + 2 * (np.arange(len(raws)) - raw_first[text_of_raw])
    raw_start = at[part] - at[part_first[text_of_raw]]  # in its text
    distinct = list(dict.fromkeys(raws))
    position = {raw: i for i, raw in enumerate(distinct)}
    found = list(map(_pieces_of, distinct))
    flat = list(itertools.chain.from_iterable(found))  # (term, start, end, flag) per piece
    piece_terms, piece_starts, piece_ends, piece_flags = (
        zip(*flat, strict=True) if flat else [()] * 4
    )
    local = {term: i for i, term in enumerate(dict.fromkeys(piece_terms))}
    piece_id = np.fromiter(map(local.__getitem__, piece_terms), np.int64, len(flat))
    piece_start = np.array(piece_starts, dtype=np.int64)
    piece_end = np.array(piece_ends, dtype=np.int64)
    piece_flag = np.array(piece_flags, dtype=np.uint8)
    pieces_of = np.fromiter(map(len, found), np.int64, len(found))
    raw_id = np.fromiter(map(position.__getitem__, raws), np.int64, len(raws))
    count = pieces_of[raw_id]  # tokens of each raw token: none for a stop word, some for CJK
    last = np.cumsum(count)
    raw_of_token = np.repeat(np.arange(len(raws)), count)
    piece = np.repeat(_offsets(pieces_of)[raw_id] - (last - count), count) + np.arange(
        len(raw_of_token)
    )
    ids = piece_id[piece]
    token_starts = (raw_start[raw_of_token] + piece_start[piece]).astype(np.int32)
    token_ends = (raw_start[raw_of_token] + piece_end[piece]).astype(np.int32)
    flag_array = piece_flag[piece]
    before = np.concatenate([[0], last])
    token_counts = before[raw_first[1:]] - before[raw_first[:-1]]
    token_indptr, sentence_indptr = _offsets(token_counts), _offsets(np.array(sentence_counts))
    terms = list(local)
    width = max(len(terms), 1)
    order = np.empty(len(terms), dtype=np.int64)
    order[np.array(sorted(range(len(terms)), key=terms.__getitem__), dtype=np.int64)] = np.arange(
        len(terms)
    )
    owner = np.repeat(np.arange(n, dtype=np.int64), token_counts)
    key = owner * width + order[ids]
    distinct_keys = np.sort(key)
    distinct_keys = distinct_keys[np.diff(distinct_keys, prepend=-1) != 0]  # keys are ≥ 0
    ranks = np.searchsorted(distinct_keys, key) - np.searchsorted(distinct_keys, owner * width)
    sentence_starts = np.array([s for s, _ in spans], dtype=np.int32).reshape(-1)
    sentence_ends = np.array([e for _, e in spans], dtype=np.int32).reshape(-1)
    sentence = _sentence_of_tokens(
        token_starts, token_indptr, sentence_ends, sentence_indptr, np.array(bases, np.int64)
    )
    opening = np.ones(len(sentence), dtype=bool)  # a capital opening a sentence is no name
    opening[1:] = sentence[1:] != sentence[:-1]
    flag_array[opening] &= ~np.uint8(CAPITAL)
    sentence_owner = np.repeat(np.arange(n), np.diff(sentence_indptr))
    first = np.searchsorted(sentence, np.arange(len(sentence_ends)), side="left")
    return (
        terms,
        ids,
        token_counts,
        Streams(
            token_indptr=token_indptr,
            ranks=ranks.astype(np.int32),
            starts=token_starts,
            ends=token_ends,
            flags=flag_array,
            sentence_indptr=sentence_indptr,
            sentence_starts=sentence_starts,
            sentence_ends=sentence_ends,
            sentence_first=(first - token_indptr[sentence_owner]).astype(np.int32),
        ),
    )


def _pieces_of(raw: str) -> tuple[tuple[str, int, int, int], ...]:
    """A raw token's terms with their spans in it and flags, memoised."""
    found = _PIECES.get(raw)
    if found is None:
        found = tuple((t, s, e, flags_of(raw[s:e])) for t, s, e in iter_tokens(raw))
        if len(_PIECES) < _PIECES_LIMIT:
            _PIECES[raw] = found
    return found


_PIECES: dict[str, tuple[tuple[str, int, int, int], ...]] = {}  # raw token → terms, spans, flags
_PIECES_LIMIT = 1_000_000


def _sentence_of_tokens(
    starts: np.ndarray,
    token_indptr: np.ndarray,
    sentence_ends: np.ndarray,
    sentence_indptr: np.ndarray,
    bases: np.ndarray,
) -> np.ndarray:
    """Each token's sentence (numbered across the chunk): the passage's first sentence ending
    after the token starts, or its last. Passages are laid end to end, apart, so one search
    serves all."""
    tokens, sentences = np.diff(token_indptr), np.diff(sentence_indptr)
    at = starts + np.repeat(bases, tokens)
    ends = sentence_ends + np.repeat(bases, sentences)
    found = np.searchsorted(ends, at, side="right")
    return np.minimum(found, np.repeat(sentence_indptr[1:] - 1, tokens))


def _offsets(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


class StreamWriter:
    """Writes the streams of a build's passages, in passage order, as ``.npy`` files in a folder.

    Columns are appended to raw files as chunks arrive (memory stays a chunk's worth) and
    become ``.npy`` files with their headers at :meth:`close`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.raw = {name: (folder / f".{name}.raw").open("wb") for name in _COLUMNS}
        self.lengths = {name: 0 for name in _COLUMNS}
        self.counts: dict[str, list[np.ndarray]] = {"stream_indptr": [], "sentence_indptr": []}

    def add(self, streams: Streams) -> None:
        """Append the streams of the next passages."""
        for name, column in streams.columns().items():
            data = np.ascontiguousarray(column, dtype=STREAM_ARRAYS[name])
            self.raw[name].write(data.tobytes())
            self.lengths[name] += len(data)
        self.counts["stream_indptr"].append(np.diff(streams.token_indptr))
        self.counts["sentence_indptr"].append(np.diff(streams.sentence_indptr))

    def close(self) -> None:
        """Write every array's ``.npy`` file (the raw parts are removed)."""
        for name, parts in self.counts.items():
            counts = np.concatenate([np.zeros(1, np.int64), *parts])
            np.save(self.folder / f"{name}.npy", np.cumsum(counts), allow_pickle=False)
        for name, handle in self.raw.items():
            handle.close()
            raw = self.folder / f".{name}.raw"
            header = {"descr": STREAM_ARRAYS[name], "fortran_order": False}
            with (self.folder / f"{name}.npy").open("wb") as out, raw.open("rb") as data:
                np.lib.format.write_array_header_1_0(
                    out, {**header, "shape": (self.lengths[name],)}
                )
                shutil.copyfileobj(data, out, 1 << 20)
            raw.unlink()


_COLUMNS = [name for name in STREAM_ARRAYS if not name.endswith("_indptr")]


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR-style ``indptr`` and some rows: the rows' own indptr and their entries' positions."""
    lo, hi = indptr[rows], indptr[rows + 1]
    lengths = hi - lo
    out = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out, np.repeat(lo - out[:-1], lengths) + np.arange(out[-1])
