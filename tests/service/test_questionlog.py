"""The question log: entry format, hashed users, the salt, rotation, failures, flush and close."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.core.pipeline.engine import Engine
from bot.errors import QuestionError
from bot.service.linefile import LineFile
from bot.service.questionlog import QuestionLog, salt_path
from bot.service.report import log_files
from bot.service.service import Request, Service
from tests.helpers import service_settings

QUESTION = "How many Japanese lived on the islands before the Soviet occupation?"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No salt from the environment or a stray .env unless a test sets one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSBOT_LOG_SALT", raising=False)


def lines(path: Path) -> list[dict[str, Any]]:
    """The entries of one log file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_entry_has_every_field_and_no_raw_user_id(tmp_path: Path, small: Engine) -> None:
    path = tmp_path / "logs" / "q.jsonl"
    log = QuestionLog(path, salt="pepper")
    answer = small.ask(QUESTION, k=2)
    log.record(
        frontend="discord",
        user_id=123456789012345678,
        question=QUESTION,
        answer=answer,
        latency_ms=3.14159,
        k=2,
        index="build-x",
    )
    log.close()
    [entry] = lines(path)
    assert entry["frontend"] == "discord"
    assert entry["question"] == QUESTION
    assert entry["answered"] is True
    assert entry["k"] == 2
    assert entry["latency_ms"] == 3.142
    assert entry["index"] == "build-x"
    assert [p["id"] for p in entry["passages"]] == [q.passage_id for q in answer.quotes]
    assert entry["passages"][0]["score"] == round(answer.quotes[0].score, 4)
    assert entry["passages"][0]["source"] == answer.quotes[0].source.id
    when = dt.datetime.fromisoformat(entry["time"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 60
    expected = hmac.new(b"pepper", b"123456789012345678", hashlib.sha256).hexdigest()[:16]
    assert entry["user"] == expected
    assert "123456789012345678" not in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_service_logs_answers_abstentions_and_rejections(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    service = Service.open(settings)

    async def scenario() -> None:
        await service.ask(Request(QUESTION, frontend="http", k=1, user_id="10.0.0.1"))
        await service.ask(
            Request("What is the capital of Australia?", frontend="discord", k=3, user_id=7)
        )
        with pytest.raises(QuestionError):
            await service.ask(Request("the of and", frontend="discord", k=3, user_id=7))
        await asyncio.to_thread(service.question_log.flush)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    service.close()
    assert settings.question_log.path is not None
    answered, abstained, rejected = lines(settings.question_log.path)
    assert (answered["frontend"], answered["answered"], len(answered["passages"])) == (
        "http",
        True,
        1,
    )
    assert (abstained["answered"], abstained["passages"], "error" in abstained) == (
        False,
        [],
        False,
    )
    assert rejected["answered"] is False
    assert "no searchable words" in rejected["error"]
    assert abstained["user"] == rejected["user"] != answered["user"]
    assert answered["index"] == service.engine.index.manifest["generation"]


def test_the_salt_is_random_kept_beside_the_log_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "q.jsonl"
    first = QuestionLog(path)
    salt_file = salt_path(path)
    assert salt_file.is_file()
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    assert len(salt_file.read_text(encoding="utf-8").strip()) == 32
    again = QuestionLog(path)
    other = QuestionLog(tmp_path / "elsewhere" / "q.jsonl")
    assert first.hash_user(42) == again.hash_user(42) != other.hash_user(42)
    assert first.hash_user(None) is None
    for log in (first, again, other):
        log.close()


def test_the_salt_comes_from_the_environment_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_LOG_SALT", "from-env")
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path)
    log.close()
    assert not salt_path(path).exists()
    assert log.hash_user("u1") == hmac.new(b"from-env", b"u1", hashlib.sha256).hexdigest()[:16]


def _fill(log: QuestionLog, count: int) -> None:
    for n in range(count):
        log.write({"n": n, "question": f"question number {n} " + "x" * 40})


def test_rotation_by_size_keeps_the_configured_backups(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path, max_bytes=400, backups=2, salt="s")
    _fill(log, 40)
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["q.jsonl", "q.jsonl.1", "q.jsonl.2", "q.jsonl.lock"]
    files = [path.with_name("q.jsonl.2"), path.with_name("q.jsonl.1"), path]
    numbers = [entry["n"] for f in files for entry in lines(f)]
    assert numbers == list(range(40 - len(numbers), 40))  # the newest, in order, none torn
    assert all(f.stat().st_size <= 400 for f in files)


def test_a_batch_is_split_and_rotated_exactly_as_single_lines_would_be(tmp_path: Path) -> None:
    batch = [f'{{"n": {n}, "pad": "{"x" * (n * 7 % 60)}"}}\n'.encode() for n in range(60)]
    one_by_one = LineFile(tmp_path / "a" / "q.jsonl", max_bytes=500, backups=50)
    for line in batch:
        one_by_one.append([line])
    together = LineFile(tmp_path / "b" / "q.jsonl", max_bytes=500, backups=50)
    together.append(batch[:7])
    together.append(batch[7:])
    one_by_one.close()
    together.close()
    a, b = log_files(tmp_path / "a" / "q.jsonl"), log_files(tmp_path / "b" / "q.jsonl")
    assert len(a) > 5
    assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]
    assert b"".join(f.read_bytes() for f in b) == b"".join(batch)  # oldest first, none lost


def test_rotation_without_backups_starts_the_file_afresh(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path, max_bytes=300, backups=0, salt="s")
    _fill(log, 20)
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.jsonl", "q.jsonl.lock"]
    assert lines(path)[-1]["n"] == 19


def test_a_null_path_disables_the_log(tmp_path: Path) -> None:
    log = QuestionLog(None)
    log.write({"question": "anything"})
    log.record(frontend="http", user_id=1, question="q", answer=None, latency_ms=1, k=3)
    assert log.flush() is True
    log.close()
    assert not log.enabled
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_path_is_reported_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log folder should be", encoding="utf-8")
    path = blocker / "q.jsonl"
    log = QuestionLog(path, salt="s")
    with caplog.at_level(logging.WARNING, logger="bot.service.questionlog"):
        for n in range(3):
            log.write({"n": n})
            assert log.flush(timeout=10)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "cannot write" in errors[0].getMessage()
        assert log.dropped == 3
        blocker.unlink()  # the operator fixes it; the next entry goes through
        log.write({"n": 3})
        log.close()
    assert [e["n"] for e in lines(path)] == [3]
    assert any("writing to" in r.getMessage() for r in caplog.records)


def test_close_writes_everything_queued(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path, salt="s")
    _fill(log, 500)
    log.close()
    log.close()  # idempotent
    log.write({"n": "late"})  # ignored after close
    assert [e["n"] for e in lines(path)] == list(range(500))


def test_writes_happen_off_the_calling_thread(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    log = QuestionLog(path, salt="s")
    writer = log._writer
    assert writer is not None and writer is not threading.current_thread() and writer.daemon
    log.close()
    assert not writer.is_alive()
