"""Reading a build's sources in pieces, by worker processes or not: the same index to the byte."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from bot.core import reading
from bot.core.bm25 import BM25Params
from bot.core.build import build_index
from bot.core.index import load_index
from bot.core.reading import Piece, pieces
from bot.core.source_files import Problem

WORDS = "oil prices rose sharply 17,000 Café Tokyo’s talks treaty 1956 67% the of and".split()


def _corpus(folder: Path, rng: random.Random) -> Path:
    """Articles, a plain text, and an archive with blank, broken and duplicate-id lines."""
    folder.mkdir(parents=True)
    for n in range(7):
        body = "\n\n".join(
            " ".join(rng.choices(WORDS, k=rng.randint(5, 90))) for _ in range(rng.randint(1, 4))
        )
        (folder / f"a{n}.md").write_text(f"---\ntitle: Article {n}\n---\n\n{body}\n")
    (folder / "notes.txt").write_text("Notes\n\n" + " ".join(rng.choices(WORDS, k=40)))
    lines = []
    for i in range(400):
        if i % 97 == 5:
            lines.append("")
        elif i % 89 == 7:
            lines.append("{not json")
        else:
            doc = i if i % 71 else 3  # a few ids repeat an earlier line's, across pieces too
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 40)))
            lines.append(json.dumps({"id": f"d{doc}", "title": f"Doc {i}", "text": text}))
    (folder / "archive.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _files(index_dir: Path) -> dict[str, bytes]:
    """Every file of the current generation, and the manifest's digests."""
    index = load_index(index_dir, deep=True)
    out = {name: (index.generation / name).read_bytes() for name in index.manifest["sizes"]}
    out["digests"] = json.dumps(index.manifest["digests"], sort_keys=True).encode()
    return out


def test_the_index_is_the_same_whatever_the_number_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = _corpus(tmp_path / "sources", random.Random(5))
    notes: list[str] = []
    build_index(
        sources, tmp_path / "serial", BM25Params(), on_problem=lambda p: notes.append(str(p))
    )
    serial = _files(tmp_path / "serial")
    assert any("duplicate source id 'd3'" in n for n in notes)
    assert any("invalid JSON" in n for n in notes)
    monkeypatch.setattr(reading, "PIECE_BYTES", 700)  # the archive in a few dozen pieces
    monkeypatch.setattr("bot.core.build.PARALLEL_BYTES", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert reading.can_fork()  # the worker path is the one taken
    for workers in (1, 2, 3):
        monkeypatch.setattr(reading, "MAX_WORKERS", workers)
        again: list[Problem] = []
        build_index(sources, tmp_path / f"w{workers}", BM25Params(), on_problem=again.append)
        assert _files(tmp_path / f"w{workers}") == serial, workers
        assert [str(p) for p in again] == notes  # the same problems, in corpus order


def test_an_archive_is_cut_into_whole_lines_numbered_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "a.jsonl"
    archive.write_bytes(b"".join(b'{"id": %d, "text": "line %d"}\n' % (i, i) for i in range(100)))
    monkeypatch.setattr(reading, "PIECE_BYTES", 256)
    cut = pieces(archive)
    assert len(cut) > 5 and cut[0].start == 0 and cut[-1].end == archive.stat().st_size
    data = archive.read_bytes()
    for before, after in itertools.pairwise(cut):
        assert before.end == after.start and data[after.start - 1 : after.start] == b"\n"
        assert after.line == data[: after.start].count(b"\n") + 1
    read = reading.read_piece(cut[2], tmp_path, set())
    assert read.ids[0] == str(cut[2].line - 1)  # line n holds id n-1
    assert pieces(tmp_path / "a.jsonl") == cut and pieces(archive)[0] != Piece(archive)
