"""The synonyms file: groups of interchangeable phrases, expanded for a query's terms."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.core import synonyms as synonyms_module
from bot.core.synonyms import Synonyms, SynonymsError, load_synonyms
from bot.core.tokenizer import tokenize


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "synonyms.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_phrase_in_the_question_brings_in_the_other_phrases_of_its_group(tmp_path: Path) -> None:
    synonyms = load_synonyms(
        _write(
            tmp_path, "groups:\n  - [Kuril Islands, Northern Territories]\n  - [Moscow, Russia]\n"
        )
    )
    related = synonyms.expand(tokenize("status of the Northern Territories"))
    assert set(related) == set(tokenize("Northern Territories"))
    assert all(extra == set(tokenize("Kuril Islands")) for extra in related.values())
    assert synonyms.expand(tokenize("territories of the north")) == {}  # a phrase, in order


def test_terms_already_asked_are_not_added_again(tmp_path: Path) -> None:
    synonyms = load_synonyms(_write(tmp_path, "groups:\n  - [Moscow, Russia]\n"))
    assert synonyms.expand(tokenize("Russia and Moscow")) == {}
    assert synonyms.expand(tokenize("Moscow said")) == {"moscow": {"russia"}}


def test_groups_of_one_phrase_or_stop_words_only_are_dropped(tmp_path: Path) -> None:
    synonyms = load_synonyms(
        _write(tmp_path, "groups:\n  - [Japan]\n  - [the, of]\n  - [a, b c]\n")
    )
    assert len(synonyms.groups) <= 1


@pytest.mark.parametrize("text", ["groups: 3\n", "- a\n", "groups:\n  - a\n", "groups: [\n"])
def test_a_malformed_file_is_one_error_naming_it(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SynonymsError, match=r"synonyms\.yaml"):
        load_synonyms(path)


def test_the_packaged_file_loads() -> None:
    assert load_synonyms().groups


def test_a_compiled_copy_is_read_while_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = _write(tmp_path, "groups:\n  - [Moscow, Russia]\n")
    first = load_synonyms(path)
    assert (tmp_path / "__pycache__" / "synonyms.yaml.json").is_file()

    def unparsed(*_: object) -> Synonyms:
        raise AssertionError("the YAML was parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(synonyms_module, "_parsed", unparsed)
        assert load_synonyms(path) == first
    _write(tmp_path, "groups:\n  - [Tokyo, Japan]\n")  # changed: read again
    assert load_synonyms(path).expand(tokenize("Tokyo said")) == {"tokyo": {"japan"}}


def test_a_broken_compiled_copy_or_unwritable_folder_only_costs_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = _write(tmp_path, "groups:\n  - [Moscow, Russia]\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "synonyms.yaml.json").write_text('{"stamp": [', encoding="utf-8")
    assert load_synonyms(path).expand(tokenize("Moscow")) == {"moscow": {"russia"}}
    assert "groups" in (tmp_path / "__pycache__" / "synonyms.yaml.json").read_text()
    (tmp_path / "__pycache__" / "synonyms.yaml.json").unlink()
    (tmp_path / "__pycache__").rmdir()
    (tmp_path / "__pycache__").write_text("not a folder", encoding="utf-8")
    assert load_synonyms(path).expand(tokenize("Moscow")) == {"moscow": {"russia"}}


def test_no_compiled_copy_when_python_writes_no_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    load_synonyms(_write(tmp_path, "groups:\n  - [Moscow, Russia]\n"))
    assert not (tmp_path / "__pycache__").exists()
