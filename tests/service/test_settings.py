"""Settings: each key's type and range checked at start, one line naming the key; the env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.service.settings import (
    Settings,
    SettingsError,
    environment,
    load_settings,
    secret,
)
from tests.helpers import run_cli

ENV = ("DISCORD_TOKEN", "NEWSBOT_API_TOKEN", "NEWSBOT_LOG_SALT", "NEWSBOT_SOURCES", "NEWSBOT_INDEX")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.http.port == 8080
    assert settings.question_log.path == Path("logs/questions.jsonl")


@pytest.mark.parametrize(("text", "mode"), [("on", "on"), ("off", "off"), ('"off"', "off")])
def test_semantic_on_and_off_as_written_bare_in_yaml(tmp_path: Path, text: str, mode: str) -> None:
    assert load(tmp_path, f"semantic: {text}\n").semantic == mode  # YAML's bare off is false


def test_the_example_config_is_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    assert load_settings(example) == Settings()


def test_values_get_their_declared_types(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "discord:\n  cooldown_seconds: 5\n  admin_role: 1234\n  allowed_channels: [1, 2]\n"
        "log_level: debug\nquestion_log:\n  path: null\n",
    )
    assert settings.discord.cooldown_seconds == 5.0
    assert isinstance(settings.discord.cooldown_seconds, float)
    assert settings.discord.admin_role == "1234"
    assert settings.discord.allowed_channels == (1, 2)
    assert settings.log_level == "DEBUG"
    assert settings.question_log.path is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'http:\n  port: "²"\n',
            "http.port: expected a whole number between 1 and 65535 (got '²')",
        ),
        ("http:\n  port: 70000\n", "http.port: expected a whole number between 1 and 65535"),
        ("http:\n  max_k: 0\n", "http.max_k: expected a whole number between 1 and 50 (got 0)"),
        ("http:\n  max_k: -3\n", "http.max_k: expected a whole number between 1 and 50 (got -3)"),
        ("http:\n  enabled: maybe\n", "http.enabled: expected true or false (got 'maybe')"),
        (
            "discord:\n  read_messages: sometimes\n",
            "discord.read_messages: expected true or false (got 'sometimes')",
        ),
        ("discord:\n  answer_in_thread: 2\n", "discord.answer_in_thread: expected true or false"),
        ("http: 3\n", "http: expected a mapping of settings (got 3)"),
        ("http:\n  prt: 1\n", "http.prt: unknown setting (known: enabled, host, port, max_k, idle"),
        ("discord:\n  cooldown_seconds: -1\n", "discord.cooldown_seconds: expected a number ≥ 0"),
        ("discord:\n  quotes_per_answer: 11\n", "discord.quotes_per_answer: expected a whole"),
        ("discord:\n  button_timeout_seconds: 0\n", "discord.button_timeout_seconds: expected a"),
        (
            'discord:\n  allowed_channels: [1, "x"]\n',
            "discord.allowed_channels[1]: expected a whole",
        ),
        ("question_log:\n  backups: -1\n", "question_log.backups: expected a whole number"),
        ('question_log:\n  path: ""\n', "question_log.path: expected a path"),
        ("log_level: loud\n", "log_level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("sources: 3\n", "sources: expected a path (got 3)"),
        ("bogus: 1\n", "bogus: unknown setting (known: sources, index, log_level"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'config.yaml'}: {message}")
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="expected a mapping of settings"):
        load(tmp_path, "- a\n- b\n")


def test_the_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "export DISCORD_TOKEN='from-file'\nNEWSBOT_LOG_SALT=pepper\n", encoding="utf-8"
    )
    assert secret("DISCORD_TOKEN") == "from-file"
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    env = environment()
    assert (env.discord_token, env.log_salt, env.api_token) == ("from-env", "pepper", None)


def test_corpus_paths_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SOURCES", "/data/articles")
    monkeypatch.setenv("NEWSBOT_INDEX", "")
    settings = load_settings(None)
    assert settings.sources == Path("/data/articles")
    assert settings.index == Path("index")


@pytest.mark.parametrize(
    ("value", "what"), [("tok\n", "whitespace (a newline?) around it"), ("  ", "only whitespace")]
)
def test_a_token_with_whitespace_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, what: str
) -> None:
    monkeypatch.setenv("NEWSBOT_API_TOKEN", value)
    with pytest.raises(SettingsError, match="^NEWSBOT_API_TOKEN: the token has " + re.escape(what)):
        environment()


def test_serve_with_a_bad_setting_prints_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text('http:\n  port: "²"\n', encoding="utf-8")
    result = run_cli("serve", "--config", str(tmp_path / "config.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'config.yaml'}: http.port: expected a whole number between 1 and "
        "65535 (got '²')"
    ]
