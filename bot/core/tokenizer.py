"""Turn text into index terms: Unicode-aware, case-folded, stop words dropped, Snowball-stemmed.

The same function tokenizes passages at build time and questions at query time, so any change
here must bump ``TOKENIZER_VERSION`` (a stale index is then rebuilt automatically).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import Stemmer

TOKENIZER_VERSION = "4"

# English stop words (Lucene's list plus common function words and contractions).
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't
    have haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out
    over own same shan't she she'd she'll she's should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll
    we're we've were weren't what what's when when's where where's which while who who's
    whom why why's with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves also just may might must shall will s t many much
    """.split()
)

# Scripts written without spaces between words: indexed as overlapping character bigrams.
_CJK = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uff66-\uff9f"  # half-width Katakana
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*%?)(?![^\W_])"  # 17,000  1956  67%  06.03.2023
    rf"|(?P<cjk>[{_CJK}]+)"
    r"|(?P<word>[^\W_]+(?:[\u0300-\u036f]+[^\W_]*)*(?:['’‘](?:[^\W_]|[\u0300-\u036f])+)*)"
)
_STEMMER = Stemmer.Stemmer("english")
_ACCENTS = re.compile("[\u0300-\u036f]")


@lru_cache(maxsize=200_000)
def _normalize_word(word: str) -> str | None:
    """A word's term: case and accents folded, a possessive dropped, then (stop words aside)
    inner apostrophes dropped and the word stemmed."""
    word = _cased(word)
    if not word or word in STOP_WORDS:
        return None
    return _STEMMER.stemWord(word.replace("'", ""))


def folded(word: str) -> str:
    """A word as it is indexed before stemming (O'Driscoll is typed "odriscoll" as often as
    not: inner apostrophes are dropped)."""
    return _cased(word).replace("'", "")


def _cased(word: str) -> str:
    """Case-folded, accents folded on Latin words, a possessive dropped."""
    word = unicodedata.normalize("NFKC", word).casefold().replace("’", "'").replace("‘", "'")
    if not word.isascii():  # fold accents (Latin, Greek, Cyrillic): café → cafe, ми́р → мир
        word = unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFKD", word)))
    return word[:-2] if word.endswith("'s") else word


def _normalize_number(number: str) -> str:
    """Keep numbers whole; thousands separators are dropped so 17,000 and 17000 meet."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?%?", number):
        return number.replace(",", "")
    return number


_CUT = re.compile("(" + re.sub(r"\(\?P<\w+>", "(?:", _TOKEN.pattern) + ")")  # one group: the token
# The same cuts in ASCII text (no CJK, no combining marks, no curly apostrophes), faster.
_ASCII_CUT = re.compile(
    r"(\d+(?:[.,]\d+)*%?(?![A-Za-z0-9])|[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*)", re.ASCII
)


def cut_tokens(text: str) -> list[str]:
    """``text`` as gaps and raw tokens in turn, ``[gap, token, gap, …, gap]`` (each token's terms
    are ``iter_tokens(token)``, offset by where it starts), in one call: no match object per
    token."""
    return (_ASCII_CUT if text.isascii() else _CUT).split(text)


def find_tokens(text: str) -> list[str]:
    """The raw tokens of ``text`` in order (``cut_tokens(text)[1::2]``, without the gaps). Each
    starts with a letter or digit (``str.isalnum``) and every such character is in one."""
    return (_ASCII_CUT if text.isascii() else _CUT).findall(text)


def _bigrams(run: str) -> Iterator[tuple[str, int, int]]:
    """Overlapping character bigrams of a CJK run (a lone character stays a unigram)."""
    if len(run) == 1:
        yield run, 0, 1
        return
    for i in range(len(run) - 1):
        yield run[i : i + 2], i, i + 2


def iter_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(term, start, end)`` for every index term in ``text``, spans in ``text``."""
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        start, end = match.span()
        raw = match.group()
        if kind == "num":
            yield _normalize_number(unicodedata.normalize("NFKC", raw)), start, end
        elif kind == "cjk":
            for gram, s, e in _bigrams(raw):
                yield gram, start + s, start + e
        else:
            if not raw.isascii() and _CJK_RUN.search(raw):
                yield from _mixed_script(raw, start)
                continue
            term = _normalize_word(raw)
            if term:
                yield term, start, end


def _mixed_script(raw: str, offset: int) -> Iterator[tuple[str, int, int]]:
    """Split a word that mixes CJK and other letters into bigrams and ordinary words."""
    pos = 0
    for run in _CJK_RUN.finditer(raw):
        if run.start() > pos:
            term = _normalize_word(raw[pos : run.start()])
            if term:
                yield term, offset + pos, offset + run.start()
        for gram, s, e in _bigrams(run.group()):
            yield gram, offset + run.start() + s, offset + run.start() + e
        pos = run.end()
    if pos < len(raw):
        term = _normalize_word(raw[pos:])
        if term:
            yield term, offset + pos, offset + len(raw)


_TERMS: dict[str, tuple[str, ...]] = {}  # raw token → its terms (a token's kind follows from it)
_TERMS_LIMIT = 1_000_000


def _terms_of(raw: str, number: str, cjk: str) -> tuple[str, ...]:
    if number:
        return (_normalize_number(unicodedata.normalize("NFKC", raw)),)
    if cjk:
        return tuple(gram for gram, _, _ in _bigrams(raw))
    if not raw.isascii() and _CJK_RUN.search(raw):
        return tuple(term for term, _, _ in _mixed_script(raw, 0))
    term = _normalize_word(raw)
    return (term,) if term else ()


def tokenize(text: str) -> list[str]:
    """The index terms of ``text`` in order (what BM25 sees); same terms as :func:`iter_tokens`.

    The fast path for indexing: no spans, and each distinct raw token is normalised only once.
    """
    terms: list[str] = []
    cache = _TERMS
    for number, cjk, word in _TOKEN.findall(text):
        raw = word or number or cjk
        found = cache.get(raw)
        if found is None:
            found = _terms_of(raw, number, cjk)
            if len(cache) < _TERMS_LIMIT:
                cache[raw] = found
        terms.extend(found)
    return terms
