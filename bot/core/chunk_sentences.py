"""The sentences of many passage texts at once: what ``sentence_spans`` gives each, vectorised.

The texts are joined by "\\n" (which ends a sentence and is whitespace, so joining finds no end
that a text alone would not, and trimming drops the joints). Every character gets its classes
from one table — the characters of ``passages._SENTENCE_END``'s alternatives and str.isspace —
and the ends are found with NumPy: a run of ``.!?…`` (and its closing quotes) ends a sentence when
whitespace, an optional opening quote and a capital, digit or Cyrillic letter follow; ``。！？``
and a newline always do. Only a period's abbreviation test runs in Python, once per such end.
"""

from __future__ import annotations

import numpy as np

from bot.core.passages import is_abbreviation

_RUN, _CLOSE, _OPEN, _CAPITAL, _ALONE, _SPACE = 1, 2, 4, 8, 16, 32


def _classes() -> np.ndarray:
    table = np.zeros(0x10000, dtype=np.uint8)  # code points past U+FFFF are in no class
    members = ((".!?…", _RUN), ("\"'”’)]", _CLOSE), ("\"'“‘([", _OPEN), ("。！？\n", _ALONE))
    for chars, bit in members:
        table[[ord(c) for c in chars]] |= bit
    for lo, hi in (("A", "Z"), ("0", "9"), ("\u0400", "\u04ff")):
        table[ord(lo) : ord(hi) + 1] |= _CAPITAL
    table[[c for c in range(0x3001) if chr(c).isspace()]] |= _SPACE  # none lies above U+3000
    return table


_CLASSES = _classes()


def chunk_sentence_spans(joined: str, bases: np.ndarray) -> tuple[np.ndarray, ...]:
    """``sentence_spans(text) or [(0, len(text))]`` for texts joined by "\\n" (text ``i``
    starts at ``bases[i]``; the last entry is one past the joined text): the spans' starts and
    ends (int32, within each text, the texts one after the other) and their number per text."""
    n = len(bases) - 1
    if joined.isascii():
        classes = _CLASSES[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
    else:
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        classes = _CLASSES[np.minimum(codes, len(_CLASSES) - 1)]
    size = len(classes)
    run = (classes & _RUN) != 0
    first = np.flatnonzero(run & ~np.concatenate([[False], run[:-1]]))  # where each run starts
    after = _past(classes, _CLOSE, _past(classes, _RUN, first))  # past the run and its quotes
    spaced = _has(classes, after, _SPACE)
    word = _past(classes, _SPACE, after)
    word = word + _has(classes, word, _OPEN)
    ends = _has(classes, word, _CAPITAL) & spaced
    first, after = first[ends], after[ends]
    periods = [i for i, at in enumerate(first.tolist()) if joined[at] == "."]
    kept = np.ones(len(first), dtype=bool)
    if periods:
        at = first[periods]
        text_start = bases[np.searchsorted(bases, at, side="right") - 1]
        for i, dot, start in zip(periods, at.tolist(), text_start.tolist(), strict=True):
            kept[i] = not is_abbreviation(joined, dot, start)
    alone = np.flatnonzero(classes & _ALONE) + 1
    cuts = np.unique(np.concatenate([after[kept], alone, bases]))
    solid = np.flatnonzero((classes & _SPACE) == 0)  # the characters that are not whitespace
    lo = np.searchsorted(solid, cuts[:-1])  # each piece's first solid character, one past its last
    hi = np.searchsorted(solid, np.minimum(cuts[1:], size))
    full = lo < hi
    starts, stops = solid[lo[full]], solid[hi[full] - 1] + 1
    owner = np.searchsorted(bases, starts, side="right") - 1
    counts = np.bincount(owner, minlength=n)
    blank = np.flatnonzero(counts == 0)  # no sentence: the whole text is one
    if len(blank):
        starts = np.concatenate([starts, bases[blank]])
        stops = np.concatenate([stops, bases[blank + 1] - 1])
        owner = np.concatenate([owner, blank])
        order = np.argsort(starts, kind="stable")
        starts, stops, owner = starts[order], stops[order], owner[order]
        counts[blank] = 1
    shift = bases[owner]
    return (starts - shift).astype(np.int32), (stops - shift).astype(np.int32), counts


def _past(classes: np.ndarray, bit: int, at: np.ndarray) -> np.ndarray:
    """For each position in ``at``: the first position from it on whose character is not of the
    class ``bit`` (the text's length if none), from where the class's runs end."""
    member = (classes & bit) != 0
    last = np.flatnonzero(member & ~np.append(member[1:], False))  # each run's last position
    out = at.copy()
    inside = _has(classes, at, bit)
    out[inside] = last[np.searchsorted(last, at[inside])] + 1
    return out


def _has(classes: np.ndarray, at: np.ndarray, bit: int) -> np.ndarray:
    """Whether the character at each position of ``at`` is of the class ``bit`` (False past the
    end)."""
    inside = at < len(classes)
    out = np.zeros(len(at), dtype=bool)
    out[inside] = (classes[at[inside]] & bit) != 0
    return out
