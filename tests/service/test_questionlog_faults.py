"""The question log under faults: a full disk, a deleted or replaced file, several processes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.service.questionlog import QuestionLog, _Pending
from bot.service.report import log_files
from tests.helpers import ROOT


def entries(path: Path) -> list[dict[str, Any]]:
    """Every line of the log and its rotated files, each of which must be whole JSON."""
    found = []
    for file in log_files(path):
        data = file.read_bytes()
        assert not data or data.endswith(b"\n"), f"{file} ends in a partial line"
        found += [json.loads(line) for line in data.splitlines()]
    return found


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount; skipped where the machine does not allow it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'mount failed'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_full_disk_loses_whole_lines_counts_them_and_logs_once(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 16384)
    path = small_disk / "q.jsonl"
    log = QuestionLog(path, max_bytes=0, salt="s")
    with caplog.at_level(logging.WARNING):
        for n in range(900):
            log.write({"n": n, "question": f"question {n} " + "y" * 150})
        assert log.flush(timeout=30)
        written = entries(path)
        assert 0 < len(written) < 900
        assert len(written) + log.dropped == 900  # every loss counted, exactly once
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "No space left" in errors[0].getMessage()
        filler.unlink()  # space comes back: the log resumes, on a line of its own
        for n in range(900, 910):
            log.write({"n": n})
        log.close()
    after = entries(path)
    assert [e["n"] for e in after[-10:]] == list(range(900, 910))
    assert [e["n"] for e in after[:-10]] == [e["n"] for e in written]
    assert any("writing to" in r.getMessage() and "again" in r.getMessage() for r in caplog.records)


def test_a_deleted_or_replaced_log_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path, salt="s")
    log.write({"n": 0})
    assert log.flush()
    path.unlink()  # someone deletes it while the service runs
    log.write({"n": 1})
    assert log.flush()
    path.rename(tmp_path / "moved.jsonl")  # or an external logrotate moves it away
    log.write({"n": 2})
    log.close()
    assert [e["n"] for e in entries(path)] == [2]
    assert [e["n"] for e in entries(tmp_path / "moved.jsonl")] == [1]
    assert log.dropped == 0


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot.service.questionlog import QuestionLog

    path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log = QuestionLog(path, max_bytes=20_000, backups=200, salt="s")
    for n in range(count):
        log.write({"writer": name, "n": n, "question": "q" * (n % 90)})
    log.close()
    print(log.dropped)
    """
)


def test_several_processes_share_one_log_without_losing_or_tearing_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "q.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{i}", "2500"],
            stdout=subprocess.PIPE,
            env=env,
        )
        for i in range(4)
    ]
    dropped = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert dropped == [0, 0, 0, 0]
    found = entries(path)
    assert len(found) == 10_000
    assert len(log_files(path)) > 5  # it rotated, many times, across processes
    for i in range(4):
        assert [e["n"] for e in found if e["writer"] == f"w{i}"] == list(range(2500))
    assert all(f.stat().st_size <= 20_000 for f in log_files(path))


def test_a_full_queue_counts_every_refused_entry_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending = _Pending(limit=2)
    with caplog.at_level(logging.ERROR):
        for n in range(5):
            pending.put(json.dumps({"n": n}).encode())
    assert pending.dropped == 3
    assert len(pending.items) == 2
    assert len([r for r in caplog.records if "writer is behind" in r.getMessage()]) == 1


SALT_READER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot.service.questionlog import load_salt

    print(load_salt(Path(sys.argv[1])))
    """
)


def test_processes_starting_together_share_one_salt(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "q.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NEWSBOT_LOG_SALT", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SALT_READER, str(path)], stdout=subprocess.PIPE, env=env
        )
        for _ in range(6)
    ]
    salts = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(salts) == 1 and len(salts.pop()) == 32
    assert sorted(p.name for p in path.parent.iterdir()) == ["q.jsonl.salt"]
