"""The semantic stage: how close in meaning the question is to each passage (sentence vectors).

Passage vectors are computed at rebuild (float16, one ``extra-vectors-….npy`` in the index
build folder, memory-mapped, never pickled) and reused for passages whose text did not change;
a question is encoded when asked. Two models: all-MiniLM-L6-v2, a sentence encoder, with the
``semantic`` extra and the model package (:data:`bot.core.embedding.INSTALL`), and WordLlama's
static word vectors, in the default install (:mod:`bot.core.static_embedding`); the best one
installed is used, each with its own answerability model. ``mode`` says whether to use it when
installed ("auto"), insist on it ("on", an error naming the install otherwise) or not ("off").
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.core.embedding import DIM, Embedder, locate_model_files, model_installed
from bot.core.extras import EXTRA, PassageStore
from bot.core.index import Index
from bot.core.lru import LruMap
from bot.core.manifest import corrupt
from bot.core.pipeline.retrieve import Candidates
from bot.core.static_embedding import DIM as STATIC_DIM
from bot.core.static_embedding import NAME as STATIC
from bot.core.static_embedding import StaticEmbedder, locate_static_files, static_installed

MODES = ("auto", "on", "off")
MINILM = Embedder.name  # all-MiniLM-L6-v2, the ``semantic`` extra
MODELS = (MINILM, STATIC)
PARALLEL_PASSAGES = 2000  # rebuilds encoding more passages than this use every core
_REMEMBERED = 50_000  # passage vectors a process remembers across builds (tests, reindexes)
_QUESTIONS = 256  # question vectors remembered (the eval's probes ask each question again)
_SEARCH_ROWS = 8192  # passage vectors converted to float32 at a time by the dense search


@dataclass(frozen=True)
class SemanticSettings:
    """Whether the stage runs, and how (see the module docstring for ``mode``)."""

    mode: str = "off"
    rank: bool = True  # False: keep the vectors up to date at rebuild but rank lexically
    max_tokens: int = 256  # wordpieces of a passage the model reads (sentence-transformers')
    dense: int = 0  # passages found by vector alone added to BM25's candidates
    model: str | None = None  # MINILM or STATIC; None: the best installed (installed_model)

    @classmethod
    def chosen(
        cls, configured: str = "auto", flag: str | None = None, *, one_shot: bool = False
    ) -> SemanticSettings:
        """The stage a run gets from the config's ``semantic`` and a command-line ``flag`` (which
        wins). A one-shot command keeps vectors up to date when the extra is installed but ranks
        with them only when asked (``on`` or a flag): the model costs a one-shot ``ask`` about
        0.2 s (README); a long-running one (``serve``, ``run``) ranks whenever it is installed."""
        rank = not one_shot or flag is not None or configured == "on"
        return cls(flag or configured, rank=rank)


class Encoder(Protocol):
    """Texts to unit vectors (the embedding model, or a stand-in in tests)."""

    signature: str  # what the vectors depend on (model and truncation)
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows of unit norm."""
        ...


def text_key(text: str) -> bytes:
    """The key a passage's vector is reused by: a digest of its text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class PassageVectors:
    """The build's extra array: every passage's vector, reused where the text is unchanged."""

    what = "passage vectors"

    def __init__(
        self, encoder: Encoder, parallel: int = PARALLEL_PASSAGES, required: bool = True
    ) -> None:
        self.encoder = encoder
        self.required = required
        self.name = f"{EXTRA}vectors-{encoder.signature}"
        self.parallel = parallel
        self.encoded = 0  # passages encoded by this process (reused ones are not)
        self._remembered: LruMap[bytes, np.ndarray] = LruMap(_REMEMBERED)

    def compute(self, texts: Sequence[str], current: PassageStore | None) -> np.ndarray | None:
        """float16 vectors of ``texts``, flattened; unchanged texts copied from ``current``.

        Not required (a one-shot command), they are only kept up to date: None when the current
        index has none, so such a command never encodes a whole corpus.
        """
        old = self.load(current) if current is not None else None
        if old is None and not self.required:
            return None
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float16)
        known: dict[bytes, np.ndarray] = {}
        if old is not None and current is not None:
            known = {text_key(current.text(i)): old[i] for i in range(current.size)}
        todo: list[int] = []
        keys = [text_key(text) for text in texts]
        for row, key in enumerate(keys):
            vector = known.get(key)
            vector = self._remembered.get(key) if vector is None else vector
            if vector is None:
                todo.append(row)
            else:
                out[row] = vector
        if todo:
            out[todo] = self._encode([texts[i] for i in todo])
            self.encoded += len(todo)
            for row in todo:
                self._remembered[keys[row]] = out[row]
        return out.reshape(-1)

    def load(self, index: PassageStore) -> np.ndarray | None:
        """The (passages, dim) float16 matrix of an index, memory-mapped, or None if not built."""
        flat = index.extra(self.name, "<f2")
        if flat is None:
            return None
        if len(flat) != index.size * self.encoder.dim:
            raise corrupt(
                index.generation / f"{self.name}.npy", "it does not hold one row a passage"
            )
        return flat.reshape(index.size, self.encoder.dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        workers = min(os.cpu_count() or 1, 8)
        lazy = isinstance(self.encoder, LazyEmbedder) and self.encoder.model == MINILM
        if len(texts) <= self.parallel or workers < 2 or not lazy:
            return self.encoder.encode(texts)
        from concurrent.futures import ProcessPoolExecutor  # only a big rebuild pays the import
        from multiprocessing import get_context

        step = -(-len(texts) // (workers * 4))
        parts = [texts[i : i + step] for i in range(0, len(texts), step)]
        tokens = getattr(self.encoder, "max_tokens", 0)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            return np.concatenate(list(pool.map(_encode_part, parts, [tokens] * len(parts))))


def _encode_part(texts: list[str], max_tokens: int) -> np.ndarray:
    """One worker's share of a parallel rebuild (the worker loads the model once)."""
    return LazyEmbedder(max_tokens).encode(texts)


class VectorScorer:
    """Cosine similarity of a question to passages, from the index's stored vectors."""

    def __init__(self, encoder: Encoder, vectors: np.ndarray) -> None:
        self.encoder = encoder
        self.vectors = vectors
        # which answerability model goes with these cosines (a stand-in encoder: MiniLM's)
        self.model: str = getattr(encoder, "model", MINILM)
        self._questions: LruMap[str, np.ndarray] = LruMap(_QUESTIONS)
        self._lock = threading.Lock()

    def question(self, text: str) -> np.ndarray:
        """The question's unit vector (float32), remembered for repeated questions."""
        with self._lock:
            vector = self._questions.get(text)
        if vector is None:
            vector = self.encoder.encode([text])[0]
            with self._lock:
                self._questions[text] = vector
        return vector

    def prime(self, texts: Sequence[str]) -> None:
        """Encode the questions not yet remembered in one batch: a batch reads the model's weights
        once for all of its questions (about a third of the CPU per question of one by one)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if self._questions.get(t) is None))
        if not missing:
            return
        vectors = self.encoder.encode(missing)
        with self._lock:
            for text, vector in zip(missing, vectors, strict=True):
                self._questions[text] = vector

    def similarity(self, question: str, passages: np.ndarray) -> np.ndarray:
        """Cosine of the question to each passage id."""
        rows = self.vectors[np.asarray(passages, dtype=np.int64)].astype(np.float32)
        return rows @ self.question(question)

    def nearest(self, question: str, k: int) -> np.ndarray:
        """The ``k`` passages closest in meaning, by brute force over every vector (best first)."""
        q = self.question(question)
        sims = np.concatenate(
            [
                self.vectors[i : i + _SEARCH_ROWS].astype(np.float32) @ q
                for i in range(0, len(self.vectors), _SEARCH_ROWS)
            ]
            or [np.zeros(0, dtype=np.float32)]
        )
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        return top[np.argsort(-sims[top], kind="stable")]


def widen(found: Candidates, scorer: VectorScorer, question: str, k: int) -> Candidates:
    """BM25's candidates plus the ``k`` nearest by vector that BM25 missed (at BM25 score 0)."""
    pooled = set(found.passages.tolist())
    extra = np.array([p for p in scorer.nearest(question, k) if p not in pooled], dtype=np.int64)
    return Candidates(
        np.concatenate([found.passages, extra]),
        np.concatenate([found.scores, np.zeros(len(extra))]),
    )


@dataclass
class SemanticStage:
    """What the build and the engine need: the extra array, and a scorer over a loaded index."""

    vectors: PassageVectors

    def scorer(self, index: Index) -> VectorScorer | None:
        """A scorer over the index's vectors (None when the index has none)."""
        matrix = self.vectors.load(index)
        return None if matrix is None else VectorScorer(self.vectors.encoder, matrix)


class LazyEmbedder:
    """An embedding model, loaded at its first use and then kept: ``model`` is MiniLM (a network,
    about 0.2 s to load, ~10 ms a question) or WordLlama's static vectors (a table, ~0.1 ms).

    A fresh index with vectors never needs it for passages, so a one-shot command that does not
    rank by meaning never loads it.
    """

    def __init__(self, max_tokens: int, model: str = MINILM) -> None:
        if model not in MODELS:
            raise ValueError(f"semantic model must be one of {', '.join(MODELS)}")
        self.max_tokens = max_tokens
        self.model = model  # also the answerability model's key (VectorScorer.model)
        self.dim = DIM if model == MINILM else STATIC_DIM
        self.signature = f"{MINILM}-{max_tokens}" if model == MINILM else f"{STATIC}-{STATIC_DIM}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """As :meth:`Embedder.encode`."""
        key = (self.model, self.max_tokens)
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = _MODELS[key] = (
                    Embedder(max_tokens=self.max_tokens)
                    if self.model == MINILM
                    else StaticEmbedder()
                )
        return model.encode(texts)


_MODELS: dict[tuple[str, int], Embedder | StaticEmbedder] = {}
_STAGES: dict[tuple[str, int], SemanticStage] = {}
_LOCK = threading.Lock()


def installed_model() -> str | None:
    """The best embedding model installed here: MiniLM (the ``semantic`` extra), else the static
    vectors of the default install, else None."""
    if model_installed():
        return MINILM
    return STATIC if static_installed() else None


def semantic_stage(settings: SemanticSettings) -> SemanticStage | None:
    """The stage the settings ask for, or None; "on" without the install is an error saying so."""
    if settings.mode not in MODES:
        raise ValueError(f"semantic mode must be one of {', '.join(MODES)}")
    if settings.mode == "off":
        return None
    model = settings.model or installed_model()
    if model is None and settings.mode == "auto":
        return None
    model = model or MINILM  # "on" with nothing installed: MiniLM's error names the install
    (locate_model_files if model == MINILM else locate_static_files)()  # SemanticUnavailable
    with _LOCK:
        key = (model, settings.max_tokens)
        if key not in _STAGES:
            _STAGES[key] = SemanticStage(PassageVectors(LazyEmbedder(settings.max_tokens, model)))
        return _STAGES[key]


__all__ = [
    "DIM",
    "MINILM",
    "MODELS",
    "MODES",
    "STATIC",
    "LazyEmbedder",
    "SemanticSettings",
    "SemanticStage",
    "VectorScorer",
    "installed_model",
    "semantic_stage",
]
