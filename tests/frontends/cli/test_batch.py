"""Batch mode: one answer per input line, in order, each introduced by its question."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli

QUESTIONS = [
    "Who is the Russian ambassador to Japan?",
    "",
    "What is the best pizza topping in Naples?",
    "the of and",
    "How many Japanese lived on the islands?",
]


@pytest.fixture(scope="module")
def opts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return ["--index", str(tmp_path_factory.mktemp("index"))]


def test_plain_batch_prints_each_question_as_a_heading_before_its_answer(opts: list[str]) -> None:
    result = run_cli(*opts, "ask", input="\n".join(QUESTIONS) + "\n")
    assert result.returncode == 2  # two lines were rejected
    headings = [line for line in result.stdout.splitlines() if line.startswith("Q:")]
    assert headings == [f"Q: {q}".rstrip() for q in QUESTIONS]
    sections = result.stdout.split("Q:")[1:]
    assert "Galuzin" in sections[0] and "error: the question is empty" in sections[1]
    assert "couldn't find" in sections[2] and "no searchable words" in sections[3]
    assert "17,000" in sections[4]
    assert "error" not in result.stderr


def test_json_batch_prints_one_object_per_line_blank_lines_included(opts: list[str]) -> None:
    result = run_cli(*opts, "ask", "--json", input="\n".join(QUESTIONS) + "\n")
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["question"] for o in objects] == QUESTIONS
    assert [o["answered"] for o in objects] == [True, False, False, False, True]
    assert "empty" in objects[1]["error"] and "error" not in objects[2]
