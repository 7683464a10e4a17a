"""``python -m bot run`` against the Discord stand-in: start-up errors, signals, token resets."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.discord_standin import DiscordStandIn
from tests.frontends.discord_session import QUESTION, embed_of, run_config
from tests.helpers import ROOT, free_port, standin_in_thread

BAD_TOKEN = (
    "error: Discord rejected the token in DISCORD_TOKEN; copy the bot token again from the "
    "Developer Portal (Bot → Reset Token)."
)


def test_run_without_token_exits_with_one_sentence(tmp_path: Path) -> None:
    drop = {"DISCORD_TOKEN", "PYTHONDEVMODE", "PYTHONWARNINGS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,  # no .env, no config.yaml
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: DISCORD_TOKEN is not set;")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_run_with_a_rejected_token_exits_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "not.the.right.token")
    with standin_in_thread() as (standin, _):
        status = main(["run", "--config", str(run_config(tmp_path, standin))])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines()[-1] == BAD_TOKEN
    assert "Traceback" not in err and "not.the.right.token" not in err


def test_read_messages_without_the_intent_enabled_exits_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """discord.read_messages asks for Message Content; Discord closes with 4014 if not enabled."""
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    with standin_in_thread() as (standin, _):  # no privileged intent enabled for the bot
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        config = run_config(tmp_path, standin)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("discord:\n", "discord:\n  read_messages: true\n"))
        status = main(["run", "--config", str(config)])
        closes = [c.get("server_close_code") for c in standin.connections]
    err = capsys.readouterr().err
    assert status == 1 and closes == [4014]
    assert err.splitlines()[-1] == (
        "error: Discord refused the Message Content intent that discord.read_messages: true "
        "needs; enable it in the Developer Portal (Bot → Privileged Gateway Intents → Message "
        "Content Intent) or set discord.read_messages: false."
    )
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("new_token", "code", "sentence"),
    [
        ("the.new.token", 4000, BAD_TOKEN),  # the RESUME after the drop is refused with 4004
        (None, 4011, "error: Discord closed the gateway connection (code 4011) and newsbot "),
    ],
)
def test_gateway_closed_for_good_while_running_exits_with_one_sentence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    new_token: str | None,
    code: int,
    sentence: str,
) -> None:
    """A token reset while running (Discord closes with 4004) or another fatal close code."""
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)

    def close(standin: DiscordStandIn, loop: asyncio.AbstractEventLoop) -> None:
        ready = asyncio.run_coroutine_threadsafe(asyncio.wait_for(standin.ready.wait(), 8), loop)
        ready.result(10)
        if new_token:
            standin.token = new_token  # Reset Token in the Developer Portal
        asyncio.run_coroutine_threadsafe(standin.drop_connection(code), loop).result(5)

    with standin_in_thread() as (standin, loop):
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        driver = threading.Thread(target=close, args=(standin, loop), daemon=True)
        driver.start()
        status = main(["run", "--config", str(run_config(tmp_path, standin))])
        driver.join(5)
        closes = [c.get("server_close_code") for c in standin.connections]
    err = capsys.readouterr().err
    assert closes[-1] == (4004 if new_token else code) and not standin.resumes
    assert status == 1
    assert err.splitlines()[-1].startswith(sentence)
    assert "Traceback" not in err and "ConnectionClosed" not in err


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_run_serves_http_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    port = free_port()
    seen: dict[str, Any] = {}

    def drive(standin: DiscordStandIn, loop: asyncio.AbstractEventLoop) -> None:
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    seen["health"] = body
                    break
                time.sleep(0.05)
            if "health" not in seen:
                return
            inter = asyncio.run_coroutine_threadsafe(
                standin.send_slash_command("ask", {"question": QUESTION}), loop
            ).result(5)
            out = asyncio.run_coroutine_threadsafe(standin.wait_for_response(inter), loop)
            seen["answer"] = out.result(5)
            time.sleep(0.3)
            seen["metrics"] = _get(f"http://127.0.0.1:{port}/metrics")[1]
        except Exception as exc:  # reported by the assertions below
            seen["error"] = exc
        finally:
            os.kill(os.getpid(), signal.SIGTERM if "health" in seen else signal.SIGINT)

    with standin_in_thread(heartbeat_interval_ms=500) as (standin, loop):
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        driver = threading.Thread(target=drive, args=(standin, loop), daemon=True)
        driver.start()
        status = main(["run", "--config", str(run_config(tmp_path, standin, port))])
        driver.join(5)
    err = capsys.readouterr().err
    assert "error" not in seen, seen["error"]
    assert status == 0, err
    assert "discord: connected" in seen["health"]
    assert "17,000" in embed_of(seen["answer"])["description"]
    assert "newsbot_discord_gateway_latency_seconds 0.0" in seen["metrics"]
    assert "SIGTERM received: shutting down" in err and "Traceback" not in err
    logged = (tmp_path / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(logged) == 1 and '"frontend": "discord"' in logged[0]
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 0  # the HTTP API stopped too


def test_sync_global_syncs_once_and_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    with standin_in_thread() as (standin, _):
        monkeypatch.setenv("DISCORD_TOKEN", standin.token)
        status = main(["run", "--sync-global", "--config", str(run_config(tmp_path, standin))])
        assert status == 0
        assert sorted(c["name"] for c in standin.commands[None]) == [
            "ask",
            "help",
            "reindex",
            "sources",
        ]
        assert standin.guild_id not in standin.commands  # no guild sync in this mode
        assert not standin.identifies  # never connected to the gateway
    assert capsys.readouterr().out.startswith("Synced 4 commands globally (/ask, ")


def test_run_with_the_http_port_taken_exits_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from bot.frontends.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "any.token")
    with socket.socket() as taken, standin_in_thread() as (standin, _):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["run", "--config", str(run_config(tmp_path, standin, port))])
        assert not standin.identifies
    err = capsys.readouterr().err
    assert status == 1 and err.splitlines()[-1].startswith(
        f"error: cannot listen on 127.0.0.1:{port}"
    )
    assert "Traceback" not in err
