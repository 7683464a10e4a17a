"""Print ``name==floor`` for every ``name>=floor`` requirement (runtime and test extra) in
pyproject.toml: the constraints the floors job installs, so the floors stay the tested ones."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
meta = project["project"]
requirements = meta["dependencies"] + meta["optional-dependencies"]["test"]
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+).*", requirement)
    if match is None:
        sys.exit(f"{requirement!r} has no >= floor; every dependency needs one")
    print(f"{match.group(1)}=={match.group(2)}")
