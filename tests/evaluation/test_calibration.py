"""Fitting the answerability model: weights per set, the fit, the threshold, the stored file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.core.pipeline.answerability import (
    FEATURES,
    MODEL_PATH,
    SEMANTIC_FEATURES,
    SEMANTIC_MODEL_PATH,
    STATIC_FEATURES,
    STATIC_MODEL_PATH,
    load_model,
)
from bot.evaluation.calibration import balanced_weights, choose_threshold, fit
from tests.helpers import ROOT


def test_every_set_weighs_the_same() -> None:
    groups = np.array([0, 0, 0, 1])
    weights = balanced_weights(np.array([1.0, 0.0, 1.0, 1.0]), groups)
    assert weights[groups == 0].sum() == weights[groups == 1].sum() == 0.5


def test_the_fit_separates_what_a_feature_separates() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((400, 2))
    y = (x[:, 0] > 0.5).astype(float)  # only the first feature matters
    beta = fit(x, y, np.full(400, 1 / 400))
    assert beta[1] > 3 and abs(beta[2]) < 1
    p = 1 / (1 + np.exp(-(beta[0] + x @ beta[1:])))
    threshold, accuracy, met = choose_threshold(p, y, np.zeros(400, dtype=int))
    assert met == 2 and accuracy > 0.95 and 0.2 < threshold < 0.8


def test_the_stored_model_names_every_feature_and_how_it_was_fitted() -> None:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert set(data["coefficients"]) == set(FEATURES)
    assert "calibration" in data["how"] and data["fitted_on"]
    assert all("calibration" in name for name in data["fitted_on"])  # never a reported set
    model = load_model(MODEL_PATH)
    low = dict.fromkeys(FEATURES, 0.0) | {"unknown": 1.0, "rarest_missing": 1.0}
    high = dict.fromkeys(FEATURES, 1.0) | {
        "unknown": 0.0,
        "rarest_missing": 0.0,
        "type_missing": 0.0,
    }
    assert model.probability(low) < model.threshold < model.probability(high)


@pytest.mark.parametrize(
    ("path", "names"),
    [(SEMANTIC_MODEL_PATH, SEMANTIC_FEATURES), (STATIC_MODEL_PATH, STATIC_FEATURES)],
    ids=["minilm", "static"],
)
def test_each_semantic_model_adds_the_cosine_and_was_fitted_on_calibration_sets_only(
    path: Path, names: tuple[str, ...]
) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data["coefficients"]) == set(names)
    assert data["coefficients"]["semantic"] > 0  # closer in meaning: more likely answered
    assert all("calibration" in name for name in data["fitted_on"])
    assert 0 < data["min_semantic"] < 1 and 0 < data["threshold"] < 1


def test_every_set_must_answer_nine_in_ten_not_only_on_average() -> None:
    # Set 0's answerable questions score 0.6–0.95, set 1's 0.30–0.39 and its unanswerable 0.2:
    # a threshold of 0.4 answers all of set 0 but none of set 1 (a mean of 0.5 answered).
    p = np.concatenate([np.linspace(0.6, 0.95, 10), np.linspace(0.30, 0.39, 10), [0.2] * 10])
    y = np.concatenate([np.ones(20), np.zeros(10)])
    groups = np.array([0] * 10 + [1] * 20)
    threshold, _, met = choose_threshold(p, y, groups)
    answered = p >= threshold
    assert met == 2
    assert answered[(groups == 1) & (y == 1)].mean() >= 0.9  # the least-answered set decides


def test_when_the_gate_declines_too_much_nine_in_ten_of_what_it_lets_through_count() -> None:
    # Set 1's coverage gate declines 2 of its 10 answerable questions (p = 0): no threshold
    # answers nine in ten of them, so the model must keep nine in ten of the eight it may answer.
    p = np.concatenate([np.linspace(0.6, 0.95, 10), [0.0, 0.0] + [0.5] * 8, [0.3] * 10])
    y = np.concatenate([np.ones(20), np.zeros(10)])
    groups = np.array([0] * 10 + [1] * 20)
    threshold, _, met = choose_threshold(p, y, groups)
    answered = p >= threshold
    assert met == 1 and answered[(groups == 1) & (y == 1)].mean() >= 0.9 * 0.8
    assert threshold > 0.3  # and the unanswerable ones at 0.3 are declined


def test_an_absent_calibration_set_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """``python -m bot.evaluation.calibration`` without the shared data says what is missing."""
    command = [sys.executable, "-m", "bot.evaluation.calibration", "--shared", str(tmp_path / "x")]
    command += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "model.json")]
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: ") and "not found" in result.stderr
    assert not (tmp_path / "model.json").exists()
