"""Names used interchangeably (Kurils / Northern Territories, Russia / Moscow …), for queries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.core.tokenizer import tokenize
from bot.core.yamlfile import read_yaml
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
    """Read a synonyms YAML file: ``groups:`` a list of lists of phrases."""
    data = read_yaml(path, SynonymsError)
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise SynonymsError(f"{path}: expected 'groups:' with a list of lists of phrases")
    parsed = []
    for group in groups:
        phrases = {tuple(tokenize(str(phrase))) for phrase in group}
        phrases.discard(())
        if len(phrases) > 1:
            parsed.append(tuple(sorted(phrases)))
    return Synonyms(tuple(parsed))
