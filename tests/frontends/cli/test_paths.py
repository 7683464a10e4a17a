"""Finding the articles and the index from any folder: flags, environment, --config, defaults."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli, write_corpus

QUESTION = "How many Japanese lived on the islands?"


def test_outside_the_project_the_error_says_where_it_looked_and_how_to_point(
    tmp_path: Path,
) -> None:
    result = run_cli("ask", QUESTION, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"sources not found: {tmp_path / 'sources'} (the default" in line
    for hint in ("--sources DIR", "NEWSBOT_SOURCES=DIR", "--config FILE"):
        assert hint in line
    assert not (tmp_path / "index").exists()


def test_environment_points_anywhere_and_the_flag_wins(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "corpus")
    env = {"NEWSBOT_SOURCES": str(sources), "NEWSBOT_INDEX": str(tmp_path / "idx")}
    result = run_cli("ask", QUESTION, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Jane Doe" in result.stdout and (tmp_path / "idx" / "manifest.json").exists()
    missing = run_cli("--sources", str(tmp_path / "nope"), "sources", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "(from --sources)" in missing.stderr
    wrong = run_cli("sources", cwd=tmp_path, env={"NEWSBOT_SOURCES": str(tmp_path / "gone")})
    assert "(from NEWSBOT_SOURCES)" in wrong.stderr


def test_sources_without_an_index_get_one_in_the_cache_not_the_current_folder(
    tmp_path: Path,
) -> None:
    sources = write_corpus(tmp_path / "corpus")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {"NEWSBOT_SOURCES": str(sources), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = run_cli("ask", QUESTION, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert list(cwd.iterdir()) == []
    (index,) = (tmp_path / "cache" / "newsbot").iterdir()
    assert index.name.startswith("index-corpus-") and str(index) in result.stderr


def test_a_config_file_names_both_paths(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "corpus")
    config = tmp_path / "newsbot.yaml"
    config.write_text(f"sources: {sources}\nindex: {tmp_path / 'idx'}\n", encoding="utf-8")
    for args in (["ask", "--config", str(config)], ["--config", str(config), "ask"]):
        result = run_cli(*args, QUESTION, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Jane Doe" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [1, 2]\n", encoding="utf-8")
    result = run_cli("sources", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "sources" in result.stderr and "Traceback" not in result.stderr
