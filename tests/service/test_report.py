"""``python -m bot report`` on generated question logs (including rotated files)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.frontends.cli.main import main
from bot.service.report import percentile
from bot.service.service import Request, Service
from tests.helpers import run_cli, service_settings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path so no config.yaml or index of the repository is picked up."""
    monkeypatch.chdir(tmp_path)


def entry(
    day: str,
    question: str,
    *,
    frontend: str = "discord",
    answered: bool = True,
    latency: float = 5.0,
    passages: tuple[int, ...] = (),
    error: str | None = None,
) -> dict[str, Any]:
    """One log line as the service writes it."""
    line: dict[str, Any] = {
        "time": f"{day}T12:00:00.000+00:00",
        "frontend": frontend,
        "user": "abcd",
        "question": question,
        "k": 3,
        "offset": 0,
        "answered": answered and error is None,
        "passages": [{"id": p, "source": f"src{p % 2}", "score": 1.5} for p in passages],
        "latency_ms": latency,
        "index": "build-test",
    }
    if error:
        line["error"] = error
    return line


def write_log(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write entries as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A log of 100 entries over three days, split over the log and two rotated files."""
    log = tmp_path / "logs" / "q.jsonl"
    oldest = [entry("2026-11-01", f"who won round {n}", passages=(1, 2)) for n in range(30)]
    middle = [
        entry("2026-11-02", "What is the capital of Australia?", answered=False),
        entry("2026-11-02", "what's the CAPITAL of australia", answered=False, frontend="http"),
        entry("2026-11-02", "Capital of Australia??", answered=False),
        entry("2026-11-02", "When is the next eclipse?", answered=False),
        entry("2026-11-02", "the of and", error="the question has no searchable words"),
    ] + [entry("2026-11-02", "islands", passages=(2,), frontend="http") for _ in range(25)]
    newest = [entry("2026-11-03", "islands", passages=(3,)) for _ in range(40)]
    for i, e in enumerate(oldest + middle + newest):
        e["latency_ms"] = float(i + 1)
    write_log(log.with_name("q.jsonl.2"), oldest)
    write_log(log.with_name("q.jsonl.1"), middle)
    write_log(log, [*newest[:20], {"not": "an entry"}])
    with log.open("a", encoding="utf-8") as handle:
        handle.write("{torn line\n")
        handle.write("".join(json.dumps(e) + "\n" for e in newest[20:]))
    return log


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """Run the report command in-process with --json and parse what it printed."""
    assert main(["report", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_report_covers_the_log_and_its_rotated_files(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_json(capsys, "--log", str(log))
    assert report["files"] == [str(log) + ".2", str(log) + ".1", str(log)]
    assert report["skipped_lines"] == 2
    assert report["totals"] == {
        "questions": 100,
        "answered": 95,
        "abstained": 4,
        "rejected": 1,
        "abstention_rate": round(4 / 99, 4),
    }
    assert report["days"]["2026-11-01"]["questions"] == 30
    assert report["days"]["2026-11-02"] == {
        "questions": 30,
        "answered": 25,
        "abstained": 4,
        "rejected": 1,
        "abstention_rate": round(4 / 29, 4),
    }
    assert report["frontends"]["http"]["questions"] == 26
    assert report["frontends"]["discord"]["questions"] == 74
    assert report["first"].startswith("2026-11-01") and report["last"].startswith("2026-11-03")


def test_latency_percentiles_leave_out_rejected_questions(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_json(capsys, "--log", str(log))
    latencies = [float(n) for n in range(1, 101) if n != 35]  # entry 35 was rejected
    assert report["latency_ms"] == {
        "p50": round(percentile(latencies, 50) or 0, 2),
        "p95": round(percentile(latencies, 95) or 0, 2),
        "p99": round(percentile(latencies, 99) or 0, 2),
    }
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 95) is None


def test_unanswered_questions_are_grouped_by_content_words(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unanswered = report_json(capsys, "--log", str(log))["unanswered"]
    assert [(u["count"], u["phrasings"]) for u in unanswered] == [(3, 3), (1, 1)]
    assert unanswered[0]["question"] in {
        "What is the capital of Australia?",
        "what's the CAPITAL of australia",
        "Capital of Australia??",
    }
    assert unanswered[0]["words"] == ["australia", "capit"]
    assert unanswered[1]["question"] == "When is the next eclipse?"


def test_the_passages_quoted_most_come_first(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quoted = report_json(capsys, "--log", str(log))["quoted"]
    assert [(q["passage_id"], q["count"]) for q in quoted] == [(2, 55), (3, 40), (1, 30)]
    assert quoted[0]["source"] == "src0"


def test_since_keeps_later_days_only(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = report_json(capsys, "--log", str(log), "--since", "2026-11-02")
    assert report["since"] == "2026-11-02"
    assert list(report["days"]) == ["2026-11-02", "2026-11-03"]
    assert report["totals"]["questions"] == 70


def test_plain_text_report(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert f"Question log: {log} (+2 rotated)" in out
    assert "100 questions, 2026-11-01 to 2026-11-03; abstention rate 4.0%" in out
    assert "(2 unreadable line(s) skipped)" in out
    assert "Most-asked questions the sources could not answer" in out
    assert "(+2 other phrasings)" in out
    assert "passage 2 of src0" in out
    assert "Latency (ms)   p50 " in out


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "2026/11/01", "20261101"])
def test_a_bad_since_is_one_line_and_exit_2(log: Path, since: str) -> None:
    result = run_cli("report", "--log", str(log), "--since", since, cwd=log.parent)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --since {since!r}: expected a date, YYYY-MM-DD"


def test_a_missing_log_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("report", "--log", str(tmp_path / "none.jsonl"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: no question log at {tmp_path / 'none.jsonl'} " + (
        "(nothing asked yet?)"
    )
    assert result.stdout == ""


def test_the_log_path_comes_from_the_config(
    tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"question_log:\n  path: {log}\n", encoding="utf-8")
    assert report_json(capsys, "--config", str(config))["totals"]["questions"] == 100
    config.write_text("question_log:\n  path: null\n", encoding="utf-8")
    assert main(["report", "--config", str(config)]) == 1
    assert "question log is off" in capsys.readouterr().err


def test_a_log_written_by_the_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = service_settings(tmp_path)
    service = Service.open(settings)
    question = "How many Japanese lived on the islands before the Soviet occupation?"

    async def scenario() -> None:
        for n in range(3):
            await service.ask(Request(question, frontend="http", k=1, user_id=n))
        await service.ask(
            Request("What is the capital of Australia?", frontend="discord", k=3, user_id=1)
        )

    asyncio.run(asyncio.wait_for(scenario(), 30))
    service.close()
    config = tmp_path / "config.yaml"
    log_path = settings.question_log.path
    config.write_text(f"index: {settings.index}\nquestion_log:\n  path: {log_path}\n")
    report = report_json(capsys, "--config", str(config))
    assert report["totals"]["answered"] == 3
    assert report["unanswered"][0]["question"] == "What is the capital of Australia?"
    [top] = report["quoted"]
    assert top["count"] == 3
    assert top["excerpt"].startswith("About 17,000 Japanese lived on the islands")


def test_entries_with_wrong_types_or_impossible_values_are_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = entry("2026-11-02", "islands", passages=(2,))
    bad = [
        {**good, "passages": [{"id": [1, 2], "source": "src0"}]},  # a list for a passage id
        {**good, "latency_ms": float("nan")},
        {**good, "latency_ms": -4.0},
        {**good, "time": "2999-01-01T00:00:00+00:00"},
        {**good, "time": 1767225600},
        {**good, "answered": "yes"},
        {**good, "frontend": ["http"]},
        {**good, "vote": "meh"},  # a vote that is none of up, down, wrong_source
    ]
    log = tmp_path / "q.jsonl"
    write_log(log, [good, *bad, good])
    report = report_json(capsys, "--log", str(log))
    assert report["skipped_lines"] == len(bad)
    assert report["totals"]["questions"] == 2
    assert report["last"].startswith("2026-11-02")
    assert report["latency_ms"]["p99"] == 5.0
    result = run_cli("report", "--log", str(log), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nan" not in result.stdout.lower() and "2999" not in result.stdout
    assert f"({len(bad)} unreadable line(s) skipped)" in result.stdout
