"""Answerability: quote the best passages, or say the sources do not answer — and why.

The decision is a logistic regression over a few signals of the best candidate (see
:data:`FEATURES`): how much of the question it covers, and its best sentence, and the most any
candidate covers; how much of the
question no passage contains at all, words weighed by their rarity in English; whether the
question's rarest word is missing from it; its score against the best the question could reach;
its margin over the runner-up; whether its best sentence holds the kind of answer asked for; and
semantic similarity when a scorer is plugged in. The coefficients live in ``answerability.json``,
fitted on the calibration sets only (``python -m bot.evaluation.calibration``), never on the
sets whose figures are published. When it declines, the reason is read from the same signals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.pipeline.match import Evidence
from bot.core.pipeline.question import Question
from bot.core.static_embedding import NAME as STATIC_NAME

MODEL_PATH = Path(__file__).with_name("answerability.json")
SEMANTIC_MODEL_PATH = Path(__file__).with_name("answerability.semantic.json")  # MiniLM's
STATIC_MODEL_PATH = Path(__file__).with_name("answerability.static.json")  # static vectors'
FEATURES = (
    "coverage",
    "pool_coverage",
    "sentence_coverage",
    "unknown",
    "rarest_missing",
    "score",
    "margin",
    "type_missing",
)
SEMANTIC_FEATURES = (*FEATURES, "semantic")  # when a semantic scorer is plugged in
# With the static word vectors their per-word cosines soften ``rarest_missing`` into
# ``soft_missing`` (bot.core.pipeline.softmatch), which replaces it: with both, the calibration
# sets' cross-validated abstention accuracy was lower than with the soft one alone.
STATIC_FEATURES = tuple("soft_missing" if f == "rarest_missing" else f for f in SEMANTIC_FEATURES)


def _default_threshold() -> float:
    return load_model(MODEL_PATH).threshold


def _default_min_coverage() -> float:
    return load_model(MODEL_PATH).min_coverage


def semantic_model_path(model: str) -> Path:
    """The coefficients fitted with an embedding model's cosine (MiniLM's when unknown)."""
    return STATIC_MODEL_PATH if model == STATIC_NAME else SEMANTIC_MODEL_PATH


def model_features(model: str | None) -> tuple[str, ...]:
    """The signals the model fitted for an embedding model (None: words alone) weighs."""
    if model is None:
        return FEATURES
    return STATIC_FEATURES if model == STATIC_NAME else SEMANTIC_FEATURES


@dataclass(frozen=True)
class AnswerabilitySettings:
    """The decision thresholds and what later quotes must reach (chosen on calibration sets).

    With a semantic scorer the decision uses the model fitted with that scorer's cosine (its
    coefficients, threshold, ``min_coverage`` and ``min_semantic`` unless set here), and a
    passage whose meaning is close enough (``min_semantic``) may be quoted without holding
    ``min_coverage`` of the question's words: that is how a paraphrase sharing few words is
    answered.
    """

    threshold: float = field(default_factory=_default_threshold)
    # a quote must hold this share of the question's weight (each model fits its own)
    min_coverage: float = field(default_factory=_default_min_coverage)
    min_relative: float = 0.3  # later quotes must score at least this share of the best
    model: Path = MODEL_PATH  # the fitted coefficients (their threshold is the default above)
    semantic_threshold: float | None = None  # None: each semantic model's own
    semantic_min_coverage: float | None = None
    min_semantic: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The rows worth quoting (best first) or, when there are none, why."""

    relevant: list[int]
    reason: str | None
    probability: float
    features: dict[str, float]


@dataclass(frozen=True)
class Model:
    """A fitted logistic regression: P = σ(intercept + Σ coefficient · feature)."""

    coefficients: dict[str, float]
    intercept: float
    threshold: float
    min_semantic: float = 1.0  # the semantic model's cosine that stands in for word coverage
    min_coverage: float = 0.5  # the share of the question's weight a quoted passage holds

    def probability(self, features: dict[str, float]) -> float:
        """P(the sources answer) for one question's signals."""
        z = self.intercept + sum(w * features[name] for name, w in self.coefficients.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self) -> dict[str, Any]:
        """The stored form (the fitting notes are added by the calibration script)."""
        return {
            "coefficients": self.coefficients,
            "intercept": self.intercept,
            "threshold": self.threshold,
            "min_semantic": self.min_semantic,
            "min_coverage": self.min_coverage,
        }


@lru_cache(maxsize=4)
def load_model(path: Path) -> Model:
    """Read the coefficients file (packaged with the code)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return Model(
        {k: float(v) for k, v in data["coefficients"].items()},
        float(data["intercept"]),
        float(data["threshold"]),
        float(data.get("min_semantic", 1.0)),
        float(data.get("min_coverage", 0.5)),
    )


def features(
    question: Question,
    scores: np.ndarray,
    evidence: Evidence,
    ideal: float,
    semantic: np.ndarray | None = None,
    soft_missing: float | None = None,
) -> dict[str, float]:
    """The signals of the best candidate the decision is made from, each about 0…1
    (``soft_missing``, from :func:`bot.core.pipeline.softmatch.soft_missing`, when computed)."""
    weights = evidence.weights
    total = float(weights.sum()) or 1.0
    known = np.array([c.known for c in question.concepts], dtype=bool)
    values = dict.fromkeys(FEATURES, 0.0)
    values["unknown"] = float(weights[~known].sum()) / total if len(known) else 1.0
    values["type_missing"] = float(question.answer_type is not None)
    if soft_missing is not None:
        values["soft_missing"] = soft_missing
    if not len(scores):
        values["rarest_missing"] = 1.0
        return values
    present = evidence.presence[0]
    largest = float(weights.max(initial=0.0)) or 1.0
    missing = known & ~present
    values["coverage"] = float(evidence.coverage[0])
    values["sentence_coverage"] = float(evidence.sentence_coverage[0])
    values["pool_coverage"] = float(evidence.coverage.max())
    values["rarest_missing"] = float(weights[missing].max(initial=0.0)) / largest
    values["score"] = min(float(scores[0]) / (ideal or 1.0), 1.0)
    runner_up = float(scores[1]) if len(scores) > 1 else 0.0
    values["margin"] = (float(scores[0]) - runner_up) / float(scores[0]) if scores[0] else 0.0
    values["type_missing"] = float(question.answer_type is not None and not evidence.typed[0])
    if semantic is not None and len(semantic):
        values["semantic"] = float(semantic[0])
        values["pool_semantic"] = float(np.max(semantic))  # for the gate, not a model input
    return values


def judge(
    question: Question,
    scores: np.ndarray,
    evidence: Evidence,
    ideal: float,
    settings: AnswerabilitySettings,
    semantic: np.ndarray | None = None,
    semantic_model: Path = SEMANTIC_MODEL_PATH,
    soft_missing: float | None = None,
) -> Verdict:
    """Answer (and with which rows) or decline with the reason; ``semantic_model`` is the model
    fitted with the cosines in ``semantic`` (see :func:`semantic_model_path`), ``soft_missing``
    the signal it may weigh besides (:data:`STATIC_FEATURES`)."""
    signals = features(question, scores, evidence, ideal, semantic, soft_missing)
    meaning = semantic is not None and len(semantic) == len(scores)
    threshold = threshold_of(settings, semantic_model if meaning else None)
    if meaning:
        model = load_model(semantic_model)
        min_coverage = _given(settings.semantic_min_coverage, model.min_coverage)
    else:
        model, min_coverage = load_model(settings.model), settings.min_coverage
    probability = model.probability(signals) if len(scores) else 0.0
    holds = evidence.coverage >= min_coverage
    if meaning:
        assert semantic is not None
        min_semantic = _given(settings.min_semantic, model.min_semantic)
        holds = holds | (np.asarray(semantic) >= min_semantic)
    if not len(scores) or not holds.any() or probability < threshold:
        return Verdict([], why_not(question, evidence), probability, signals)
    keep = (scores >= settings.min_relative * scores[0]) & holds
    relevant = [int(r) for r in np.flatnonzero(keep)]
    return Verdict(relevant, None, probability, signals)


def threshold_of(settings: AnswerabilitySettings, semantic_model: Path | None) -> float:
    """The P(answerable) a question must reach: the lexical threshold, or with a semantic
    scorer (``semantic_model``: its fitted model) that model's unless the settings set one."""
    if semantic_model is None:
        return settings.threshold
    return _given(settings.semantic_threshold, load_model(semantic_model).threshold)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _listed(words: list[str], quote: str = "'", last: str = " or ") -> str:
    shown = [f"{quote}{w}{quote}" for w in dict.fromkeys(words)][:3]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + last + shown[-1]


def why_not(question: Question, evidence: Evidence) -> str:
    """One line saying why nothing was quoted, from what the sources hold of the question."""
    weights = evidence.weights
    missing = sorted(
        (-float(w), k)
        for k, (c, w) in enumerate(zip(question.concepts, weights, strict=True))
        if not c.known
    )
    # the rarest words no passage has (a common one like "next" only when nothing rarer is)
    unknown = [question.concepts[k].surface for w, k in missing if -w >= -missing[0][0] / 2]
    if missing and len(missing) == len(question.concepts):
        return f"Nothing in the sources matches {_listed(unknown)}."
    names = [c.surface for c in question.concepts if not c.known and c.surface[:1].isupper()]
    if names:
        return f"No source mentions {_listed(names, '', ' or ')}."
    if unknown:
        return f"No source mentions {_listed(unknown)}."
    if len(evidence.passages):
        best = int(np.argmax(evidence.presence @ evidence.weights))
        lacking = [
            c.surface
            for c, p in zip(question.concepts, evidence.presence[best], strict=True)
            if not p
        ]
        if lacking:
            return f"No passage speaks of {_listed(lacking, last=' and ')} with the rest."
    return "No passage matches the question closely enough."
