"""Proposed changes to ``bot/``, implemented here so they can be measured without touching it.

:data:`PROPOSED_TOKEN` matches exactly what ``bot.core.tokenizer._TOKEN`` matches (checked on every
passage by ``profile_ours.py``); it is a prototype to copy into ``bot/tokenizer.py``, not code
the bot runs. (An earlier proposal here, a top-k over the postings read, has since shipped as
``bot.core.bm25.search``.)
"""

from __future__ import annotations

import re

from bot.core import tokenizer as tok

# ---------------------------------------------------------------------------------------------
# The same token regex, faster

# bot.core.tokenizer._TOKEN's word branch tries an alternation per character,
# ``[^\W_](?:[^\W_]|[\u0300-\u036f])*``. Letters/digits and combining marks are disjoint, so
# a run of letters followed by optional (marks, letters) groups matches exactly the same strings
# (greedy, no backtracking between the disjoint classes) with one character class per run.
PROPOSED_TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,]\d+)*%?)(?![^\W_])"
    rf"|(?P<cjk>[{tok._CJK}]+)"
    r"|(?P<word>[^\W_]+(?:[\u0300-\u036f]+[^\W_]*)*"
    r"(?:['’‘](?:[^\W_]|[\u0300-\u036f])+)*)"
)


def clear_tokenizer_caches() -> None:
    """Cold caches for the tokenizer (its lru_cache and, if present, its raw-token dict)."""
    tok._normalize_word.cache_clear()
    cache = getattr(tok, "_TERMS", None)
    if isinstance(cache, dict):
        cache.clear()
