"""The letter-pair index drops only terms too far away, and keeps the comparison order."""

from __future__ import annotations

import random

from rapidfuzz.distance import OSA

from bot.core.pipeline.nearterms import NearTerms
from bot.core.pipeline.question import nearest

LETTERS = "abcdeilnorstu"  # few letters: many shared pairs, repeated pairs, near ties


def _word(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(size))


def _edited(rng: random.Random, word: str, edits: int) -> str:
    for _ in range(edits):
        at = rng.randrange(len(word) + 1)
        kind = rng.randrange(4)
        if kind == 3 and at + 1 < len(word):  # two neighbours swapped: three pairs change
            word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        elif kind == 0 and at < len(word):
            word = word[:at] + word[at + 1 :]
        elif kind == 1:
            word = word[:at] + rng.choice(LETTERS) + word[at:]
        elif at < len(word):
            word = word[:at] + rng.choice(LETTERS) + word[at + 1 :]
    return word


def test_near_terms_are_the_length_bucket_less_only_terms_beyond_the_edits() -> None:
    rng = random.Random(7)
    vocabulary = sorted(
        {_word(rng, rng.randint(1, 12)) for _ in range(3000)}
        | {"café", "naïve", "résumé", "über", "x1", "a-b", ""}
    )
    index = NearTerms.of(vocabulary)
    words = [_edited(rng, rng.choice(vocabulary) or "abc", rng.randint(0, 3)) for _ in range(300)]
    words += ["cafe", "resume", "naive", "uber", "zzzzzzzz", "ab"]
    pruned = 0
    for word in words:
        for edits in (1, 2):
            bucket = [
                t
                for size in range(len(word) - edits, len(word) + edits + 1)
                for t in vocabulary
                if t.isalpha() and len(t) == size
            ]
            near = index.near(word, edits)
            within = [t for t in bucket if OSA.distance(word, t) <= edits]
            kept = set(near)
            assert [t for t in bucket if t in kept] == near  # same order, nothing added
            assert set(within) <= kept
            assert nearest(word, near, edits) == nearest(word, bucket, edits)
            pruned += len(bucket) - len(near)
    assert pruned > 0  # the index does leave terms out
