"""Nearly-right and unreadable sources through the command line: reported, the rest answering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_corpus

# Reading this fails even for root (a write-only sysctl), so the test means the same everywhere.
UNREADABLE = Path("/proc/sys/vm/drop_caches")


def _unreadable() -> bool:
    try:
        UNREADABLE.read_bytes()
    except PermissionError:
        return True
    except OSError:
        return False
    return False


@pytest.mark.skipif(not _unreadable(), reason=f"{UNREADABLE} is absent or readable here")
def test_an_unreadable_file_is_skipped_and_the_rest_answers(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s")
    opts = ["--sources", str(sources), "--index", str(tmp_path / "i")]
    assert run_cli(*opts, "rebuild").returncode == 0  # a good index first
    (sources / "bread.md").unlink()
    (sources / "bread.md").symlink_to(UNREADABLE)  # now reading it is "Permission denied"
    first = run_cli(*opts, "ask", "How many Japanese lived on the islands?")
    assert first.returncode == 0, first.stderr
    assert "17,000" in first.stdout
    assert "error: bread.md: cannot read: Permission denied" in first.stderr
    assert "1 document skipped" in first.stderr
    again = run_cli(*opts, "sources")  # reported once: the index now records the skip
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.rstrip().endswith("1 source")
    rebuilt = run_cli(*opts, "rebuild")
    assert rebuilt.returncode == 0 and "cannot read: Permission denied" in rebuilt.stderr


def test_nearly_right_files_are_kept_and_strays_listed(tmp_path: Path) -> None:
    sources = write_corpus(
        tmp_path / "s",
        {
            "dated.md": "---\ntitle: Ferry\ndate: March 2022\n---\n\nThe Wakkanai ferry sailed.\n",
            "bare.md": "# Snow in Sapporo\n\nHeavy snow closed the Sapporo roads.\n",
        },
    )
    (sources / "photo.jpg").write_bytes(b"\xff\xd8")
    (sources / "old.md").symlink_to(sources / "missing.md")
    os.symlink("loop.md", sources / "loop.md")
    opts = ["--sources", str(sources), "--index", str(tmp_path / "i")]
    result = run_cli(*opts, "rebuild")
    assert result.returncode == 0, result.stderr
    assert "Indexed 2 sources" in result.stdout and "skipped (see above)" not in result.stdout
    for line in (
        "warning: dated.md:3: date 'March 2022'",
        "warning: bare.md: no front matter",
        "warning: photo.jpg: skipped: .jpg files are not read",
        "warning: old.md: skipped: a broken symbolic link",
        "warning: loop.md: skipped: a symbolic link loop",
    ):
        assert line in result.stderr
    listing = {d["id"]: d for d in json.loads(run_cli(*opts, "sources", "--json").stdout)}
    assert listing["dated"]["date"] is None and listing["dated"]["date_note"] == "March 2022"
    assert listing["bare"]["title"] == "Snow in Sapporo"


def test_html_quotes_say_their_span_is_into_the_extracted_text(tmp_path: Path) -> None:
    from bot.core.html_source import read_html

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "page.html").write_text(
        '<html lang="en-GB"><head><title>Snow</title></head><body><article>'
        "<p>Heavy snow closed the roads around Sapporo for two days &amp; nights.</p>"
        "<p>Trains to Asahikawa ran again on Friday after the line was cleared.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    opts = ["--sources", str(folder), "--index", str(tmp_path / "i")]
    answer = json.loads(run_cli(*opts, "ask", "--json", "trains Asahikawa Friday").stdout)
    (result,) = answer["results"]
    assert result["span_in"] == "extracted_text"
    source, _ = read_html(folder / "page.html", folder)
    assert source is not None and source.meta.language == "en-GB"
    start, end = result["span"]
    assert source.text[start:end] == result["text"]
    listing = json.loads(run_cli(*opts, "sources", "--json").stdout)
    assert listing[0]["language"] == "en-GB"


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Who wrote the Caixin piece?", "Chen Lixiong"),
        ("Who edited the Caixin article?", "Lu Zhenhua"),
    ],
)
def test_who_wrote_and_who_edited_are_answered_with_the_credit_line(
    tmp_path: Path, question: str, names: str
) -> None:
    answer = json.loads(run_cli("--index", str(tmp_path), "ask", "--json", question).stdout)
    first = answer["results"][0]
    assert first["kind"] == "byline" and names in first["text"]
    assert first["source"]["outlet"] == "Caixin Global"
