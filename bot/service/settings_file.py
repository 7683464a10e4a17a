"""Which settings file is in use, decided without loading the settings library (pydantic is
imported only when there is a file to validate, so a one-shot CLI question stays quick)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CONFIG = Path("config.yaml")


def settings_file(path: Path | None) -> Path | None:
    """The settings file in use: ``path`` if given, else config.yaml if it exists, else None."""
    if path is not None:
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
