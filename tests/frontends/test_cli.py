"""The command line end to end, through a subprocess, as a person or a script would use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Global options pointing at the repository's articles and a private index."""
    index = tmp_path_factory.mktemp("index")
    result = run_cli("--index", str(index), "rebuild")
    assert result.returncode == 0, result.stderr
    return ["--index", str(index)]


def test_ask_quotes_the_17000_passage_with_attribution(corpus: list[str]) -> None:
    result = run_cli(
        *corpus, "ask", "How many Japanese lived on the islands before the Soviet occupation?"
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.split("\n\n")[0]
    assert first.startswith("1. According to the Japanese government, about 17,000 Japanese")
    assert (
        "— unknown outlet, “Japan-Russia peace talks suspended”, unknown author, unknown date"
        in first
    )
    assert "\x1b[" not in result.stdout  # plain when piped


def test_ask_json_abstains_on_pizza(corpus: list[str]) -> None:
    result = run_cli(*corpus, "ask", "--json", "What is the best pizza topping in Naples?")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["answered"] is False and data["results"] == []
    assert data["question"] == "What is the best pizza topping in Naples?"


def test_ask_json_shape_and_k(corpus: list[str]) -> None:
    result = run_cli(*corpus, "ask", "--json", "-k", "2", "Who is the Russian ambassador to Japan?")
    data = json.loads(result.stdout)
    assert data["answered"] is True and len(data["results"]) == 2
    result0 = data["results"][0]
    assert "Galuzin" in result0["text"]
    assert set(result0["source"]) >= {"id", "title", "outlet", "author", "date", "url"}
    assert result0["source"]["outlet"] == "Caixin Global"


def test_batch_mode_reads_one_question_per_line(corpus: list[str]) -> None:
    questions = "Who is the Russian ambassador?\n\nWhat is the capital of Australia?\nthe of and\n"
    result = run_cli(*corpus, "ask", "--json", input=questions)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["question"] for d in lines] == [
        "Who is the Russian ambassador?",
        "",
        "What is the capital of Australia?",
        "the of and",
    ]
    assert [d["answered"] for d in lines] == [True, False, False, False]
    assert "empty" in lines[1]["error"] and "no searchable words" in lines[3]["error"]
    assert result.returncode == 2  # one question was rejected


@pytest.mark.parametrize(
    ("question", "fragment"),
    [
        ("", "empty"),
        ("the of and what is", "no searchable words"),
        ("x" * 10_000, "too long (10,000 characters"),
        ("islands\x1b[2J", "control characters"),
    ],
)
def test_bad_questions_get_one_line_and_status_2(
    corpus: list[str], question: str, fragment: str
) -> None:
    result = run_cli(*corpus, "ask", question)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    result = run_cli(
        "--sources", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "ask", "x y"
    )
    assert result.returncode == 1 and "sources not found" in result.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "--sources", str(tmp_path / "empty"), "--index", str(tmp_path / "i"), "ask", "islands"
    )
    assert result.returncode == 1 and "no articles" in result.stderr
    assert "Traceback" not in result.stderr


def test_rebuild_reports_counts_and_skipped_files(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s")
    (sources / "broken.md").write_text("---\ntitle: [oops\n---\n\nText.\n", encoding="utf-8")
    (sources / "latin.txt").write_bytes("Title\n\nCaf\xe9\n".encode("latin-1"))
    result = run_cli("--sources", str(sources), "--index", str(tmp_path / "i"), "rebuild")
    assert result.returncode == 0, result.stderr
    assert "Indexed 2 sources:" in result.stdout and "2 documents skipped" in result.stdout
    assert "error: broken.md:3: invalid front matter" in result.stderr
    assert "starts on line 2" in result.stderr
    assert "error: latin.txt: not UTF-8" in result.stderr


def test_stale_index_is_rebuilt_on_ask_and_says_so(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s")
    opts = ["--sources", str(sources), "--index", str(tmp_path / "i")]
    first = run_cli(*opts, "ask", "sourdough starter")
    assert "Rebuilding the index: there is no index" in first.stderr
    (sources / "new.txt").write_text("Tea\n\nGreen tea is popular in Shizuoka.\n", encoding="utf-8")
    second = run_cli(*opts, "ask", "green tea Shizuoka")
    assert "1 source added (new.txt)" in second.stderr and "Shizuoka" in second.stdout


def test_corrupt_index_names_file_and_fix(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "s")
    opts = ["--sources", str(sources), "--index", str(tmp_path / "i")]
    assert run_cli(*opts, "rebuild").returncode == 0
    (tmp_path / "i" / "manifest.json").write_text("{", encoding="utf-8")
    result = run_cli(*opts, "ask", "islands")
    assert result.returncode == 1
    assert "manifest.json is corrupt" in result.stderr and "python -m bot rebuild" in result.stderr


def test_sources_lists_metadata_with_unknowns(corpus: list[str]) -> None:
    result = run_cli(*corpus, "sources")
    assert result.returncode == 0
    assert (
        "Caixin Global, “Japan, Russia Trade Barbs in Wake of Ukraine War”, Chen Lixiong"
        in result.stdout
    )
    assert "unknown outlet" in result.stdout and result.stdout.rstrip().endswith("5 sources")
    data = json.loads(run_cli(*corpus, "sources", "--json").stdout)
    assert len(data) == 5 and {d["id"] for d in data} >= {"caixin-japan-russia-trade-barbs"}


def test_eval_reports_the_figures(corpus: list[str]) -> None:
    result = run_cli(*corpus, "eval", "--questions", "eval/questions.yaml", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["sets"]["questions"]
    assert figures["questions"] >= 50
    assert figures["hit@3"] >= 0.8 and figures["abstention_accuracy"] >= 0.8


def test_no_command_off_a_terminal_prints_usage() -> None:
    result = run_cli()
    assert result.returncode == 2 and "give a command" in result.stderr


def test_k_out_of_range_is_a_usage_error_in_one_line(corpus: list[str]) -> None:
    for k in ("0", "51", "two"):
        result = run_cli(*corpus, "ask", "-k", k, "islands")
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert "between 1 and 50" in run_cli(*corpus, "ask", "-k", "0", "islands").stderr


def test_rebuild_from_jsonl_and_html_reports_bad_documents(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "archive.jsonl").write_text(
        '{"id": "n1", "title": "Tea", "text": "Green tea grows in Shizuoka.", "outlet": "Leaf"}\n'
        "{broken\n"
        '{"id": "n2", "text": "Rice harvest was early in Niigata this year."}\n',
        encoding="utf-8",
    )
    (folder / "page.html").write_text(
        "<html><head><title>Snow</title></head><body><nav>Sign in</nav><article>"
        "<p>Heavy snow closed the roads around Sapporo for two days this week.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    opts = ["--sources", str(folder), "--index", str(tmp_path / "i")]
    result = run_cli(*opts, "rebuild")
    assert result.returncode == 0, result.stderr
    assert "Indexed 3 sources" in result.stdout and "1 document skipped" in result.stdout
    assert "error: archive.jsonl:2: invalid JSON" in result.stderr
    answer = json.loads(run_cli(*opts, "ask", "--json", "snow roads Sapporo").stdout)
    assert answer["results"][0]["source"]["title"] == "Snow"
    answer = json.loads(run_cli(*opts, "ask", "--json", "green tea Shizuoka").stdout)
    assert answer["results"][0]["source"] == {
        "id": "n1",
        "path": "archive.jsonl:1",
        "title": "Tea",
        "outlet": "Leaf",
        "author": None,
        "date": None,
        "url": None,
        "language": None,
    }


def test_console_script_runs_the_same_commands(corpus: list[str]) -> None:
    script = Path(sys.executable).with_name("newsbot")
    if not script.exists():
        pytest.skip("the package is not installed here (pip install -e .)")
    result = subprocess.run(
        [str(script), *corpus, "ask", "--json", "Who is the Russian ambassador to Japan?"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answered"] is True


def test_an_index_path_that_is_a_file_is_one_clear_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "index.txt"
    not_a_folder.write_text("oops", encoding="utf-8")
    result = run_cli("--index", str(not_a_folder), "ask", "islands")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("is not a folder; give --index a folder for the index")
    assert "Traceback" not in result.stderr and "Rebuilding" not in result.stderr
