"""The README's command examples, re-run for real: ``python -m tests.readme_examples [--write]``.

An example is a ```` ```console ```` block whose commands (lines starting ``$ ``) run newsbot:
``$ python -m bot …``, ``$ newsbot …``, ``$ printf '…' | python -m bot …`` (the text is the
input), ``$ cd /tmp/elsewhere && newsbot …`` (run in an empty folder shown under that name), and
``… | python -m json.tool --indent 2 --no-ensure-ascii``. Under each command stands exactly what
it prints: stdout, then stderr. Other blocks (``curl``, …) are left alone. Every command runs
against a fresh index of ``sources/`` (through ``NEWSBOT_INDEX``, so no rebuild notes appear).

Without ``--write`` it prints a diff of any stale example and exits 1; with ``--write`` it
rewrites the README. ``tests/test_readme.py`` runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import sys
import tempfile
from pathlib import Path

from tests.helpers import ROOT, run_cli

README = ROOT / "README.md"
ELSEWHERE = "/tmp/elsewhere"
JSON_TOOL = "python -m json.tool --indent 2 --no-ensure-ascii"
_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
_OURS = re.compile(r"^(?:printf '[^']*' \| |cd \S+ && )?(?:python -m bot|newsbot)\b")


def blocks(text: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, commands) of every console block made only of newsbot commands."""
    found = []
    for match in _BLOCK.finditer(text):
        commands = [line[2:] for line in match.group(1).splitlines() if line.startswith("$ ")]
        if commands and all(_OURS.match(c) for c in commands):
            found.append((match.start(1), match.end(1), commands))
    return found


def run(command: str, index: Path, workdir: Path) -> str:
    """What ``command`` prints (stdout, then stderr), run as the README shows it."""
    stdin = ""
    cwd = ROOT
    rest = command
    if m := re.match(r"printf '([^']*)' \| (.*)", rest):
        stdin, rest = m.group(1).encode().decode("unicode_escape"), m.group(2)
    if m := re.match(r"cd (\S+) && (.*)", rest):
        if m.group(1) != ELSEWHERE:
            raise ValueError(f"examples change only into {ELSEWHERE}: {command}")
        cwd, rest = workdir, m.group(2)
    pretty = rest.endswith(f" | {JSON_TOOL}")
    rest = rest.removesuffix(f" | {JSON_TOOL}")
    words = shlex.split(rest)
    args = words[3:] if words[:3] == ["python", "-m", "bot"] else words[1:]
    env = {"NEWSBOT_INDEX": str(index)} if cwd == ROOT else {}
    result = run_cli(*args, input=stdin, cwd=cwd, env=env)
    out = result.stdout
    if pretty:
        out = json.dumps(json.loads(out), indent=2, ensure_ascii=False) + "\n"
    return (out + result.stderr).replace(str(workdir), ELSEWHERE)


def generate(text: str) -> str:
    """The README with every example block's output regenerated."""
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        workdir = Path(tmp) / "elsewhere"
        workdir.mkdir()
        built = run_cli("--index", str(index), "rebuild")
        if built.returncode != 0:
            raise RuntimeError(f"cannot build the index of sources/: {built.stderr}")
        pieces, last = [], 0
        for start, end, commands in blocks(text):
            body = "".join(f"$ {c}\n{run(c, index, workdir)}" for c in commands)
            pieces += [text[last:start], body]
            last = end
        return "".join(pieces) + text[last:]


def main(argv: list[str] | None = None) -> int:
    """Check the README's examples (exit 1 with a diff if stale), or rewrite them with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md in place")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    fresh = generate(text)
    if args.write:
        if fresh != text:
            tmp = README.with_suffix(".md.tmp")
            tmp.write_text(fresh, encoding="utf-8")
            tmp.replace(README)
        print(f"{README.name}: {len(blocks(fresh))} example blocks up to date")
        return 0
    diff = list(
        difflib.unified_diff(
            text.splitlines(), fresh.splitlines(), "README.md", "real", lineterm=""
        )
    )
    print("\n".join(diff) if diff else "README examples are up to date")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
