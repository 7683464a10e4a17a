"""Settings of the long-running front ends, validated in one place by pydantic.

Two places hold settings: a YAML file (``config.yaml``, see ``config.example.yaml``; every key is
optional and has a default) and the environment (or a git-ignored ``.env``) for secrets and the
corpus paths. Every key's type and range is checked at start-up; a bad value is one line naming
the key and what it expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.yamlfile import read_yaml
from bot.errors import ConfigError
from bot.service.limits import MAX_K, MAX_QUESTION_CHARS
from bot.service.settings_file import settings_file

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ConfigError):
    """The settings file or the environment is invalid; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_id(value: Any) -> Any:
    """A role or other id given as a YAML number is kept as its text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _nonempty_path(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("expected a path, not an empty string")
    return value


Seconds = Annotated[float, Field(ge=0)]
Id = Annotated[int, Field(gt=0)]


class DiscordSettings(_Section):
    """How the Discord front end behaves."""

    allowed_channels: tuple[Id, ...] = ()  # empty: every channel the bot can see
    cooldown_seconds: Seconds = 5.0  # per user, between questions
    quotes_per_answer: Annotated[int, Field(ge=1, le=10)] = 3
    admin_role: str | None = None  # a role name or id that may /reindex, besides Manage Server
    guild_id: Id | None = None  # sync slash commands to this guild at start-up
    max_question_chars: Annotated[int, Field(ge=1, le=MAX_QUESTION_CHARS)] = 300
    button_timeout_seconds: Annotated[float, Field(gt=0)] = 600.0  # "More" / "Full passage" expire
    read_messages: bool = False  # Message Content intent: answer replies and threads, no ping
    answer_in_thread: bool = False  # answer each question in a new thread named from it

    _role = field_validator("admin_role", mode="before")(_text_id)


class HttpSettings(_Section):
    """The HTTP API (``python -m bot serve``, or alongside Discord when enabled)."""

    enabled: bool = False
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    max_k: Annotated[int, Field(ge=1, le=MAX_K)] = 20
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0  # to send headers, or idle
    max_connections: Annotated[int, Field(ge=0)] = 0  # 0: what the file-descriptor limit allows


class QuestionLogSettings(_Section):
    """The JSON-lines question log and its size-based rotation."""

    path: Path | None = Path("logs/questions.jsonl")  # null: no log
    max_bytes: Annotated[int, Field(ge=0)] = 10_000_000  # 0: never rotate
    backups: Annotated[int, Field(ge=0, le=1000)] = 5

    _path = field_validator("path", mode="before")(_nonempty_path)


class Settings(_Section):
    """All settings; ``load_settings`` fills it from YAML and the environment."""

    sources: Path = Path("sources")
    index: Path = Path("index")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    semantic: Literal["auto", "on", "off"] = "auto"  # the semantic stage (README)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    question_log: QuestionLogSettings = Field(default_factory=QuestionLogSettings)

    _paths = field_validator("sources", "index", mode="before")(_nonempty_path)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("semantic", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """YAML reads a bare ``on`` / ``off`` as true / false: take them as the words meant."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class Environment(BaseSettings):
    """Every environment variable newsbot reads (the environment wins over ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    discord_token: str | None = Field(default=None, validation_alias="DISCORD_TOKEN")
    api_token: str | None = Field(default=None, validation_alias="NEWSBOT_API_TOKEN")
    log_salt: str | None = Field(default=None, validation_alias="NEWSBOT_LOG_SALT")
    sources: Path | None = Field(default=None, validation_alias="NEWSBOT_SOURCES")
    index: Path | None = Field(default=None, validation_alias="NEWSBOT_INDEX")

    @field_validator("*", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("discord_token", "api_token")
    @classmethod
    def _clean_token(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip()):
            what = "only whitespace" if not value.strip() else "whitespace (a newline?) around it"
            raise ValueError(f"the token has {what}; set it to the token alone")
        return value


def environment() -> Environment:
    """The environment variables (and ``.env``), checked; SettingsError names a bad one."""
    try:
        return Environment()
    except ValidationError as exc:
        raise SettingsError(_first_error(exc, Environment)) from None


def secret(name: str) -> str | None:
    """A secret by its variable name (``DISCORD_TOKEN``, …), from :func:`environment`."""
    env = environment()
    for field_name, info in Environment.model_fields.items():
        if info.validation_alias == name:
            return getattr(env, field_name)
    raise KeyError(name)


def _expected(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """What the field at ``loc`` accepts, in words (type and range), when it can be told."""
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            break
        info = fields[part]
        model = info.annotation
    if info is None:
        return None
    bounds = {
        name: getattr(m, name)
        for m in info.metadata
        for name in ("ge", "gt", "le")
        if hasattr(m, name)
    }
    kind = info.annotation
    words = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    noun = words.get(kind) if isinstance(kind, type) else None
    if noun is None:
        return None
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le")
    if low is not None and high is not None:
        return f"{noun} between {low} and {high}"
    if "gt" in bounds:
        return f"{noun} above {low}"
    if low is not None:
        return f"{noun} ≥ {low}"
    return noun


_BY_ERROR = {"int": "a whole number", "float": "a number", "bool": "true or false"}
_BY_ERROR |= {"string": "text", "path": "a path"}


def _first_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line for the first problem: the key, what it expects, and what it got."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    alias = {info.validation_alias: n for n, info in model.model_fields.items()}
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if error["type"] == "extra_forbidden":
        parent: Any = model
        for part in loc[:-1]:
            parent = parent.model_fields[part].annotation
        known = ", ".join(parent.model_fields)
        return f"{key}: unknown setting (known: {known})"
    if loc and loc[0] in alias:
        key = str(loc[0])
    expected = _expected(model, loc) or _BY_ERROR.get(error["type"].split("_")[0])
    message = str(error["msg"]).removeprefix("Value error, ")
    if expected and error["type"] not in ("value_error", "literal_error"):
        message = f"expected {expected}"
    if error["type"] == "model_type":
        message = "expected a mapping of settings"
    if error["type"] == "literal_error":
        choices = ", ".join(LOG_LEVELS) if key == "log_level" else error["ctx"]["expected"]
        message = f"expected one of {choices}"
    if "input" in error and key not in alias:
        message += f" (got {error['input']!r})"
    return f"{key}: {message}"


def load_settings(path: Path | None) -> Settings:
    """Settings from ``path`` (defaults when ``path`` is None and config.yaml does not exist).

    ``NEWSBOT_SOURCES`` and ``NEWSBOT_INDEX`` replace the file's ``sources`` and ``index``.
    """
    data: Any = {}
    path = settings_file(path)
    if path is not None:
        data = read_yaml(path, SettingsError) or {}
        if not isinstance(data, dict):
            raise SettingsError(f"{path}: expected a mapping of settings")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(f"{path}: {_first_error(exc, Settings)}") from None
    env = environment()
    paths = {k: v for k, v in (("sources", env.sources), ("index", env.index)) if v is not None}
    return settings.model_copy(update=paths) if paths else settings
