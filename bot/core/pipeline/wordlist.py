"""How common an English word is: wordfreq's English lists, read without importing wordfreq.

Importing wordfreq (langcodes, ftfy, its regular expressions) costs a fresh process about 0.1 s
on the first question with an unknown word — more than a hundred answers. For a lower-case
ASCII word, wordfreq's tokenizer keeps the word as it is, so its Zipf frequency is a lookup in
the list; the arithmetic below is wordfreq's own (a test compares every word of the list).
Any other word, or a list this module cannot read, goes to wordfreq itself. The small list
(about 29,000 words, Zipf 3 and up) says whether a word is common; the large one (about 320,000,
down to Zipf 1; 0.1 s and ~35 MB, once) whether a rare word is English at all ("signer").
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from functools import cache
from pathlib import Path

_MISSING_FREQUENCY = 1e-9  # wordfreq's floor for minimum Zipf 0


def zipf_frequency(word: str, wordlist: str = "small") -> float:
    """wordfreq's ``zipf_frequency(word, "en", wordlist=wordlist)`` ("small" or "large")."""
    buckets = _buckets(wordlist) if word.isascii() and word.isalpha() and word.islower() else None
    if buckets is None:
        from wordfreq import zipf_frequency as wordfreq_zipf

        return float(wordfreq_zipf(word, "en", wordlist=wordlist))
    bucket = buckets.get(word)
    if bucket is None:
        return round(math.log(_MISSING_FREQUENCY, 10) + 9, 2)
    frequency = 1.0 / (0.0 + 1.0 / 10 ** (-bucket / 100))
    frequency = max(frequency, _MISSING_FREQUENCY)
    rounded = round(frequency, math.floor(-math.log(frequency, 10)) + 3)
    return round(math.log(rounded, 10) + 9, 2)


@cache
def _buckets(wordlist: str) -> dict[str, int] | None:
    """Each word of a list → its frequency bucket (−centibels), or None if unreadable."""
    spec = importlib.util.find_spec("wordfreq")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    try:
        import msgpack

        with gzip.open(folder / f"{wordlist}_en.msgpack.gz", "rb") as handle:
            data = msgpack.load(handle, raw=False)
    except (OSError, ValueError, ImportError, EOFError):
        return None
    if not data or data[0] != {"format": "cB", "version": 1}:
        return None
    return {word: index for index, bucket in enumerate(data[1:]) for word in bucket}
