"""Where the command line finds the articles and the index, so ``newsbot`` works from any folder.

Each path comes from the first of: the flag (``--sources`` / ``--index``), the environment
(``NEWSBOT_SOURCES`` / ``NEWSBOT_INDEX``), the ``--config`` file's ``sources:`` / ``index:``, the
default. The defaults are ``sources/`` and ``index/`` in the current folder; sources named any
other way without an index get one in the user's cache folder, never in whatever folder the
command happens to run from.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SOURCES = Path("sources")
DEFAULT_INDEX = Path("index")
ENV_SOURCES, ENV_INDEX = "NEWSBOT_SOURCES", "NEWSBOT_INDEX"


@dataclass(frozen=True)
class Corpus:
    """The two paths, and where the sources path was found (for messages)."""

    sources: Path
    index: Path
    sources_from: str


def resolve(args: argparse.Namespace) -> Corpus:
    """The sources and index for a command, from flags, environment, config file or defaults."""
    given = {"sources": getattr(args, "sources", None), "index": getattr(args, "index", None)}
    origin = {name: "--" + name for name, value in given.items() if value is not None}
    for name, variable in (("sources", ENV_SOURCES), ("index", ENV_INDEX)):
        if given[name] is None and os.environ.get(variable):
            given[name], origin[name] = Path(os.environ[variable]), variable
    config = getattr(args, "config", None)
    if config is not None and None in given.values():
        from bot.service.settings import load_settings

        settings = load_settings(config)
        for name in ("sources", "index"):
            if given[name] is None:
                given[name], origin[name] = getattr(settings, name), f"{name}: in {config}"
    sources = given["sources"] or DEFAULT_SOURCES
    index = given["index"]
    if index is None:
        index = DEFAULT_INDEX if "sources" not in origin else cached_index(sources)
    return Corpus(sources, index, origin.get("sources", "the default"))


def cached_index(sources: Path) -> Path:
    """The index folder for a corpus named without one: in ``$XDG_CACHE_HOME/newsbot``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsbot"
    resolved = str(sources.resolve())
    tag = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return cache / f"index-{sources.resolve().name or 'root'}-{tag}"


def missing_sources(corpus: Corpus) -> str | None:
    """The message for a sources path that does not exist (where it looked, how to point it)."""
    if corpus.sources.exists():
        return None
    where = corpus.sources.absolute()
    what = "from " + corpus.sources_from
    if corpus.sources_from == "the default":
        what = "the default: sources/ in the current folder"
    return (
        f"sources not found: {where} ({what}); point newsbot at a folder of articles with "
        f"--sources DIR, {ENV_SOURCES}=DIR, or `sources:` in a file given with --config FILE"
    )
