"""Incremental updates: after any series of adds, changes and removals, exactly a full rebuild."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from bot.core import build as build_module
from bot.core.bm25 import VARIANTS, BM25Params
from bot.core.build import build_index, ensure_index
from bot.core.index import Index, load_index
from bot.core.pipeline.engine import Engine
from bot.core.tokenizer import tokenize

WORDS = "island treaty talks visa sanction bread flour yeast harbour fishing quota ferry".split()


def _article(rng: random.Random, n: int) -> str:
    paragraphs = [
        " ".join(rng.choices(WORDS, k=rng.randint(8, 60))).capitalize() + "."
        for _ in range(rng.randint(1, 5))
    ]
    return f"---\ntitle: Article {n}\noutlet: Outlet {n % 3}\n---\n\n" + "\n\n".join(paragraphs)


def _articles(folder: Path, rng: random.Random, count: int, name: str) -> Path:
    """``count`` generated articles named by the ``name`` pattern, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / name.format(n)).write_text(_article(rng, n), encoding="utf-8")
    return folder


def _jsonl(rng: random.Random, n: int) -> str:
    rows = [
        {"id": f"doc-{n}-{i}", "title": f"Doc {i}", "text": " ".join(rng.choices(WORDS, k=30))}
        for i in range(rng.randint(1, 4))
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def _same(a: Index, b: Index) -> None:
    """Two generations with byte-identical content (the build stamp aside)."""
    for name in sorted(a.manifest["sizes"]):
        left = (a.generation / name).read_bytes()
        assert left == (b.generation / name).read_bytes(), name
    assert a.manifest["counts"] == b.manifest["counts"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_series_of_updates_equals_a_full_rebuild(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    params = BM25Params(variant=VARIANTS[seed % len(VARIANTS)])
    sources = _articles(tmp_path / "sources", rng, 6, "a{:02}.md")
    (sources / "sub").mkdir()
    (sources / "sub" / "batch.jsonl").write_text(_jsonl(rng, 99), encoding="utf-8")
    incremental, full = tmp_path / "inc", tmp_path / "full"
    ensure_index(sources, incremental, params)
    for step in range(8):
        names = sorted(p for p in sources.rglob("*") if p.is_file())
        action = rng.choice(["add", "change", "remove"] if len(names) > 2 else ["add"])
        if action == "add":
            target = sources / f"a{rng.randint(0, 99):02}{rng.choice(['', 'x'])}.md"
            target.write_text(_article(rng, step + 10), encoding="utf-8")
        elif action == "change":
            target = rng.choice(names)
            text = _jsonl(rng, step) if target.suffix == ".jsonl" else _article(rng, step + 50)
            target.write_text(text, encoding="utf-8")
        else:
            rng.choice(names).unlink()
        notes: list[str] = []
        updated = ensure_index(sources, incremental, params, notes.append)
        assert any("read again" in n for n in notes)  # the incremental path was taken
        build_index(sources, full, params)
        rebuilt = load_index(full)
        _same(updated, rebuilt)
        ours, theirs = Engine(updated), Engine(rebuilt)
        for words in (rng.sample(WORDS, 2) for _ in range(4)):
            query = {ours.backend.term_id(t): 1.0 for t in tokenize(" ".join(words))}
            assert query and None not in query
            got, want = ours.backend.search(query, 10, {}), theirs.backend.search(query, 10, {})
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            question = " ".join(words)
            assert _answer(ours, question) == _answer(theirs, question)


def _answer(engine: Engine, question: str) -> dict:
    """The answer as JSON, without its timings."""
    return {k: v for k, v in engine.ask(question).to_json().items() if k != "timings"}


def test_update_reads_only_the_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    sources = _articles(tmp_path / "sources", rng, 5, "a{}.md")
    ensure_index(sources, tmp_path / "index", BM25Params())
    read: list[str] = []
    real = build_module.read_file

    def counting(path: Path, base: Path, *rest):  # type: ignore[no-untyped-def]
        read.append(path.name)
        return real(path, base, *rest)

    monkeypatch.setattr(build_module, "read_file", counting)
    (sources / "a2.md").write_text(_article(rng, 20), encoding="utf-8")
    ensure_index(sources, tmp_path / "index", BM25Params())
    assert read == ["a2.md"]
    index = load_index(tmp_path / "index")
    assert [index.sources[i].id for i in range(len(index.sources))] == [f"a{n}" for n in range(5)]
    assert np.all(np.diff(index.passage_source) >= 0)


def test_worker_processes_build_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large corpora are tokenized by worker processes, in small chunks: the same bytes."""
    sources = _articles(tmp_path / "sources", random.Random(11), 12, "a{:02}.md")
    build_index(sources, tmp_path / "serial", BM25Params())
    monkeypatch.setattr(build_module, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(build_module, "CHUNK_PASSAGES", 3)
    monkeypatch.setattr(build_module.os, "cpu_count", lambda: 2)
    assert build_module._can_fork()  # the worker path is the one taken
    build_index(sources, tmp_path / "parallel", BM25Params())
    _same(load_index(tmp_path / "serial"), load_index(tmp_path / "parallel"))
