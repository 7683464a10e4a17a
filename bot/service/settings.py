"""Settings of the long-running front ends (Discord bot, HTTP API), loaded and checked in one place.

Read from a YAML file (see ``config.example.yaml``); every key is optional and has a default.
Secrets never live here: the Discord token comes from ``DISCORD_TOKEN`` (or a git-ignored
``.env``), the HTTP bearer token from ``NEWSBOT_API_TOKEN``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.yamlfile import read_yaml
from bot.errors import ConfigError

DEFAULT_CONFIG = Path("config.yaml")


class SettingsError(ConfigError):
    """The settings file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class DiscordSettings:
    """How the Discord front end behaves."""

    allowed_channels: tuple[int, ...] = ()  # empty: every channel the bot can see
    cooldown_seconds: float = 5.0  # per user, between questions
    quotes_per_answer: int = 3
    admin_role: str | None = None  # a role name or id that may /reindex, besides Manage Server
    guild_id: int | None = None  # sync slash commands to this guild at start-up
    max_question_chars: int = 300
    button_timeout_seconds: float = 600.0  # "More" / "Full passage" stop working after this


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP API (``python -m bot serve``, or alongside Discord when enabled)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    max_k: int = 20


@dataclass(frozen=True)
class QuestionLogSettings:
    """The JSON-lines question log and its size-based rotation."""

    path: Path | None = Path("logs/questions.jsonl")  # null: no log
    max_bytes: int = 10_000_000
    backups: int = 5


@dataclass(frozen=True)
class Settings:
    """All settings; ``load_settings`` fills it from YAML."""

    sources: Path = Path("sources")
    index: Path = Path("index")
    log_level: str = "INFO"
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    question_log: QuestionLogSettings = field(default_factory=QuestionLogSettings)


_SECTIONS = {"discord": DiscordSettings, "http": HttpSettings, "question_log": QuestionLogSettings}


def _coerce(key: str, value: Any, default: Any, kind: str) -> Any:
    """Check one value against the type of its default, naming the key when it is wrong."""
    if kind == "tuple[int, ...]":
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise SettingsError(f"{key}: expected a list of channel ids (numbers)")
        return tuple(int(v) for v in value)
    if value is None and "None" in kind:
        return None
    if "Path" in kind:
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{key}: expected a path")
        return Path(value)
    if "bool" in kind:
        if not isinstance(value, bool):
            raise SettingsError(f"{key}: expected true or false")
        return value
    if kind.startswith("int"):
        if not _is_int(value):
            raise SettingsError(f"{key}: expected a whole number")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SettingsError(f"{key}: expected a number ≥ 0")
        return float(value)
    if not isinstance(value, str | int):
        raise SettingsError(f"{key}: expected text")
    return str(value)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isdigit()


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    fields = cls.__dataclass_fields__
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields or (key in _SECTIONS and prefix):
            raise SettingsError(f"{name}: unknown setting (known: {', '.join(fields)})")
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise SettingsError(f"{name}: expected a mapping of settings")
            values[key] = _build(_SECTIONS[key], value, f"{name}.")
            continue
        values[key] = _coerce(name, value, fields[key].default, str(fields[key].type))
    return cls(**values)


def load_settings(path: Path | None) -> Settings:
    """Settings from ``path`` (defaults when ``path`` is None and config.yaml does not exist)."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return Settings()
        path = DEFAULT_CONFIG
    data = read_yaml(path, SettingsError) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings")
    try:
        settings = _build(Settings, data, "")
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    if logging.getLevelName(settings.log_level.upper()) == f"Level {settings.log_level.upper()}":
        raise SettingsError(f"{path}: log_level: {settings.log_level!r} is not a logging level")
    if not 1 <= settings.discord.quotes_per_answer <= 10:
        raise SettingsError(f"{path}: discord.quotes_per_answer: must be between 1 and 10")
    if not 0 < settings.http.port < 65536:
        raise SettingsError(f"{path}: http.port: must be between 1 and 65535")
    return settings


def read_env_file(path: Path = Path(".env")) -> dict[str, str]:
    """KEY=value pairs of a git-ignored ``.env`` file (the environment wins over it)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def secret(name: str) -> str | None:
    """A secret from the environment, else from ``.env``; never logged."""
    return os.environ.get(name) or read_env_file().get(name) or None
