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


def test_every_command_example_is_what_the_command_prints() -> None:
    """Each console block of newsbot commands is re-run; regenerate with the module's --write."""
    from tests.readme_examples import blocks, generate

    assert len(blocks(README)) >= 6  # ask, ask --json, errors, batch, sources, outside the project
    fresh = generate(README)
    stale = [
        (README[start:end].splitlines()[0], fresh_body)
        for (start, end, _), (f_start, f_end, _) in zip(blocks(README), blocks(fresh), strict=True)
        if README[start:end] != (fresh_body := fresh[f_start:f_end])
    ]
    assert not stale, "stale README examples; run `python -m tests.readme_examples --write`"


def test_the_evaluation_table_has_the_columns_and_sets_eval_prints() -> None:
    """Regenerate it with `python -m bot eval --update README.md` (needs ../shared)."""
    from bot.evaluation.sets import REGISTRY, REPORT
    from bot.evaluation.tables import BEGIN, END, HEADER

    table = README[README.index(BEGIN) : README.index(END)]
    assert "| " + " | ".join(HEADER) + " |" in table
    for chosen in REGISTRY:
        assert (f"| {chosen.title} |" in table) == (chosen.purpose == REPORT), chosen.name
