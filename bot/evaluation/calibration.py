"""Fit the answerability model on the calibration sets — never on the sets whose figures we publish.

``python -m bot.evaluation.calibration [--shared ../shared]`` asks every question of the
calibration sets (chat, BBC archive, SQuAD 2.0's calibration sample, disjoint from the reported
one), records the answerability signals of each, fits a logistic regression with NumPy
(Newton's method, a small L2 penalty; each set weighs the same, shared by its questions), picks
the probability threshold with the best mean abstention accuracy over the sets among those that
still answer 90% of the answerable questions of every set (the product's target holds per set,
so the least-answered set decides), and writes the coefficients with these notes to
``bot/core/pipeline/answerability.json``. With ``--semantic`` the model also weighs the cosine of
an embedding model (the best installed, or ``--model``): ``answerability.semantic.json`` for
MiniLM, ``answerability.static.json`` for the static word vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.core.pipeline.answerability import (
    FEATURES,
    MODEL_PATH,
    model_features,
    semantic_model_path,
)
from bot.core.pipeline.engine import Tuning
from bot.core.pipeline.semantic import MINILM, MODELS, SemanticSettings, installed_model
from bot.errors import NewsbotError, exit_status
from bot.evaluation.sets import CALIBRATION, REGISTRY, Workspace

L2 = 0.01  # penalty on the coefficients (not the intercept), per unit of total sample weight
MIN_ANSWERED = 0.9  # the product target: answer 9 in 10 answerable questions, in every set
MIN_SEMANTIC_GRID = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 1.0)  # 1.0: words only
# The share of the question's words a quote must hold, fitted with the semantic model only: on
# words alone a passage holding less than half the question is not quoted (a name no passage
# has stays a reason to decline), only meaning close enough may stand in for the rest.
MIN_COVERAGE_GRID = (0.3, 0.35, 0.4, 0.45, 0.5)
LEXICAL_MIN_COVERAGE = 0.5


def collect(
    ws: Workspace, semantic: bool = False, model: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Signals (questions × features, then the gate's pool signal), labels (answerable), set
    numbers, set names. With ``semantic`` the engines rank with the semantic stage (``model``,
    or the best installed)."""
    tuning = Tuning(semantic=SemanticSettings("on" if semantic else "off", model=model))
    chosen_model = (model or installed_model()) if semantic else None
    features = [*model_features(chosen_model), "pool_semantic"]
    rows, labels, groups, names = [], [], [], []
    for number, chosen in enumerate(s for s in REGISTRY if s.purpose == CALIBRATION):
        prepared = chosen.prepare(ws)
        engine = prepared.engine(tuning)
        names.append(chosen.name)
        for item in prepared.questions:
            signals = engine.signals(item.question)
            rows.append([signals.get(f, 0.0) for f in features])
            labels.append(item.answerable)
            groups.append(number)
    return np.array(rows), np.array(labels, dtype=float), np.array(groups), names


def balanced_weights(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each set weighs 1 in all, shared equally by its questions."""
    weights = np.zeros(len(labels))
    for group in np.unique(groups):
        mask = groups == group
        weights[mask] = 1.0 / mask.sum()
    return weights / weights.sum()


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 50) -> np.ndarray:
    """Weighted, L2-penalised logistic regression by Newton's method; [intercept, coefs…]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], L2)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (w * (p - y)) + penalty * beta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def choose_threshold(p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """The threshold with the best mean (over sets) abstention accuracy, that accuracy, and
    which answered-rate constraint it meets: 2 when it answers ``MIN_ANSWERED`` of every set's
    answerable questions (the product's target, which holds per set); else 1: it answers
    ``MIN_ANSWERED`` of what the coverage gate lets through in every set (the rate at the lowest
    threshold; a gate that declines more leaves the model that much less to give up)."""
    sets = [groups == g for g in np.unique(groups)]
    answerable = [s & (y == 1) for s in sets if (s & (y == 1)).any()]
    best: dict[int, tuple[float, float]] = {}
    ceiling: np.ndarray | None = None
    for threshold in np.round(np.arange(0.05, 0.951, 0.01), 2):
        answered = p >= threshold
        accuracy = float(np.mean([np.mean(answered[s] == (y[s] == 1)) for s in sets]))
        rates = np.array([answered[a].mean() for a in answerable])
        ceiling = rates if ceiling is None else ceiling
        for level, floor in ((2, MIN_ANSWERED), (1, MIN_ANSWERED * ceiling)):
            met = bool(np.all(rates >= floor - 1e-12))
            if met and (level not in best or accuracy > best[level][1] + 1e-12):
                best[level] = (float(threshold), accuracy)
    level = max(best)  # the lowest threshold always meets level 1
    return (*best[level], level)


def main(argv: Sequence[str] | None = None) -> None:
    """Fit, report per set, and write the model file atomically."""
    parser = argparse.ArgumentParser(prog="python -m bot.evaluation.calibration")
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/eval"))
    parser.add_argument("--semantic", action="store_true", help="fit the semantic-stage model")
    parser.add_argument(
        "--model", choices=MODELS, default=None, help="with --semantic: this embedding model"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    model = (args.model or installed_model() or MINILM) if args.semantic else None
    names_used = model_features(model)
    out = args.out or (semantic_model_path(model) if model else MODEL_PATH)
    table, y, groups, names = collect(
        Workspace(shared=args.shared, cache=args.cache), args.semantic, model
    )
    x, pool_semantic = table[:, :-1], table[:, -1]
    beta = fit(x, y, balanced_weights(y, groups))
    raw = 1.0 / (1.0 + np.exp(-(beta[0] + x @ beta[1:])))
    # The stage also needs a passage holding enough of the question's words — or, with the
    # semantic stage, one close enough in meaning: both chosen here with the threshold, those
    # meeting the answered-rate constraint best first.
    pool_coverage = x[:, FEATURES.index("pool_coverage")]
    best: tuple[int, float, float, float, float] | None = None
    for min_coverage in MIN_COVERAGE_GRID if args.semantic else (LEXICAL_MIN_COVERAGE,):
        for min_semantic in MIN_SEMANTIC_GRID if args.semantic else (1.0,):
            gate = (pool_coverage >= min_coverage) | (pool_semantic >= min_semantic)
            threshold, accuracy, met = choose_threshold(np.where(gate, raw, 0.0), y, groups)
            if best is None or (met, accuracy) > (best[0], best[1] + 1e-12):
                best = (met, accuracy, threshold, min_coverage, min_semantic)
    assert best is not None
    _, accuracy, threshold, min_coverage, min_semantic = best
    gate = (pool_coverage >= min_coverage) | (pool_semantic >= min_semantic)
    p = np.where(gate, raw, 0.0)
    per_set = {}
    for g, name in enumerate(names):
        mask = groups == g
        answered = p[mask] >= threshold
        per_set[name] = {
            "questions": int(mask.sum()),
            "answerable": int(y[mask].sum()),
            "abstention_accuracy": round(float(np.mean(answered == (y[mask] == 1))), 3),
            "answered_when_answerable": round(float(answered[y[mask] == 1].mean()), 3),
            "declined_when_unanswerable": round(float((~answered[y[mask] == 0]).mean()), 3),
        }
    model = {
        "coefficients": {f: round(float(c), 4) for f, c in zip(names_used, beta[1:], strict=True)},
        "intercept": round(float(beta[0]), 4),
        "threshold": threshold,
        "min_coverage": min_coverage,
        "min_semantic": min_semantic,
        "how": (
            "logistic regression fitted by python -m bot.evaluation.calibration on the "
            "calibration sets only; each set weighs the same, shared equally by its "
            f"questions; L2 {L2}; threshold = best mean abstention accuracy over the sets "
            f"answering at least {MIN_ANSWERED} of each set's answerable (else of what the "
            "coverage gate lets through)"
        ),
        "fitted_on": per_set,
        "mean_abstention_accuracy": round(accuracy, 3),
    }
    _write_json(out, model)
    print(json.dumps(model, indent=1))


def _write_json(path: Path, data: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    try:
        main()
    except NewsbotError as exc:  # a calibration set that is absent, say: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_status(exc))
