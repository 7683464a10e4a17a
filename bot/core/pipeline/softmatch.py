"""Soft matching: how well the top passage holds each question word, counting near words.

The answerability model's ``rarest_missing`` asks whether the top passage lacks the question's
rarest word; that is all or nothing, so a paraphrase (graves / tombs) counts as missing as much as
a name the passage never mentions. :func:`soft_missing` weighs each question word by how far the
passage's closest word is from it in static word vectors (WordLlama's, the default install's
semantic model): a word the passage holds, or a synonym of it, counts as matched; a near word
counts partly; a name or constraint the passage has nothing like counts fully missing. Words are
embedded one by one, remembered across questions (a news archive's words repeat), so a question
costs one lookup per word of the top passage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.core.backend import Retrieval
from bot.core.lru import LruMap
from bot.core.pipeline.match import Evidence
from bot.core.pipeline.question import Question
from bot.core.pipeline.semantic import Encoder

_REMEMBERED = 16_384  # word vectors remembered (1 KB each)


class WordVectors:
    """Unit vectors of single words (case-folded), remembered: the static model per word."""

    def __init__(self, encoder: Encoder, remembered: int = _REMEMBERED) -> None:
        self.encoder = encoder
        self._known: LruMap[str, np.ndarray] = LruMap(remembered)

    def of(self, words: Sequence[str]) -> np.ndarray:
        """(len(words), dim) float32 unit rows; the words not remembered encoded in one batch."""
        rows = [self._known.get(w) for w in words]
        missing = list(dict.fromkeys(w for w, r in zip(words, rows, strict=True) if r is None))
        if missing:
            fresh = dict(zip(missing, self.encoder.encode(missing), strict=True))
            for word, vector in fresh.items():
                self._known[word] = vector
            rows = [fresh[w] if r is None else r for w, r in zip(words, rows, strict=True)]
        if not rows:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([r for r in rows if r is not None])


def soft_missing(
    question: Question, evidence: Evidence, backend: Retrieval, words: WordVectors
) -> float:
    """The weight (a share of the question's heaviest word's) of the question word the top
    candidate matches worst, each word counted missing by 1 − its best cosine to the passage's
    words (0 when the passage holds it or a synonym): 1 with no candidate."""
    if not len(evidence.passages) or not question.concepts:
        return 1.0
    tokens = evidence.tokens[0]
    if tokens is None:  # a row the match stage did not read sentence by sentence
        tokens = backend.tokens_of(evidence.passages[:1])[0]
    text = backend.text(int(evidence.passages[0]))
    passage = list(
        dict.fromkeys(text[s:e].casefold() for s, e in zip(tokens.starts, tokens.ends, strict=True))
    )
    asked = words.of([c.surface.casefold() for c in question.concepts])
    closest = np.zeros(len(asked))
    if passage:
        closest = np.clip((asked @ words.of(passage).T).max(axis=1), 0.0, 1.0)
    matched = np.maximum(evidence.presence[0], closest)
    weights = evidence.weights
    largest = float(weights.max(initial=0.0)) or 1.0
    return float((weights / largest * (1.0 - matched)).max())
