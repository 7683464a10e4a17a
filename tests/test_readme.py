"""The README's promises: its first commands, and CI running exactly its test command."""

from __future__ import annotations

import re

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README)


def test_first_two_commands_install_then_ask_and_install_then_test() -> None:
    ask, test = _commands()[:2]
    assert README.index(ask) < 600  # among the README's first lines
    assert ask.startswith("python3 -m venv .venv && .venv/bin/pip install")
    assert '-m bot ask "' in ask
    assert test.startswith("python3 -m venv .venv && .venv/bin/pip install") and "[test]" in test
    assert test.endswith("-m pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test = _commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci


def test_the_example_answer_is_what_the_command_prints() -> None:
    from tests.helpers import run_cli

    block = re.search(r'```text\n\$ python -m bot ask "(.+?)"\n(.*?)```', README, re.S)
    assert block is not None
    question, shown = block.groups()
    result = run_cli("ask", question)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown


def test_the_evaluation_table_has_the_columns_and_sets_the_command_prints() -> None:
    """Not the numbers (they come from a real run): the layout and the reported sets."""
    from bot.evaluation.runner import TRADEOFF_KNOB
    from bot.evaluation.sets import REGISTRY, REPORT
    from bot.evaluation.tables import BASELINE_LABEL, BEGIN, CURVE_HEADER, END, HEADER

    block = README[README.index(BEGIN) + len(BEGIN) : README.index(END)].strip().splitlines()
    table = block[: block.index("")]
    assert table[0] == "| " + " | ".join(HEADER) + " |"
    labels = [line.split(" | ")[0].removeprefix("| ") for line in table[2:]]
    expected = []
    for s in REGISTRY:
        if s.purpose == REPORT:
            expected += [s.title, BASELINE_LABEL] if s.name == "squad2" else [s.title]
    assert labels == expected
    curve = [line for line in block if line.startswith(f"| {TRADEOFF_KNOB} |")]
    assert curve == ["| " + " | ".join((TRADEOFF_KNOB, *CURVE_HEADER)) + " |"]
