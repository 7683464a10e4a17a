"""Control sequences in sources and logs never reach a terminal; JSON keeps them escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli, run_in_pty, write_corpus

CLEAR, TITLE, BEL = "\x1b[2J", "\x1b]0;pwned\x07", "\x07"
HOSTILE = {
    "hostile.txt": f"Harbour {TITLE}news\n\nThe harbour of Wakkanai froze{CLEAR} early this"
    f" winter{BEL}.\n",
}
RAW = ("\x1b", "\x07", "\x9b")


def _clean(text: str) -> None:
    for char in RAW:
        assert char not in text, repr(text)


@pytest.fixture(scope="module")
def opts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("hostile")
    sources = write_corpus(root / "sources", HOSTILE)
    (sources / "archive.jsonl").write_text(
        json.dumps({"id": "a1", "outlet": "Evil\x1b[31m\x9bTimes", "text": "Wakkanai ferry."})
        + "\n",
        encoding="utf-8",
    )
    (sources / f"broken{CLEAR}.md").write_text("---\ntitle: [oops\n---\n\nx\n", encoding="utf-8")
    return ["--sources", str(sources), "--index", str(root / "index")]


def test_piped_answer_shows_control_characters_visibly(opts: list[str]) -> None:
    result = run_cli(*opts, "ask", "harbour Wakkanai froze")
    assert result.returncode == 0, result.stderr
    _clean(result.stdout)
    _clean(result.stderr)  # the malformed file's name is shown without its escape
    assert "froze␛[2J early this winter␇." in result.stdout
    assert "broken␛[2J.md" in result.stderr


def test_terminal_answer_and_sources_carry_no_foreign_sequences(opts: list[str]) -> None:
    for args in (["ask", "harbour Wakkanai froze"], ["ask", "Wakkanai ferry"], ["sources"]):
        screen = run_in_pty([*opts, *args], columns=80)
        assert "Wakkanai" in screen or "hostile" in screen
        assert CLEAR not in screen and "\x1b]" not in screen and BEL not in screen
        assert "\x1b[31m" not in screen and "\x9b" not in screen


def test_json_keeps_the_characters_escaped(opts: list[str]) -> None:
    result = run_cli(*opts, "ask", "--json", "harbour Wakkanai froze")
    _clean(result.stdout)
    data = json.loads(result.stdout)
    assert (
        CLEAR in data["results"][0]["text"] and TITLE.strip() in data["results"][0]["attribution"]
    )
    listing = run_cli(*opts, "sources", "--json")
    _clean(listing.stdout)
    assert "Evil\x1b[31m\x9bTimes" in {d["outlet"] for d in json.loads(listing.stdout)}


def test_sources_list_and_report_are_printable(opts: list[str], tmp_path: Path) -> None:
    listing = run_cli(*opts, "sources")
    _clean(listing.stdout)
    assert "Evil␛[31m\ufffdTimes" in listing.stdout and "Harbour ␛]0;pwned␇news" in listing.stdout
    log = tmp_path / "questions.jsonl"
    entry: dict[str, object] = {
        "time": "2026-11-22T03:40:15+00:00",
        "frontend": "http",
        "question": f"x{TITLE}y",
    }
    entry |= {"k": 3, "offset": 0, "answered": False, "passages": [], "latency_ms": 1.0}
    log.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    report = run_cli(*opts, "report", "--log", str(log))
    assert report.returncode == 0, report.stderr
    _clean(report.stdout)
    assert "x␛]0;pwned␇y" in report.stdout
    as_json = run_cli(*opts, "report", "--json", "--log", str(log))
    _clean(as_json.stdout)
    assert json.loads(as_json.stdout)["files"] == [str(log)]
