"""A damaged, hostile or contended index: one clear line naming the file, never a wrong answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.core.bm25 import BM25Params
from bot.core.build import build_index, ensure_index
from bot.core.index import IndexCorrupt, load_index
from bot.core.manifest import read_manifest
from bot.core.pipeline.engine import Engine
from bot.errors import CorpusError
from tests.helpers import ROOT, run_cli, write_corpus

PARAMS = BM25Params()
FILES = sorted(
    [
        *(f"{a}.npy" for a in ("indptr", "docs", "weights", "tf", "zero", "idf", "doc_len")),
        *(f"{a}.npy" for a in ("passage_source", "passage_start", "passage_end", "passage_kind")),
        *(f"{a}.npy" for a in ("text_offsets", "source_offsets", "vocab_offsets", "vocab_table")),
        *(f"forward_{a}.npy" for a in ("indptr", "terms", "counts")),
        *(f"stream_{a}.npy" for a in ("indptr", "ranks", "starts", "ends", "flags")),
        *(f"sentence_{a}.npy" for a in ("indptr", "starts", "ends", "first")),
        "texts.bin",
        "sources.jsonl",
        "terms.bin",
        "files.json",
    ]
)


def _gen(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir)["generation"]


def _edit_manifest(index_dir: Path, **changes: object) -> None:
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_every_file_of_the_index_is_listed_with_a_digest(corpus: tuple[Path, Path]) -> None:
    manifest = read_manifest(corpus[1])
    assert sorted(manifest["digests"]) == FILES == sorted(p.name for p in _gen(corpus[1]).iterdir())


@pytest.mark.parametrize("victim", FILES)
def test_same_size_damage_anywhere_is_caught_at_load(
    corpus: tuple[Path, Path], victim: str
) -> None:
    """Small indexes are digest-checked at every load: no silent wrong answer, no traceback."""
    path = _gen(corpus[1]) / victim
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt) as err:
        load_index(corpus[1])
    message = str(err.value)
    assert victim in message and "python -m bot rebuild" in message and "\n" not in message
    assert issubclass(IndexCorrupt, CorpusError)


@pytest.mark.parametrize(
    ("victim", "garbage"),
    [
        ("text_offsets.npy", np.int64(1 << 40)),
        ("source_offsets.npy", np.int64(-5)),
        ("indptr.npy", np.int64(1 << 50)),
        ("forward_indptr.npy", np.int64(-1)),
        ("passage_source.npy", np.int32(99)),
        ("passage_kind.npy", np.uint8(200)),
        ("vocab_table.npy", np.int32(1 << 30)),
    ],
)
def test_structure_is_checked_without_digests(
    corpus: tuple[Path, Path], victim: str, garbage: np.generic
) -> None:
    """What large indexes check at every load: offsets ascending and in range, ids in range."""
    path = _gen(corpus[1]) / victim
    array = np.load(path)
    array[len(array) // 2] = garbage
    np.save(path, array)
    with pytest.raises(IndexCorrupt, match=victim.replace(".", r"\.")):
        load_index(corpus[1], deep=False)


def test_deep_check_reads_every_id(corpus: tuple[Path, Path]) -> None:
    path = _gen(corpus[1]) / "docs.npy"
    array = np.load(path)
    array[0] = 10_000
    np.save(path, array)
    with pytest.raises(IndexCorrupt, match=r"docs\.npy"):
        load_index(corpus[1], deep=True)


def test_a_bad_npy_never_suggests_allow_pickle(corpus: tuple[Path, Path]) -> None:
    path = _gen(corpus[1]) / "zero.npy"
    np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    manifest = read_manifest(corpus[1])
    manifest["sizes"]["zero.npy"] = path.stat().st_size
    (corpus[1] / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match=r"zero\.npy") as err:
        load_index(corpus[1], deep=False)
    assert "pickle" not in str(err.value)
    path.write_bytes(b"\x93NUMPY\x01\x00" + b"x" * (path.stat().st_size - 8))
    with pytest.raises(IndexCorrupt, match=r"zero\.npy") as err:
        load_index(corpus[1], deep=False)
    assert "pickle" not in str(err.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"counts": "many"},
        {"counts": {"sources": "2", "passages": 4, "vocabulary": 9}},
        {"bm25": ["plus"]},
        {"bm25": {"variant": "plus", "k1": "1.2", "b": 0.75, "delta": 1.0, "epsilon": 0.25}},
        {"generation": 5},
        {"sizes": []},
        {"digests": {"texts.bin": "zz"}},
        {"built_at": None},
        {"skipped": {}},
    ],
)
def test_manifest_fields_of_the_wrong_type(
    corpus: tuple[Path, Path], changes: dict[str, Any]
) -> None:
    _edit_manifest(corpus[1], **changes)
    with pytest.raises(IndexCorrupt, match=r"manifest\.json"):
        load_index(corpus[1])


@pytest.mark.parametrize("generation", ["../other/build-x", "/tmp/build-x", "build-x/../../y"])
def test_generation_outside_the_index_folder_is_refused(
    corpus: tuple[Path, Path], generation: str, tmp_path: Path
) -> None:
    outside = tmp_path / "other" / "build-x"
    outside.parent.mkdir()
    os.rename(_gen(corpus[1]), outside)
    _edit_manifest(corpus[1], generation=generation)
    with pytest.raises(IndexCorrupt, match=r"manifest\.json|build folder"):
        load_index(corpus[1])


def test_symlinks_out_of_the_index_are_not_followed(corpus: tuple[Path, Path]) -> None:
    gen = _gen(corpus[1])
    size = (gen / "texts.bin").stat().st_size
    (gen / "texts.bin").unlink()
    target = corpus[1].parent / "secret.txt"
    target.write_bytes(b"s" * size)
    (gen / "texts.bin").symlink_to(target)
    with pytest.raises(IndexCorrupt, match=r"texts\.bin.*symlink"):
        load_index(corpus[1], deep=False)
    (gen / "texts.bin").unlink()
    (gen / "texts.bin").symlink_to("/etc/passwd")
    with pytest.raises(IndexCorrupt, match=r"texts\.bin.*symlink"):
        load_index(corpus[1])
    linked = corpus[1].parent / "linked"
    os.rename(gen, linked)
    gen.symlink_to(linked)
    with pytest.raises(IndexCorrupt, match="symlink"):
        load_index(corpus[1])


def test_health_notices_damage_to_a_loaded_index(corpus: tuple[Path, Path]) -> None:
    index = load_index(corpus[1])
    assert index.health() is None
    path = _gen(corpus[1]) / "text_offsets.npy"
    with path.open("r+b") as handle:  # in place: the loaded map sees it
        handle.seek(-8, os.SEEK_END)
        handle.write(np.int64(1 << 40).tobytes())
    problem = index.health()
    assert problem is not None and "text_offsets.npy" in problem


def test_check_command_verifies_digests(corpus: tuple[Path, Path]) -> None:
    sources, index_dir = corpus
    ok = run_cli("check", "--sources", str(sources), "--index", str(index_dir))
    assert ok.returncode == 0 and "ok" in ok.stdout and "digest" in ok.stdout
    path = _gen(index_dir) / "weights.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x55
    path.write_bytes(bytes(data))
    bad = run_cli("check", "--sources", str(sources), "--index", str(index_dir))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1 and "weights.npy" in bad.stderr and "rebuild" in bad.stderr


def test_damaged_answers_exit_1_with_one_line(corpus: tuple[Path, Path]) -> None:
    sources, index_dir = corpus
    path = _gen(index_dir) / "sources.jsonl"
    path.write_bytes(os.urandom(path.stat().st_size))
    result = run_cli("ask", "--sources", str(sources), "--index", str(index_dir), "bread")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "sources.jsonl" in result.stderr and "Traceback" not in result.stderr


_HOLD_LOCK = """
import sys
from pathlib import Path
from bot.core.generation import rebuild_lock
from bot.core.bm25 import BM25Params
with rebuild_lock(Path(sys.argv[1]), print):
    print("locked", flush=True)
    sys.stdin.readline()
    from bot.core import build
    build._build(Path(sys.argv[2]), Path(sys.argv[1]), BM25Params(), None, None, None)
"""


def test_a_second_rebuild_waits_for_the_first_and_then_finds_it_fresh(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "sources")
    index_dir = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(index_dir), str(sources)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        notes: list[str] = []
        done: list[Engine] = []
        waiter = threading.Thread(
            target=lambda: done.append(
                Engine(ensure_index(sources, index_dir, PARAMS, notes.append))
            )
        )
        waiter.start()
        deadline = time.monotonic() + 20
        while not notes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert notes == [f"Waiting for the rebuild started by pid {holder.pid}."]
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        waiter.join(timeout=60)
        assert done and done[0].ask("sourdough starter").answered
        assert not any(n.startswith("Rebuilding") for n in notes)  # the other one did the work
    finally:
        holder.kill()
        holder.wait(timeout=10)


_REBUILD_LOOP = """
import sys
from pathlib import Path
from bot.core.build import build_index
from bot.core.bm25 import BM25Params
stop = Path(sys.argv[3])
for built in range(1, 200):
    build_index(Path(sys.argv[2]), Path(sys.argv[1]), BM25Params())
    print(built, flush=True)
    if stop.exists():
        break
"""


def test_loads_racing_rebuilds_in_another_process_never_fail(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    """Loads go on until the other process has swapped in several new generations (or 60 s
    pass), whatever the two processes' relative speed on a loaded machine."""
    sources, index_dir = corpus
    stop = tmp_path / "stop"
    rebuilder = subprocess.Popen(
        [sys.executable, "-c", _REBUILD_LOOP, str(index_dir), str(sources), str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert rebuilder.stdout is not None
    built: list[str] = []
    counter = threading.Thread(target=lambda: built.extend(rebuilder.stdout or ()), daemon=True)
    counter.start()
    loads = failures = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(built) < 5 or loads < 50):
            try:
                assert load_index(index_dir).size > 0
            except IndexCorrupt:
                failures += 1
            loads += 1
    finally:
        stop.touch()
        rebuilder.wait(timeout=60)
        counter.join(timeout=10)
    assert rebuilder.returncode == 0 and failures == 0, (loads, failures)
    assert len(built) >= 5 and loads >= 50, (len(built), loads)


def test_read_only_stale_index_answers_with_a_warning(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only file system")
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        sources = write_corpus(tmp_path / "sources")
        build_index(sources, mount / "index", PARAMS)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        (sources / "new.txt").write_text("New\n\nFresh text about rye bread.\n", encoding="utf-8")
        notes: list[str] = []
        engine = Engine(ensure_index(sources, mount / "index", PARAMS, notes.append))
        assert engine.ask("sourdough starter").answered
        assert len(notes) == 1 and notes[0].startswith("warning: the index is out of date")
        assert "1 source added (new.txt)" in notes[0] and "cannot be written" in notes[0]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_long_arrays_are_checked_on_a_sample_with_exact_ends(
    corpus: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SAMPLE entries the load checks a strided sample (fast at any size), ends exactly."""
    from bot.core import index_checks as index_module

    monkeypatch.setattr(index_module, "SAMPLE", 2)
    assert len(load_index(corpus[1], deep=False).text_offsets) > 2  # longer than the sample
    path = _gen(corpus[1]) / "text_offsets.npy"
    array = np.load(path)
    array[-1] += 1  # the end no longer matches texts.bin
    np.save(path, array)
    with pytest.raises(IndexCorrupt, match=r"text_offsets\.npy"):
        load_index(corpus[1], deep=False)
    array[-1] -= 1
    array[0] = 7  # a sampled entry
    np.save(path, array)
    with pytest.raises(IndexCorrupt, match=r"text_offsets\.npy"):
        load_index(corpus[1], deep=False)


def test_load_samples_evenly_spaced_runs_with_both_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long array's load sample is SAMPLE entries in runs, its first and last entry included."""
    from bot.core import index_checks as index_module

    monkeypatch.setattr(index_module, "SAMPLE", 64)
    monkeypatch.setattr(index_module, "SAMPLE_WINDOWS", 4)
    array = np.arange(10_000)
    sample = index_module._sample(array)
    assert len(sample) == 64 and sample[0] == 0 and sample[-1] == 9_999
    assert np.all(np.diff(sample) > 0) and len(np.unique(np.diff(sample))) == 2  # 4 runs of 16
    assert np.array_equal(index_module._sample(array[:50]), array[:50])  # short: all of it


def _rss_file_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssFile")))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_checked_array_leaves_this_process_memory(tmp_path: Path) -> None:
    """A deep check reads every posting but holds one array's pages at a time (build peak)."""
    import mmap

    from bot.core import index_checks

    path = tmp_path / "big.bin"
    path.write_bytes(np.arange(8 << 20, dtype=np.int32).tobytes())  # 32 MB
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(mapped, dtype=np.int32)
    before = _rss_file_kb()
    assert int(array.sum(dtype=np.int64)) > 0  # every page read
    touched = _rss_file_kb()
    index_checks.release(array)
    assert touched - before > 16_000 and _rss_file_kb() < touched - 16_000
    assert int(array[-1]) == (8 << 20) - 1  # still readable: from the page cache again
