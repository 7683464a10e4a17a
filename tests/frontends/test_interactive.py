"""The interactive prompt and colour output, driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    """Read from the terminal until ``marker`` shows up (bounded in time)."""
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def _spawn(args: list[str], home: Path) -> tuple[subprocess.Popen[bytes], int]:
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONPATH=str(ROOT), HOME=str(home), XDG_STATE_HOME=str(home), TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(child)
    return proc, main


def test_prompt_answers_keeps_history_and_quits_on_ctrl_d(tmp_path: Path) -> None:
    index = ["--index", str(tmp_path / "index")]
    proc, fd = _spawn(index, tmp_path)
    try:
        assert b"Ctrl-D to quit" in _read_until(fd, b"? ")
        os.write(fd, b"Who is the Russian ambassador to Japan?\r")
        answer = _read_until(fd, b"\r\n? ")
        assert b"Galuzin" in answer and b"Caixin Global" in answer
        assert b"\x1b[1;33m" in answer  # matched words highlighted on a terminal
        os.write(fd, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(fd)
    history = (tmp_path / "newsbot" / "history").read_text(encoding="utf-8")
    assert "Who is the Russian ambassador to Japan?" in history
