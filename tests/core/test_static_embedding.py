"""The static word vectors: WordLlama's own embedding, read from its wheel without importing it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.core import static_embedding
from bot.core.embedding import SemanticUnavailable
from bot.core.pipeline import semantic
from bot.core.pipeline.answerability import STATIC_MODEL_PATH, load_model
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.semantic import MINILM, STATIC, SemanticSettings, VectorScorer
from bot.core.static_embedding import StaticEmbedder, static_installed
from tests.helpers import write_corpus

needs_vectors = pytest.mark.skipif(not static_installed(), reason="wordllama is not installed")
TEXTS = [
    "Where are the graves of their ancestors?",
    "Former residents — 17,000 Japanese — lived on the islands until 1945.",
    "Kishida called the sanctions 'appropriate' in Tokyo.",
    "déjà vu, naïve café 日本",
]
# WordLlama's own loader and embed(norm=True), run in a child process: importing the package
# configures the root logger, which must not leak into this test session.
REFERENCE = """
import json, sys, pathlib, wordllama
from wordllama import WordLlama
model = WordLlama.load(cache_dir=pathlib.Path(wordllama.__file__).parent, disable_download=True)
print(json.dumps(model.embed(json.loads(sys.argv[1]), norm=True).tolist()))
"""


@needs_vectors
def test_vectors_equal_wordllamas_own_embedding() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    reference = np.array(json.loads(done.stdout.splitlines()[-1]), dtype=np.float32)
    ours = StaticEmbedder().encode(TEXTS)
    assert ours.shape == (len(TEXTS), 256) and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-6


@needs_vectors
def test_an_empty_text_is_a_zero_row_and_the_rest_unit_rows() -> None:
    out = StaticEmbedder().encode(["", "The harbour froze.", ""])
    assert not out[0].any() and not out[2].any()
    assert np.linalg.norm(out[1]) == pytest.approx(1.0, abs=1e-5)
    assert StaticEmbedder().encode([]).shape == (0, 256)
    with pytest.raises(TypeError):
        StaticEmbedder().encode("one string")


def test_missing_vectors_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert not static_installed()
    with pytest.raises(SemanticUnavailable, match="pip install"):
        static_embedding.locate_static_files()


def test_the_best_installed_model_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "model_installed", lambda: True)
    assert semantic.installed_model() == MINILM
    monkeypatch.setattr(semantic, "model_installed", lambda: False)
    monkeypatch.setattr(semantic, "static_installed", lambda: True)
    assert semantic.installed_model() == STATIC
    monkeypatch.setattr(semantic, "static_installed", lambda: False)
    assert semantic.installed_model() is None
    assert semantic.semantic_stage(SemanticSettings("auto")) is None


@needs_vectors
def test_an_engine_on_static_vectors_decides_with_their_own_model(tmp_path: Path) -> None:
    articles = {
        "a.md": "---\ntitle: A\n---\nFormer residents visited the graves of their ancestors.\n",
        "b.md": "---\ntitle: B\n---\nThe council approved the city budget on Monday.\n",
    }
    tuning = Tuning(semantic=SemanticSettings("on", model=STATIC))
    engine = Engine.open(write_corpus(tmp_path / "s", articles), tmp_path / "i", tuning)
    assert isinstance(engine.semantic, VectorScorer) and engine.semantic.model == STATIC
    assert engine.threshold() == load_model(STATIC_MODEL_PATH).threshold
    answer = engine.ask("Who visited the graves of their ancestors?")
    assert answer.answered and "graves" in answer.quotes[0].text
