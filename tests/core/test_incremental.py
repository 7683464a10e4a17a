"""Incremental updates: after any series of adds, changes and removals, exactly a full rebuild."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.core import bm25 as bm25_module
from bot.core import reading as reading_module
from bot.core import sources as sources_module
from bot.core import update as update_module
from bot.core.bm25 import VARIANTS, BM25Params
from bot.core.build import build_index, ensure_index
from bot.core.generation import finish_generation
from bot.core.index import Index, IndexCorrupt, load_index
from bot.core.pipeline.engine import Engine
from bot.core.segments import SegmentedIndex
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


def _same_view(a: Index, b: Index) -> None:
    """Two indexes that read the same through every accessor: passages, texts, sources, terms
    (by spelling: term ids may differ), idf, df, forward vectors, token streams and every
    one-term search."""
    assert a.manifest["counts"] == b.manifest["counts"] and a.size == b.size
    for name in ("passage_source", "passage_start", "passage_end", "passage_kind", "doc_len"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert [a.text(i) for i in range(a.size)] == [b.text(i) for i in range(b.size)]
    assert [s.to_dict() for s in a.sources] == [s.to_dict() for s in b.sources]
    terms = list(b.vocabulary)
    assert list(a.vocabulary) == terms and len(a.vocabulary) == len(terms)
    ids_a = np.array([a.vocabulary[t] for t in terms], dtype=np.int64)
    ids_b = np.arange(len(terms))
    assert [a.vocabulary.term(int(i)) for i in ids_a] == terms
    assert np.array_equal(a.idf[ids_a], b.idf[ids_b])
    assert np.array_equal(a.document_frequency(ids_a), b.document_frequency(ids_b))
    spelled = {}
    for index, ids in ((a, ids_a), (b, ids_b)):
        by_id = dict(zip(ids.tolist(), terms, strict=True))
        indptr, fwd, counts = index.forward(np.arange(index.size))
        rows = [(fwd[lo:hi], counts[lo:hi]) for lo, hi in itertools.pairwise(indptr.tolist())]
        assert all(np.all(np.diff(row) > 0) for row, _ in rows)  # ids ascend in a passage
        spelled[id(index)] = [
            sorted(zip(map(by_id.get, row.tolist()), n.tolist(), strict=True)) for row, n in rows
        ]
    assert spelled[id(a)] == spelled[id(b)]
    (sa, token_a), (sb, token_b) = a.streams_of(np.arange(a.size)), b.streams_of(np.arange(b.size))
    for x, y in zip(dataclasses.astuple(sa), dataclasses.astuple(sb), strict=True):
        assert np.array_equal(x, y)  # spans, flags, sentences, ranks: all the same
    assert [a.vocabulary.term(int(t)) for t in token_a] == [terms[t] for t in token_b]
    for ta, tb in zip(ids_a.tolist(), ids_b.tolist(), strict=True):
        got, want = a.search([ta], [1.0], 10, {}), b.search([tb], [1.0], 10, {})
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    for term in ("pizza", "zzz"):
        assert a.vocabulary.get(term) is None and b.vocabulary.get(term) is None


@pytest.mark.parametrize("delta", [False, True], ids=["merged", "delta"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_series_of_updates_equals_a_full_rebuild(
    tmp_path: Path, seed: int, delta: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every update a delta over the last full build (or every one merged): a full rebuild."""
    monkeypatch.setattr(update_module, "MERGE_SHARE", 1e9 if delta else -1.0)
    # odd seeds rank through the score floor (bm25.score_floor), even ones partition every entry
    monkeypatch.setattr(bm25_module, "FLOOR_MIN_ENTRIES", 0 if seed % 2 else 10**9)
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
        assert isinstance(updated, SegmentedIndex) == delta
        if not delta:
            _same(updated, rebuilt)
        _same_view(updated, rebuilt)
        kinds = {"caption": 0.8, "references": 0.5, "note": 0.5}
        for words in (rng.sample(WORDS, 3) for _ in range(4)):
            ids = [[i.vocabulary[t] for t in tokenize(" ".join(words))] for i in (updated, rebuilt)]
            got = updated.search(ids[0], [1.0, 0.5, 0.3][: len(ids[0])], 10, kinds)
            want = rebuilt.search(ids[1], [1.0, 0.5, 0.3][: len(ids[1])], 10, kinds)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        ours, theirs = Engine(updated), Engine(rebuilt)
        for words in (rng.sample(WORDS, 2) for _ in range(4)):
            found = [ours.backend.term_id(t) for t in tokenize(" ".join(words))]
            query = {t: 1.0 for t in found if t is not None}
            assert query and len(query) == len(set(found))
            got, want = ours.backend.search(query, 10, {}), theirs.backend.search(query, 10, {})
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            question = " ".join(words)
            assert _answer(ours, question) == _answer(theirs, question)


def _answer(engine: Engine, question: str) -> dict[str, Any]:
    """The answer as JSON, without its timings."""
    return {k: v for k, v in engine.ask(question).to_json().items() if k != "timings"}


def test_update_reads_only_the_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    sources = _articles(tmp_path / "sources", rng, 5, "a{}.md")
    ensure_index(sources, tmp_path / "index", BM25Params())
    read: list[str] = []
    real = sources_module.read_file

    def counting(path: Path, base: Path, *rest):  # type: ignore[no-untyped-def]
        read.append(path.name)
        return real(path, base, *rest)

    monkeypatch.setattr(reading_module, "read_file", counting)
    (sources / "a2.md").write_text(_article(rng, 20), encoding="utf-8")
    ensure_index(sources, tmp_path / "index", BM25Params())
    assert read == ["a2.md"]
    index = load_index(tmp_path / "index")
    assert [index.sources[i].id for i in range(len(index.sources))] == [f"a{n}" for n in range(5)]
    assert np.all(np.diff(index.passage_source) >= 0)


def _generation_files(index: Index) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in index.generation.iterdir()}


def test_a_new_article_is_a_delta_over_the_untouched_base(tmp_path: Path) -> None:
    sources = _articles(tmp_path / "sources", random.Random(5), 40, "a{:02}.md")
    index_dir = tmp_path / "index"
    base = ensure_index(sources, index_dir, BM25Params())
    before = _generation_files(base)
    (sources / "b-new.md").write_text(
        "---\ntitle: Quokkas\n---\n\nVolunteers counted quokkas on the island.\n", "utf-8"
    )
    notes: list[str] = []
    updated = ensure_index(sources, index_dir, BM25Params(), notes.append)
    assert isinstance(updated, SegmentedIndex) and "1 passage(s) in a delta" in notes[-1]
    assert _generation_files(updated.base) == before  # not one file of the base rewritten
    answer = Engine(updated).ask("how many quokkas were counted?")
    assert answer.quotes and answer.quotes[0].source.title == "Quokkas"
    assert load_index(index_dir, deep=True).size == base.size + 1  # every digest of both
    build_index(sources, index_dir, BM25Params())  # `rebuild`: always a full one
    rebuilt = load_index(index_dir)
    assert not isinstance(rebuilt, SegmentedIndex)
    assert [p.name for p in index_dir.iterdir() if p.name.startswith("build-")] == [
        rebuilt.manifest["generation"]
    ]


def test_a_delta_past_its_share_is_merged(tmp_path: Path) -> None:
    rng = random.Random(6)
    sources = _articles(tmp_path / "sources", rng, 30, "a{:02}.md")
    index_dir, full = tmp_path / "index", tmp_path / "full"
    ensure_index(sources, index_dir, BM25Params())
    _articles(sources, rng, 1, "b{:02}.md")
    assert isinstance(ensure_index(sources, index_dir, BM25Params()), SegmentedIndex)
    _articles(sources, rng, 8, "c{:02}.md")  # now well over a tenth of the base
    merged = ensure_index(sources, index_dir, BM25Params())
    assert not isinstance(merged, SegmentedIndex)
    build_index(sources, full, BM25Params())
    _same(merged, load_index(full))


def test_removals_alone_and_clashing_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A removal is a delta of no passages; a new source reusing a live id is merged instead."""
    monkeypatch.setattr(update_module, "MERGE_SHARE", 1e9)
    rng = random.Random(8)
    sources = _articles(tmp_path / "sources", rng, 6, "a{:02}.md")
    (sources / "batch.jsonl").write_text(_jsonl(rng, 1), encoding="utf-8")
    index_dir, full = tmp_path / "index", tmp_path / "full"
    ensure_index(sources, index_dir, BM25Params())
    (sources / "a03.md").unlink()
    removed = ensure_index(sources, index_dir, BM25Params())
    assert isinstance(removed, SegmentedIndex) and removed.delta.size == 0
    build_index(sources, full, BM25Params())
    _same_view(removed, load_index(full))
    (sources / "again.jsonl").write_text(_jsonl(rng, 1), encoding="utf-8")  # doc-1-0 again
    clashing = ensure_index(sources, index_dir, BM25Params())
    assert not isinstance(clashing, SegmentedIndex)
    build_index(sources, full, BM25Params())
    _same(clashing, load_index(full))


def test_a_damaged_delta_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update_module, "MERGE_SHARE", 1e9)
    sources = _articles(tmp_path / "sources", random.Random(9), 6, "a{:02}.md")
    index_dir = tmp_path / "index"
    ensure_index(sources, index_dir, BM25Params())
    _articles(sources, random.Random(10), 1, "b{:02}.md")
    delta = ensure_index(sources, index_dir, BM25Params())
    assert isinstance(delta, SegmentedIndex)
    runs = delta.generation / "mix-runs.npy"
    data = bytearray(runs.read_bytes())
    data[-8] ^= 0x40
    runs.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match=r"mix-runs\.npy"):
        load_index(index_dir)
    shutil.rmtree(delta.base.generation)
    with pytest.raises(IndexCorrupt, match="file missing"):
        load_index(index_dir)


def test_a_delta_that_fails_midway_leaves_the_index_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(update_module, "MERGE_SHARE", 1e9)
    sources = _articles(tmp_path / "sources", random.Random(12), 6, "a{:02}.md")
    index_dir = tmp_path / "index"
    before = ensure_index(sources, index_dir, BM25Params())
    _articles(sources, random.Random(13), 1, "b{:02}.md")

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(update_module, "finish_generation", crash)
    with pytest.raises(OSError, match="disk full"):
        ensure_index(sources, index_dir, BM25Params())
    after = load_index(index_dir)
    assert after.manifest == before.manifest and not isinstance(after, SegmentedIndex)
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.setattr(update_module, "finish_generation", finish_generation)
    assert isinstance(ensure_index(sources, index_dir, BM25Params()), SegmentedIndex)
