"""The index on disk: round trip, staleness, corruption, atomic rebuilds, no pickle."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.core.bm25 import BM25Params
from bot.core.build import build_index
from bot.core.index import IndexCorrupt, IndexMissing, SourceTable, load_index
from bot.core.manifest import read_files, read_manifest, staleness
from bot.core.passages import split_sources
from bot.core.pipeline.engine import Engine, open_index
from bot.core.sources import SourceMeta, load_sources
from bot.core.tokenizer import TOKENIZER_VERSION, tokenize
from tests.helpers import ROOT, write_corpus

PARAMS = BM25Params()


def test_round_trip_keeps_passages_metadata_and_manifest(corpus: tuple[Path, Path]) -> None:
    sources_dir, index_dir = corpus
    index = load_index(index_dir)
    sources, _ = load_sources(sources_dir)
    passages = split_sources(sources)
    assert index.size == len(passages)
    for i, p in enumerate(passages):
        assert index.text(i) == sources[p.source_index].text[p.start : p.end]
        assert index.source(i).id == sources[p.source_index].meta.id
    manifest = index.manifest
    assert manifest["tokenizer"] == TOKENIZER_VERSION
    assert manifest["bm25"] == PARAMS.to_dict()
    assert manifest["built_at"].endswith("+00:00")
    files = read_files(index.directory, manifest)
    assert set(files) == {"kurils.md", "bread.md"}
    assert all(len(f["sha256"]) == 64 for f in files.values())
    assert index.sources[1].title == "Islands dispute drags on"
    assert index.sources[1].date == "2022-03-22"


def test_built_index_is_not_committed() -> None:
    """Everything a rebuild writes into index/ is git-ignored; only its README is tracked."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = [
        "index/manifest.json",
        "index/build-20260101T000000Z-abcdef/weights.npy",
        "index/.lock",
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", *names], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    assert ignored == names
    tracked = subprocess.run(
        ["git", "ls-files", "index"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == ["index/README.md"]


def test_staleness_names_what_changed(corpus: tuple[Path, Path]) -> None:
    sources_dir, index_dir = corpus
    assert staleness(index_dir, sources_dir, PARAMS) is None
    (sources_dir / "bread.md").write_text(
        "---\ntitle: Changed\n---\n\nNew text.\n", encoding="utf-8"
    )
    assert staleness(index_dir, sources_dir, PARAMS) == "1 source changed (bread.md)"
    (sources_dir / "extra.txt").write_text("Extra\n\nMore text.\n", encoding="utf-8")
    (sources_dir / "kurils.md").unlink()
    reason = staleness(index_dir, sources_dir, PARAMS)
    assert reason is not None
    assert "1 source added (extra.txt)" in reason and "1 source removed (kurils.md)" in reason
    assert staleness(index_dir, sources_dir, BM25Params(k1=0.9)) == "the BM25 settings have changed"


def test_touching_a_file_without_changing_it_is_not_stale(corpus: tuple[Path, Path]) -> None:
    sources_dir, index_dir = corpus
    path = sources_dir / "bread.md"
    path.write_bytes(path.read_bytes())
    assert staleness(index_dir, sources_dir, PARAMS) is None


def test_stale_or_missing_index_is_rebuilt_and_says_so(tmp_path: Path) -> None:
    sources_dir = write_corpus(tmp_path / "sources")
    notes: list[str] = []
    open_index(sources_dir, tmp_path / "index", PARAMS, notes.append)
    assert notes[0].startswith("Rebuilding the index: there is no index")
    notes.clear()
    open_index(sources_dir, tmp_path / "index", PARAMS, notes.append)
    assert notes == []
    (sources_dir / "new.txt").write_text("New\n\nFresh text about islands.\n", encoding="utf-8")
    engine = Engine(open_index(sources_dir, tmp_path / "index", PARAMS, notes.append))
    assert notes[0] == "Rebuilding the index: 1 source added (new.txt)."
    assert len(engine.sources()) == 3


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="rebuild"):
        load_index(tmp_path)


def _generation(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir)["generation"]


@pytest.mark.parametrize("victim", ["weights.npy", "terms.bin", "texts.bin", "indptr.npy"])
def test_truncated_file_is_reported_with_name_and_fix(
    corpus: tuple[Path, Path], victim: str
) -> None:
    _, index_dir = corpus
    path = _generation(index_dir) / victim
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(IndexCorrupt) as err:
        load_index(index_dir)
    assert victim in str(err.value) and "python -m bot rebuild" in str(err.value)


def test_garbage_manifest_and_missing_file(corpus: tuple[Path, Path]) -> None:
    _, index_dir = corpus
    (_generation(index_dir) / "docs.npy").unlink()
    with pytest.raises(IndexCorrupt, match=r"docs\.npy"):
        load_index(index_dir)
    (index_dir / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match=r"manifest\.json"):
        load_index(index_dir)


def test_same_size_garbage_is_refused_without_pickle(corpus: tuple[Path, Path]) -> None:
    """A .npy holding Python objects would need pickle to load: it is refused as corrupt."""
    _, index_dir = corpus
    path = _generation(index_dir) / "zero.npy"
    size = path.stat().st_size
    np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["sizes"]["zero.npy"] = path.stat().st_size
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    assert size  # the original was a plain float array
    with pytest.raises(IndexCorrupt, match=r"zero\.npy"):
        load_index(index_dir)


def test_crash_mid_rebuild_leaves_previous_index_usable(
    corpus: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sources_dir, index_dir = corpus
    before = read_manifest(index_dir)
    (sources_dir / "new.txt").write_text("New\n\nFresh text.\n", encoding="utf-8")
    calls = 0
    real_save = np.save

    def crashing_save(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError(28, "No space left on device")
        real_save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("numpy.save", crashing_save)
    with pytest.raises(OSError, match="No space"):
        build_index(sources_dir, index_dir, PARAMS)
    monkeypatch.undo()
    assert read_manifest(index_dir) == before
    assert load_index(index_dir).size > 0
    leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_rebuild_replaces_generation_and_cleans_up(corpus: tuple[Path, Path]) -> None:
    sources_dir, index_dir = corpus
    old = read_manifest(index_dir)["generation"]
    report = build_index(sources_dir, index_dir, PARAMS)
    assert report.sources == 2 and report.passages >= 2 and report.vocabulary > 10
    new = read_manifest(index_dir)["generation"]
    assert new != old and not (index_dir / old).exists() and (index_dir / new).is_dir()


def test_forward_index_equals_tokenizing_the_passage_text(corpus: tuple[Path, Path]) -> None:
    """The stored per-passage term counts are exactly what tokenizing each passage gives."""
    index = load_index(corpus[1])
    terms = {i: t for t, i in index.vocabulary.items()}
    ids = [index.size - 1, 0, *range(index.size)]
    indptr, term_ids, counts = index.forward(ids)
    assert indptr.dtype == np.int64 and term_ids.dtype == counts.dtype == np.int32
    assert len(indptr) == len(ids) + 1
    for row, passage in enumerate(ids):
        got = term_ids[indptr[row] : indptr[row + 1]]
        assert list(got) == sorted(got)
        expected = Counter(tokenize(index.text(passage)))
        assert {
            terms[int(t)]: int(c)
            for t, c in zip(got, counts[indptr[row] : indptr[row + 1]], strict=True)
        } == expected
        assert int(index.doc_len[passage]) == sum(expected.values())
    empty = index.forward([])
    assert list(empty[0]) == [0] and len(empty[1]) == 0


def test_kind_multiplier_is_skipped_when_every_passage_weighs_one(
    corpus: tuple[Path, Path],
) -> None:
    index = load_index(corpus[1])
    assert index.kind_multiplier({"body": 1.0, "caption": 0.8}) is None  # no captions here
    halved = index.kind_multiplier({"body": 0.5})
    assert halved is not None and np.all(halved == 0.5)


def test_source_lines_decode_as_json_loads_and_extra_data_is_refused(tmp_path: Path) -> None:
    lines = [
        b'{"id": "a", "path": "a.md", "title": "Caf\\u00e9 \xc3\xa9t\xc3\xa9", "x": [1, 2]}\n',
        b'  {"id": "b", "path": "b.md"}  \n',
        b'{"id": "c", "path": "c.md"} {"id": "d"}\n',
    ]
    offsets = np.cumsum([0, *map(len, lines)])
    table = SourceTable(b"".join(lines), offsets, tmp_path / "sources.jsonl")
    assert table[0] == SourceMeta.from_dict(json.loads(lines[0]))
    assert table[0].title == "Café été" and table[0].extra == {"x": [1, 2]}
    assert table[1].id == "b"
    with pytest.raises(IndexCorrupt, match="source 2: extra data"):
        table[2]
