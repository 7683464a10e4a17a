"""The HTTP API at the connection level, over real sockets: protocol errors, timeouts, floods."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.service.service import Service
from bot.service.settings import Settings
from tests.helpers import ROOT, free_port, guarded_api_settings, run_cli, serving, write_corpus


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return guarded_api_settings(tmp_path, monkeypatch, "s3cret-token")


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    service = Service.open(settings)
    yield service
    service.close()


async def exchange(port: int, raw: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


MALFORMED = {
    "URL over 64 KiB": b"GET /api/ask?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over 8 KiB": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
    "bad method": b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad Content-Length": b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "TLS hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_protocol_errors_are_json_and_one_warning_line(
    service: Service, settings: Settings, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    async def scenario() -> tuple[int, dict[str, str], bytes]:
        async with serving(service, settings) as url:
            return await exchange(int(url.rsplit(":", 1)[1]), MALFORMED[name])

    with caplog.at_level(logging.DEBUG):
        status, headers, body = asyncio.run(scenario())
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    reply = json.loads(body)
    assert reply["status"] == 400 and reply["error"]
    assert b"aaaa" not in body and b"bbbb" not in body  # the request is not echoed
    refused = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_non_ascii_bearer_token_is_a_401(service: Service, settings: Settings) -> None:
    raw = (
        b"GET /api/sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Connection: close\r\n\r\n"
    )

    async def scenario() -> tuple[int, dict[str, str], bytes]:
        async with serving(service, settings) as url:
            return await exchange(int(url.rsplit(":", 1)[1]), raw)

    status, _, body = asyncio.run(scenario())
    assert (status, json.loads(body)) == (401, {"error": "invalid token", "status": 401})


@pytest.mark.parametrize(("token", "what"), [("tok\n", "around it"), (" \t", "only whitespace")])
def test_a_token_with_whitespace_is_refused_at_start(tmp_path: Path, token: str, what: str) -> None:
    env = {"NEWSBOT_API_TOKEN": token}
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: NEWSBOT_API_TOKEN: the token has") and what in line


def test_slow_headers_and_idle_keep_alive_are_timed_out(
    service: Service, settings: Settings
) -> None:
    async def closed_after(port: int, first: bytes) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()
        writer.write(first)
        await writer.drain()
        while await asyncio.wait_for(reader.read(65536), 10):
            pass  # a response (if any), then the close
        writer.close()
        return time.monotonic() - began

    async def scenario() -> tuple[float, float]:
        async with serving(service, settings) as url:
            port = int(url.rsplit(":", 1)[1])
            slow = await closed_after(port, b"GET /healthz HTTP/1.1\r\nHo")
            idle = await closed_after(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            return slow, idle

    slow, idle = asyncio.run(scenario())
    assert 0.3 < slow < 5
    assert 0.3 < idle < 5


def _small_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_a_flood_of_half_open_connections_does_not_lock_out_a_real_request(
    tmp_path: Path,
) -> None:
    """300 connections that never finish their headers, on a server limited to 256 files."""
    sources = write_corpus(tmp_path / "sources")
    config = tmp_path / "config.yaml"
    # Idle connections are not timed out during the test: the room comes from the cap.
    config.write_text(
        f"question_log:\n  path: {tmp_path / 'q.jsonl'}\nhttp:\n  idle_timeout_seconds: 60\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSBOT_LOG_SALT": "s"}
    env.pop("NEWSBOT_API_TOKEN", None)
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config), "--workers", "1"]
    command += ["--sources", str(sources), "--index", str(tmp_path / "index"), "--port", str(port)]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=log, preexec_fn=_small_fd_limit
    )
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for _ in range(300):
            sock = socket.socket()
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost:")
            held.append(sock)
        began = time.monotonic()
        status, _, body = asyncio.run(
            exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        )
        assert status == 200, body
        waited = time.monotonic() - began
        assert waited < 10
    finally:
        for sock in held:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    text = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert text.count("connection limit reached") <= 2
    assert text.count("out of system resource") + text.count("cannot accept") <= 2


def test_workers_share_the_port_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "sources")
    config = tmp_path / "config.yaml"
    config.write_text(f"question_log:\n  path: {tmp_path / 'q.jsonl'}\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSBOT_LOG_SALT": "s"}
    env.pop("NEWSBOT_API_TOKEN", None)
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config), "--workers", "2"]
    command += ["--sources", str(sources), "--index", str(tmp_path / "index"), "--port", str(port)]
    log = (tmp_path / "server.log").open("wb")  # a file: a full pipe would stall the workers
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    pids: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            try:
                status, headers, _ = asyncio.run(exchange(port, raw))
            except OSError:
                time.sleep(0.1)
                continue
            assert status == 200
            pids.add(headers["X-Worker-Pid"])
        assert len(pids) == 2, "both workers answer on the one port"
        assert str(proc.pid) not in pids
        os.kill(int(pids.pop()), signal.SIGKILL)  # a worker dies: the parent starts another
        survivor = pids.pop()
        deadline = time.monotonic() + 60
        while not pids and time.monotonic() < deadline:
            raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            try:
                _, headers, _ = asyncio.run(exchange(port, raw, timeout=5))
            except (TimeoutError, OSError):
                headers = {}
            if headers.get("X-Worker-Pid", survivor) != survivor:
                pids.add(headers["X-Worker-Pid"])
            time.sleep(0.05)
        assert pids, "a new worker answers beside the survivor"
        pids.add(survivor)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.monotonic() - began < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert "exited with status -9: starting it again" in text
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_an_accept_retry_on_the_closed_listener_is_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.frontends.http_api.command import _closed_listener_retry

    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.DEBUG):
            retry = loop.call_later(1, loop._start_serving, None, None)  # type: ignore[attr-defined]
            _closed_listener_retry(
                loop,
                {
                    "message": "Exception in callback",
                    "handle": retry,
                    "exception": ValueError("Invalid file descriptor: -1"),
                },
            )
            retry.cancel()
            _closed_listener_retry(loop, {"message": "other", "exception": RuntimeError("x")})
    finally:
        loop.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "other" in errors[0].getMessage()  # only the unrelated one
    assert any("accept retry" in r.getMessage() for r in caplog.records)
