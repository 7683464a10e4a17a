"""Answers on a real pseudo-terminal: wrapped by visible width at the terminal's width."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli, run_in_pty

QUESTION = "How many Japanese lived on the islands before the Soviet occupation?"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _quotes(screen: str) -> list[list[str]]:
    """The visible lines of each numbered quote, blank lines kept (the footer left out)."""
    quotes: list[list[str]] = []
    for line in SGR.sub("", screen).splitlines():
        if re.match(r"\d+\. ", line):
            quotes.append([])
        elif line.startswith("("):
            break
        if quotes:
            quotes[-1].append(line)
    return [[*q[:-1]] if q and not q[-1] else q for q in quotes]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A private index of the repository's articles, built before any terminal run."""
    opts = ["--index", str(tmp_path_factory.mktemp("index"))]
    assert run_cli(*opts, "rebuild").returncode == 0
    return opts


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_lines_fill_the_terminal_width_and_never_exceed_it(index: list[str], columns: int) -> None:
    screen = run_in_pty([*index, "ask", QUESTION], columns=columns)
    assert "\x1b[1;33m" in screen  # matched words highlighted
    visible = SGR.sub("", screen)
    assert "\x1b" not in visible
    lines = visible.splitlines()
    assert max(len(line) for line in lines) <= columns
    quotes = _quotes(screen)
    assert len(quotes) == 2
    for quote in quotes:
        assert quote[0].startswith(("1. ", "2. "))
        assert all(line.startswith("   ") for line in quote[1:] if line)
        # greedy wrapping by visible width: the next line's first word would not have fitted
        for line, following in itertools.pairwise(quote):
            if line.strip() and following.strip() and not following.startswith("   — "):
                assert len(line) + 1 + len(following.split()[0]) > columns, (line, following)
    attribution = [line for q in quotes for line in q if "unknown outlet" in line]
    assert attribution and all(line.startswith("   — unknown outlet") for line in attribution)
    tail = " ".join(line.strip() for line in quotes[0][-2:])
    assert "“Japan-Russia peace talks suspended”, unknown author, unknown date" in tail


def test_no_color_keeps_the_wrapping_but_drops_colour(index: list[str]) -> None:
    screen = run_in_pty([*index, "ask", QUESTION], columns=60, NO_COLOR="1")
    assert not re.search(r"\x1b\[[0-9;]*3\dm", screen)  # no foreground colour
    assert max(len(line) for line in SGR.sub("", screen).splitlines()) <= 60


def test_a_dumb_terminal_gets_plain_wrapped_text(index: list[str]) -> None:
    screen = run_in_pty([*index, "ask", QUESTION], columns=60, TERM="dumb")
    assert "\x1b" not in screen
    lines = screen.splitlines()
    assert lines[0].startswith("1. According to the Japanese government")
    assert max(len(line) for line in lines) <= 60


def test_the_sources_list_wraps_under_its_indent(index: list[str]) -> None:
    lines = SGR.sub("", run_in_pty([*index, "sources"], columns=60)).splitlines()
    assert lines[-1] == "5 sources"
    assert max(len(line) for line in lines) <= 60
    assert "caixin-japan-russia-trade-barbs" in lines
    assert all(line.startswith("   ") for line in lines[1:-1] if "-" not in line.split()[0])


def test_corrections_and_the_reason_for_declining_are_shown(index: list[str]) -> None:
    screen = SGR.sub("", run_in_pty([*index, "ask", "who is the russian ambasador"], columns=100))
    assert "Did you mean: ambassador (not ambasador)?" in screen
    plain = run_cli(*index, "ask", "What did Zhirinovsky say about sushi?")
    reason = "Nothing in the sources matches 'Zhirinovsky' or 'sushi'."
    assert plain.stdout == f"I couldn't find that in the sources. {reason}\n"
    piped = run_cli(*index, "ask", "who is the russian ambasador")
    assert piped.stdout.startswith("Did you mean: ambassador (not ambasador)?\n\n1. ")


def test_piped_output_does_not_import_rich(index: list[str]) -> None:
    """rich is for terminals only: a scripted ``ask`` does not pay for importing it."""
    code = (
        "import sys; from bot.frontends.cli.main import main; "
        f"status = main({[*index, 'ask', QUESTION]!r}); "
        "print('rich loaded' if 'rich' in sys.modules else 'no rich', file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert "17,000" in result.stdout and result.stderr.strip().endswith("no rich")


def test_also_reported_by_names_five_sources_and_counts_the_rest(tmp_path: Path) -> None:
    from tests.helpers import write_corpus

    copy = "Heavy snow closed the mountain pass on Sunday, stranding two hundred drivers.\n"
    articles = {f"wire{n}.md": f"---\ntitle: Wire {n}\n---\n\n{copy}" for n in range(9)}
    sources = write_corpus(tmp_path / "src", articles)
    opts = ["--sources", str(sources), "--index", str(tmp_path / "index")]
    result = run_cli(*opts, "ask", "-k", "1", "Why was the mountain pass closed?")
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if "Also reported by" in x]
    assert line.count("Wire") == 5 and line.endswith(" and 3 more")
