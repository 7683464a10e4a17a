"""The interactive prompt and colour output, driven through a real pseudo-terminal."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import read_until, spawn_in_pty


def test_prompt_answers_keeps_history_and_quits_on_ctrl_d(tmp_path: Path) -> None:
    index = ["--index", str(tmp_path / "index")]
    proc, fd = spawn_in_pty(index, home=tmp_path, TERM="xterm")
    try:
        assert b"Ctrl-D to quit" in read_until(fd, b"? ")
        os.write(fd, b"Who is the Russian ambassador to Japan?\r")
        answer = read_until(fd, b"\r\n? ")
        assert b"Galuzin" in answer and b"Caixin Global" in answer
        assert b"\x1b[1;33m" in answer  # matched words highlighted on a terminal
        os.write(fd, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(fd)
    history = (tmp_path / "newsbot" / "history").read_text(encoding="utf-8")
    assert "Who is the Russian ambassador to Japan?" in history
