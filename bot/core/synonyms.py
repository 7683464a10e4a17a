"""Names used interchangeably (Kurils / Northern Territories, Russia / Moscow …), for queries."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.core.tokenizer import TOKENIZER_VERSION, tokenize
from bot.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("synonyms.yaml")


class SynonymsError(ConfigError):
    """The synonyms file is unreadable; the message names the file and line."""


@dataclass(frozen=True)
class Synonyms:
    """Groups of phrases, each phrase as its tuple of index terms."""

    groups: tuple[tuple[tuple[str, ...], ...], ...]

    def expand(self, terms: list[str]) -> dict[str, set[str]]:
        """For each query term in a phrase of a group, the terms of the group's other phrases."""
        related: dict[str, set[str]] = {}
        by_term = self.by_term
        wanted = sorted({g for t in terms for g in by_term.get(t, ())})
        for group in (self.groups[g] for g in wanted):
            hits = [phrase for phrase in group if _contains(terms, phrase)]
            if not hits:
                continue
            others = {t for phrase in group if phrase not in hits for t in phrase}
            for phrase in hits:
                for term in phrase:
                    related.setdefault(term, set()).update(others - set(terms))
        return {term: extra for term, extra in related.items() if extra}

    @cached_property
    def by_term(self) -> dict[str, tuple[int, ...]]:
        """Term → the groups with a phrase holding it (built once): a question checks only those."""
        found: dict[str, set[int]] = {}
        for number, group in enumerate(self.groups):
            for phrase in group:
                for term in phrase:
                    found.setdefault(term, set()).add(number)
        return {t: tuple(sorted(g)) for t, g in found.items()}


def _contains(terms: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(terms[i : i + n]) == phrase for i in range(len(terms) - n + 1))


def load_synonyms(path: Path = DEFAULT_PATH) -> Synonyms:
    """Read a synonyms YAML file: ``groups:`` a list of lists of phrases.

    Read through a compiled copy in ``__pycache__`` beside it, as Python caches bytecode (and not
    written when it would not write bytecode): a one-shot question then needs no YAML parser
    (~15 ms of start-up). The copy is used only while the file's bytes and the tokenizer are
    those it was made from.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SynonymsError(f"{path}: cannot read: {exc.strerror}") from None
    stamp = [hashlib.sha256(data).hexdigest(), TOKENIZER_VERSION]
    cache = path.parent / "__pycache__" / f"{path.name}.json"
    cached = _cached(cache, stamp)
    if cached is not None:
        return cached
    synonyms = _parsed(data, path)
    if not sys.dont_write_bytecode:
        _store(cache, stamp, synonyms)
    return synonyms


def _parsed(data: bytes, path: Path) -> Synonyms:
    from bot.core.yamlfile import parse_yaml

    document = parse_yaml(data, path, SynonymsError)
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise SynonymsError(f"{path}: expected 'groups:' with a list of lists of phrases")
    parsed = []
    for group in groups:
        phrases = {tuple(tokenize(str(phrase))) for phrase in group}
        phrases.discard(())
        if len(phrases) > 1:
            parsed.append(tuple(sorted(phrases)))
    return Synonyms(tuple(parsed))


def _cached(cache: Path, stamp: list[str]) -> Synonyms | None:
    """The compiled copy, if it is readable and made from ``stamp``."""
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data["stamp"] != stamp:
            return None
        return Synonyms(tuple(tuple(tuple(p) for p in g) for g in data["groups"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, unreadable or malformed: the YAML is read instead


def _store(cache: Path, stamp: list[str], synonyms: Synonyms) -> None:
    """Write the compiled copy atomically; a folder that cannot be written is left alone."""
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps({"stamp": stamp, "groups": synonyms.groups}), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
